"""Group commit for the token endpoint's audit events (PostgreSQL).

Appending to the hash chain (:mod:`store.audit`) takes a PostgreSQL advisory lock held
until the commit, so appends are serialised across all processes. With one append per
request transaction, every token costs the whole system one lock hold: lock, read the
previous hash, insert, commit, each round trip followed by a wait for the GIL in a busy
worker. That capped token issuance at about 200/s on a 2-core machine, with the CPU idle.

:class:`AuditBatcher` keeps one writer thread per process. A request hands over its event
and *waits until it is committed* before the token (or the refusal) is sent, so nothing
is issued without its audit event. The writer appends every event waiting at that moment
in one transaction, through :func:`store.audit.record` (same lock, same chain, same
digest), so one lock hold and one commit serve many tokens. If the commit fails, every
waiting request fails with it (500, no token). Events keep their request's order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session

from store import audit

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Any]  # a context manager yielding a Session, committing at exit


class AuditBatcher:
    """One writer thread per process that appends waiting events in one transaction."""

    def __init__(self, sessions: SessionFactory, *, max_batch: int = 256, timeout: float = 10.0):
        self.sessions = sessions
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Future[None]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, **event: Any) -> None:
        """Append ``event`` (``store.audit.record`` arguments); return once committed."""
        future: Future[None] = Future()
        self._ensure_thread()
        self._queue.put((event, future))
        future.result(timeout=self.timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                # A fork (gunicorn) leaves no thread behind: start one in this process.
                self._thread = threading.Thread(
                    target=self._run, name="oidc-audit-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self.sessions() as session:
                    self._append(session, batch)
            except Exception as exc:
                log.exception("audit batch of %d event(s) failed", len(batch))
                for _event, future in batch:
                    future.set_exception(exc)
            else:
                for _event, future in batch:
                    future.set_result(None)

    @staticmethod
    def _append(session: Session, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        for event, _future in batch:
            audit.record(session, **event)
