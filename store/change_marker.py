"""A change marker in the database, so changes reach processes that share no Redis.

Every announced change (catalogue import, AD sync, administrative change, a user's access
ended) bumps one version row in its own transaction (:func:`bump`). With Redis, the
announcement itself (pub/sub) reaches every process within milliseconds and the row is
not read. Without Redis (the embedded default) a server cannot hear a ``stsctl import``
made by another process; it reads the row at most every :data:`CHECK_SECONDS` before a
request (:class:`ChangeWatcher`) and, when the version moved, drops every cached answer.

Bumping takes the row's lock until the commit; every audited transaction already waits
for the audit chain's lock (:mod:`store.audit`), so this adds no new point of contention.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from store.db import Database
from store.models import ChangeMarker, utcnow

log = logging.getLogger(__name__)
CATALOGUE = "catalogue"
CHECK_SECONDS = 0.5  # below the 1 s bound, with room for the request that reads it


def bump(session: Session, name: str = CATALOGUE) -> None:
    """Move the marker on, in ``session``'s transaction (seen once it commits).

    One statement: an upsert, so a schema without the migration's row (``create_all``,
    emptied tables) gets it the first time.
    """
    dialect = session.get_bind().dialect.name
    upsert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(ChangeMarker)
    now = utcnow()
    session.execute(
        upsert.values(name=name, version=1, changed_at=now).on_conflict_do_update(
            index_elements=[ChangeMarker.name],
            set_={"version": ChangeMarker.version + 1, "changed_at": now},
        )
    )


def version(database: Database, name: str = CATALOGUE) -> int:
    """The marker's current version (0 before the first change)."""
    with database.reading() as connection:
        found = connection.execute(
            select(ChangeMarker.version).where(ChangeMarker.name == name)
        ).scalar()
    return int(found or 0)


class ChangeWatcher:
    """Calls ``on_change()`` when the marker moved; reads it at most every ``interval`` s.

    :meth:`check` is cheap enough to run before every request: between reads it is a
    clock comparison, and only one thread reads at a time (the others go on, within the
    bound). The first read only sets the baseline.
    """

    def __init__(
        self,
        database: Database,
        on_change: Callable[[], None],
        *,
        interval: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.on_change = on_change
        self.interval = interval
        self.clock = clock
        self.seen: int | None = None
        self._next = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        if self.clock() < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            self._next = self.clock() + self.interval
            try:
                current = version(self.database)
            except SQLAlchemyError as exc:  # the request itself will report the database
                log.warning("could not read the change marker: %s", exc)
                return
            if self.seen is not None and current != self.seen:
                self.on_change()
            self.seen = current
        finally:
            self._lock.release()
