"""The segments pages' figures: a rule checked and counted without storing anything, the TOML a
definition is saved as, and small trend pictures for the list.

Segment definitions live in the brand's ``regard.toml`` and are read-only while Regard runs: the
console checks a rule, says where it is wrong and how many customers it would hold now, and
gives the ``[[segments.custom]]`` block to paste into the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.console.charts import Chart, Series, line_chart
from regard.segments.language import SegmentError
from regard.segments.models import SegmentRun
from regard.segments.service import count_members

__all__ = [
    "RuleCheck",
    "check_and_count",
    "count_members",
    "toml_snippet",
    "trend_chart",
    "trend_sparkline",
]


@dataclass(frozen=True)
class RuleCheck:
    """A rule as the edit form shows it back: either an error at its position or its count.

    ``line``/``column`` are 1-based; ``pointer`` is the offending line with carets under the
    offending text (empty when the error has no position).
    """

    rule: str
    error: str | None = None
    line: int | None = None
    column: int | None = None
    pointer: str = ""
    members: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_and_count(
    session: Session, rule: str, *, brand: BrandConfig, as_of: datetime
) -> RuleCheck:
    """Check ``rule``; when it is sound, count the customers it would hold on ``as_of``."""
    try:
        members = count_members(session, rule, brand=brand, as_of=as_of)
    except SegmentError as exc:
        located = exc.with_source(rule)
        return RuleCheck(
            rule=rule,
            error=located.reason,
            line=located.line,
            column=located.column,
            pointer=located.pointer(),
        )
    except RecursionError:
        return RuleCheck(rule=rule, error="the segment is nested too deeply")
    return RuleCheck(rule=rule, members=members)


def _toml_string(text: str) -> str:
    # A multi-line rule goes in a literal multi-line string unless it holds the delimiter; JSON
    # escaping is valid TOML basic-string escaping for everything else.
    if "\n" in text and "'''" not in text:
        return f"'''\n{text}'''" if text.endswith("\n") else f"'''\n{text}\n'''"
    return json.dumps(text, ensure_ascii=False)


def toml_snippet(name: str, rule: str, *, description: str = "") -> str:
    """The ``[[segments.custom]]`` block that defines the segment in ``regard.toml``."""
    lines = ["[[segments.custom]]", f"name = {_toml_string(name)}"]
    if description:
        lines.append(f"description = {_toml_string(description)}")
    lines.append(f"rule = {_toml_string(rule)}")
    return "\n".join(lines) + "\n"


def trend_sparkline(name: str, trend: Sequence[int]) -> str:
    """A small inline SVG of a segment's sizes over its latest runs (oldest first).

    The picture is decorative beside the numbers written next to it (``aria-hidden``); an
    empty string when there is fewer than two runs to draw.
    """
    if len(trend) < 2:
        return ""
    width, height, pad = 96.0, 24.0, 2.0
    top = max(trend) or 1
    step = (width - 2 * pad) / (len(trend) - 1)
    points = " ".join(
        f"{pad + i * step:.1f},{height - pad - (value / top) * (height - 2 * pad):.1f}"
        for i, value in enumerate(trend)
    )
    return (
        f'<svg class="sparkline" aria-hidden="true" focusable="false" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'data-segment="{escape(name)}"><polyline fill="none" stroke="#0072B2" '
        f'stroke-width="1.5" points="{points}"/></svg>'
    )


def trend_chart(name: str, runs: Sequence[SegmentRun]) -> Chart:
    """A segment's size at each of ``runs`` (oldest first), with its numbers and a sentence."""
    labels = [run.evaluated_at.strftime("%Y-%m-%d %H:%M") for run in runs]
    return line_chart(
        [Series("Members", tuple(float(run.members) for run in runs))],
        x_labels=labels,
        title=f"Members of {name} at each evaluation",
        y_label="Members",
    )
