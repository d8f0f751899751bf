"""Group commit for audit events on hot paths (PostgreSQL): OIDC tokens, SAML assertions.

Appending to the hash chain (:mod:`store.audit`) takes a PostgreSQL advisory lock held
until the commit, so appends are serialised across all processes. With one append per
request transaction, every token or assertion costs the whole system one lock hold: lock,
read the previous hash, insert, commit, each round trip followed by a wait for the GIL in
a busy worker. That capped token issuance at about 200/s on a 2-core machine, with the
CPU idle.

:class:`AuditBatcher` keeps one writer thread per process (one batcher per database, see
:func:`batcher_for`, shared by OIDC and SAML). A request hands over its events and *waits
until they are committed* before the token, the assertion (or the refusal) is sent, so
nothing is issued without its audit events. The writer chains every event waiting at that
moment in one transaction, through :func:`store.audit.append` (same lock, same chain, same
digest), so one lock hold, one INSERT and one commit serve many requests. A request's
events stay together and in order. If the commit fails, every waiting request fails with
it (the exception is raised in the request: no token, no assertion).

SQLite (development, tests) has no batcher: events go into the request's transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from store import audit
from store.models import AuditEvent

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Any]  # a context manager yielding a Session, committing at exit

_Item = tuple[list[AuditEvent], "Future[None]"]


class AuditBatcher:
    """One writer thread per process that appends waiting events in one transaction."""

    def __init__(self, sessions: SessionFactory, *, max_batch: int = 256, timeout: float = 10.0):
        self.sessions = sessions
        self.max_batch = max_batch  # events per transaction (a request's events stay whole)
        self.timeout = timeout
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, **event: Any) -> None:
        """Append one event (``store.audit.record`` arguments); return once committed."""
        self.write([audit.new_event(**event)])

    def write(self, events: list[AuditEvent]) -> None:
        """Append ``events`` (from ``store.audit.new_event``, in order, kept together);
        return once committed, or raise what the write raised."""
        if not events:
            return
        future: Future[None] = Future()
        self._ensure_thread()
        self._queue.put((events, future))
        future.result(timeout=self.timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                # A fork (a server worker) leaves no thread behind: start one in this process.
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            count = len(batch[0][0])
            while count < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
                count += len(item[0])
            try:
                with self.sessions() as session:
                    audit.append(session, [event for events, _future in batch for event in events])
            except Exception as exc:
                log.exception("audit batch of %d event(s) failed", count)
                for _events, future in batch:
                    future.set_exception(exc)
            else:
                for _events, future in batch:
                    future.set_result(None)


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
                batcher = AuditBatcher(database.session)
                setattr(database, _ATTRIBUTE, batcher)
    return batcher
