"""Group commit for audit events on hot paths (PostgreSQL): OIDC tokens, SAML assertions.

Appending to the hash chain (:mod:`store.audit`) takes a PostgreSQL advisory lock held
until the commit, so appends are serialised across all processes. With one append per
request transaction, every token or assertion costs the whole system one lock hold: lock,
read the previous hash, insert, commit, each round trip followed by a wait for the GIL in
a busy worker. That capped token issuance at about 200/s on a 2-core machine, with the
CPU idle.

:class:`AuditBatcher` keeps one writer thread per process (one batcher per database, see
:func:`batcher_for`, shared by OIDC, SAML and the STS). A request hands over its events
and *waits until they are committed* before the token, the assertion (or the refusal) is
sent, so nothing is issued without its audit events. The writer chains every event
waiting at that moment in one transaction (same lock, same chain, same digest as
:func:`store.audit.append`), so one lock hold, one INSERT and one commit serve many
requests. A request's events stay together and in order. If the commit fails, every
request waiting on it fails with it (the exception is raised in the request: no token,
no assertion).

The writer does the least it can per batch: on PostgreSQL it takes a pooled psycopg
connection (kept while batches follow one another, returned to the pool when the writer
goes idle) and writes through :func:`store.audit.append_committed` (two round trips:
``BEGIN`` + lock + last hash pipelined, then ``INSERT`` + ``COMMIT``), not through a
SQLAlchemy session (five round trips and the ORM's bookkeeping). Waiting requests share
one :class:`threading.Event` per batch, set once the commit has returned.

SQLite (development, tests) has no batcher: events go into the request's transaction.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from store import audit
from store.audit import NewEvent

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Any]  # a context manager yielding a Session, committing at exit
RawConnect = Callable[[], Any]  # a pooled DBAPI connection (SQLAlchemy ``raw_connection``)


class _Batch:
    """Events committed together, and the requests waiting for that commit."""

    __slots__ = ("done", "error", "events")

    def __init__(self) -> None:
        self.events: list[NewEvent] = []
        self.done = threading.Event()
        self.error: BaseException | None = None


class AuditBatcher:
    """One writer thread per process that appends waiting events in one transaction.

    ``raw_connection`` (PostgreSQL): the writer commits on a pooled psycopg connection
    with :func:`store.audit.append_committed`; without it, in a session from ``sessions``
    with :func:`store.audit.append`.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        raw_connection: RawConnect | None = None,
        max_batch: int = 256,
        timeout: float = 10.0,
    ):
        self.sessions = sessions
        self.raw_connection = raw_connection
        self.max_batch = max_batch  # events per transaction (a request's events stay whole)
        self.timeout = timeout
        self._reset()

    def _reset(self) -> None:
        """Fresh lock, queue and writer (at start, and in a forked worker)."""
        self._pid = os.getpid()
        self._wake = threading.Condition(threading.Lock())
        self._batches: deque[_Batch] = deque()
        self._thread: threading.Thread | None = None
        self._pooled: Any = None  # the writer's connection, kept while batches follow

    def record(self, **event: Any) -> None:
        """Append one event (``store.audit.record`` arguments); return once committed."""
        self.write([audit.new_event(**event)])

    def write(self, events: list[NewEvent]) -> None:
        """Append ``events`` (from ``store.audit.new_event``, in order, kept together);
        return once committed, or raise what the write raised."""
        if not events:
            return
        if self._pid != os.getpid():
            self._reset()  # a fork (a server worker) leaves no writer behind
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()
            batches = self._batches
            if not batches or len(batches[-1].events) + len(events) > self.max_batch:
                batches.append(_Batch())
                self._wake.notify()
            batch = batches[-1]
            batch.events += events
        if not batch.done.wait(self.timeout):
            raise TimeoutError(f"audit events not committed within {self.timeout} s")
        if batch.error is not None:
            raise batch.error

    def _run(self) -> None:
        wake, batches = self._wake, self._batches
        while True:
            with wake:
                if not batches:
                    self._release()  # idle: the connection goes back to the pool
                while not batches:
                    wake.wait()
                batch = batches.popleft()  # later requests start the next batch
            try:
                self._commit(batch.events)
            except Exception as exc:
                log.exception("audit batch of %d event(s) failed", len(batch.events))
                batch.error = exc
            batch.done.set()

    def _commit(self, events: list[NewEvent]) -> None:
        if self.raw_connection is None:
            with self.sessions() as session:
                audit.append(session, events)
            return
        if self._pooled is None:
            self._pooled = self.raw_connection()
        try:
            audit.append_committed(self._pooled.driver_connection, events)
        except Exception:
            pooled, self._pooled = self._pooled, None
            pooled.invalidate()  # a connection that failed mid-commit is not reused
            pooled.close()
            raise

    def _release(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            pooled.close()  # back to the pool (idle after the commit: no round trip)


_BATCHERS_LOCK = threading.Lock()
_ATTRIBUTE = "_audit_batcher"


def batcher_for(database: Any) -> AuditBatcher | None:
    """The process's batcher for ``database`` (a ``store.db.Database``); None on SQLite."""
    if database.engine.dialect.name != "postgresql":
        return None
    batcher: AuditBatcher | None = getattr(database, _ATTRIBUTE, None)
    if batcher is None:
        with _BATCHERS_LOCK:
            batcher = getattr(database, _ATTRIBUTE, None)
            if batcher is None:
                batcher = AuditBatcher(
                    database.session, raw_connection=database.engine.raw_connection
                )
                setattr(database, _ATTRIBUTE, batcher)
    return batcher
