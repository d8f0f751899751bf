"""A first load into an empty assignments table defers its indexes and foreign keys (issue 17)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from store.catalogue import export_catalogue, import_catalogue
from store.catalogue import importer as importer_module
from store.db import Database
from tests.conftest import _truncate
from tests.integration.test_catalogue_bulk import world

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_database(postgres_schema_url: str) -> Iterator[Database]:
    """The deferred indexes and foreign keys are PostgreSQL's (SQLite loads as before)."""
    database = Database(postgres_schema_url)
    _truncate(database)
    yield database
    database.dispose()


SCHEMA_SQL = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = 'assignments'::regclass"
    " UNION ALL SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'assignments'"
    " ORDER BY 1"
)


def schema(database: Database) -> list[Any]:
    with database.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(SCHEMA_SQL))]


def test_first_load_restores_every_index_and_key_and_imports_the_same(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_database
    before = schema(database)
    assert any(name.startswith("fk_assignments_") for name, _ in before)
    monkeypatch.setattr(importer_module, "FIRST_LOAD_ROWS", 10)
    data = world(users=30, assignments=200)
    seen: list[str] = []
    from sqlalchemy import event

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(database.engine, "before_cursor_execute", record)
    report = import_catalogue(database, copy.deepcopy(data))
    event.remove(database.engine, "before_cursor_execute", record)
    assert report.created["assignment"] == 200
    assert any("DROP INDEX" in s for s in seen)  # the deferred path ran
    assert schema(database) == before
    again = import_catalogue(database, copy.deepcopy(data))
    assert not again.changed
    with database.session() as session:
        assert len(list(export_catalogue(session)["assignments"])) == 200
