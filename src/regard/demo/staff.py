"""The demo's staff: one console login per role, kept beside the demo's database."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from regard.errors import NotFound
from regard.privacy import roles
from regard.privacy.audit import Actor
from regard.privacy.staff import add_staff, find_staff
from regard.store.database import Store, unit_of_work

STAFF_FILE = "staff.json"
DOMAIN = "northwind.example"


def ensure_staff(store: Store, directory: Path) -> dict[str, tuple[str, str]]:
    """Each role's demo login (email, password): made on the first run, read back after.

    The database keeps only argon2 hashes, so the demo keeps its own copy of the passwords in a
    file only its owner may read, as it does for its API keys.
    """
    path = directory / STAFF_FILE
    try:
        saved = {
            str(role): (str(email), str(password))
            for role, (email, password) in json.loads(path.read_text("utf-8")).items()
        }
    except (OSError, ValueError, TypeError):
        saved = {}
    logins: dict[str, tuple[str, str]] = {}
    with unit_of_work(store) as session:
        for role in roles.ROLES:
            email = f"{role}@{DOMAIN}"
            try:
                find_staff(session, email, vault=store.vault)
            except NotFound:
                password = secrets.token_urlsafe(12)
                add_staff(
                    session,
                    email=email,
                    role=role,
                    password=password,
                    vault=store.vault,
                    actor=Actor.command_line(),
                )
                logins[role] = (email, password)
                continue
            if role in saved:
                logins[role] = saved[role]
    if logins != saved:
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({role: list(login) for role, login in logins.items()}, handle, indent=2)
        temporary.replace(path)
    return logins
