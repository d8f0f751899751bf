"""The audit trail: append-only and hash-chained, written in the caller's transaction.

Each event's hash covers its content and the previous event's hash, so removing or
editing a row breaks the chain at that point, which :func:`verify_chain` reports.

Appends are serialised (on PostgreSQL by an advisory lock held until the commit), so each
append transaction costs the whole system one lock hold. :func:`deferred` lets a request
that records an event and then, a moment later, the event it leads to (an SSO session
reused, then the assertion issued for it) append both under one lock in one commit.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from store.models import AuditEvent, utcnow

GENESIS = "0" * 64
# Called with (action, outcome, details) for every new event (idp.metrics counts them).
event_observers: list[Callable[[str, str, dict[str, Any]], None]] = []
_LOCK_KEY = 0x5354_5341  # PostgreSQL advisory lock serialising appends to the chain


class _Content(Protocol):
    """What the hash covers: a :class:`NewEvent`, or a row of the table (:class:`AuditEvent`)."""

    at: dt.datetime
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    cvr: str | None
    outcome: str
    request_id: str | None
    details: dict[str, Any]
    prev_hash: str


@dataclass(slots=True)
class NewEvent:
    """An event to append, not yet chained: plain attributes, no ORM instrumentation.

    :func:`append` (and the group-commit writer) set ``prev_hash`` and ``hash`` as they
    chain it; the row is written with a Core INSERT, never through the ORM.
    """

    at: dt.datetime
    actor: str
    action: str
    object_type: str | None = None
    object_id: str | None = None
    cvr: str | None = None
    outcome: str = "success"
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""


def content(event: _Content) -> dict[str, Any]:
    """What an event says (without its chain link), as the hash and the API show it."""
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=dt.UTC)  # SQLite: naive UTC
    return {
        "at": at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "cvr": event.cvr,
        "outcome": event.outcome,
        "request_id": event.request_id,
        "details": event.details,
    }


def digest(event: _Content) -> str:
    """The event's hash: its content and the previous event's hash."""
    encoded = json.dumps(
        {**content(event), "prev": event.prev_hash},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    cvr: str | None = None,
    outcome: str = "success",
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> NewEvent:
    """Append one event in ``session``'s transaction; it commits or rolls back with it.

    Inside :func:`deferred`, an event of one of its actions is held instead, and goes into
    the transaction of the next event recorded there (or is written when it ends).
    """
    event = new_event(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        cvr=cvr,
        outcome=outcome,
        request_id=request_id,
        details=details,
    )
    deferral = _deferral.get()
    if deferral is not None and action in deferral.actions:
        deferral.held.append(event)
        return event
    held = deferral.attach(session) if deferral is not None else []
    _append(session, [*held, event])
    return event


def holds(action: str) -> bool:
    """Whether :func:`record` would hold an event of ``action`` (see :func:`deferred`).

    Such an event needs no session of its own: see :func:`record_held`.
    """
    deferral = _deferral.get()
    return deferral is not None and action in deferral.actions


def record_held(**event: Any) -> NewEvent:
    """Hold one event for the current :func:`deferred` block (:func:`holds` said yes).

    The same as :func:`record` for such an event, without opening a transaction for it.
    """
    deferral = _deferral.get()
    if deferral is None or event["action"] not in deferral.actions:
        raise RuntimeError(f"{event['action']} is not held here")
    held = new_event(**event)
    deferral.held.append(held)
    return held


def new_event(
    *,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    cvr: str | None = None,
    outcome: str = "success",
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> NewEvent:
    """An event stamped now, not yet chained: for :func:`append` (or a batch writer)."""
    for observe in event_observers:
        observe(action, outcome, details or {})
    return NewEvent(
        utcnow(), actor, action, object_type, object_id, cvr, outcome, request_id, details or {}
    )


_TABLE: Table = AuditEvent.__table__  # type: ignore[assignment]
_COLUMNS = [column.name for column in _TABLE.columns if column.name != "id"]
_LAST_HASH = select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_INSERTS: dict[int, Any] = {}


def _insert_rows(count: int) -> Any:
    """``INSERT ... VALUES (...), (...)`` for ``count`` rows, built once per row count.

    A textual statement with typed parameters: SQLAlchemy caches its compiled form, which
    it does not do for a Core multi-row ``insert().values([...])`` (compiled per call).
    """
    statement = _INSERTS.get(count)
    if statement is None:
        rows = ", ".join(
            "(" + ", ".join(f":{name}_{i}" for name in _COLUMNS) + ")" for i in range(count)
        )
        statement = text(
            f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)}) VALUES {rows}"  # noqa: S608 - names from the model
        ).bindparams(
            *(
                bindparam(f"{name}_{i}", type_=_TABLE.c[name].type)
                for i in range(count)
                for name in _COLUMNS
            )
        )
        if count <= 8:
            _INSERTS[count] = statement
    return statement


def _chain(events: list[NewEvent], previous: str | None) -> None:
    """Link ``events`` (in order) after the event whose hash is ``previous``."""
    for event in events:
        event.prev_hash = previous or GENESIS
        event.hash = previous = digest(event)


def _append(session: Session, events: list[NewEvent]) -> None:
    """Chain ``events`` (in order) after the last stored event, under the append lock.

    The rows are written with a Core INSERT (the ORM's unit of work costs more than the
    rest of an append); ``events`` stay plain objects, not attached to ``session``.
    The caller's own pending changes are flushed first, before the lock is taken.
    """
    session.flush()
    connection = session.connection()  # Core from here: the ORM's execute costs more
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"key": _LOCK_KEY})
    _chain(events, connection.execute(_LAST_HASH).scalar())
    # One INSERT with the rows in chain order, so the ids follow the chain.
    connection.execute(
        _insert_rows(len(events)),
        {
            f"{name}_{i}": getattr(event, name)
            for i, event in enumerate(events)
            for name in _COLUMNS
        },
    )


def append(session: Session, events: list[NewEvent]) -> None:
    """Chain ``events`` (from :func:`new_event`, in order) in ``session``'s transaction:
    one lock hold, one read of the last hash and one INSERT for all of them."""
    if events:
        _append(session, events)


# append_committed writes the row values in this order, without a lookup per column.
if _COLUMNS != ["at", "actor", "action", "object_type", "object_id", "cvr", "outcome",
                "request_id", "details", "prev_hash", "hash"]:  # fmt: skip
    raise RuntimeError(f"audit_events columns changed ({_COLUMNS}): update append_committed")
_PG_LOCK = f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"
_PG_LAST_HASH = f"SELECT hash FROM {_TABLE.name} ORDER BY id DESC LIMIT 1"  # noqa: S608
_PG_INSERTS: dict[int, str] = {}


def _pg_insert(count: int) -> str:
    statement = _PG_INSERTS.get(count)
    if statement is None:
        row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
        statement = (
            f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)}) "  # noqa: S608 - names from the model
            f"VALUES {', '.join([row] * count)}"
        )
        if count <= 64:
            _PG_INSERTS[count] = statement
    return statement


def append_committed(connection: Any, events: list[NewEvent]) -> None:
    """Chain ``events`` and commit them on a psycopg (PostgreSQL) connection of its own.

    For the group-commit writer (:mod:`store.audit_batch`): the same lock, chain and
    digest as :func:`append`, in two round trips instead of five, with psycopg's pipeline
    mode: ``BEGIN``, the append lock and the read of the last hash go together; then the
    one multi-row ``INSERT`` and the ``COMMIT``. Returns once the commit is durable; on
    any error the transaction is rolled back and the error raised.
    """
    if not events:
        return
    from psycopg.types.json import Json  # PostgreSQL only

    try:
        with connection.pipeline():
            connection.execute(_PG_LOCK)  # psycopg sends BEGIN before it
            row = connection.execute(_PG_LAST_HASH).fetchone()  # one sync: round trip 1
            _chain(events, row[0] if row else None)
            connection.execute(
                _pg_insert(len(events)),
                [
                    value
                    for event in events
                    for value in (
                        event.at,
                        event.actor,
                        event.action,
                        event.object_type,
                        event.object_id,
                        event.cvr,
                        event.outcome,
                        event.request_id,
                        Json(event.details),
                        event.prev_hash,
                        event.hash,
                    )
                ],
            )
            connection.commit()  # round trip 2
    except BaseException:
        if not connection.closed:
            connection.rollback()
        raise


def take_held() -> list[NewEvent]:
    """Remove and return the events the current :func:`deferred` block holds (if any).

    For a caller that writes them itself, with the event they lead to, outside this
    context's sessions (the group-commit writer, :mod:`store.audit_batch`). If that write
    fails, hand them back with :func:`hold_again` so the block still writes them.
    """
    deferral = _deferral.get()
    if deferral is None:
        return []
    events, deferral.held = deferral.held, []
    return events


def hold_again(events: list[NewEvent]) -> None:
    """Give back events from :func:`take_held` that could not be written."""
    deferral = _deferral.get()
    if deferral is not None and events:
        deferral.held[:0] = [_fresh_copy(e) for e in events]


class _Transactions(Protocol):
    def session(self) -> Any: ...


@dataclass
class _Deferral:
    actions: frozenset[str]
    held: list[NewEvent] = field(default_factory=list)  # recorded, not yet in a session
    attached: list[NewEvent] = field(default_factory=list)  # in a session, not committed

    def attach(self, session: Session) -> list[NewEvent]:
        """Move the held events into ``session``; they count as written once it commits."""
        events, self.held = self.held, []
        if events:
            self.attached += events
            session.info.setdefault(_ATTACHED, []).append((self, events))
        return events

    def committed(self, events: list[NewEvent]) -> None:
        self.attached = [e for e in self.attached if not any(e is d for d in events)]

    def unwritten(self) -> list[NewEvent]:
        return [*self.attached, *self.held]


_deferral: contextvars.ContextVar[_Deferral | None] = contextvars.ContextVar(
    "audit_deferral", default=None
)
_ATTACHED = "audit.deferred"  # key in Session.info: (deferral, events) in this transaction


@orm_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for deferral, events in session.info.pop(_ATTACHED, ()):
        deferral.committed(events)


@orm_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_ATTACHED, None)  # still in ``attached``: written when the block ends


@contextmanager
def deferred(database: _Transactions, actions: Iterable[str]) -> Iterator[None]:
    """Hold events of ``actions`` and append them with the next event recorded here.

    Meant for a request that records an event and then the event it leads to: the login's
    ``login.sso`` (session reused) and ``saml.assertion.issued``, which then share one lock
    and one commit. Only the named actions are held (never use it for administrative
    changes, which must be audited in their own transaction); every other event is
    written as usual, in its caller's transaction. Nothing is lost: an event that has not
    been committed with a later one when the block ends (none came, or that transaction
    rolled back) is written then, in its own transaction, before the block returns.
    """
    deferral = _Deferral(frozenset(actions))
    token = _deferral.set(deferral)
    try:
        yield
    finally:
        _deferral.reset(token)
        leftover = deferral.unwritten()
        if leftover:
            with database.session() as session:
                _append(session, [_fresh_copy(e) for e in leftover])


def _fresh_copy(event: NewEvent) -> NewEvent:
    """The content of ``event``, to be chained anew (its first transaction rolled back)."""
    return NewEvent(
        event.at,
        event.actor,
        event.action,
        event.object_type,
        event.object_id,
        event.cvr,
        event.outcome,
        event.request_id,
        dict(event.details or {}),
    )


@dataclass(frozen=True)
class ChainBreak:
    """The first event where the chain does not hold, and what is wrong with it.

    ``content_ok`` is False when the row no longer hashes to its stored hash (it was
    changed after it was written); ``link_ok`` is False when its ``prev_hash`` is not the
    hash of the event before it (an event before it was removed, or it was moved).
    """

    id: int
    at: dt.datetime
    action: str
    actor: str
    content_ok: bool
    link_ok: bool


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of :func:`check_chain`: how many events were checked, and any break."""

    checked: int
    broken: ChainBreak | None
    first_id: int | None = None  # the first event checked (None: there were none)

    @property
    def intact(self) -> bool:
        return self.broken is None


VERIFY_BATCH = 2000  # rows fetched per round trip while streaming the chain


def check_chain(
    session: Session, *, since: dt.datetime | None = None, batch: int = VERIFY_BATCH
) -> ChainCheck:
    """Check the hash chain in id order, streaming: memory stays bounded at any length.

    With ``since``, start at the first event stamped at or after it and check its link to
    the event before it too. Removing the newest events leaves no trace in the chain
    itself; everything else (a changed, removed or reordered event) is caught at the first
    event where the chain breaks.
    """
    start_id: int | None = None
    previous = GENESIS
    if since is not None:
        start_id = session.scalar(select(func.min(_TABLE.c.id)).where(_TABLE.c.at >= since))
        if start_id is None:
            return ChainCheck(0, None)
        before = session.scalar(
            select(_TABLE.c.hash)
            .where(_TABLE.c.id < start_id)
            .order_by(_TABLE.c.id.desc())
            .limit(1)
        )
        previous = before or GENESIS
    statement = select(_TABLE).order_by(_TABLE.c.id).execution_options(yield_per=batch)
    if start_id is not None:
        statement = statement.where(_TABLE.c.id >= start_id)
    checked = 0
    first_id: int | None = None
    for row in session.execute(statement):
        if first_id is None:
            first_id = row.id
        link_ok = row.prev_hash == previous
        content_ok = digest(row) == row.hash
        if not (link_ok and content_ok):
            at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
            broken = ChainBreak(row.id, at, row.action, row.actor, content_ok, link_ok)
            return ChainCheck(checked, broken, first_id)
        checked += 1
        previous = row.hash
    return ChainCheck(checked, None, first_id)


def verify_chain(session: Session) -> int | None:
    """Return the id of the first event whose hash or link is wrong, or None if intact."""
    broken = check_chain(session).broken
    return broken.id if broken else None
