"""The engine, sessions and the unit of work.

Services flush, never commit: the request, the command or the job that calls them owns the
transaction through :func:`unit_of_work`.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from regard.config import BrandConfig, Settings, default_brand_config, load_brand_config
from regard.store.crypto import (
    Vault,
    install_vault,
    load_or_create_key_file,
    vault_from_settings,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A larger page cache keeps bulk imports from re-reading index pages.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


_SERVER_POOL: dict[str, Any] = {"pool_size": 40, "max_overflow": 10}


class WriteGate:
    """Lets one write transaction at a time into an SQLite file, across threads and processes.

    SQLite itself makes a second writer sleep and retry (1, 2, 5, 10... ms) while the first
    holds the lock; under load those sleeps, not the work, set the latency. Waiting here
    instead (a thread lock, then an ``flock`` on a file beside the database) wakes the next
    writer the moment the previous one ends.
    """

    def __init__(self, path: Path) -> None:
        self._threads = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        self._threads.acquire()
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()
_GATED = "regard.write_gate"


def enter_write(session: Session) -> None:
    """Before a transaction's first write on a contended path: wait for the write gate (SQLite
    files only). The gate opens again when the transaction ends, committed or not."""
    bind = session.get_bind()
    gate = _GATES.get(bind) if isinstance(bind, Engine) else None
    if gate is None or _GATED in session.info:
        return
    gate.acquire()
    session.info[_GATED] = gate


@event.listens_for(Session, "after_transaction_end")
def _open_the_gate(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        gate = session.info.pop(_GATED, None)
        if gate is not None:
            gate.release()


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, foreign keys on) or PostgreSQL (psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The web server runs up to 40 requests at once in worker threads: keep a connection
        # for each, rather than opening (and setting up) a new one per request under load.
        pool = {} if parsed.database in (None, "", ":memory:") else _SERVER_POOL
        engine = create_engine(parsed, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        if pool:
            _GATES[engine] = WriteGate(Path(f"{parsed.database}.write-lock"))
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=20, max_overflow=20)


def key_file_for(settings: Settings) -> Path:
    """The embedded key file: named in settings, or beside the SQLite database."""
    if settings.key_file is not None:
        return settings.key_file
    parsed = make_url(settings.database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(f"{parsed.database}.keys")
    return Path("regard.keys")


def load_vault(settings: Settings) -> Vault:
    settings.require_production_keys()
    keys = settings.encryption_keys.get_secret_value()
    if keys:
        return vault_from_settings(keys, settings.blind_index_key.get_secret_value())
    return load_or_create_key_file(key_file_for(settings))


@dataclass
class Store:
    """What every command, request and job needs: the database, the keys and the brand."""

    engine: Engine
    sessions: sessionmaker[Session]
    vault: Vault
    brand: BrandConfig

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def open_store(settings: Settings, *, brand: BrandConfig | None = None) -> Store:
    vault = load_vault(settings)
    install_vault(vault)
    if brand is None:
        brand = (
            load_brand_config(settings.brand_config)
            if settings.brand_config.exists()
            else default_brand_config()
        )
    engine = make_engine(settings.database_url)
    return Store(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        vault=vault,
        brand=brand,
    )


@contextmanager
def unit_of_work(store: Store) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    with store.sessions() as session, session.begin():
        yield session
