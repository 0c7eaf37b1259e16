"""Why a candidate or a (candidate, channel) did not pass: the ``verdicts`` and ``blocked``
frames, built only when read.

Params (JSON) are built once per distinct set of facts, not once per row: rows are grouped by
reason, then by the facts their reason's sentence uses (topic, channel, a date, a count, a
cap...), each group's JSON is written once, and the rows gather it. A gathered string column
shares its text buffers, so tens of millions of rows cost one 16-byte view each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from regard.decisions.policy_frames import (
    CODE,
    CODES,
    DAY,
    FREQUENCIES,
    HELD_CODES,
    LONG_AGO,
    MINUTE,
    NEVER,
    NOT_OFFERED,
    PENDING,
    US,
    Array,
    groups,
    put,
    take,
    with_nulls,
)
from regard.decisions.policy_history import Facts, Room
from regard.decisions.policy_options import CHANNEL_ORDER, IMPORTANCE_ORDER, ContactPolicy
from regard.decisions.policy_rules import Run
from regard.decisions.reasons import Reason

H = len(CHANNEL_ORDER)
ISO = "%Y-%m-%dT%H:%M:%S+00:00"
DAY_FORMAT = "%Y-%m-%d"
REASON_NAMES = pl.Series([""] + [r.value for r in CODES])
CHANNEL_NAMES = pl.Series([*CHANNEL_ORDER, None], dtype=pl.String)
# The verdicts' outcome and reason as Enums (one byte a row): their physical codes are ours.
OUTCOME = pl.Enum(["dropped", "held"])
REASON = pl.Enum(REASON_NAMES.to_list())
# The facts each reason's params carry beyond topic and channel.
DETAILS: dict[Reason, tuple[str, ...]] = {
    Reason.PAST_DEADLINE: ("deadline", "held_for"),
    Reason.BELOW_RELEVANCE: ("relevance",),
    Reason.VOICE_NOT_FITTING: ("importance",),
    Reason.PAUSED: ("when",),
    Reason.FATIGUE: ("count", "retry"),
    Reason.MIN_GAP: ("when", "gap"),
    Reason.FREQUENCY: ("when", "frequency", "overall"),
    Reason.CAP: ("cap", "sent"),
    Reason.DIGEST: ("frequency", "retry"),
    Reason.NO_CONSENT: ("state",),
    Reason.IMPLIED_CONSENT_EXPIRED: ("expired",),
}


def _seconds(values: Array) -> Array:
    """A moment as the text shows it: whole seconds; LONG_AGO and NEVER kept apart."""
    known = (values != LONG_AGO) & (values != NEVER)
    return np.where(known, values // US, np.where(values == NEVER, -1, -2))


def _days(values: Array) -> Array:
    known = (values != LONG_AGO) & (values != NEVER)
    return np.where(known, values // DAY, np.iinfo(np.int64).min // DAY - 1)


def _text(values: Array, fmt: str) -> pl.Series:
    """Microseconds as text in UTC; LONG_AGO and NEVER as null."""
    known = (values != LONG_AGO) & (values != NEVER)
    series = pl.Series(np.where(known, values, 0)).cast(pl.Datetime("us")).dt.strftime(fmt)
    return series.to_frame("t").select(pl.when(pl.Series(known)).then(pl.col("t")))["t"]


def _moments(values: Array) -> pl.Series:
    """Microseconds as UTC datetimes to the second (as written in params); NEVER as null."""
    known = (values != LONG_AGO) & (values != NEVER)
    seconds = np.where(known, values // US * US, 0)
    return with_nulls(seconds, known, pl.Datetime("us", "UTC")).alias("retry_at")


@dataclass
class Explanation:
    """What is needed to explain every stop, built into frames only when asked for."""

    run: Run
    candidate_ids: Array  # (m,)
    topics: pl.Series  # (m,) each candidate's topic as given (String, Categorical or Enum)
    topic_code: Array  # (m,) int32 code of that text (-1: null)
    reason: Array
    retry: Array
    stopped: Array  # (H, m)
    facts: Facts
    rooms: list[Room]

    def blocked(self) -> pl.DataFrame:
        offered = self.stopped != NOT_OFFERED
        open_ = (self.stopped == 0) & (self.reason == 0)[None, :]
        cells = np.flatnonzero((offered & ~open_).T)
        del open_
        del offered
        row = (cells // H).astype(np.int32)
        channel = (cells % H).astype(np.int8)
        del cells
        own = self.reason[row]
        column = self.stopped[channel, row]
        # A candidate-wide drop, else the channel's stop, else the candidate-wide hold.
        dropped = (own != 0) & ~HELD_CODES[own]
        code = np.where(dropped | (column == 0), own, column)
        del dropped, column
        retry = np.where(code == own, self.retry[row], NEVER)
        del own
        frame = pl.DataFrame(
            {
                "candidate_id": self.candidate_ids[row],
                "channel": take(CHANNEL_NAMES, channel),
                "reason": take(REASON_NAMES, code),
            }
        )
        params = self._params(row, channel, code, retry=retry, held_for=None)
        return frame.with_columns(params.alias("params"))

    def verdicts(self) -> pl.DataFrame:
        run = self.run
        # Candidates with no open channel: stopped as a whole, or on every channel.
        closed = self.stopped[0] != 0
        for h in range(1, H):
            closed &= self.stopped[h] != 0
        closed |= self.reason != 0
        rows = np.flatnonzero(closed)
        del closed
        own = self.reason[rows]
        # One channel at a time (rows of (H, rows) reduce slowly down axis 0): whether any
        # channel is offered and every offered one dropped; the strongest channel drop (the
        # lowest code, as rules are numbered in order; first channel on ties); and for a
        # channel-wide hold (a channel cap) the earliest channel to open.
        any_offered = np.zeros(rows.size, dtype=bool)
        every_dropped = np.ones(rows.size, dtype=bool)
        drop_code = np.full(rows.size, 254, dtype=np.uint8)
        drop_channel = np.zeros(rows.size, dtype=np.int8)
        held_at = np.full(rows.size, NEVER, dtype=np.int64)
        held_channel = np.zeros(rows.size, dtype=np.int8)
        who = run.customer[rows]
        for h in range(H):
            stopped = self.stopped[h][rows]
            offered = stopped != NOT_OFFERED
            any_offered |= offered
            stop_held = HELD_CODES[stopped]
            channel_drop = offered & (stopped != 0) & ~stop_held
            every_dropped &= channel_drop | ~offered
            lower = channel_drop & (stopped < drop_code)
            put(drop_code, lower, stopped)
            put(drop_channel, lower, h)
            del lower, channel_drop
            channel_held = offered & (stopped != 0) & stop_held
            del stopped, offered, stop_held
            if not channel_held.any():
                continue
            opens = np.full(rows.size, NEVER, dtype=np.int64)
            number = self.facts.channel_cap[h, who]
            for i, room in enumerate(self.rooms):
                hit = channel_held & (number == i)
                opens[hit] = room.opens[who[hit]]
            earlier = opens < held_at
            np.putmask(held_at, earlier, opens)
            put(held_channel, earlier, h)
        all_dropped = any_offered & every_dropped
        del any_offered, every_dropped, who

        own_drop = (own != 0) & ~HELD_CODES[own]
        code = np.where(
            own_drop,
            own,
            np.where(
                all_dropped,
                drop_code,
                np.where(own != 0, own, np.where(held_at < NEVER, CODE[Reason.CAP], own)),
            ),
        ).astype(np.uint8)
        channel = np.where(
            own_drop | (~all_dropped & (own != 0)),
            -1,
            np.where(all_dropped, drop_channel, held_channel),
        ).astype(np.int8)
        retry = np.where(
            own_drop | all_dropped, NEVER, np.where(own != 0, self.retry[rows], held_at)
        )
        held = HELD_CODES[code]
        late = held & (retry > run.deadline[rows])
        held_for = np.where(late, code, 0).astype(np.uint8)
        code = np.where(late, CODE[Reason.PAST_DEADLINE], code).astype(np.uint8)
        held = held & ~late
        retry = np.where(held, retry, NEVER)
        frame = pl.DataFrame(
            {
                "candidate_id": self.candidate_ids[rows],
                "outcome": pl.Series(held.view(np.uint8)).cat.to(OUTCOME),
                "reason": pl.Series(code).cat.to(REASON),
                "retry_at": _moments(retry),
            }
        )
        params = self._params(rows, channel, code, retry=retry, held_for=held_for)
        return frame.with_columns(params.alias("params"))

    def _params(
        self, row: Array, channel: Array, code: Array, *, retry: Array, held_for: Array | None
    ) -> pl.Series:
        """The params of every row, written once per distinct set of facts."""
        pieces: list[Array] = []  # the first row of each distinct set of facts, per code
        slot = np.zeros(row.size, dtype=np.int64)
        written = 0
        for number in np.flatnonzero(np.bincount(code, minlength=256)):
            at = np.flatnonzero(code == number)
            why = CODES[number - 1] if number > 0 else None
            columns = [self.topic_code[row[at]], channel[at]]
            for name in DETAILS.get(why, ()) if why is not None else ():
                columns.append(self._fact(name, row[at], channel[at], retry[at], held_for, at))
            first, group = groups(columns)
            pieces.append(at[first])
            slot[at] = written + group
            written += first.size
        if not pieces:
            return pl.Series("params", [], dtype=pl.String)
        # Every distinct set of facts written in one pass, in the order of their numbers.
        keep = np.concatenate(pieces)
        texts = self._json(
            row[keep],
            channel[keep],
            code[keep],
            retry[keep],
            None if held_for is None else held_for[keep],
        )
        return take(texts, slot).alias("params")

    def _fact(
        self,
        name: str,
        row: Array,
        channel: Array,
        retry: Array,
        held_for: Array | None,
        at: Array,
    ) -> Array:
        """One fact of the params, as an int64 equal exactly when the written text is."""
        run, facts = self.run, self.facts
        if name == "deadline":
            return _seconds(run.deadline[row])
        if name == "held_for":
            return np.zeros(row.size, np.int64) if held_for is None else held_for[at]
        if name == "relevance":
            rounded = pl.Series(run.relevance[row]).round(3).to_numpy()
            return rounded.view(np.int64)
        if name == "importance":
            return run.importance[row]
        if name == "when":
            return _days(facts.when[row])
        if name == "count":
            return facts.count[row]
        if name == "retry":
            return _seconds(retry)
        if name == "gap":
            return run.gap(row)
        if name == "frequency":
            return facts.frequency[row]
        if name == "overall":
            return facts.scope_overall[row]
        if name == "cap":
            return self._cap(row, channel)
        if name == "sent":
            return self._sent(row, channel)
        if name == "state":
            state: Array = (run.consent[row] >> (3 * channel.clip(0).astype(np.int64))) & 3
            pending: Array = state == PENDING
            return pending
        if name == "expired":
            return _days(run.implied_until[run.customer[row]])
        raise ValueError(name)

    def _cap(self, row: Array, channel: Array) -> Array:
        who = self.run.customer[row]
        number = np.where(
            channel >= 0,
            self.facts.channel_cap[channel.clip(0), who],
            self.facts.cap[row],
        ).astype(np.int64)
        return np.where(number < 0, len(self.rooms), number)

    def _sent(self, row: Array, channel: Array) -> Array:
        who = self.run.customer[row]
        number = self._cap(row, channel)
        sent = np.zeros(row.size, dtype=np.int64)
        for i, room in enumerate(self.rooms):
            hit = number == i
            sent[hit] = room.sent[who[hit]]
        return sent

    def _json(
        self, row: Array, channel: Array, code: Array, retry: Array, held_for: Array | None
    ) -> pl.Series:
        """The params of a few rows, as JSON objects."""
        run, facts = self.run, self.facts
        who = run.customer[row]
        number = self._cap(row, channel)
        labels: list[str | None] = [r.label for r in self.rooms]
        maxima: list[int | None] = [r.maximum for r in self.rooms]
        windows: list[str | None] = [r.window or None for r in self.rooms]
        gap = run.gap(row)
        frequency_names = pl.Series([None, *FREQUENCIES[1:]])
        frame = pl.DataFrame(
            {
                "channel": CHANNEL_NAMES.gather(np.where(channel >= 0, channel, H)),
                "reason": REASON_NAMES.gather(code),
                "topic": self.topics.gather(row).cast(pl.String),
                "importance": pl.Series(IMPORTANCE_ORDER).gather(run.importance[row]),
                "deadline": _text(run.deadline[row], ISO),
                "relevance": run.relevance[row],
                "when": _text(facts.when[row], DAY_FORMAT),
                "count": facts.count[row].astype(np.int64),
                "frequency": frequency_names.gather(facts.frequency[row].astype(np.int64)),
                "overall": facts.scope_overall[row],
                "cap": pl.Series([*labels, None], dtype=pl.String).gather(number),
                "max": pl.Series([*maxima, None], dtype=pl.Int64).gather(number),
                "window": pl.Series([*windows, None], dtype=pl.String).gather(number),
                "sent": self._sent(row, channel),
                "gap": gap,
                "state": (run.consent[row].astype(np.int64) >> (3 * channel.clip(0))) & 3,
                "expired": _text(run.implied_until[who], DAY_FORMAT),
                "retry_at": _text(retry, ISO),
                "held_for": REASON_NAMES.gather(
                    np.zeros(row.size, dtype=np.int64) if held_for is None else held_for
                ),
            }
        )
        return frame.select(_params(run.policy).alias("params"))["params"]


def _quoted(expr: pl.Expr) -> pl.Expr:
    escaped = expr.cast(pl.String).str.replace_all("\\", "\\\\", literal=True)
    return pl.lit('"') + escaped.str.replace_all('"', '\\"', literal=True) + pl.lit('"')


def _params(policy: ContactPolicy) -> pl.Expr:
    """The non-personal facts of each stop, as a JSON object."""
    reason = pl.col("reason")

    def field(name: str, value: pl.Expr, *reasons: Reason) -> pl.Expr:
        wanted = reason.is_in([r.value for r in reasons]) if reasons else pl.lit(True)
        return pl.when(wanted & value.is_not_null()).then(pl.lit(f'"{name}":') + value)

    day = DAY
    gap = (
        pl.when(pl.col("gap") % day == 0)
        .then((pl.col("gap") // day).cast(pl.String) + pl.lit("d"))
        .otherwise((pl.col("gap") // (60 * MINUTE)).cast(pl.String) + pl.lit("h"))
    )
    frequency_reasons = (Reason.FREQUENCY, Reason.DIGEST)
    parts = [
        field("topic", _quoted(pl.col("topic"))),
        field("channel", _quoted(pl.col("channel"))),
        field("deadline", _quoted(pl.col("deadline")), Reason.PAST_DEADLINE),
        field(
            "held_for",
            _quoted(pl.when(pl.col("held_for") != "").then(pl.col("held_for"))),
            Reason.PAST_DEADLINE,
        ),
        field("relevance", pl.col("relevance").round(3).cast(pl.String), Reason.BELOW_RELEVANCE),
        field("floor", pl.lit(str(policy.relevance_floor)), Reason.BELOW_RELEVANCE),
        field("importance", _quoted(pl.col("importance")), Reason.VOICE_NOT_FITTING),
        field("until", _quoted(pl.col("when")), Reason.PAUSED),
        field("ignored", pl.col("count").cast(pl.String), Reason.FATIGUE),
        field("last_sent", _quoted(pl.col("when")), Reason.MIN_GAP, *frequency_reasons[:1]),
        field("gap", _quoted(gap), Reason.MIN_GAP),
        field("frequency", _quoted(pl.col("frequency")), *frequency_reasons),
        field(
            "scope",
            _quoted(pl.when(pl.col("overall")).then(pl.lit("overall")).otherwise(pl.lit("topic"))),
            Reason.FREQUENCY,
        ),
        field("cap", _quoted(pl.col("cap")), Reason.CAP),
        field("max", pl.col("max").cast(pl.String), Reason.CAP),
        field("window", _quoted(pl.col("window")), Reason.CAP),
        field("sent", pl.col("sent").cast(pl.String), Reason.CAP),
        field(
            "state",
            _quoted(pl.when(pl.col("state") == PENDING).then(pl.lit("pending"))),
            Reason.NO_CONSENT,
        ),
        field("expired_on", _quoted(pl.col("expired")), Reason.IMPLIED_CONSENT_EXPIRED),
        field("retry_at", _quoted(pl.col("retry_at")), Reason.FATIGUE, Reason.DIGEST),
    ]
    return pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")
