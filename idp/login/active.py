"""A short per-process memory of users found active, for the SSO session's reuse check.

Every use of an SSO session checks that its user still exists, is not disabled, and that
the session started after the user's ``access_not_before`` (set when an administrator,
an import or a sync ends the user's access, or resets their TOTP: :mod:`store.access`).
That check runs on every single sign-on, so a *yes* is remembered (with the instant) for
:data:`ACTIVE_SECONDS` per process; a *no* is never remembered. The bound on a stale yes:

* disabling a user through AD sync ends their SSO sessions (``user-sessions:<id>``, see
  :mod:`connectors.revocation`) and announces it on ``user.disabled``; a session that no
  longer exists cannot be reused, whatever this cache says;
* any message on ``user.disabled`` or on the authz invalidation channel (the catalogue
  import, which can disable a user without ending sessions, publishes there when the
  file names the user's municipality) empties the cache of every process, so a change
  made elsewhere is seen within milliseconds; without Redis the change marker
  (:mod:`store.change_marker`) brings the same message within a second;
* if such a message is lost (Redis down), a yes is at most :data:`ACTIVE_SECONDS` old;
* the SAML assertion re-reads ``disabled`` in its own transaction whatever this cache
  says (OIDC's userinfo does too; an OIDC login relies on the bounds above).

A lookup that started before an invalidation does not store its answer
(:attr:`generation`), so an answer read from the old rows never outlives the message.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from sqlalchemy import bindparam, select

from store.db import Database
from store.models import User

ACTIVE_SECONDS = 5.0
MAX_ENTRIES = 50_000


class ActiveUsers:
    def __init__(
        self, ttl_seconds: float = ACTIVE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.generation = 0
        self._until: dict[str, tuple[float, float | None]] = {}
        self._lock = threading.Lock()

    def known_active(self, user_id: str, since: float | None = None) -> bool:
        """Known active, and (given a session's start ``since``) that start is allowed."""
        found = self._until.get(user_id)
        if found is None or self.clock() >= found[0]:
            return False
        not_before = found[1]
        return since is None or not_before is None or since >= not_before

    def remember(self, user_id: str, generation: int, not_before: float | None = None) -> None:
        """Store a yes read while :attr:`generation` was ``generation``."""
        with self._lock:
            if generation != self.generation:
                return  # an invalidation arrived while the answer was being read
            if len(self._until) >= MAX_ENTRIES:
                self._until.clear()
            self._until[user_id] = (self.clock() + self.ttl_seconds, not_before)

    def invalidate(self, *_message: object) -> None:
        """Forget everything (a subscription handler: any message on the channels)."""
        with self._lock:
            self.generation += 1
            self._until.clear()


_USER_ACCESS = select(User.disabled, User.access_not_before).where(User.id == bindparam("user"))


def epoch_seconds(instant: dt.datetime | None) -> float | None:
    """A stored instant as seconds since the epoch (SQLite returns naive UTC)."""
    if instant is None:
        return None
    return (instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)).timestamp()


def access_allowed(
    active: ActiveUsers, database: Database, user_id: str, since: float | None = None
) -> bool:
    """Whether the user exists, is not disabled and (given ``since``) a session or login
    that started then may still be used: one cached dict lookup, or one round trip."""
    if active.known_active(user_id, since):
        return True
    generation = active.generation
    with database.reading() as connection:
        found = connection.execute(_USER_ACCESS, {"user": user_id}).first()
    if found is None or found.disabled:
        return False
    not_before = epoch_seconds(found.access_not_before)
    active.remember(user_id, generation, not_before)
    return since is None or not_before is None or since >= not_before
