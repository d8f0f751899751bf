"""PostgreSQL connections without a ping per checkout still recover from a server restart.

A server restart is simulated by terminating this database's server processes
(``pg_terminate_backend``), which is what the pooled connections see when the server goes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, exc, text

from store import db as db_module
from store.db import Database


@pytest.fixture
def pg(fresh_postgres_url: str) -> Iterator[Database]:
    database = Database(fresh_postgres_url)
    yield database
    database.dispose()


def _select_one(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(text("SELECT 1")).scalar_one())


def _terminate_backends(database: Database, admin_url: str) -> None:
    name = database.engine.url.database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    admin.dispose()


def test_idle_connection_lost_in_a_restart_is_replaced_without_an_error(
    pg: Database, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _select_one(pg) == 1
    _terminate_backends(pg, postgres_admin_url)
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", -1.0)  # every pooled one counts as idle
    assert _select_one(pg) == 1  # pinged at checkout, found gone, reconnected


def test_busy_connection_lost_in_a_restart_fails_one_unit_of_work_only(
    pg: Database, postgres_admin_url: str
) -> None:
    assert _select_one(pg) == 1
    _terminate_backends(pg, postgres_admin_url)
    with pytest.raises(exc.OperationalError):
        _select_one(pg)  # used a moment ago: not pinged, so this one finds it gone
    assert _select_one(pg) == 1  # the pool was invalidated: a fresh connection
