"""The audit trail: append-only and hash-chained, written in the caller's transaction.

Each event's hash covers its content and the previous event's hash, so removing or
editing a row breaks the chain at that point, which :func:`verify_chain` reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from store.models import AuditEvent, utcnow

GENESIS = "0" * 64
_LOCK_KEY = 0x5354_5341  # PostgreSQL advisory lock serialising appends to the chain


def _digest(event: AuditEvent) -> str:
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=dt.UTC)  # SQLite: naive UTC
    content = {
        "at": at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "cvr": event.cvr,
        "outcome": event.outcome,
        "request_id": event.request_id,
        "details": event.details,
        "prev": event.prev_hash,
    }
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
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
) -> AuditEvent:
    """Append one event in ``session``'s transaction; it commits or rolls back with it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    previous = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        cvr=cvr,
        outcome=outcome,
        request_id=request_id,
        details=details or {},
        prev_hash=previous or GENESIS,
    )
    event.hash = _digest(event)
    session.add(event)
    session.flush()
    return event


def verify_chain(session: Session) -> int | None:
    """Return the id of the first event whose hash or link is wrong, or None if intact."""
    previous = GENESIS
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if event.prev_hash != previous or _digest(event) != event.hash:
            return event.id
        previous = event.hash
    return None
