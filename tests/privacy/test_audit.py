"""The audit log: written by every read of personal data and every change the brief names."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from regard.privacy.models import AuditEntry
from regard.privacy.service import create_key
from regard.store.database import Store, unit_of_work
from tests.api import auth
from tests.cli import Run
from tests.preferences.support import new_customer
from tests.web.admin.support import signed_in_as


def _entries(store: Store) -> list[AuditEntry]:
    with unit_of_work(store) as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_api_reads_of_a_customer_are_audited_with_the_key(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ana = new_customer(store, email="ana@example.com")

    by_email = client.get("/api/customers?email=ANA@example.com", headers=auth(keys["read"]))
    by_id = client.get(f"/api/customers/{ana}", headers=auth(keys["read"]))
    proof = client.get(f"/api/customers/{ana}/consent", headers=auth(keys["read"]))

    assert by_email.status_code == by_id.status_code == proof.status_code == 200
    entries = _entries(store)
    assert [(e.action, e.target) for e in entries] == [
        ("customer.read", f"customer:{ana}"),
        ("customer.read", f"customer:{ana}"),
        ("consent.proof", f"customer:{ana}"),
    ]
    assert {e.actor_kind for e in entries} == {"key"}
    assert entries[0].details == {"via": "api", "by": "email"}
    assert entries[0].client == "testclient"
    assert all("ana@example.com" not in str(e.details) for e in entries)


def test_a_read_key_with_a_role_is_held_to_it(client: TestClient, store: Store) -> None:
    ana = new_customer(store)
    with unit_of_work(store) as session:
        analyst = create_key(session, name="bi", scope="read", role="analyst").secret
        agent = create_key(session, name="desk", scope="read", role="agent").secret

    refused = client.get(f"/api/customers/{ana}", headers=auth(analyst))
    allowed = client.get(f"/api/customers/{ana}", headers=auth(agent))
    refused_proof = client.get(f"/api/customers/{ana}/consent", headers=auth(analyst))

    assert refused.status_code == refused_proof.status_code == 403
    assert allowed.status_code == 200
    assert [e.action for e in _entries(store)] == ["customer.read"]


def test_the_audit_page_filters_and_its_export_is_itself_audited(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ana = new_customer(store)
    client.get(f"/api/customers/{ana}", headers=auth(keys["read"]))
    signed_in_as(client, store, "admin")

    page = client.get("/admin/audit", params={"action": "customer.read"})
    everything = client.get("/admin/audit")
    exported = client.get("/admin/audit.csv", params={"actor": "key:2"})

    assert page.status_code == 200
    assert f"customer:{ana}" in page.text
    assert "staff.login" not in page.text.split("</select>")[1]
    assert "staff.login" in everything.text.split("</select>")[1]
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("key:2", "customer.read", f"customer:{ana}")
    ]
    last = _entries(store)[-1]
    assert (last.action, last.actor_kind, last.details) == (
        "audit.exported",
        "staff",
        {"entries": 1, "actor_kind": "key", "actor_id": 2},
    )


def test_bad_dates_on_the_audit_page_are_a_400(client: TestClient, store: Store) -> None:
    signed_in_as(client, store, "admin")
    assert client.get("/admin/audit", params={"from": "yesterday"}).status_code == 400


def _regard_with_input(cwd: Path, env: dict[str, str], *args: str, stdin: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "regard"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_commands_are_audited(cli: Run, cli_store: Store) -> None:
    ana = new_customer(cli_store)

    for args in (
        ("customers", "show", str(ana)),
        ("customers", "find", "--email", "ana@example.com"),
        ("consent", "proof", str(ana)),
        ("consent", "change", str(ana), "--staff", "desk", "--opt-in", "events/email"),
        ("keys", "create", "bi", "--role", "analyst"),
        ("keys", "revoke", "1"),
    ):
        done = cli(*args)
        assert done.returncode == 0, (args, done.stderr)

    entries = _entries(cli_store)
    assert [(e.action, e.target) for e in entries] == [
        ("customer.read", f"customer:{ana}"),
        ("customer.lookup", f"customer:{ana}"),
        ("consent.proof", f"customer:{ana}"),
        ("consent.recorded", f"customer:{ana}"),
        ("key.created", "key:1"),
        ("key.revoked", "key:1"),
    ]
    assert {e.actor_kind for e in entries} == {"cli"}
    assert entries[4].details == {"scope": "read", "role": "analyst"}
