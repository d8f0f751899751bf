"""Login throttling per account and source address, per account, and per address.

After ``free`` failures in a row, each further failure locks the key for
``base * 2**(n - free - 1)`` seconds, capped at ``max_seconds``; a failure-free
``window`` forgets the count. Three keys count every failure:

- the account *from one source address*: the lock a person normally meets, after
  ``account_free`` failures;
- the account from every address together: a much higher ceiling
  (``account_wide_factor`` × ``account_free``) that slows guessing spread over many
  addresses, so failures from other addresses below it never block a person at their own;
- the source address, whatever the names tried.

Every lockout expires. Below the account-wide ceiling an attacker cannot block a person at
their own address at all. Above it, an attacker failing from ever new addresses keeps the
account-wide back-off going, but it does not apply at an address from which the account
logged in successfully within ``known_seconds`` (30 days): the person at their usual
desk is never locked out by strangers, while guessing from new addresses stays slow.

The account is whatever the caller passes: the login passes a canonical identity
(:func:`canonical_account`: the directory's id, or the typed name when no account has
it), so the answers for unknown and known names are identical. Times come from an
injectable clock, so tests need not sleep.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from connectors.base import Directory, DirectoryUnavailable
from store.ephemeral import EphemeralState

Clock = Callable[[], float]


@dataclass(frozen=True)
class ThrottlePolicy:
    account_free: int = 5
    address_free: int = 30
    base_seconds: float = 2.0
    max_seconds: float = 900.0
    window_seconds: float = 3600.0
    account_wide_factor: int = 10
    known_seconds: float = 30 * 24 * 3600.0

    @property
    def account_wide_free(self) -> int:
        return self.account_free * self.account_wide_factor


def canonical_account(directory: Directory, typed: str) -> str:
    """The throttle's name for the account a typed name means, the same for all its aliases.

    Username, UPN, username@domain and mail of one person share one count: the directory's
    id when it finds the account, else the typed name, lower-cased and stripped. The
    directory is asked for every name, known or not, so both paths cost a lookup.
    """
    try:
        person = directory.lookup(typed)
    except DirectoryUnavailable:
        person = None  # the password check will fail the same way and say so
    return user_account(person.uuid) if person is not None else f"name:{typed.strip().lower()}"


def user_account(user_id: str) -> str:
    """The throttle's name for a known user's account (see :func:`canonical_account`)."""
    return f"id:{user_id}"


def _digest(account: str) -> str:
    return hashlib.sha256(account.strip().lower().encode("utf-8")).hexdigest()[:32]


def _account_key(account: str) -> str:
    return f"account:{_digest(account)}"


def _pair_key(account: str, address: str) -> str:
    return f"pair:{_digest(account)}:{address}"


def _address_key(address: str) -> str:
    return f"address:{address}"


def _known_key(account: str, address: str) -> str:
    return f"throttle:known:{_digest(account)}:{address}"


class Throttle:
    """Ask :meth:`retry_after` before checking a password; report the outcome afterwards."""

    def __init__(
        self, state: EphemeralState, policy: ThrottlePolicy, clock: Clock = time.time
    ) -> None:
        self.state = state
        self.policy = policy
        self.clock = clock

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until a login for this account from this address may be tried; 0 if now."""
        now = self.clock()
        waits = [
            self._locked_until(_pair_key(account, address)) - now,
            self._locked_until(_address_key(address)) - now,
        ]
        if not self._known(account, address, now):
            waits.append(self._locked_until(_account_key(account)) - now)
        return max(0.0, *waits)

    def failure(self, account: str, address: str) -> None:
        self._fail(_pair_key(account, address), self.policy.account_free)
        self._fail(_account_key(account), self.policy.account_wide_free)
        self._fail(_address_key(address), self.policy.address_free)

    def success(self, account: str, address: str) -> None:
        """A correct password clears the account's counts (not the address's) and marks
        this address as one the account logs in from."""
        keys = (_pair_key(account, address), _account_key(account))
        self.state.delete(
            *(f"throttle:{part}:{key}" for key in keys for part in ("count", "last", "until"))
        )
        now = repr(self.clock()).encode()
        self.state.set(_known_key(account, address), now, ttl=self.policy.known_seconds)

    def _known(self, account: str, address: str, now: float) -> bool:
        """Whether the account logged in from this address within ``known_seconds``."""
        raw = self.state.get(_known_key(account, address))
        return raw is not None and now - float(raw) <= self.policy.known_seconds

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
