"""Shared fixtures: real PostgreSQL and Redis when present, SQLite and memory always.

Locally a missing service skips its tests with a reason; with STS_REQUIRE_SERVICES=1
(set by .ci/run) a missing service fails the run instead of skipping silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from settings import Settings, load_settings
from store import migrate
from store.db import Database
from store.ephemeral import EphemeralState, MemoryState, RedisState
from store.models import Base

DEFAULT_PG = "postgresql+psycopg://root@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def require_services() -> bool:
    return os.environ.get("STS_REQUIRE_SERVICES", "") not in ("", "0", "false")


def service_missing(what: str, reason: str) -> None:
    """Skip locally; fail in CI, where every service must be there."""
    message = f"{what} not available: {reason}"
    if require_services():
        pytest.fail(f"{message} (STS_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def postgres_url() -> str:
    url = os.environ.get("STS_TEST_DATABASE_URL", DEFAULT_PG)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def redis_url() -> str:
    return os.environ.get("STS_TEST_REDIS_URL", DEFAULT_REDIS)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = postgres_url()
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        service_missing("PostgreSQL", f"{url}: {exc.__class__.__name__}: {exc}")
    return url


def _create_database(admin_url: str) -> str:
    name = f"sts_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_schema_url(postgres_admin_url: str) -> Iterator[str]:
    """One migrated PostgreSQL database per test session; tables emptied per test."""
    url = _create_database(postgres_admin_url)
    migrate.upgrade(url)
    yield url
    _drop_database(postgres_admin_url, url)


@pytest.fixture
def fresh_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own (for migration tests)."""
    url = _create_database(postgres_admin_url)
    yield url
    _drop_database(postgres_admin_url, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def _truncate(database: Database) -> None:
    with database.engine.begin() as connection:
        names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: SQLite and PostgreSQL (same tests on both)."""
    if request.param == "sqlite":
        path = tmp_path / "sts.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
        return
    db = Database(request.getfixturevalue("postgres_schema_url"))
    _truncate(db)
    yield db
    db.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """SQLite only, for tests whose subject is not the database."""
    path = tmp_path / "sts.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def redis_state() -> Iterator[RedisState]:
    url = redis_url()
    try:
        state = RedisState(url, prefix=f"test:{uuid.uuid4().hex[:8]}:")
        state.ping()
    except Exception as exc:
        service_missing("Redis", f"{url}: {exc}")
    yield state
    keys = state._client.keys(state._prefix + "*")
    if keys:
        state._client.delete(*keys)
    state.close()


@pytest.fixture(params=["memory", "redis"])
def state(request: pytest.FixtureRequest) -> Iterator[EphemeralState]:
    """The ephemeral store: in-process and Redis (same tests on both)."""
    if request.param == "memory":
        memory = MemoryState()
        yield memory
        memory.close()
        return
    yield request.getfixturevalue("redis_state")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an isolated data directory, on SQLite and in-process state."""
    return load_settings({"STS_DATA_DIR": str(tmp_path / "var")})
