"""Ephemeral state: SSO sessions, codes, replay caches, rate limits, invalidation messages.

Two implementations of one interface: :class:`RedisState` for production (shared by every
worker and host) and :class:`MemoryState` for a single process (the embedded default).
The same test suite runs against both. Values are bytes; callers serialise.
"""

from __future__ import annotations

import abc
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[str, bytes], None]

# Delivered to a subscriber whose connection was lost and is back: whatever was published
# in between is gone, so a cache fed by the channel forgets everything it holds.
MISSED = b"*missed*"
Members = set[str]  # named so the method `set` cannot shadow the builtin in annotations


class StateUnavailable(RuntimeError):
    """The ephemeral store cannot be reached; callers fail closed (HTTP 503)."""


class Subscription(abc.ABC):
    """A live subscription; ``close()`` stops delivery."""

    @abc.abstractmethod
    def close(self) -> None: ...


class EphemeralState(abc.ABC):
    """Key/value with expiry, atomic single-use operations, counters, sets and pub/sub."""

    shared_across_processes: bool = False

    @abc.abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl`` seconds to live, or forever when None."""

    @abc.abstractmethod
    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store only if absent; True when stored. The replay-cache primitive."""

    @abc.abstractmethod
    def pop(self, key: str) -> bytes | None:
        """Get and delete atomically: single-use codes can be redeemed once only."""

    @abc.abstractmethod
    def delete(self, *keys: str) -> int: ...

    @abc.abstractmethod
    def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; a new counter expires after ``ttl`` seconds."""

    @abc.abstractmethod
    def ttl(self, key: str) -> float | None:
        """Seconds left, None if the key is missing or has no expiry."""

    @abc.abstractmethod
    def expire(self, key: str, ttl: float) -> bool: ...

    def set_and_expire(self, key: str, value: bytes, ttl: float, *others: str) -> None:
        """``set(key, value, ttl)`` and ``expire(other, ttl)`` for each of ``others``.

        Not atomic; on Redis one round trip (pipelined) instead of one per key.
        """
        self.set(key, value, ttl=ttl)
        for other in others:
            self.expire(other, ttl)

    @abc.abstractmethod
    def sadd(self, key: str, *members: str, ttl: float | None = None) -> None: ...

    @abc.abstractmethod
    def smembers(self, key: str) -> Members: ...

    @abc.abstractmethod
    def srem(self, key: str, *members: str) -> None: ...

    @abc.abstractmethod
    def publish(self, channel: str, message: bytes) -> None: ...

    @abc.abstractmethod
    def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """Call ``handler(channel, message)`` for each message, from a background thread."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise :class:`StateUnavailable` when the store cannot be used."""

    def close(self) -> None:
        """Release connections and stop subscriber threads."""


@dataclass
class _Entry:
    value: Any
    expires_at: float | None

    def alive(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass
class _MemorySubscription(Subscription):
    owner: MemoryState
    channel: str
    handler: Handler
    closed: bool = field(default=False)

    def close(self) -> None:
        self.closed = True
        self.owner._unsubscribe(self)


class MemoryState(EphemeralState):
    """In-process store for one process; refused when more than one worker is started."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._subscribers: dict[str, list[_MemorySubscription]] = {}

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if not entry.alive(self._clock()):
            del self._data[key]
            return None
        return entry

    def _sweep(self) -> None:
        if len(self._data) % 1024 == 0:
            now = self._clock()
            for key in [k for k, e in self._data.items() if not e.alive(now)]:
                del self._data[key]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(key)
            return None if entry is None else bytes(entry.value)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self._lock:
            self._sweep()
            self._data[key] = _Entry(bytes(value), self._expiry(ttl))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._sweep()
            self._data[key] = _Entry(bytes(value), self._expiry(ttl))
            return True

    def pop(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                return None
            del self._data[key]
            return bytes(entry.value)

    def delete(self, *keys: str) -> int:
        with self._lock:
            removed = 0
            for key in keys:
                if self._live(key) is not None:
                    del self._data[key]
                    removed += 1
            return removed

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                entry = self._data[key] = _Entry(b"0", self._expiry(ttl))
            entry.value = str(int(entry.value) + 1).encode()
            return int(entry.value)

    def ttl(self, key: str) -> float | None:
        with self._lock:
            entry = self._live(key)
            if entry is None or entry.expires_at is None:
                return None
            return max(0.0, entry.expires_at - self._clock())

    def expire(self, key: str, ttl: float) -> bool:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                return False
            entry.expires_at = self._expiry(ttl)
            return True

    def sadd(self, key: str, *members: str, ttl: float | None = None) -> None:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                entry = self._data[key] = _Entry(set(), None)
            entry.value.update(members)
            if ttl is not None:
                entry.expires_at = self._expiry(ttl)

    def smembers(self, key: str) -> Members:
        with self._lock:
            entry = self._live(key)
            return set() if entry is None else set(entry.value)

    def srem(self, key: str, *members: str) -> None:
        with self._lock:
            entry = self._live(key)
            if entry is not None:
                entry.value.difference_update(members)

    def publish(self, channel: str, message: bytes) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(channel, ()))
        for subscription in subscribers:
            if not subscription.closed:
                subscription.handler(channel, bytes(message))

    def subscribe(self, channel: str, handler: Handler) -> Subscription:
        subscription = _MemorySubscription(self, channel, handler)
        with self._lock:
            self._subscribers.setdefault(channel, []).append(subscription)
        return subscription

    def _unsubscribe(self, subscription: _MemorySubscription) -> None:
        with self._lock:
            listeners = self._subscribers.get(subscription.channel, [])
            if subscription in listeners:
                listeners.remove(subscription)

    def ping(self) -> None:
        return None


class _RedisSubscription(Subscription):
    """A subscriber thread that survives Redis being down at start or restarting later.

    Subscribes synchronously when Redis is up, so messages published right after
    ``subscribe()`` returns are delivered; otherwise (and after any connection error) it
    keeps retrying in the background. Messages published while disconnected are lost: the
    handler gets :data:`MISSED` once the connection is back (every cache that relies on
    the channel then forgets everything), and each such cache has a bounded lifetime too.
    """

    def __init__(self, state: RedisState, channel: str, handler: Handler) -> None:
        self._state = state
        self._channel = channel
        self._handler = handler
        self._stopped = threading.Event()
        self._pubsub: Any = None
        try:
            self._pubsub = self._connect()
        except state._redis.exceptions.RedisError:
            self._pubsub = None
        self._thread = threading.Thread(target=self._run, name=f"redis-sub:{channel}", daemon=True)
        self._thread.start()

    def _connect(self) -> Any:
        pubsub = self._state._client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self._channel)
        return pubsub

    def _run(self) -> None:
        errors = self._state._redis.exceptions.RedisError
        missed = self._pubsub is None  # down at start: nothing cached yet, but be safe
        while not self._stopped.is_set():
            try:
                if self._pubsub is None:
                    self._pubsub = self._connect()
                if missed:
                    missed = False
                    self._handler(self._channel, MISSED)
                message = self._pubsub.get_message(timeout=0.2)
                if message and message.get("type") == "message":
                    channel = message["channel"]
                    name = channel.decode() if isinstance(channel, bytes) else str(channel)
                    self._handler(name, message["data"])
            except (errors, OSError, ValueError):
                missed = True
                self._drop()
                self._stopped.wait(0.5)

    def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        self._drop()


SENTINEL_SCHEME = "redis+sentinel://"


@dataclass(frozen=True)
class SentinelAddress:
    """``redis+sentinel://[[user]:password@]host:port[,host:port...]/master[/db]``."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel_url(url: str) -> SentinelAddress:
    """Read a Sentinel URL; ``ValueError`` says what is wrong with it."""
    from urllib.parse import unquote

    if not url.startswith(SENTINEL_SCHEME):
        raise ValueError(f"a Sentinel URL starts with {SENTINEL_SCHEME}")
    rest = url[len(SENTINEL_SCHEME) :].split("?", 1)[0]
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    sentinels = []
    for entry in filter(None, netloc.split(",")):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{entry!r} is not host:port (Sentinels listen on 26379)")
        sentinels.append((host.strip("[]"), int(port)))
    if not sentinels:
        raise ValueError("names no Sentinel (host:port, comma-separated)")
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError("needs the master's name and optionally a database: /mymaster/0")
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelAddress(tuple(sentinels), unquote(parts[0]), db, username, password)


def redis_client(url: str, *, timeout: float = 2.0) -> Any:
    """A ``redis.Redis`` for a plain URL, or the current master behind Redis Sentinel.

    With Sentinel, every new connection asks the Sentinels for the master, so after a
    failover the connections that fail are replaced by connections to the new master
    (requests in between fail closed with :class:`StateUnavailable`).
    """
    import redis
    from redis.sentinel import Sentinel

    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 10,
        "retry_on_timeout": False,
    }
    if not url.startswith(SENTINEL_SCHEME):
        return redis.Redis.from_url(url, **options)
    address = parse_sentinel_url(url)
    sentinel = Sentinel(
        list(address.sentinels),
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    return sentinel.master_for(
        address.master,
        db=address.db,
        username=address.username,
        password=address.password,
        **options,
    )


# Called with (seconds, failed) after every Redis round trip (idp.metrics times them).
call_observers: list[Callable[[float, bool], None]] = []


def _observe_call(started: float, *, failed: bool) -> None:
    if call_observers:
        seconds = time.perf_counter() - started
        for observe in call_observers:
            observe(seconds, failed)


class RedisState(EphemeralState):
    """Redis-backed store shared by every worker and host; keys live under ``prefix``."""

    shared_across_processes = True

    def __init__(self, url: str, *, prefix: str = "sts:", timeout: float = 2.0) -> None:
        import redis

        self._redis = redis
        self._prefix = prefix
        self._client = redis_client(url, timeout=timeout)
        self._pop_script = self._client.register_script(
            "local v = redis.call('GET', KEYS[1]); "
            "if v then redis.call('DEL', KEYS[1]) end; return v"
        )
        self._incr_script = self._client.register_script(
            "local n = redis.call('INCR', KEYS[1]); "
            "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end; return n"
        )
        self._subscriptions: list[_RedisSubscription] = []

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = function(*args, **kwargs)
        except self._redis.exceptions.RedisError as exc:
            _observe_call(started, failed=True)
            raise StateUnavailable(f"Redis is not reachable: {exc}") from exc
        _observe_call(started, failed=False)
        return result

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._call(self._client.get, self._k(key))
        return value

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        px = None if ttl is None else self._ms(ttl)
        self._call(self._client.set, self._k(key), value, px=px)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(self._call(self._client.set, self._k(key), value, px=self._ms(ttl), nx=True))

    def pop(self, key: str) -> bytes | None:
        value: bytes | None = self._call(self._pop_script, keys=[self._k(key)])
        return value

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(self._call(self._client.delete, *(self._k(key) for key in keys)))

    def incr(self, key: str, ttl: float) -> int:
        return int(self._call(self._incr_script, keys=[self._k(key)], args=[self._ms(ttl)]))

    def ttl(self, key: str) -> float | None:
        remaining = int(self._call(self._client.pttl, self._k(key)))
        return None if remaining < 0 else remaining / 1000

    def expire(self, key: str, ttl: float) -> bool:
        return bool(self._call(self._client.pexpire, self._k(key), self._ms(ttl)))

    def set_and_expire(self, key: str, value: bytes, ttl: float, *others: str) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._k(key), value, px=self._ms(ttl))
        for other in others:
            pipe.pexpire(self._k(other), self._ms(ttl))
        self._call(pipe.execute)

    def sadd(self, key: str, *members: str, ttl: float | None = None) -> None:
        pipe = self._client.pipeline()
        pipe.sadd(self._k(key), *members)
        if ttl is not None:
            pipe.pexpire(self._k(key), self._ms(ttl))
        self._call(pipe.execute)

    def smembers(self, key: str) -> Members:
        members = self._call(self._client.smembers, self._k(key))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    def srem(self, key: str, *members: str) -> None:
        if members:
            self._call(self._client.srem, self._k(key), *members)

    def publish(self, channel: str, message: bytes) -> None:
        self._call(self._client.publish, self._k(channel), message)

    def subscribe(self, channel: str, handler: Handler) -> Subscription:
        prefix = self._prefix

        def unprefixed(name: str, message: bytes) -> None:
            handler(name.removeprefix(prefix), message)

        subscription = _RedisSubscription(self, self._k(channel), unprefixed)
        self._subscriptions.append(subscription)
        return subscription

    def ping(self) -> None:
        self._call(self._client.ping)

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        self._client.close()


def open_state(redis_url: str | None, *, prefix: str = "sts:") -> EphemeralState:
    """Redis when a URL is configured, otherwise the single-process in-memory store."""
    if redis_url:
        return RedisState(redis_url, prefix=prefix)
    return MemoryState()


MULTI_WORKER_WITHOUT_REDIS = (
    "Refusing to start {workers} workers without Redis: the in-process state (SSO sessions, "
    "codes, replay caches) is private to one process, so logins would fail at random. "
    "Set STS_REDIS_URL (for example redis://127.0.0.1:6379/0), or run one worker."
)


def check_worker_count(workers: int, redis_url: str | None) -> None:
    """Refuse several workers on the in-process store, with a message saying what to do."""
    if workers > 1 and not redis_url:
        raise ValueError(MULTI_WORKER_WITHOUT_REDIS.format(workers=workers))
