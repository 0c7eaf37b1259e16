"""The migrated schema is the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from regard.models import metadata
from regard.store import migrate
from regard.store.database import Store


def test_migrations_reach_head(store: Store) -> None:
    assert migrate.current_revision(store.engine) == migrate.head_revision(store.engine)


def test_migrated_schema_matches_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_downgrade_then_upgrade_round_trips(sqlite_store: Store) -> None:
    migrate.downgrade(sqlite_store.engine, "base")
    assert migrate.current_revision(sqlite_store.engine) is None
    migrate.upgrade(sqlite_store.engine)
    assert migrate.current_revision(sqlite_store.engine) == migrate.head_revision(
        sqlite_store.engine
    )
