"""The thresholds behind RFM scores and lifecycle stages; docs/segments.md explains each one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from regard.segments.language import SegmentError, parse

# The value types a declared trait may have (regard.segments.schema.ValueType).
TraitType = Literal["string", "number", "boolean", "date", "string-set"]


class RfmOptions(BaseModel):
    """What counts as a purchase, where its amount is, and how far back RFM looks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Purchases on or after ``as_of`` minus this many days count; older ones do not.
    window_days: int = Field(default=365, ge=1, le=36_500)
    # Event types that are purchases.
    purchase_event_types: tuple[str, ...] = Field(default=("order_completed",), min_length=1)
    # The property of a purchase event that holds what the customer paid.
    amount_property: str = Field(default="amount", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class LifecycleOptions(BaseModel):
    """Where one lifecycle stage ends and the next begins, in days or in usual intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A customer whose first purchase is at most this many days old is new.
    new_days: int = Field(default=30, ge=0)
    # At risk after more than this many usual intervals without a purchase.
    at_risk_multiple: float = Field(default=2.0, ge=1.0)
    # The usual interval is never shorter than this, and is this for a single purchase.
    interval_floor_days: float = Field(default=30.0, gt=0)
    # Lapsed after more than this many usual intervals without a purchase...
    lapsed_multiple: float = Field(default=4.0, ge=1.0)
    # ...or after more than this many days, whichever comes first (None: no absolute limit).
    lapsed_after_days: int | None = Field(default=365, ge=1)
    # Won back for this many days after a purchase that ended a lapse.
    won_back_days: int = Field(default=90, ge=1)

    @model_validator(mode="after")
    def _lapse_comes_after_risk(self) -> Self:
        if self.lapsed_multiple <= self.at_risk_multiple:
            raise ValueError("lapsed_multiple must be greater than at_risk_multiple")
        return self


class SegmentDefinition(BaseModel):
    """A brand's own segment: a name and a rule in the segment language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Lower case, digits, "_" and "-"; "rfm:" and "lifecycle:" name the engines' segments.
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=100)
    rule: str = Field(min_length=1)
    description: str = ""

    @model_validator(mode="after")
    def _rule_parses(self) -> Self:
        try:
            parse(self.rule)
        except SegmentError as exc:
            raise ValueError(f"segment {self.name!r}: {exc}") from None
        return self


class SegmentOptions(BaseModel):
    """The engines' thresholds, the traits segments may read, and the brand's own segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rfm: RfmOptions = RfmOptions()
    lifecycle: LifecycleOptions = LifecycleOptions()
    # Traits a rule may read as ``trait.<name>``, each with its type.
    traits: dict[str, TraitType] = Field(default_factory=dict)
    custom: tuple[SegmentDefinition, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [definition.name for definition in self.custom]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"segments listed twice: {', '.join(repeated)}")
        return self

    def check_rules(
        self, *, topics: Iterable[str], channels: Iterable[str], interests: Iterable[str]
    ) -> None:
        """Type-check every custom rule; a ``ValueError`` names the segment, line and column."""
        if not self.custom:
            return
        # Imported here: the schema reads the commitment groups, whose module reads the config
        # that imports these options.
        from regard.segments.compile import compile_segment
        from regard.segments.schema import ValueType, default_schema

        schema = default_schema(
            traits={name: ValueType(kind) for name, kind in self.traits.items()},
            topics=topics,
            channels=channels,
            interests=interests,
        )
        for definition in self.custom:
            try:
                compile_segment(parse(definition.rule), schema=schema, source=definition.rule)
            except SegmentError as exc:
                raise ValueError(f"segment {definition.name!r}: {exc}") from None
