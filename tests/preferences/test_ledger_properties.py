"""Properties of the consent ledger that must hold for any history.

The pure properties fold generated entries (no database, so they run fast); one smaller property
records generated changes through the service on SQLite and checks the chain.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regard.preferences import repository, service
from regard.preferences.ledger import (
    CUSTOMER_SOURCES,
    RECORD_SOURCES,
    SOURCES,
    LedgerLine,
    fold,
)
from regard.preferences.service import ConsentChange, Origin
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEYS = [("offers:camping", "email"), ("offers:camping", "sms"), ("events", "email")]
STATES = ["opted-in", "opted-out", "pending"]
# Few distinct moments, so that many entries share one and the order falls to ``seq``.
MOMENTS = st.integers(min_value=0, max_value=6).map(lambda hours: T0 + timedelta(hours=hours))

PURE = settings(max_examples=100, deadline=None)


@st.composite
def consent_lines(draw: st.DrawFn) -> list[LedgerLine]:
    """Any sequence of consent and setting entries, from any source, written in any order of
    the moments they speak of (``seq`` is the order they were written)."""
    count = draw(st.integers(min_value=0, max_value=25))
    lines = []
    for seq in range(1, count + 1):
        moment = draw(MOMENTS)
        source = draw(st.sampled_from(sorted(SOURCES)))
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            lines.append(
                LedgerLine(
                    entry_id=seq,
                    seq=seq,
                    kind="setting",
                    topic=None,
                    channel=None,
                    state=None,
                    legal_basis=None,
                    setting=draw(st.sampled_from(["frequency", "language"])),
                    scope=draw(st.sampled_from(["", "offers:camping"])),
                    value=draw(st.sampled_from([None, "weekly", "nl"])),
                    has_personal_value=False,
                    source=source,
                    actor="someone",
                    occurred_at=moment,
                )
            )
            continue
        topic, channel = draw(st.sampled_from(KEYS))
        lines.append(
            LedgerLine(
                entry_id=seq,
                seq=seq,
                kind="consent",
                topic=topic,
                channel=channel,
                state=draw(st.sampled_from(STATES)),
                legal_basis="consent",
                setting=None,
                scope=None,
                value=None,
                has_personal_value=False,
                source=source,
                actor="someone",
                occurred_at=moment,
            )
        )
    return lines


def in_ledger_order(lines: list[LedgerLine]) -> list[LedgerLine]:
    return sorted(lines, key=lambda line: (line.occurred_at, line.seq))


def model_state(lines: list[LedgerLine], key: tuple[str, str]) -> str | None:
    """The rule written out plainly: the last word, unless it is a record's word against an
    opt-out."""
    state: str | None = None
    for line in in_ledger_order(lines):
        if line.kind != "consent" or (line.topic, line.channel) != key:
            continue
        if state == "opted-out" and line.state != "opted-out" and line.source in RECORD_SOURCES:
            continue
        state = line.state
    return state


@PURE
@given(consent_lines())
def test_the_state_is_the_last_word_except_a_records_word_against_an_opt_out(
    lines: list[LedgerLine],
) -> None:
    view = fold(lines)
    for key in KEYS:
        said = [line for line in in_ledger_order(lines) if (line.topic, line.channel) == key]
        word = view.consents.get(key)
        assert (word.state if word else None) == model_state(lines, key)
        if not said:
            assert word is None
            continue
        assert word is not None
        last = said[-1]
        if word.state != last.state:
            # Only an opt-out can stand against a later word, and only against a record's.
            assert word.state == "opted-out"
            assert last.source in RECORD_SOURCES


@PURE
@given(consent_lines())
def test_an_opt_out_is_undone_only_by_the_customers_own_later_word(
    lines: list[LedgerLine],
) -> None:
    ordered = in_ledger_order(lines)
    before = fold([])
    for count, line in enumerate(ordered, start=1):
        after = fold(ordered[:count])
        for key in KEYS:
            was, now = before.consents.get(key), after.consents.get(key)
            if was is not None and was.state == "opted-out":
                assert now is not None
                if now.state != "opted-out":
                    assert (line.topic, line.channel) == key
                    assert line.source in CUSTOMER_SOURCES
                    assert line.occurred_at >= was.occurred_at
        before = after


@PURE
@given(consent_lines(), MOMENTS)
def test_replay_at_a_moment_is_the_fold_of_what_was_said_by_then(
    lines: list[LedgerLine], moment: datetime
) -> None:
    assert fold(lines, until=moment) == fold([line for line in lines if line.occurred_at <= moment])


# ---- through the service, on SQLite --------------------------------------------------------

CHANGES = st.lists(
    st.tuples(
        st.sampled_from(KEYS),
        st.sampled_from(["opted-in", "opted-out"]),
        st.sampled_from(sorted(SOURCES)),
        st.integers(min_value=0, max_value=6),
    ),
    min_size=1,
    max_size=8,
)
_emails = itertools.count()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(changes=CHANGES)
def test_verify_passes_on_anything_recorded_through_the_service(
    sqlite_store: Store, changes: list[tuple[tuple[str, str], str, str, int]]
) -> None:
    store = sqlite_store
    customer = new_customer(store, email=f"p{next(_emails)}@example.com")
    for (topic, channel), state, source, hours in changes:
        with unit_of_work(store) as session:
            service.record(
                session,
                customer,
                brand=store.brand,
                origin=Origin(
                    source=source,
                    actor="property",
                    occurred_at=T0 + timedelta(hours=hours),
                ),
                consents=[ConsentChange(topic, channel, state)],  # type: ignore[arg-type]
            )

    with unit_of_work(store) as session:
        report = service.verify(session, customer_id=customer)
        lines = repository.ledger_lines(session, customer)
        now = service.current(session, customer, brand=store.brand)
    assert report.ok, report.problems
    # A change that says nothing new is not appended; every appended one is checked.
    assert report.entries == len(lines) <= len(changes)
    for key in KEYS:
        expected = model_state(lines, key)
        assert now.consents[key].state == (expected or "default")
