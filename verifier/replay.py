"""Seen-once caches for assertion IDs: in-process by default, Redis for several workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class ReplayCache(Protocol):
    """Remembers keys until they expire."""

    def add(self, key: str, expires_at: float) -> bool:
        """Remember ``key`` until ``expires_at`` (Unix time); False if it was already there."""
        ...


class MemoryReplayCache:
    """A replay cache for one process. Behind several workers use :class:`RedisReplayCache`."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._adds = 0

    def add(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            self._adds += 1
            if self._adds % 1000 == 0:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            known = self._seen.get(key)
            if known is not None and known > now:
                return False
            self._seen[key] = expires_at
            return True

    def __len__(self) -> int:
        now = self._clock()
        with self._lock:
            return sum(1 for t in self._seen.values() if t > now)


class RedisReplayCache:
    """A replay cache shared through Redis (``SET key NX EXAT``); give it a redis client."""

    def __init__(self, client: Any, *, prefix: str = "verifier:replay:") -> None:
        self._client = client
        self._prefix = prefix

    def add(self, key: str, expires_at: float) -> bool:
        expiry = max(int(expires_at) + 1, int(time.time()) + 1)
        return bool(self._client.set(self._prefix + key, b"1", nx=True, exat=expiry))
