"""Every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``REGARD_TEST_DATABASE_URL`` (``.ci/run`` creates a fresh database). When it
is unset, a local server on 127.0.0.1 is tried; with none there the PostgreSQL half is skipped,
except under ``CI=true``, where a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from regard import runtime
from regard.config import BrandConfig, Choice, IdentityRules, PreferenceOptions, Settings, Topic
from regard.models import metadata
from regard.store import migrate
from regard.store.database import Store, open_store
from tests.cli import Run

_LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/regard_test"
_TEST_KEYS = json.dumps({"t1": base64.b64encode(b"k" * 32).decode()})
_TEST_INDEX_KEY = base64.b64encode(b"i" * 32).decode()


def _local_postgres() -> str | None:
    import psycopg

    try:
        with psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres connect_timeout=3", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = 'regard_test'"
            ).fetchone()
            if not exists:
                conn.execute("CREATE DATABASE regard_test")
    except psycopg.OperationalError:
        return None
    return _LOCAL_POSTGRES


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("REGARD_TEST_DATABASE_URL") or _local_postgres()
    if url is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no PostgreSQL: set REGARD_TEST_DATABASE_URL")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 and REGARD_TEST_DATABASE_URL unset")
    return url


@pytest.fixture(scope="session")
def _migrated_postgres(postgres_url: str) -> str:
    from regard.store.database import make_engine

    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    engine.dispose()
    return postgres_url


def brand_for_tests() -> BrandConfig:
    return BrandConfig(
        name="Test Outfitters",
        time_zone="Europe/Amsterdam",
        region="NL",
        identity=IdentityRules(source_priority=("crm", "shop", "pos", "support", "web")),
        channels=("email", "sms", "push", "voice"),
        topics=(
            Topic(key="account", label="Your account", importance="critical"),
            Topic(key="orders", label="Your orders", importance="transactional"),
            Topic(key="service", label="Repairs and support", importance="service"),
            Topic(key="events", label="Store events", importance="relationship"),
            Topic(key="offers:camping", label="Offers on camping gear", importance="promotional"),
            Topic(key="offers:footwear", label="Offers on footwear", importance="promotional"),
        ),
        preferences=PreferenceOptions(
            life_stages=(
                Choice(key="just-looking", label="Just looking"),
                Choice(key="planning-trip", label="Planning a trip in the next 3 months"),
            ),
            interests=(
                Choice(key="camping", label="Camping"),
                Choice(key="climbing", label="Climbing"),
            ),
            languages=("en", "nl"),
        ),
    )


def make_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        encryption_keys=_TEST_KEYS,
        blind_index_key=_TEST_INDEX_KEY,
        brand_config=tmp_path / "regard.toml",
    )


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'regard.db'}"
    url: str = request.getfixturevalue("_migrated_postgres")
    return url


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each database, installed as the process's store."""
    opened = open_store(make_settings(database_url, tmp_path), brand=brand_for_tests())
    if opened.dialect == "sqlite":
        migrate.upgrade(opened.engine)
    else:
        _truncate(opened.engine)
    runtime.use_store(opened)
    yield opened
    runtime.use_store(None)
    opened.engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """For tests that need no second database: SQLite only."""
    url = f"sqlite:///{tmp_path / 'regard.db'}"
    opened = open_store(make_settings(url, tmp_path), brand=brand_for_tests())
    migrate.upgrade(opened.engine)
    runtime.use_store(opened)
    yield opened
    runtime.use_store(None)
    opened.engine.dispose()


def dialect_of(url: str) -> str:
    return make_url(url).get_backend_name()


@pytest.fixture
def keys(store: Store) -> dict[str, str]:
    """A write key (source ``app``) and a read key of the store, by scope."""
    from tests.api import make_keys

    return make_keys(store)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """The app on the store, as an HTTP client."""
    from regard.app import create_app

    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    """``regard`` run as a command on a migrated SQLite database with the test brand."""
    from tests.cli import migrated_cli
    from tests.preferences.test_commands import BRAND_TOML

    return migrated_cli(tmp_path, BRAND_TOML, extra={"COLUMNS": "200"})


@pytest.fixture
def cli_store(cli: Run, tmp_path: Path) -> Iterator[Store]:
    """The store the commands use, opened in this process to set the scene."""
    opened = open_store(
        make_settings(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path), brand=brand_for_tests()
    )
    yield opened
    opened.engine.dispose()
