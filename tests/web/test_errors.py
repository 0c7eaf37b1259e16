"""One error, two renderings: JSON for API clients, a page for people."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from regard.app import create_app
from regard.errors import NotFound, PayloadTooLarge
from regard.store.database import Store

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def app(sqlite_store: Store) -> FastAPI:
    app = create_app(sqlite_store)

    @app.get("/api/things/{thing_id}")
    @app.get("/things/{thing_id}")
    def thing(thing_id: int, size: int = 1) -> dict[str, int]:
        if thing_id == 404:
            raise NotFound(f"no thing with id {thing_id}")
        if size > 10:
            raise PayloadTooLarge("that thing is too large", details={"limit": 10})
        return {"id": thing_id}

    @app.get("/api/crash")
    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("secret@example.com broke it")

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_regard_error_is_json_under_the_api(client: TestClient) -> None:
    response = client.get("/api/things/404", headers=BROWSER)  # /api answers JSON regardless
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": "no thing with id 404"}}


def test_regard_error_details_travel_in_json(client: TestClient) -> None:
    response = client.get("/api/things/1", params={"size": 11})
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": "that thing is too large",
        "details": {"limit": 10},
    }


def test_the_same_error_is_a_page_for_a_browser(client: TestClient) -> None:
    response = client.get("/things/404", headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>404: not found</h1>" in response.text
    assert "no thing with id 404" in response.text
    assert "Test Outfitters" in response.text  # the brand's page, not a bare message


def test_a_json_client_on_a_page_path_gets_json(client: TestClient) -> None:
    response = client.get("/things/404", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_validation_errors_are_400_naming_the_field(client: TestClient) -> None:
    response = client.get("/api/things/abc", params={"size": "big"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    at = {p["at"] for p in error["details"]["problems"]}
    assert at == {"path.thing_id", "query.size"}
    assert "path.thing_id: Input should be a valid integer" in error["message"]


def test_validation_errors_are_listed_on_the_page(client: TestClient) -> None:
    response = client.get("/things/abc", headers=BROWSER)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "<code>path.thing_id</code>" in response.text


def test_unknown_routes_are_404(client: TestClient) -> None:
    response = client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    page = client.get("/nowhere", headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


def test_wrong_method_is_405_json(client: TestClient) -> None:
    response = client.delete("/api/things/1")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_unexpected_errors_say_nothing_of_their_cause(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/api/crash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text
    assert "secret" not in caplog.text  # the log names the type, not the message
    assert "RuntimeError" in caplog.text
    page = client.get("/crash", headers=BROWSER)
    assert page.status_code == 500
    assert "secret" not in page.text
