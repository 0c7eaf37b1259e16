"""The permission table and masking of personal data by role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from regard.privacy import roles
from regard.privacy.audit import ACTIONS


def test_admin_holds_every_permission_and_every_role_sees_the_overview() -> None:
    assert roles.GRANTS["admin"] == frozenset(roles.PERMISSIONS)
    for role in roles.ROLES:
        assert roles.allows(role, "overview.view")
    assert not roles.allows("root", "overview.view")


def test_only_admins_manage_staff_keys_settings_and_see_the_audit_log() -> None:
    for permission in ("staff.manage", "keys.manage", "settings.change", "audit.view"):
        holders = [role for role in roles.ROLES if roles.allows(role, permission)]
        assert holders == ["admin"], permission


def test_analysts_see_aggregates_and_no_personal_data() -> None:
    assert roles.allows("analyst", "aggregates.view")
    assert not roles.allows("analyst", "personal.view")
    assert not roles.allows("analyst", "customers.lookup")


def test_agents_look_one_customer_up_and_record_consent_but_see_no_aggregates() -> None:
    assert roles.allows("agent", "customers.lookup")
    assert roles.allows("agent", "consent.record")
    assert not roles.allows("agent", "aggregates.view")
    assert not roles.allows("agent", "campaigns.launch")


def test_a_key_without_a_role_keeps_what_read_keys_could_do() -> None:
    assert roles.allows(None, "customers.lookup")
    assert roles.allows(None, "personal.view")
    assert not roles.allows(None, "staff.manage")


@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [
        ("ana.jansen@example.org", "email", "a•••@e•••.org"),
        ("+31612345678", "phone", "•••• ••78"),
        ("Ana Jansen", "name", "A••• J•••"),
        ("Call me after six", "text", "•••"),
        (None, "email", ""),
    ],
)
def test_masking_keeps_only_what_tells_values_apart(
    value: str | None, kind: roles.MaskKind, masked: str
) -> None:
    assert roles.mask(value, kind, "analyst") == masked
    assert roles.mask(value, kind, "marketer") == masked
    assert roles.mask(value, kind, "agent") == (value or "")
    assert roles.mask(value, kind, "admin") == (value or "")


def test_the_documented_table_is_the_permission_table() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "staff-and-audit.md").read_text(
        encoding="utf-8"
    )
    documented: dict[str, set[str]] = {role: set() for role in roles.ROLES}
    for line in docs.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 1 + len(roles.ROLES) or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([a-z]+\.[a-z]+)`", cells[0])
        for role, cell in zip(roles.ROLES, cells[1:], strict=True):
            if cell == "✓":
                documented[role].update(names)
    assert documented == {role: set(granted) for role, granted in roles.GRANTS.items()}


def test_every_audit_action_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "staff-and-audit.md").read_text(
        encoding="utf-8"
    )
    assert [action for action in ACTIONS if f"`{action}`" not in docs] == []
