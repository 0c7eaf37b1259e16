"""The segments pages on both databases: sizes and trends against the database, a typo'd rule
shown with its line, column and caret, a sound rule counted as an evaluation would, the TOML to
paste; only marketers and admins may use the form, and only with its CSRF token."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regard.console.segments import count_members
from regard.segments import service
from regard.segments.language import SegmentError
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from tests.segments.support import AS_OF, CAMPING_PRO, segment_brand, small_base
from tests.web.admin.support import signed_in_as


def _evaluated(store: Store) -> None:
    store.brand = segment_brand(store)
    small_base(store)
    with unit_of_work(store) as session:
        service.evaluate_segments(session, brand=store.brand, as_of=AS_OF)


def _members(store: Store, name: str) -> int:
    with unit_of_work(store) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    SegmentMembership.segment == name, SegmentMembership.exited_at.is_(None)
                )
            )
            or 0
        )


def test_the_list_shows_every_segment_with_its_size_from_the_database(
    client: TestClient, store: Store
) -> None:
    _evaluated(store)
    signed_in_as(client, store, "analyst")

    page = client.get("/admin/segments")

    assert page.status_code == 200
    text = page.text
    for name in ("camping_pro", "keen_campers", "lifecycle:active"):
        row = text.split(f'data-segment="{name}"', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="members">{_members(store, name)}</td>' in row
    assert 'href="/admin/segments/camping_pro"' in text


def test_one_segment_shows_its_rule_size_and_trend(client: TestClient, store: Store) -> None:
    _evaluated(store)
    signed_in_as(client, store, "analyst")

    page = client.get("/admin/segments/camping_pro")

    assert page.status_code == 200
    assert f'<dd id="members">{_members(store, "camping_pro")}</dd>' in page.text
    assert CAMPING_PRO in html.unescape(page.text)
    assert "<svg" in page.text  # the trend chart
    # An analyst reads, never edits.
    assert 'action="/admin/segments/camping_pro/check"' not in page.text
    assert "may read segments but not edit them" in page.text


def test_a_typo_is_shown_at_its_line_and_column_with_a_caret(
    client: TestClient, store: Store
) -> None:
    _evaluated(store)
    csrf = signed_in_as(client, store, "marketer")
    rule = 'interest("camping")\n  and trait.plan == "pro"'

    page = client.post("/admin/segments/camping_pro/check", data={"rule": rule, "csrf_token": csrf})

    assert page.status_code == 400
    with pytest.raises(SegmentError) as raised:  # the same check the API answers with
        service.check_rule(rule, brand=store.brand)
    line, column = raised.value.line, raised.value.column
    pointer = raised.value.with_source(rule).pointer()
    assert line == 2
    assert f"Line {line}, column {column}:" in page.text
    assert pointer in html.unescape(page.text)
    assert "^" in pointer.split("\n")[1]
    assert 'aria-invalid="true"' in page.text


def test_a_sound_rule_is_counted_as_an_evaluation_would_and_stores_nothing(
    client: TestClient, store: Store
) -> None:
    _evaluated(store)
    csrf = signed_in_as(client, store, "admin")
    before = _members(store, "camping_pro")

    page = client.post(
        "/admin/segments/camping_pro/check",
        data={"rule": 'interest("camping")', "description": "Campers", "csrf_token": csrf},
    )

    assert page.status_code == 200
    with unit_of_work(store) as session:
        expected = count_members(session, 'interest("camping")', brand=store.brand, as_of=AS_OF)
    assert expected == 2  # ana and dee
    assert f'<strong id="would-hold">{expected}</strong>' in page.text
    shown = html.unescape(page.text)
    assert 'name = "camping_pro"' in shown
    assert 'rule = "interest(\\"camping\\")"' in shown
    assert _members(store, "camping_pro") == before


def test_the_form_needs_its_token_and_an_editing_role(client: TestClient, store: Store) -> None:
    _evaluated(store)
    csrf = signed_in_as(client, store, "analyst")

    refused = client.post(
        "/admin/segments/camping_pro/check", data={"rule": "x", "csrf_token": csrf}
    )
    assert refused.status_code == 403

    other = TestClient(client.app)
    token = signed_in_as(other, store, "marketer")
    assert token
    forged = other.post("/admin/segments/camping_pro/check", data={"rule": "x"})
    assert forged.status_code == 403
    engine = other.post(
        "/admin/segments/lifecycle:active/check", data={"rule": "x", "csrf_token": token}
    )
    assert engine.status_code == 400
