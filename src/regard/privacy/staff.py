"""Staff accounts, signing in and out, and the sessions that remember a signed-in browser.

Passwords are hashed with argon2id and rehashed when the hasher's parameters change. Emails
are sealed like customers' and found through their own blind index. A session's token lives
only in the browser's cookie; the database keeps its SHA-256, so a copy of the database signs
no one in. Sign-ins are limited per email and per client address, counted from the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from regard.customers.identities import normalize_email
from regard.errors import Conflict, InvalidInput, NotFound
from regard.privacy import audit, repository, roles
from regard.privacy.audit import Actor
from regard.privacy.models import StaffMember, StaffSession
from regard.store.crypto import Vault

PASSWORD_MIN_LENGTH = 12
# Long enough for any passphrase, short enough that hashing one costs a bounded time.
PASSWORD_MAX_LENGTH = 256
# A session ends 12 hours after sign-in, or after 30 minutes without a request.
SESSION_LIFETIME = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(minutes=30)
# Writing "last seen" on every page view would make every read a write; once a minute is enough.
_TOUCH_EVERY = timedelta(minutes=1)
# At most 5 failed sign-ins per email, and per client address, in any 15 minutes.
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_ATTEMPTS = 5

# argon2id with argon2-cffi's recommended parameters (RFC 9106, low-memory profile).
_hasher = PasswordHasher()
# Checked against when the email is unknown, so an unknown address costs the same time.
_DECOY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def email_lookup(vault: Vault, email: str) -> bytes:
    """The blind index of a staff email, apart from customers' (a different kind)."""
    return vault.blind_index("staff:email", email)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(vault: Vault, token: str) -> str:
    """The form token of the session with cookie ``token``: derived, so nothing to store."""
    return hmac.new(vault.derive("staff.csrf"), token.encode(), "sha256").hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"the password needs at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"the password may have at most {PASSWORD_MAX_LENGTH} characters")


def add_staff(
    session: Session, *, email: str, role: str, password: str, vault: Vault, actor: Actor
) -> StaffMember:
    """A new staff account. The email must be new; the password at least 12 characters."""
    if not roles.is_role(role):
        raise InvalidInput(f"role must be one of {', '.join(roles.ROLES)}")
    address = normalize_email(email)
    _check_password(password)
    lookup = email_lookup(vault, address)
    if repository.staff_by_lookup(session, lookup) is not None:
        raise Conflict("a staff account with that email exists")
    member = StaffMember(
        email_lookup=lookup,
        email=address,
        role=role,
        password_hash=_hasher.hash(password),
        created_at=datetime.now(UTC),
    )
    session.add(member)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="staff.added",
        target=f"staff:{member.id}",
        details={"role": role},
    )
    return member


def list_staff(session: Session) -> Sequence[StaffMember]:
    return repository.list_staff(session)


def find_staff(session: Session, reference: str, *, vault: Vault) -> StaffMember:
    """A staff member by id or by email."""
    text = reference.strip()
    if text.isdigit():
        found = session.get(StaffMember, int(text))
    else:
        found = repository.staff_by_lookup(session, email_lookup(vault, normalize_email(text)))
    if found is None:
        raise NotFound("no staff account matches")
    return found


def disable_staff(session: Session, member: StaffMember, *, actor: Actor) -> StaffMember:
    """Disable an account at once: its sessions end. The last admin cannot be disabled."""
    if member.disabled_at is not None:
        return member
    if member.role == "admin" and repository.count_active_admins(session) <= 1:
        raise Conflict("this is the last admin; add another admin first")
    now = datetime.now(UTC)
    member.disabled_at = now
    for live in repository.live_sessions_of(session, member.id):
        live.revoked_at = now
    audit.record(session, actor=actor, action="staff.disabled", target=f"staff:{member.id}")
    session.flush()
    return member


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` goes into the cookie and nowhere else."""

    member: StaffMember
    staff_session: StaffSession
    token: str


@dataclass(frozen=True)
class SignInRefused:
    """Wrong email or password (which of the two is not said), or too many attempts."""

    retry_after: int | None = None

    @property
    def limited(self) -> bool:
        return self.retry_after is not None


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    client: str | None,
    vault: Vault,
    now: datetime | None = None,
) -> SignedIn | SignInRefused:
    """Check a sign-in and open a session. Every outcome is written to the audit log.

    The caller must commit even when refused: the refusals count towards the limit.
    """
    now = now or datetime.now(UTC)
    try:
        address = normalize_email(email)
    except InvalidInput:
        address = email.strip().lower()
    lookup = email_lookup(vault, address)
    anonymous = Actor.anonymous(client=client)
    retry_after = _limited(session, lookup=lookup, client=client, now=now)
    if retry_after is not None:
        audit.record(session, actor=anonymous, action="staff.login_limited", at=now)
        return SignInRefused(retry_after=retry_after)
    member = repository.staff_by_lookup(session, lookup)
    if not _verify(member.password_hash if member else _DECOY_HASH, password[:PASSWORD_MAX_LENGTH]):
        member = None
    if member is None or member.disabled_at is not None:
        audit.record(
            session, actor=anonymous, action="staff.login_failed", subject_lookup=lookup, at=now
        )
        return SignInRefused()
    actor = Actor.of_staff(member, client=client)
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = _hasher.hash(password)
        audit.record(session, actor=actor, action="staff.password_rehashed", at=now)
    token = secrets.token_urlsafe(32)
    opened = StaffSession(
        staff_id=member.id,
        token_hash=token_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
        client=client[:64] if client else None,
    )
    member.last_login_at = now
    session.add(opened)
    session.flush()
    audit.record(session, actor=actor, action="staff.login", target=f"session:{opened.id}", at=now)
    return SignedIn(member=member, staff_session=opened, token=token)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _limited(session: Session, *, lookup: bytes, client: str | None, now: datetime) -> int | None:
    """Seconds until another attempt is allowed, or ``None`` when one is allowed now."""
    since = now - SIGN_IN_WINDOW
    counts = [
        repository.count_entries(
            session, action="staff.login_failed", since=since, subject_lookup=lookup
        )
    ]
    if client:
        counts.append(
            repository.count_entries(
                session, action="staff.login_failed", since=since, client=client
            )
        )
    waits = [
        int((oldest + SIGN_IN_WINDOW - now).total_seconds()) + 1
        for count, oldest in counts
        if count >= SIGN_IN_ATTEMPTS and oldest is not None
    ]
    return max(waits) if waits else None


def current(
    session: Session, token: str, *, now: datetime | None = None
) -> tuple[StaffSession, StaffMember] | None:
    """The live session with cookie ``token`` and its member, or ``None``.

    A session is over once revoked, past its lifetime, idle too long, or its member disabled.
    """
    now = now or datetime.now(UTC)
    found = repository.session_by_token_hash(session, token_hash(token))
    if found is None:
        return None
    live, member = found
    if (
        live.revoked_at is not None
        or member.disabled_at is not None
        or now >= live.expires_at
        or now - live.last_seen_at >= IDLE_TIMEOUT
    ):
        return None
    if now - live.last_seen_at >= _TOUCH_EVERY:
        live.last_seen_at = now
    return live, member


def sign_out(session: Session, token: str, *, client: str | None) -> StaffMember | None:
    """End the session with cookie ``token`` at once. Signing out twice does nothing more."""
    found = repository.session_by_token_hash(session, token_hash(token))
    if found is None or found[0].revoked_at is not None:
        return None
    live, member = found
    live.revoked_at = datetime.now(UTC)
    audit.record(
        session,
        actor=Actor.of_staff(member, client=client),
        action="staff.logout",
        target=f"session:{live.id}",
    )
    return member
