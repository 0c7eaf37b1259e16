"""A campaign previewed before anything is sent: reach, suppressions, cost, value, warnings.

The preview launches the campaign inside a transaction that is rolled back: the same triggers,
the same inputs and the same engine as a real run decide its candidates, and nothing is kept.
The candidates already waiting are not decided here; the caps count what was already sent.

A **spray-and-pray warning** is raised when a large share (``SPRAY_SHARE``) of the reachable
audience is below the relevance floor, or over its caps and frequency choices: the campaign
would reach people it is not relevant to, or people who have heard enough. The reachable
audience leaves out whom the campaign may not reach at all (no consent, opted out, no address,
erased): they are the law's and the customer's limits, not the campaign's aim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import select

from regard.decisions import engine
from regard.decisions.inputs import read_inputs
from regard.decisions.reasons import Reason
from regard.decisions.service import budgets_of
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints import triggers
from regard.touchpoints.models import Candidate

SPRAY_SHARE = 0.3
_IRRELEVANT = {Reason.BELOW_RELEVANCE.value}
_OVER_CAPS = {Reason.CAP.value, Reason.FREQUENCY.value, Reason.MIN_GAP.value, Reason.FATIGUE.value}
_UNREACHABLE = {
    Reason.NO_LAWFUL_BASIS.value,
    Reason.OPTED_OUT.value,
    Reason.NO_CONSENT.value,
    Reason.IMPLIED_CONSENT_EXPIRED.value,
    Reason.HARD_BOUNCE.value,
    Reason.COMPLAINT.value,
    Reason.UNREACHABLE.value,
    Reason.ERASED.value,
    Reason.DO_NOT_CONTACT.value,
    Reason.UNKNOWN_CUSTOMER.value,
}


@dataclass(frozen=True)
class Preview:
    campaign: str
    audience: int
    # The audience less those it may not reach at all (no consent, opted out, no address ...).
    reachable: int
    sent: int
    held: int
    dropped: int
    value: float
    cost: float
    # (segment, channel) -> sends; segments are lifecycle stages and commitment groups
    reach: dict[tuple[str, str], int]
    # (outcome, reason) -> candidates not sent
    suppressed: dict[tuple[str, str], int]
    # (channel, reason) -> candidates that channel was refused for (a promotional call ...)
    refused: dict[tuple[str, str], int]
    irrelevant_share: float
    over_caps_share: float

    @property
    def warnings(self) -> list[str]:
        found = []
        if self.irrelevant_share >= SPRAY_SHARE:
            found.append(
                f"spray and pray: {self.irrelevant_share:.0%} of those it may reach are below the "
                "relevance floor; narrow the audience to those it is relevant to"
            )
        if self.over_caps_share >= SPRAY_SHARE:
            found.append(
                f"spray and pray: {self.over_caps_share:.0%} of those it may reach have heard "
                "enough (caps, frequency choices, minimum gaps or fatigue); send less, or to "
                "fewer"
            )
        return found


def preview_campaign(store: Store, name: str, *, by: str, now: datetime) -> Preview:
    """What launching the campaign now would do; nothing is kept."""
    brand = store.brand
    with unit_of_work(store) as session:
        try:
            launched = triggers.launch_campaign(session, name, brand=brand, by=by, now=now)
            ids = select(Candidate.id).where(
                Candidate.touchpoint == name,
                Candidate.key == f"campaign:{launched.launch_id}",
            )
            inputs = read_inputs(session, brand=brand, now=now, candidate_ids=ids)
            result = engine.decide(inputs, policy=brand.policy, budgets=budgets_of(brand), now=now)
            segments = pl.DataFrame(
                session.execute(
                    select(SegmentMembership.customer_id, SegmentMembership.segment).where(
                        SegmentMembership.customer_id.in_(
                            select(Candidate.customer_id).where(Candidate.id.in_(ids))
                        ),
                        SegmentMembership.exited_at.is_(None),
                        SegmentMembership.segment.like("lifecycle:%")
                        | SegmentMembership.segment.like("commitment:%"),
                    )
                ).all(),
                schema={"customer_id": pl.Int64(), "segment": pl.String()},
                orient="row",
            )
        finally:
            session.rollback()
    decisions = result.decisions
    sent = decisions.filter(pl.col("outcome") == "sent")
    reach = (
        sent.join(segments, on="customer_id", how="inner")
        .group_by("segment", "channel")
        .len()
        .iter_rows()
    )
    not_sent = decisions.filter(pl.col("outcome") != "sent")
    suppressed = not_sent.group_by("outcome", "reason").len().iter_rows()
    audience = decisions.height
    reasons = not_sent["reason"]
    reachable = audience - int(reasons.is_in(list(_UNREACHABLE)).sum())
    chosen = result.plan.chosen if result.plan is not None else None
    return Preview(
        campaign=name,
        audience=audience,
        reachable=reachable,
        sent=sent.height,
        held=not_sent.filter(pl.col("outcome") == "held").height,
        dropped=not_sent.filter(pl.col("outcome") == "dropped").height,
        value=float(sent["value"].sum() or 0.0),
        cost=float(chosen["cost"].sum()) if chosen is not None else 0.0,
        reach={(s, c): int(n) for s, c, n in reach},
        suppressed={(o, r): int(n) for o, r, n in suppressed},
        refused={
            (str(c), str(r)): int(n)
            for c, r, n in result.policy.blocked.group_by("channel", "reason").len().iter_rows()
        },
        irrelevant_share=_share(reasons, _IRRELEVANT, reachable),
        over_caps_share=_share(reasons, _OVER_CAPS, reachable),
    )


def _share(reasons: pl.Series, wanted: set[str], out_of: int) -> float:
    if not out_of:
        return 0.0
    return int(reasons.is_in(list(wanted)).sum()) / out_of
