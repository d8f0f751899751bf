"""Login throttling per account and per source address, with exponential back-off.

After ``free`` failures in a row, each further failure locks the key for
``base * 2**(n - free - 1)`` seconds, capped at ``max_seconds``; a failure-free
``window`` forgets the count. Lockouts always expire, so an attacker can slow a person
down but never lock them out for good. The account key is the submitted name, whether or
not such an account exists, so the answers for unknown and known names are identical.
Times come from an injectable clock, so tests need not sleep.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from store.ephemeral import EphemeralState

Clock = Callable[[], float]


@dataclass(frozen=True)
class ThrottlePolicy:
    account_free: int = 5
    address_free: int = 30
    base_seconds: float = 2.0
    max_seconds: float = 900.0
    window_seconds: float = 3600.0


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()[:32]
    return f"account:{digest}"


def _address_key(address: str) -> str:
    return f"address:{address}"


class Throttle:
    """Ask :meth:`retry_after` before checking a password; report the outcome afterwards."""

    def __init__(
        self, state: EphemeralState, policy: ThrottlePolicy, clock: Clock = time.time
    ) -> None:
        self.state = state
        self.policy = policy
        self.clock = clock

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until a login for this name from this address may be tried; 0 if now."""
        now = self.clock()
        waits = [
            self._locked_until(_account_key(username)) - now,
            self._locked_until(_address_key(address)) - now,
        ]
        return max(0.0, *waits)

    def failure(self, username: str, address: str) -> None:
        self._fail(_account_key(username), self.policy.account_free)
        self._fail(_address_key(address), self.policy.address_free)

    def success(self, username: str) -> None:
        """A correct password clears the account's count (not the address's)."""
        key = _account_key(username)
        self.state.delete(f"throttle:count:{key}", f"throttle:last:{key}", f"throttle:until:{key}")

    def _locked_until(self, key: str) -> float:
        raw = self.state.get(f"throttle:until:{key}")
        return float(raw) if raw else 0.0

    def _fail(self, key: str, free: int) -> None:
        policy, now = self.policy, self.clock()
        count_key, last_key = f"throttle:count:{key}", f"throttle:last:{key}"
        last = self.state.get(last_key)
        if last is not None and now - float(last) > policy.window_seconds:
            self.state.delete(count_key)
        failures = self.state.incr(count_key, ttl=policy.window_seconds)
        self.state.expire(count_key, policy.window_seconds)
        self.state.set(last_key, repr(now).encode(), ttl=policy.window_seconds)
        if failures > free:
            backoff = min(
                policy.max_seconds, policy.base_seconds * 2 ** min(failures - free - 1, 40)
            )
            self.state.set(f"throttle:until:{key}", repr(now + backoff).encode(), ttl=backoff + 1)
