"""Who may do what: one table of roles and their permissions, and masking of personal data.

Every page and every API endpoint names the permission it needs; this table is the only place
that says which role holds it. A role that lacks ``personal.view`` sees personal data masked.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["admin", "marketer", "analyst", "agent"]
ROLES: tuple[Role, ...] = get_args(Role)

Permission = Literal[
    # The console's front page: who you are and what you may open.
    "overview.view",
    # Counts, rates and trends over many customers; never one person.
    "aggregates.view",
    # Find one customer (by email, phone or id) and open their page.
    "customers.lookup",
    # See names, email addresses and phone numbers unmasked (every read is audited).
    "personal.view",
    # Record a consent a customer gave in person or on the phone.
    "consent.record",
    "segments.view",
    "segments.edit",
    "touchpoints.view",
    "touchpoints.edit",
    "campaigns.view",
    "campaigns.launch",
    "previews.view",
    "deliveries.view",
    "deliveries.retry",
    # Let a sending stream the complaint-rate breaker halted or slowed send again.
    "deliveries.resume",
    # Download many customers' records at once.
    "data.export",
    "audit.view",
    "audit.export",
    "staff.manage",
    "keys.manage",
    "settings.change",
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)

_MARKETING: frozenset[Permission] = frozenset(
    {
        "overview.view",
        "aggregates.view",
        "segments.view",
        "segments.edit",
        "touchpoints.view",
        "touchpoints.edit",
        "campaigns.view",
        "campaigns.launch",
        "previews.view",
        "deliveries.view",
        # A marketer finds a customer to see why a message went or not; personal data stays
        # masked unless they have a reason to open it (see ``personal.view``).
        "customers.lookup",
    }
)

GRANTS: dict[Role, frozenset[Permission]] = {
    "admin": frozenset(PERMISSIONS),
    "marketer": _MARKETING,
    "analyst": frozenset(
        {
            "overview.view",
            "aggregates.view",
            "segments.view",
            "touchpoints.view",
            "campaigns.view",
            "deliveries.view",
        }
    ),
    "agent": frozenset({"overview.view", "customers.lookup", "personal.view", "consent.record"}),
}

# What an API key with no role may do: the read and write scopes as they always were.
_UNSCOPED_KEY: frozenset[Permission] = frozenset(PERMISSIONS) - {
    "staff.manage",
    "keys.manage",
    "settings.change",
    "audit.view",
    "audit.export",
}

MaskKind = Literal["email", "phone", "name", "text"]
_DOT = "•"


def is_role(value: str) -> bool:
    return value in ROLES


def allows(role: str | None, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``. An unknown role holds nothing.

    ``None`` is an API key created without a role: it keeps what its scope always allowed.
    """
    if role is None:
        return permission in _UNSCOPED_KEY
    return permission in GRANTS.get(role, frozenset())  # type: ignore[call-overload]


def mask(value: str | None, kind: MaskKind, role: str | None) -> str:
    """``value`` as ``role`` may see it: whole with ``personal.view``, else masked.

    Masks keep just enough to tell two values apart in a list (``a•••@e•••.org``,
    ``•••• ••67``) and nothing that identifies the person.
    """
    if value is None or value == "":
        return ""
    if allows(role, "personal.view"):
        return value
    if kind == "email":
        local, _, domain = value.partition("@")
        host, _, tld = domain.rpartition(".")
        return f"{local[:1]}{_DOT * 3}@{host[:1]}{_DOT * 3}.{tld}" if tld else f"{_DOT * 3}"
    if kind == "phone":
        digits = [c for c in value if c.isdigit()]
        return f"{_DOT * 4} {_DOT * 2}{''.join(digits[-2:])}"
    if kind == "name":
        return " ".join(f"{part[:1]}{_DOT * 3}" for part in value.split())
    return _DOT * 3
