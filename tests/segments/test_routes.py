"""The segments API on both databases: listing, one segment, members, checks and evaluation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from regard.app import create_app
from regard.segments.language import parse, to_json
from regard.store.database import Store
from tests.api import auth
from tests.segments.support import AS_OF, KEEN, add_customer, segment_brand, small_base

LATER = "2026-08-01T12:00:00+00:00"


@pytest.fixture
def brand_store(store: Store) -> Store:
    """The test store with the brand's own segments ``keen_campers`` and ``camping_pro``."""
    return dataclasses.replace(store, brand=segment_brand(store))


@pytest.fixture
def client(brand_store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(brand_store)) as test_client:
        yield test_client


def evaluate(client: TestClient, keys: dict[str, str], **body: Any) -> Any:
    response = client.post("/api/segments/evaluate", json=body, headers=auth(keys["write"]))
    assert response.status_code == 200, response.text
    return response.json()


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()["error"]
    return found


def by_name(segments: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {segment["name"]: segment for segment in segments}


# --- Listing --------------------------------------------------------------------------------


def test_the_list_shows_every_segment_before_and_after_an_evaluation(
    client: TestClient, keys: dict[str, str], brand_store: Store
) -> None:
    small_base(brand_store)

    before = client.get("/api/segments", headers=auth(keys["read"]))
    assert before.status_code == 200, before.text
    listed = by_name(before.json()["segments"])
    assert next(iter(listed)) == "rfm:champions"
    assert {"lifecycle:prospect", "commitment:Convertible", "keen_campers", "camping_pro"} <= set(
        listed
    )
    assert listed["keen_campers"] == {
        "name": "keen_campers",
        "kind": "custom",
        "description": "Buy often",
        "members": 0,
        "entered": None,
        "exited": None,
        "evaluated_at": None,
        "seconds": None,
        "trend": [],
    }
    assert listed["rfm:champions"]["kind"] == "rfm"
    assert listed["rfm:champions"]["description"].startswith("Bought recently and often")

    evaluate(client, keys, as_of=AS_OF.isoformat())
    evaluate(client, keys, as_of=LATER)

    after = by_name(client.get("/api/segments", headers=auth(keys["read"])).json()["segments"])
    keen = after["keen_campers"]
    assert keen["members"] == 0  # ana's purchases are more than 90 days old by then
    assert keen["trend"] == [1, 0]
    assert keen["entered"] == 0
    assert keen["exited"] == 1
    assert keen["evaluated_at"].startswith("2026-08-01T12:00:00")
    assert keen["seconds"] >= 0
    assert after["camping_pro"]["members"] == 2  # ana and dee
    assert sum(after[f"lifecycle:{stage}"]["members"] for stage in ("prospect", "new")) >= 1


def test_reading_needs_a_read_key(client: TestClient, keys: dict[str, str]) -> None:
    for path in (
        "/api/segments",
        "/api/segments/keen_campers",
        "/api/segments/rfm:at_risk/members",
    ):
        assert error(client.get(path), 401)["code"] == "unauthorized"
        bad = client.get(path, headers=auth("rk_not-a-key"))
        assert error(bad, 401)["code"] == "unauthorized"
    checked = client.post("/api/segments/check", json={"rule": "r >= 3"})
    assert error(checked, 401)["code"] == "unauthorized"


# --- One segment ----------------------------------------------------------------------------


def test_a_custom_segment_shows_its_rule_as_text_and_tree_and_its_runs(
    client: TestClient, keys: dict[str, str], brand_store: Store
) -> None:
    small_base(brand_store)
    evaluate(client, keys, names=["keen_campers"], as_of=AS_OF.isoformat())
    evaluate(client, keys, names=["keen_campers"], as_of=LATER)

    response = client.get("/api/segments/keen_campers", headers=auth(keys["read"]))

    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["rule"] == KEEN
    assert detail["tree"] == to_json(parse(KEEN))
    assert detail["tree"]["and"][0]["left"] == {
        "call": "count",
        "args": [{"name": "purchase"}, {"duration": "90d"}],
    }
    assert detail["members"] == 0
    assert detail["trend"] == [1, 0]
    assert [(run["members"], run["entered"], run["exited"]) for run in detail["runs"]] == [
        (1, 1, 0),
        (0, 0, 1),
    ]
    assert detail["runs"][0]["evaluated_at"].startswith("2026-06-01T12:00:00")

    latest = client.get("/api/segments/keen_campers?runs=1", headers=auth(keys["read"])).json()
    assert [run["members"] for run in latest["runs"]] == [0]


def test_an_engine_segment_has_no_rule(
    client: TestClient, keys: dict[str, str], brand_store: Store
) -> None:
    small_base(brand_store)
    evaluate(client, keys, names=["lifecycle"], as_of=AS_OF.isoformat())

    detail = client.get("/api/segments/lifecycle:lapsed", headers=auth(keys["read"])).json()

    assert detail["kind"] == "lifecycle"
    assert detail["rule"] is None
    assert detail["tree"] is None
    assert detail["members"] == 1  # cas
    assert [run["members"] for run in detail["runs"]] == [1]

    spaced = quote("commitment:Weakly unavailable")
    found = client.get(f"/api/segments/{spaced}", headers=auth(keys["read"]))
    assert found.status_code == 200, found.text
    assert found.json()["name"] == "commitment:Weakly unavailable"


def test_an_unknown_segment_is_404_with_the_nearest_name(
    client: TestClient, keys: dict[str, str]
) -> None:
    for path in ("/api/segments/keen_campres", "/api/segments/keen_campres/members"):
        found = error(client.get(path, headers=auth(keys["read"])), 404)
        assert found["code"] == "not_found"
        assert (
            found["message"] == "there is no segment 'keen_campres'; did you mean 'keen_campers'?"
        )
        assert found["details"]["did_you_mean"] == "keen_campers"
    far = error(client.get("/api/segments/zzz", headers=auth(keys["read"])), 404)
    assert far["message"] == "there is no segment 'zzz'"
    for odd in ("x" * 500, "keen%00campers", "%E2%9C%93"):
        response = client.get(f"/api/segments/{odd}/members", headers=auth(keys["read"]))
        assert error(response, 404)["code"] == "not_found"
    bad_runs = client.get("/api/segments/keen_campers?runs=0", headers=auth(keys["read"]))
    assert error(bad_runs, 400)["code"] == "invalid_input"


# --- Members --------------------------------------------------------------------------------


def test_members_come_a_page_at_a_time_by_customer_id(
    client: TestClient, keys: dict[str, str], brand_store: Store
) -> None:
    people = small_base(brand_store)
    prospects = sorted([people["dee"], *(add_customer(brand_store) for _ in range(4))])
    evaluate(client, keys, names=["lifecycle:prospect"], as_of=AS_OF.isoformat())

    seen: list[int] = []
    pages = 0
    after: int | None = None
    while True:
        query = "limit=2" + (f"&after={after}" if after is not None else "")
        response = client.get(
            f"/api/segments/lifecycle:prospect/members?{query}", headers=auth(keys["read"])
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["segment"] == "lifecycle:prospect"
        assert len(page["members"]) <= 2
        for member in page["members"]:
            assert set(member) == {"customer_id", "entered_at"}  # no personal data
            assert member["entered_at"].startswith("2026-06-01T12:00:00")
        seen.extend(member["customer_id"] for member in page["members"])
        pages += 1
        after = page["next"]
        if after is None:
            break
        assert after == seen[-1]

    assert seen == prospects
    assert pages == 3

    whole = client.get(
        "/api/segments/lifecycle:prospect/members", headers=auth(keys["read"])
    ).json()
    assert [m["customer_id"] for m in whole["members"]] == prospects
    assert whole["next"] is None

    empty = client.get("/api/segments/rfm:champions/members", headers=auth(keys["read"])).json()
    assert empty == {"segment": "rfm:champions", "members": [], "next": None}


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=many", "after=-1", "after=99999999999999999999"]
)
def test_a_bad_page_request_is_400(client: TestClient, keys: dict[str, str], query: str) -> None:
    response = client.get(
        f"/api/segments/lifecycle:prospect/members?{query}", headers=auth(keys["read"])
    )
    assert error(response, 400)["code"] == "invalid_input"


# --- Checking -------------------------------------------------------------------------------


def check(client: TestClient, keys: dict[str, str], body: Any) -> Any:
    return client.post("/api/segments/check", json=body, headers=auth(keys["read"]))


def test_a_valid_rule_answers_its_canonical_text_tree_and_features(
    client: TestClient, keys: dict[str, str]
) -> None:
    response = check(client, keys, {"rule": 'trait.plan="pro"\n  and  count(purchase,90d)>=2'})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True,
        "text": 'trait.plan = "pro" and count(purchase, 90d) >= 2',
        "tree": {
            "and": [
                {"op": "=", "left": {"field": "trait.plan"}, "right": "pro"},
                {
                    "op": ">=",
                    "left": {"call": "count", "args": [{"name": "purchase"}, {"duration": "90d"}]},
                    "right": 2,
                },
            ]
        },
        "features": [
            {"column": "trait__plan", "source": "field", "type": "string"},
            {"column": "count__purchase__90d", "source": "count", "type": "number"},
        ],
    }


def test_a_rule_round_trips_text_to_tree_to_text(client: TestClient, keys: dict[str, str]) -> None:
    rule = (
        'not (lifecycle = "lapsed" or rfm_group in ("at_risk", "hibernating"))\n'
        '  and sum(purchase.amount, 365d) > 200.5 and subscribed("offers:camping", "email")'
    )
    from_text = check(client, keys, {"rule": rule}).json()

    from_tree = check(client, keys, {"tree": from_text["tree"]})

    assert from_tree.status_code == 200, from_tree.text
    assert from_tree.json() == from_text
    again = check(client, keys, {"rule": from_text["text"]}).json()
    assert again["text"] == from_text["text"]
    assert again["tree"] == from_text["tree"]


def test_a_typo_is_400_with_line_column_and_pointer(
    client: TestClient, keys: dict[str, str]
) -> None:
    rule = 'lifecycle = "active"\n  and cuont(purchase, 30d) > 1'

    found = error(check(client, keys, {"rule": rule}), 400)

    assert found["code"] == "invalid_segment"
    assert found["message"] == (
        "line 2, column 7: unknown function 'cuont'; did you mean 'count'? "
        "(functions: count, interest, last, subscribed, sum)"
    )
    assert found["details"]["line"] == 2
    assert found["details"]["column"] == 7
    assert found["details"]["pointer"] == "  and cuont(purchase, 30d) > 1\n      ^^^^^"


@pytest.mark.parametrize(
    ("rule", "line", "column", "pointer"),
    [
        ('lifecycle == "active"', 1, 11, 'lifecycle == "active"\n          ^^'),
        ("(r > 2 or f > 2", 1, 1, "(r > 2 or f > 2\n^"),
        ('lifecycle = "actve"', 1, 13, 'lifecycle = "actve"\n            ^^^^^^^'),
        ("count(purchase, 90x) >= 2", 1, 17, "count(purchase, 90x) >= 2\n                ^^^"),
    ],
)
def test_syntax_and_type_errors_point_at_the_mistake(
    client: TestClient, keys: dict[str, str], rule: str, line: int, column: int, pointer: str
) -> None:
    found = error(check(client, keys, {"rule": rule}), 400)

    assert found["message"].startswith(f"line {line}, column {column}: ")
    assert (found["details"]["line"], found["details"]["column"]) == (line, column)
    assert found["details"]["pointer"] == pointer


def test_a_malformed_tree_says_which_part(client: TestClient, keys: dict[str, str]) -> None:
    tree = {"and": [{"field": "trait.plan"}, {"op": "=", "left": {"field": "r"}, "rigth": 3}]}

    found = error(check(client, keys, {"tree": tree}), 400)

    assert found["code"] == "invalid_segment"
    assert found["message"] == "$.and[1]: unexpected key rigth in a 'op' node"
    assert found["details"]["path"] == "$.and[1]"

    duration = {"call": "count", "args": [{"name": "purchase"}, {"duration": "0d"}]}
    found = error(check(client, keys, {"tree": {"op": ">", "left": duration, "right": 1}}), 400)
    assert found["details"]["path"] == "$.left.args[1].duration"
    assert "a duration must be positive" in found["message"]


def test_a_tree_that_does_not_type_check_points_into_its_text(
    client: TestClient, keys: dict[str, str]
) -> None:
    tree = {"op": ">", "left": {"field": "lifecycle"}, "right": 3}

    found = error(check(client, keys, {"tree": tree}), 400)

    assert (
        found["message"] == "line 1, column 13: cannot compare lifecycle (string) with 3 (number)"
    )
    assert found["details"]["text"] == "lifecycle > 3"
    assert found["details"]["pointer"] == "lifecycle > 3\n            ^"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"rule": "r > 1", "tree": {"field": "r"}},
        {"rule": ""},
        {"rule": None},
        {"tree": None},
        {"rule": "r > 1", "extra": 1},
        {"rule": 3},
        {"rule": "r > 1 and " * 2000 + "r > 1"},
    ],
)
def test_a_check_without_exactly_one_rule_or_tree_is_400(
    client: TestClient, keys: dict[str, str], body: dict[str, Any]
) -> None:
    assert error(check(client, keys, body), 400)["code"] == "invalid_input"


def test_deep_nesting_is_400_not_500(client: TestClient, keys: dict[str, str]) -> None:
    rule = "not " * 2400 + "r > 1"
    assert error(check(client, keys, {"rule": rule}), 400)["code"] == "invalid_input"

    # Written out by hand: the test client's own encoder would give up on this depth.
    body = '{"tree": ' + '{"not": ' * 3000 + '{"field": "trait.plan"}' + "}" * 3001
    response = client.post(
        "/api/segments/check",
        content=body,
        headers={**auth(keys["read"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text[:300]


# --- Evaluating -----------------------------------------------------------------------------


def test_evaluating_answers_the_summaries_and_stores_them(
    client: TestClient, keys: dict[str, str], brand_store: Store
) -> None:
    people = small_base(brand_store)

    answer = evaluate(
        client, keys, names=["keen_campers", "lifecycle"], as_of="2026-06-01T14:00:00+02:00"
    )

    assert answer["as_of"].startswith("2026-06-01T12:00:00")
    evaluated = by_name(answer["segments"])
    assert set(evaluated) == {
        "keen_campers",
        *(f"lifecycle:{s}" for s in ("prospect", "new", "active", "at_risk", "lapsed", "won_back")),
    }
    assert evaluated["keen_campers"]["members"] == 1
    assert evaluated["keen_campers"]["entered"] == 1
    assert evaluated["keen_campers"]["exited"] == 0
    assert evaluated["keen_campers"]["trend"] == [1]
    members = client.get("/api/segments/keen_campers/members", headers=auth(keys["read"])).json()[
        "members"
    ]
    assert [m["customer_id"] for m in members] == [people["ana"]]

    everything = evaluate(client, keys)
    assert {"rfm:champions", "commitment:Entrenched", "camping_pro"} <= set(
        by_name(everything["segments"])
    )


def test_evaluating_needs_a_write_key(client: TestClient, keys: dict[str, str]) -> None:
    for headers in ({}, auth(keys["read"])):
        response = client.post("/api/segments/evaluate", json={}, headers=headers)
        assert error(response, 401)["code"] == "unauthorized"


def test_unknown_names_are_400_listing_every_one(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post(
        "/api/segments/evaluate",
        json={"names": ["keen_campres", "rfm", "nothing_like_it", "lifecycle:lapsd"]},
        headers=auth(keys["write"]),
    )

    found = error(response, 400)
    assert found["code"] == "invalid_input"
    assert found["details"]["unknown"] == ["keen_campres", "nothing_like_it", "lifecycle:lapsd"]
    assert found["message"] == (
        "no such segments: 'keen_campres' (did you mean 'keen_campers'?), 'nothing_like_it', "
        "'lifecycle:lapsd' (did you mean 'lifecycle:lapsed'?)"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"names": []},
        {"names": "rfm"},
        {"as_of": "2026-06-01T12:00:00"},
        {"as_of": "yesterday"},
        {"as_of": "9999-12-31T23:00:00-05:00"},
        {"when": "now"},
    ],
)
def test_a_bad_evaluation_request_is_400(
    client: TestClient, keys: dict[str, str], body: dict[str, Any]
) -> None:
    response = client.post("/api/segments/evaluate", json=body, headers=auth(keys["write"]))
    assert error(response, 400)["code"] == "invalid_input"
