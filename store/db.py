"""Engine and session handling for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# A pooled connection idle longer than this is pinged before use (see ``Database``).
IDLE_PING_SECONDS = 2.0
RECYCLE_SECONDS = 1800


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned"] = time.monotonic()


class Database:
    """One engine and session factory per process; cheap sessions per unit of work.

    PostgreSQL connections are not pinged at every checkout (a round trip per unit of
    work); only one that sat idle in the pool for more than :data:`IDLE_PING_SECONDS` is
    pinged, and replaced if the server has gone away (a restart while idle costs no
    request). A connection dropped while in steady use fails the one unit of work that
    finds it (rolled back, nothing half-applied); SQLAlchemy then invalidates every
    pooled connection opened before the failure, so the following units of work
    reconnect: a restart under load costs at most the requests in flight on each worker.
    Connections are also replaced after :data:`RECYCLE_SECONDS`.

    Nothing depends on session state of a server connection (no session-level ``SET``,
    advisory lock, ``LISTEN`` or prepared statement outside a transaction, with
    ``prepared_statements=False``), so PgBouncer in transaction pooling mode may sit in
    between (tested in ``tests/ops/test_pgbouncer.py``).
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 5,
        max_overflow: int = 10,
        prepared_statements: bool = True,
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs.update(
                pool_size=pool_size, max_overflow=max_overflow, pool_recycle=RECYCLE_SECONDS
            )
            if not prepared_statements:
                # PgBouncer in transaction pooling mode hands each transaction any server
                # connection, where a statement prepared on another one does not exist.
                kwargs["connect_args"] = {"prepare_threshold": None}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine, "checkin", _note_checkin)
            event.listen(self.engine, "checkout", self._ping_if_idle)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commit on success, roll back on any exception."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only, outside any transaction of the caller's.

        On PostgreSQL it runs in autocommit mode: each statement is its own transaction,
        without the ``BEGIN`` and ``COMMIT`` round trips a session adds around it (one
        round trip instead of three for a single lookup). Never use it for writes.
        """
        with self.engine.connect() as connection:
            if not self.is_sqlite:
                connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    def _ping_if_idle(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned")
        if returned is None or time.monotonic() - returned <= IDLE_PING_SECONDS:
            return
        try:
            alive = self.engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"idle connection is gone: {error}") from error
        if not alive:
            raise exc.DisconnectionError("idle connection is gone")

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
