"""Every console route, for every role: allowed or refused exactly as the permission table says.

A route added under ``/admin`` without an entry in ``ROUTES`` fails this test on purpose: say
who may use it before it ships.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from regard.privacy import roles
from regard.store.database import Store
from tests.web.admin.support import signed_in_as

PUBLIC = "public"
SIGNED_IN = "signed-in"

# (method, path) → the permission it needs, SIGNED_IN (any role) or PUBLIC.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/admin/login"): PUBLIC,
    ("POST", "/admin/login"): PUBLIC,
    ("POST", "/admin/logout"): SIGNED_IN,
    ("GET", "/admin/"): "overview.view",
    ("GET", "/admin/audit"): "audit.view",
    ("GET", "/admin/audit.csv"): "audit.export",
    ("GET", "/admin/staff"): "staff.manage",
    ("POST", "/admin/staff"): "staff.manage",
    ("POST", "/admin/staff/{staff_id}/disable"): "staff.manage",
    ("GET", "/admin/overview"): "aggregates.view",
    ("GET", "/admin/customers"): "customers.lookup",
    ("GET", "/admin/customers/{customer_id}"): "customers.lookup",
    ("POST", "/admin/customers/{customer_id}/consent"): "consent.record",
    ("GET", "/admin/segments"): "segments.view",
    ("GET", "/admin/segments/{name}"): "segments.view",
    ("POST", "/admin/segments/{name}/check"): "segments.edit",
    ("GET", "/admin/touchpoints"): "touchpoints.view",
    ("GET", "/admin/campaigns"): "campaigns.view",
    ("GET", "/admin/campaigns/{name}"): "campaigns.view",
    ("POST", "/admin/campaigns/{name}/launch"): "campaigns.launch",
    ("GET", "/admin/deliveries"): "deliveries.view",
    ("POST", "/admin/deliveries/retry"): "deliveries.retry",
    ("POST", "/admin/deliveries/resume"): "deliveries.resume",
    ("GET", "/admin/report"): "aggregates.view",
}


def _flatten(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, APIRoute):
            for method in (route.methods or set()) - {"HEAD"}:
                yield method, prefix + route.path
        included = getattr(route, "original_router", None)  # a router included in another
        if included is not None:
            yield from _flatten(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]


def _console_routes(client: TestClient) -> set[tuple[str, str]]:
    app: FastAPI = client.app  # type: ignore[assignment]
    return {(m, p) for m, p in _flatten(app.routes) if p.startswith("/admin")}


def test_every_console_route_says_who_may_use_it(client: TestClient) -> None:
    assert _console_routes(client) == set(ROUTES)
    for needed in ROUTES.values():
        assert needed in (PUBLIC, SIGNED_IN) or needed in roles.PERMISSIONS


def _concrete(path: str) -> str:
    # Ids that exist in every run: account 1 is the first member signed in.
    return re.sub(r"\{[a-z_]+\}", "1", path)


@pytest.mark.parametrize("role", roles.ROLES)
def test_each_role_is_allowed_or_refused_as_the_table_says(
    client: TestClient, store: Store, role: str
) -> None:
    csrf = signed_in_as(client, store, role)
    for (method, path), needed in sorted(ROUTES.items()):
        if path == "/admin/logout" or (needed == PUBLIC and method != "GET"):
            continue  # sign-out is walked last (it ends the session); sign-in has its tests
        url = _concrete(path)
        answer = client.request(
            method,
            url,
            data={"csrf_token": csrf} if method != "GET" else None,
            follow_redirects=False,
        )
        allowed = needed in (PUBLIC, SIGNED_IN) or roles.allows(role, needed)  # type: ignore[arg-type]
        where = f"{role} {method} {url}: {answer.status_code}"
        if allowed:
            # 404: an allowed page about an id that does not exist in an empty store.
            assert answer.status_code in (200, 303, 400, 404, 409), where
            if answer.status_code == 303:
                assert not answer.headers["location"].startswith("/admin/login"), where
        else:
            assert answer.status_code == 403, where
    out = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303


def test_without_a_session_every_route_but_sign_in_leads_to_it(client: TestClient) -> None:
    for (method, path), needed in ROUTES.items():
        if needed == PUBLIC:
            continue
        answer = client.request(method, _concrete(path), follow_redirects=False)
        assert answer.status_code == 303, (method, path)
        assert answer.headers["location"].startswith("/admin/login"), (method, path)
