"""Ending a user's SSO sessions and refresh tokens when the directory disables them.

The per-user index is part of the ephemeral-state contract; whoever creates a session or
a refresh token must register it here so a directory sync (or an administrator) can end
it later:

* ``user-sessions:<user uuid>`` — a set of session ids; each session lives at
  ``session:<id>``;
* ``user-refresh-tokens:<user uuid>`` — a set of refresh-token ids; each lives at
  ``refresh-token:<id>``.

:func:`revoke_user` deletes those keys and the index sets, and publishes the user's
uuid on the ``user.disabled`` channel so every worker can drop cached state for them.
"""

from __future__ import annotations

from store.ephemeral import EphemeralState

SESSIONS_INDEX = "user-sessions:{user}"
SESSION_KEY = "session:{id}"
REFRESH_INDEX = "user-refresh-tokens:{user}"
REFRESH_KEY = "refresh-token:{id}"
USER_DISABLED_CHANNEL = "user.disabled"


def register_session(state: EphemeralState, user: str, session_id: str, ttl: float) -> None:
    """Index a session under its user (call when the session is created)."""
    state.sadd(SESSIONS_INDEX.format(user=user), session_id, ttl=ttl)


def register_refresh_token(state: EphemeralState, user: str, token_id: str, ttl: float) -> None:
    state.sadd(REFRESH_INDEX.format(user=user), token_id, ttl=ttl)


def revoke_user(state: EphemeralState, user: str) -> int:
    """Delete every indexed session and refresh token of ``user``; return how many."""
    sessions = state.smembers(SESSIONS_INDEX.format(user=user))
    tokens = state.smembers(REFRESH_INDEX.format(user=user))
    keys = [SESSION_KEY.format(id=s) for s in sessions]
    keys += [REFRESH_KEY.format(id=t) for t in tokens]
    removed = state.delete(*keys) if keys else 0
    state.delete(SESSIONS_INDEX.format(user=user), REFRESH_INDEX.format(user=user))
    state.publish(USER_DISABLED_CHANNEL, user.encode())
    return removed
