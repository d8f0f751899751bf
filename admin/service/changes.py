"""Recording administrative changes: one audit event per change, in its transaction."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from admin.actor import Actor
from authz.cache import Scope, publish
from store import audit, change_marker
from store.ephemeral import EphemeralState, StateUnavailable

log = logging.getLogger("sts.admin")


def record_change(
    session: Session,
    actor: Actor,
    action: str,
    *,
    object_type: str,
    object_id: str,
    cvr: str | None,
    before: Any = None,
    after: Any = None,
    **details: Any,
) -> None:
    """Append the audit event of a change to ``session``'s transaction.

    It commits or rolls back with the change itself: both are there, or neither is; so
    does the bump of the change marker that servers without Redis read.
    """
    change_marker.bump(session)
    audit.record(
        session,
        actor=actor.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        cvr=cvr,
        request_id=actor.request_id,
        details={**actor.audit_details(), "before": before, "after": after, **details},
    )


def announce(state: EphemeralState, scope: Scope) -> None:
    """Tell every process to drop cached answers ``scope`` covers (after the commit).

    If the shared state is unreachable the change still stands (it is committed); caches
    then expire by their own bounds, and the log says so.
    """
    try:
        publish(state, scope)
    except StateUnavailable as exc:
        log.warning("could not announce an administrative change: %s", exc)
