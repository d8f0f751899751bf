"""A short per-process memory of users found active, for the SSO session's reuse check.

Reusing an SSO session checks that its user still exists and is not disabled. That check
runs on every single sign-on, so a *yes* is remembered for :data:`ACTIVE_SECONDS` per
process; a *no* is never remembered. The bound on a stale yes:

* disabling a user through AD sync ends their SSO sessions (``user-sessions:<id>``, see
  :mod:`connectors.revocation`) and announces it on ``user.disabled``; a session that no
  longer exists cannot be reused, whatever this cache says;
* any message on ``user.disabled`` or on the authz invalidation channel (the catalogue
  import, which can disable a user without ending sessions, publishes there when the
  file names the user's municipality) empties the cache of every process, so a change
  made elsewhere is seen within milliseconds;
* if such a message is lost (Redis down), a yes is at most :data:`ACTIVE_SECONDS` old;
* the SAML assertion re-reads ``disabled`` in its own transaction whatever this cache
  says (OIDC's userinfo does too; an OIDC login relies on the bounds above).

A lookup that started before an invalidation does not store its answer
(:attr:`generation`), so an answer read from the old rows never outlives the message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

ACTIVE_SECONDS = 5.0
MAX_ENTRIES = 50_000


class ActiveUsers:
    def __init__(
        self, ttl_seconds: float = ACTIVE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.generation = 0
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def known_active(self, user_id: str) -> bool:
        until = self._until.get(user_id)
        return until is not None and self.clock() < until

    def remember(self, user_id: str, generation: int) -> None:
        """Store a yes read while :attr:`generation` was ``generation``."""
        with self._lock:
            if generation != self.generation:
                return  # an invalidation arrived while the answer was being read
            if len(self._until) >= MAX_ENTRIES:
                self._until.clear()
            self._until[user_id] = self.clock() + self.ttl_seconds

    def invalidate(self, *_message: object) -> None:
        """Forget everything (a subscription handler: any message on the channels)."""
        with self._lock:
            self.generation += 1
            self._until.clear()
