"""The API docs page: served whole from Regard itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from regard.app import create_app
from regard.store.database import Store


def test_the_api_docs_page_loads_every_asset_from_regard_itself(store: Store) -> None:
    client = TestClient(create_app(store))

    page = client.get("/api/docs")

    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert assets, "the page names its script, style and icon"
    assert all(asset.startswith("/") for asset in assets), assets
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert served.content, asset
    assert "/api/openapi.json" in page.text
    assert client.get("/api/openapi.json").json()["info"]["title"] == "Regard"
