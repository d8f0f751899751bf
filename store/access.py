"""Ending a person's access everywhere at once: disabled, TOTP reset, or left the directory.

:func:`end_user_access` is called inside the transaction that disables the user (or
resets their second factor). It sets ``users.access_not_before`` to now; every use of an
SSO session started before that instant, and of a refresh-token family whose login was
before it, is refused from then on (:mod:`idp.login.active`, the refresh grant). That
check holds on every node and in every deployment, because it reads the database; the
caches in front of it are emptied by the change announcement within a second:

* with Redis, after the commit the user's sessions are deleted from the shared store
  (``user-sessions:<id>`` indexes them) and the change is published to every process;
* without Redis, the change marker (:mod:`store.change_marker`) is bumped in the same
  transaction, and each server reads it at most every half second.

Nothing happens if the transaction rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from store import change_marker
from store.ephemeral import EphemeralState, StateUnavailable
from store.models import User, utcnow

log = logging.getLogger(__name__)

# Ephemeral-store keys of the SSO session (idp.sso uses these names; so may a sync).
SESSION_PREFIX = "session:"
SERVED_PREFIX = "session-served:"
USER_SESSIONS_PREFIX = "user-sessions:"
# Published with the user's id when their access ends (every worker empties its cache
# of users known to be active).
USER_DISABLED_CHANNEL = "user.disabled"


def session_key(session_id: str) -> str:
    return SESSION_PREFIX + session_id


def served_key(session_id: str) -> str:
    return SERVED_PREFIX + session_id


def user_sessions_key(user_id: str) -> str:
    return USER_SESSIONS_PREFIX + user_id


def end_user_access(
    session: Session,
    state: EphemeralState | None,
    user_ids: Iterable[str],
    *,
    reason: str,
) -> list[str]:
    """End every session and refresh-token family of ``user_ids``, once ``session`` commits.

    Call it in the transaction that disables the users (or resets their TOTP); ``state``
    is the ephemeral store whose sessions to delete after the commit (None: only the
    database is changed, e.g. a command without Redis; servers then see the change
    marker). ``reason`` goes to the log. Returns the ids, sorted.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return ids
    session.execute(
        update(User)
        .where(User.id.in_(ids))
        .values(access_not_before=utcnow())
        .execution_options(synchronize_session=False)
    )
    change_marker.bump(session)
    log.info("access ended", extra={"users": len(ids), "reason": reason})
    if state is not None:

        def after_commit(_session: Session) -> None:
            end_sessions_now(state, ids)

        event.listen(session, "after_commit", after_commit, once=True)
    return ids


def end_sessions_now(state: EphemeralState, user_ids: Iterable[str]) -> int:
    """Delete the users' SSO sessions from ``state`` and tell every process; return how many.

    A store that cannot be reached is logged, not raised: the change is committed, and
    every session use checks ``access_not_before`` once the caches have let go.
    """
    ids = list(user_ids)
    ended = 0
    try:
        for user_id in ids:
            index = user_sessions_key(user_id)
            for session_id in state.smembers(index):
                ended += state.delete(session_key(session_id), served_key(session_id)) > 0
            state.delete(index)
            # Every process's caches of this user let go (the login's cache of active
            # users, the privilege cache: ``authz.cache`` listens on this channel too).
            state.publish(USER_DISABLED_CHANNEL, user_id.encode())
    except StateUnavailable as exc:
        log.warning("could not end sessions in the shared store: %s", exc)
    return ended
