"""What a segment can refer to: typed fields, declared traits and the functions of history.

A ``SegmentSchema`` is plain data. ``default_schema()`` builds the standard one: lifecycle, the
eight commitment groups, RFM, the customer's declared traits (``trait.<name>``) and the functions
``count``, ``sum``, ``last``, ``subscribed`` and ``interest``. The type checker in
``regard.segments.compile`` reads it; nothing here touches the database.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.segments.lifecycle import STAGES
from regard.segments.rfm import RFM_GROUPS as RFM_GROUP_ENUM

__all__ = [
    "COMMITMENT_GROUPS",
    "LIFECYCLE_STAGES",
    "RFM_GROUPS",
    "FieldSpec",
    "FunctionSpec",
    "Parameter",
    "SegmentSchema",
    "ValueType",
    "default_schema",
    "nearest",
]


class ValueType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    STRING_SET = "string-set"


class Parameter(StrEnum):
    """What a function argument must be."""

    EVENT = "event type"  # a bare name: purchase
    EVENT_PROPERTY = "event property"  # event type and property: purchase.amount
    WINDOW = "window"  # a duration: 90d
    STRING = "string"  # a quoted string: "offers:camping"


# The values of the columns the engines compute, read from the engines themselves.
COMMITMENT_GROUPS: tuple[str, ...] = (*USER_GROUPS, *NON_USER_GROUPS)
LIFECYCLE_STAGES: tuple[str, ...] = tuple(STAGES.categories)
RFM_GROUPS: tuple[str, ...] = tuple(RFM_GROUP_ENUM.categories)


@dataclass(frozen=True)
class FieldSpec:
    """A field of the customer; ``allowed`` lists the only values a string field takes."""

    name: str
    type: ValueType
    allowed: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class FunctionSpec:
    """A function of history or preferences.

    ``when_missing`` is the value for a customer with nothing to count (0 purchases, not
    subscribed); ``None`` means unknown, so comparisons on it never match.
    """

    name: str
    parameters: tuple[Parameter, ...]
    returns: ValueType
    when_missing: int | bool | None
    signature: str
    description: str = ""


@dataclass(frozen=True)
class SegmentSchema:
    """Fields and functions a segment may use.

    ``events`` maps each known event type to its numeric properties; ``None`` accepts any event
    type. ``topics`` and ``channels`` likewise restrict ``subscribed``, and ``interests``
    restricts ``interest``, when set.
    """

    fields: Mapping[str, FieldSpec]
    functions: Mapping[str, FunctionSpec]
    events: Mapping[str, tuple[str, ...]] | None = None
    topics: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    interests: frozenset[str] | None = None


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt one, if any is close enough."""
    candidates = list(known)
    folded = {candidate.casefold(): candidate for candidate in candidates}
    if name.casefold() in folded:
        return folded[name.casefold()]
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


_FUNCTIONS = (
    FunctionSpec(
        "count",
        (Parameter.EVENT, Parameter.WINDOW),
        ValueType.NUMBER,
        0,
        "count(event_type, window)",
        "How many events of that type in the window, e.g. count(purchase, 90d).",
    ),
    FunctionSpec(
        "sum",
        (Parameter.EVENT_PROPERTY, Parameter.WINDOW),
        ValueType.NUMBER,
        0,
        "sum(event_type.property, window)",
        "Total of a numeric property in the window, e.g. sum(purchase.amount, 365d).",
    ),
    FunctionSpec(
        "last",
        (Parameter.EVENT,),
        ValueType.NUMBER,
        None,
        "last(event_type)",
        "Days since the latest event of that type; unknown if there never was one.",
    ),
    FunctionSpec(
        "subscribed",
        (Parameter.STRING, Parameter.STRING),
        ValueType.BOOLEAN,
        False,
        'subscribed("topic", "channel")',
        "Whether the customer has consented to the topic on the channel.",
    ),
    FunctionSpec(
        "interest",
        (Parameter.STRING,),
        ValueType.BOOLEAN,
        False,
        'interest("camping")',
        "Whether the customer has named the interest in the preference center.",
    ),
)


def default_schema(
    *,
    traits: Mapping[str, ValueType] | None = None,
    events: Mapping[str, tuple[str, ...]] | None = None,
    topics: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
    interests: Iterable[str] | None = None,
    lifecycle_stages: tuple[str, ...] = LIFECYCLE_STAGES,
    rfm_groups: tuple[str, ...] = RFM_GROUPS,
) -> SegmentSchema:
    """The standard schema, with the brand's declared traits as ``trait.<name>`` fields."""
    fields = [
        FieldSpec("lifecycle", ValueType.STRING, lifecycle_stages, "Lifecycle stage."),
        FieldSpec("commitment", ValueType.STRING, COMMITMENT_GROUPS, "Commitment group."),
        FieldSpec("rfm_group", ValueType.STRING, rfm_groups, "RFM group."),
        FieldSpec("r", ValueType.NUMBER, None, "Recency score, 1 (long ago) to 5 (recent)."),
        FieldSpec("f", ValueType.NUMBER, None, "Frequency score, 1 to 5."),
        FieldSpec("m", ValueType.NUMBER, None, "Monetary score, 1 to 5."),
    ]
    for name, value_type in (traits or {}).items():
        fields.append(FieldSpec(f"trait.{name}", value_type, None, "Declared trait."))
    return SegmentSchema(
        fields={spec.name: spec for spec in fields},
        functions={spec.name: spec for spec in _FUNCTIONS},
        events=events,
        topics=frozenset(topics) if topics is not None else None,
        channels=frozenset(channels) if channels is not None else None,
        interests=frozenset(interests) if interests is not None else None,
    )
