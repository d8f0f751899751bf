"""Fixtures of the admin API tests: the world of tests/admin_kit.py on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin_kit import ApiWorld, build_template, make_world


@pytest.fixture(scope="session")
def api_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("admin-template") / "data"
    build_template(path)
    return path


@pytest.fixture
def api(api_template: Path, tmp_path: Path) -> Iterator[ApiWorld]:
    """The world on SQLite (the embedded default)."""
    world = make_world(api_template, tmp_path / "data")
    yield world
    world.database.dispose()


@pytest.fixture
def api_pg(api_template: Path, tmp_path: Path, postgres_schema_url: str) -> Iterator[ApiWorld]:
    """The world on PostgreSQL (tables emptied first)."""
    from store.db import Database
    from tests.conftest import _truncate

    database = Database(postgres_schema_url)
    _truncate(database)
    database.dispose()
    world = make_world(api_template, tmp_path / "data", database_url=postgres_schema_url)
    yield world
    world.database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def api_any(request: pytest.FixtureRequest) -> ApiWorld:
    """The same test on both databases."""
    world: ApiWorld = request.getfixturevalue("api" if request.param == "sqlite" else "api_pg")
    return world
