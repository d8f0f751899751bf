"""Alembic builds the schema from zero, matching the models exactly (no drift)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from store import migrate
from store.models import Base


def drift(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_sqlite_schema_from_zero_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    assert drift(url) == []


def test_postgresql_schema_from_zero_matches_the_models(fresh_postgres_url: str) -> None:
    migrate.upgrade(fresh_postgres_url)
    assert drift(fresh_postgres_url) == []


def test_upgrade_twice_is_a_no_op_at_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    migrate.upgrade(url)
    migrate.upgrade(url)
    engine = create_engine(url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_downgrade_to_base_and_back_on_postgresql(fresh_postgres_url: str) -> None:
    from alembic import command

    migrate.upgrade(fresh_postgres_url)
    command.downgrade(migrate.alembic_config(fresh_postgres_url), "base")
    engine = create_engine(fresh_postgres_url)
    assert inspect(engine).get_table_names() == ["alembic_version"]
    engine.dispose()
    migrate.upgrade(fresh_postgres_url)
    assert drift(fresh_postgres_url) == []


def test_every_model_table_is_created_by_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tables.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    created = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert created == set(Base.metadata.tables)
