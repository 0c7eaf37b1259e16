"""The rules of the contact policy. Each returns the rows it stops (a mask over candidates, or
over one channel's column of candidates) with its reason code; the driver
(:func:`regard.decisions.policy.apply_policy`) keeps the first reason that stops a row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from regard.decisions.policy_frames import (
    CODE,
    CONSENT,
    CRITICAL,
    LEGITIMATE_INTEREST,
    NOTHING,
    OPTED_IN,
    OPTED_OUT,
    PROMOTIONAL,
    RELATIONSHIP,
    TRANSACTIONAL,
    VOICE,
    Array,
)
from regard.decisions.policy_options import ContactPolicy
from regard.decisions.reasons import Reason


@dataclass
class Run:
    """Everything the rules read, laid out as arrays over candidates (m) and customers (n)."""

    policy: ContactPolicy
    now: int
    m: int
    n: int
    customer: Array  # (m,) int32 position in customers
    known: Array  # (m,) customer known
    importance: Array  # (m,) int8: 0 critical .. 4 promotional
    topic: Array  # (m,) int32 position in topics, -1 unknown
    topic_count: int
    basis: Array  # (m,) int8 0..3, -1 unknown topic
    offered: Array  # (H, m) the touchpoint may use the channel
    deadline: Array  # (m,) us, NEVER when none
    asks_response: Array
    value: Array
    relevance: Array  # NaN unknown
    consent: Array  # (m,) uint16 packed states
    reachable: Array  # (H, n)
    suppressed: Array  # (H, n) reason code or 0
    do_not_contact: Array  # (n,)
    erased: Array  # (n,)
    implied_until: Array  # (n,) us: implied consent holds until; NEVER: it does not lapse
    ids: Array  # (n,) customer ids, sorted
    topic_keys: tuple[str, ...]
    cell: Array | None = None  # (m,) (customer, topic) as one int (negative: unknown topic)
    lapsed: Array | None = None  # rows whose implied consent lapsed; see lapsed_rows()
    gaps: Array | None = None  # (topics + 1, 2) us: the minimum gap by (topic, marketing)
    overall: Array | None = None  # (n,) the customer's overall frequency

    @property
    def marketing(self) -> Array:
        return self.importance >= RELATIONSHIP

    def state(self, channel: int) -> Array:
        return (self.consent >> (3 * channel)) & 3

    def implied(self, channel: int, rows: Array | None = None) -> Array:
        """Whether the basis on the channel is implied, for every candidate or at ``rows``."""
        consent = self.consent if rows is None else self.consent[rows]
        basis = self.basis if rows is None else self.basis[rows]
        state = (consent >> (3 * channel)) & 3
        flagged = ((consent >> (3 * channel + 2)) & 1).astype(bool)
        implied: Array = np.where(state == OPTED_IN, flagged, basis == LEGITIMATE_INTEREST)
        return implied

    def lapsed_rows(self) -> Array:
        """Candidates whose customer's implied consent has lapsed (found once per run)."""
        if self.lapsed is None:
            lapsed_customers = self.implied_until < self.now
            if lapsed_customers.any():
                self.lapsed = np.flatnonzero(lapsed_customers[self.customer])
            else:
                self.lapsed = np.zeros(0, dtype=np.int64)
        return self.lapsed

    def gap(self, rows: Array) -> Array:
        """The minimum gap (us) of the candidates at ``rows``; 0: none."""
        if self.gaps is None:
            return np.zeros(rows.size, dtype=np.int64)
        topic = self.topic[rows]
        gap: Array = self.gaps[topic, (self.importance[rows] >= RELATIONSHIP).astype(np.intp)]
        return gap

    def key(self) -> Array:
        """(customer, topic) as one int64 per candidate (negative: unknown topic)."""
        if self.cell is not None:
            return self.cell
        key: Array = self.customer.astype(np.int64) * self.topic_count + self.topic
        return key


Stop = tuple[Array, Reason]


def unknown_customer(run: Run) -> Stop:
    """The candidate's customer is not in the customers frame: nothing is known to check."""
    return ~run.known, Reason.UNKNOWN_CUSTOMER


def no_channel(run: Run) -> Stop:
    """The touchpoint names no channel the policy knows."""
    return ~np.any(run.offered, axis=0), Reason.NO_CHANNEL


def past_deadline(run: Run) -> Stop:
    """The candidate's deadline has passed."""
    return run.deadline < run.now, Reason.PAST_DEADLINE


def erased(run: Run) -> Stop:
    """The customer was erased: nothing more is ever sent."""
    if not run.erased.any():
        return NOTHING, Reason.ERASED
    return run.erased[run.customer], Reason.ERASED


def do_not_contact(run: Run) -> Stop:
    """Do-not-contact stops everything but critical messages (security and legal notices)."""
    if not run.do_not_contact.any():
        return NOTHING, Reason.DO_NOT_CONTACT
    return run.do_not_contact[run.customer] & (run.importance != CRITICAL), Reason.DO_NOT_CONTACT


def lawful_basis(run: Run) -> Stop:
    """A topic outside the brand's catalogue has no legal basis to be sent at all."""
    return run.topic < 0, Reason.NO_LAWFUL_BASIS


def relevance_floor(run: Run) -> Stop:
    """A promotional candidate predicted less relevant than the floor is not sent (an unknown
    relevance passes)."""
    low = run.relevance < run.policy.relevance_floor  # NaN compares False
    return (run.importance == PROMOTIONAL) & low, Reason.BELOW_RELEVANCE


def opted_out(run: Run, channel: int) -> Stop:
    """An opt-out from the topic on the channel always wins, whatever the basis."""
    return run.state(channel) == OPTED_OUT, Reason.OPTED_OUT


def promotional_voice(run: Run, channel: int) -> Stop:
    """Promotional messages never go as phone calls."""
    if channel != VOICE:
        return NOTHING, Reason.PROMOTIONAL_VOICE
    return run.importance == PROMOTIONAL, Reason.PROMOTIONAL_VOICE


def voice_fits_importance(run: Run, channel: int) -> Stop:
    """A phone call only for critical or transactional messages."""
    if channel != VOICE:
        return NOTHING, Reason.VOICE_NOT_FITTING
    return run.importance > TRANSACTIONAL, Reason.VOICE_NOT_FITTING


def call_for_information(run: Run, channel: int) -> Stop:
    """A call demands an interactive response ("press 1"): never for a message that asks
    none, such as an order ready to collect."""
    if channel != VOICE:
        return NOTHING, Reason.CALL_FOR_INFORMATION
    return ~run.asks_response, Reason.CALL_FOR_INFORMATION


def voice_opt_in(run: Run, channel: int) -> Stop:
    """A call needs the customer's own opt-in to calls about the topic."""
    if channel != VOICE:
        return NOTHING, Reason.NO_VOICE_OPT_IN
    return run.state(channel) != OPTED_IN, Reason.NO_VOICE_OPT_IN


def consent_needed(run: Run, channel: int) -> Stop:
    """A topic whose basis is consent needs an opt-in (a pending one is not enough)."""
    return (run.basis == CONSENT) & (run.state(channel) != OPTED_IN), Reason.NO_CONSENT


def implied_consent_expiry(run: Run, channel: int) -> Stop:
    """Implied consent (legitimate interest from a purchase) lapses where the region says so,
    e.g. CASL's two years after the last purchase."""
    rows = run.lapsed_rows()
    if not rows.size:
        return NOTHING, Reason.IMPLIED_CONSENT_EXPIRED
    stop = np.zeros(run.m, dtype=bool)
    stop[rows] = run.implied(channel, rows)
    return stop, Reason.IMPLIED_CONSENT_EXPIRED


def reachable(run: Run, channel: int) -> Stop:
    """The customer has no usable address on the channel."""
    # Negated per customer, then gathered: one pass over the candidates instead of two.
    return (~run.reachable[channel])[run.customer], Reason.UNREACHABLE


def suppression(run: Run, channel: int) -> list[Stop]:
    """A hard bounce or a complaint suppresses the channel."""
    if not run.suppressed[channel].any():
        return []
    code = run.suppressed[channel][run.customer]
    return [
        (code == CODE[Reason.HARD_BOUNCE], Reason.HARD_BOUNCE),
        (code == CODE[Reason.COMPLAINT], Reason.COMPLAINT),
    ]


CANDIDATE_RULES = (
    unknown_customer,
    no_channel,
    past_deadline,
    erased,
    do_not_contact,
    lawful_basis,
    relevance_floor,
)
CHANNEL_RULES = (
    opted_out,
    promotional_voice,
    voice_fits_importance,
    call_for_information,
    voice_opt_in,
    consent_needed,
    implied_consent_expiry,
    reachable,
)
