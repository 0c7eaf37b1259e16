"""What the tracking API accepts and what the customer API answers, as Pydantic models.

The tracking models follow the Segment tracking spec (camelCase names, as clients send them);
fields Regard does not use (``integrations``, ``sentAt``...) are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from regard.customers.models import Customer, Event

CallType = Literal["identify", "track", "page", "screen", "alias", "group"]

# Segment ids may be strings or numbers; numbers are read as their decimal text.
SegmentId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
MessageId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
ShortText = Annotated[str, StringConstraints(max_length=256)]


class SegmentCall(BaseModel):
    """Fields every Segment call shares."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    user_id: SegmentId | None = Field(default=None, alias="userId")
    anonymous_id: SegmentId | None = Field(default=None, alias="anonymousId")
    message_id: MessageId | None = Field(default=None, alias="messageId")
    timestamp: datetime | None = None
    original_timestamp: datetime | None = Field(default=None, alias="originalTimestamp")
    context: dict[str, Any] | None = None

    @field_validator("user_id", "anonymous_id", "message_id", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: object) -> object:
        # Segment libraries send "" or null for an id they do not have.
        if isinstance(value, bool):
            raise PydanticCustomError("id_type", "must be a string or a number")
        return None if value == "" else value

    @field_validator("context", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return {} if value is None else value


class _NeedsSomeone(SegmentCall):
    @model_validator(mode="after")
    def _someone(self) -> _NeedsSomeone:
        if self.user_id is None and self.anonymous_id is None:
            raise PydanticCustomError("missing_id", "needs userId or anonymousId")
        return self


class IdentifyCall(_NeedsSomeone):
    """Who someone is and what is known about them."""

    type: Literal["identify"] = "identify"
    traits: dict[str, Any] | None = None


class TrackCall(_NeedsSomeone):
    """Something someone did."""

    type: Literal["track"] = "track"
    event: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    properties: dict[str, Any] | None = None


class PageCall(_NeedsSomeone):
    """A page someone saw on a website."""

    type: Literal["page"] = "page"
    name: ShortText | None = None
    category: ShortText | None = None
    properties: dict[str, Any] | None = None


class ScreenCall(_NeedsSomeone):
    """A screen someone saw in an app."""

    type: Literal["screen"] = "screen"
    name: ShortText | None = None
    category: ShortText | None = None
    properties: dict[str, Any] | None = None


class GroupCall(_NeedsSomeone):
    """Someone belongs to a group (an account, a company, a household)."""

    type: Literal["group"] = "group"
    group_id: SegmentId = Field(alias="groupId")
    traits: dict[str, Any] | None = None


class AliasCall(SegmentCall):
    """Two ids name the same person: ``previousId`` (often the anonymous id) and ``userId``."""

    type: Literal["alias"] = "alias"
    user_id: SegmentId = Field(alias="userId")
    previous_id: SegmentId = Field(alias="previousId")

    @field_validator("previous_id", mode="before")
    @classmethod
    def _previous_empty_is_absent(cls, value: object) -> object:
        return None if value == "" else value


CALL_MODELS: dict[str, type[SegmentCall]] = {
    "identify": IdentifyCall,
    "track": TrackCall,
    "page": PageCall,
    "screen": ScreenCall,
    "group": GroupCall,
    "alias": AliasCall,
}


class TrackingAck(BaseModel):
    """Segment's answer to an accepted call."""

    success: bool = True


class IdentityView(BaseModel):
    """One name a system knows the customer by, decrypted."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    namespace: str
    value: str
    source: str
    created_at: datetime


class EventView(BaseModel):
    """One event on the customer's timeline."""

    model_config = ConfigDict(from_attributes=True)

    type: str
    occurred_at: datetime
    received_at: datetime
    source: str
    message_id: str
    properties: dict[str, Any]


class CustomerProfile(BaseModel):
    """Everything the data hub holds on one customer, with their most recent events."""

    id: int
    created_at: datetime
    updated_at: datetime
    time_zone: str | None
    locale: str | None
    traits: dict[str, Any]
    personal_traits: dict[str, Any]
    identities: list[IdentityView]
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    events: list[EventView]

    @classmethod
    def of(cls, customer: Customer, events: Sequence[Event]) -> CustomerProfile:
        """The profile of a customer loaded with its identities."""
        return cls(
            id=customer.id,
            created_at=customer.created_at,
            updated_at=customer.updated_at,
            time_zone=customer.time_zone,
            locale=customer.locale,
            traits=dict(customer.traits or {}),
            personal_traits=dict(customer.personal or {}),
            identities=[
                IdentityView.model_validate(identity)
                for identity in sorted(customer.identities, key=lambda i: i.id)
            ],
            first_seen_at=customer.first_seen_at,
            last_seen_at=customer.last_seen_at,
            events=[EventView.model_validate(event) for event in events],
        )


class MergedCustomer(BaseModel):
    """The body of the redirect from a merged profile to the one that absorbed it."""

    merged_into: int
    location: str


class MergeRecord(BaseModel):
    """Two profiles found to be one person (what the merged profile held is not shown)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    survivor_id: int
    merged_id: int
    merged_at: datetime
    source: str
    matched_on: str
    identities_moved: int
    events_moved: int
    note: str | None
