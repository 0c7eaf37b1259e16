"""A PostgreSQL database of a benchmark's own, made fresh for one run and dropped after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES = "host=127.0.0.1 user=postgres dbname=postgres connect_timeout=3"


@contextmanager
def bench_postgres(name: str) -> Iterator[str | None]:
    """The SQLAlchemy URL of a fresh database ``name``, dropped afterwards; None (and a line
    saying so) when no server answers at 127.0.0.1:5432."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES, autocommit=True)
    except Exception as error:
        print(f"postgresql: not reachable at 127.0.0.1:5432 ({error}); skipped")
        yield None
        return
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
