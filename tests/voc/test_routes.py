"""The Voice-of-the-Customer API on both databases: themes, quotes, keys, bad filters."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regard.store.database import Store
from tests.api import auth
from tests.voc.support import SECRET_WORDS, SEGMENT, seed


def test_themes_with_counts_trends_groups_and_masked_quotes(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    seed(store)

    response = client.get("/api/voc/themes?themes=3", headers=auth(keys["read"]))

    assert response.status_code == 200, response.text
    matters, useful = response.json()["questions"]
    assert matters["question"] == "what_matters"
    assert matters["wording"] == "What matters most to you when you choose a brand?"
    assert matters["answers"] == 18
    assert matters["months"] == ["2026-01", "2026-02", "2026-03"]
    assert {theme["terms"][0] for theme in matters["themes"]} == {"delivery", "repair", "size"}
    repairs = next(theme for theme in matters["themes"] if theme["terms"][0] == "repair")
    assert repairs["by_group"] == {"Strongly unavailable": 6}
    assert repairs["by_segment"] == {SEGMENT: 6}
    assert [m["month"] for m in repairs["trend"]] == matters["months"]
    assert sum(m["answers"] for m in repairs["trend"]) == repairs["answers"]
    assert len(repairs["quotes"]) == 3
    assert useful["note"] == "only 3 answers: too few to find themes"
    quotes = [quote["text"] for quote in useful["themes"][0]["quotes"]]
    assert "Fewer emails please, call me on [phone]" in quotes
    assert SECRET_WORDS not in response.text


def test_filters_and_leaving_quotes_out(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    seed(store)

    response = client.get(
        "/api/voc/themes",
        params={
            "question": "what_matters",
            "segment": SEGMENT,
            "group": "Strongly unavailable",
            "since": "2026-01-01",
            "quotes": "false",
        },
        headers=auth(keys["read"]),
    )

    assert response.status_code == 200, response.text
    (matters,) = response.json()["questions"]
    assert matters["answers"] == 6
    assert all(theme["quotes"] is None for theme in matters["themes"])


def test_a_read_key_is_needed(client: TestClient, keys: dict[str, str], store: Store) -> None:
    seed(store)

    assert client.get("/api/voc/themes").status_code == 401
    assert client.get("/api/voc/themes", headers=auth("nonsense")).status_code == 401
    assert client.get("/api/voc/themes", headers=auth(keys["write"])).status_code in (401, 403)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("question=favourite_colour", "question"),
        ("segment=nobody", "segment"),
        ("group=Loyal", "group"),
        ("since=yesterday", "since"),
        ("themes=0", "themes"),
    ],
)
def test_a_bad_filter_is_400_naming_the_parameter(
    client: TestClient, keys: dict[str, str], query: str, parameter: str
) -> None:
    response = client.get(f"/api/voc/themes?{query}", headers=auth(keys["read"]))

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert parameter in error["message"]
