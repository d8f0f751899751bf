"""The ephemeral-state contract, run against the in-process store and real Redis."""

from __future__ import annotations

import threading
import time

import pytest

from store.ephemeral import (
    MISSED,
    EphemeralState,
    MemoryState,
    RedisState,
    StateUnavailable,
    check_worker_count,
)


def test_set_and_get_round_trip_bytes(state: EphemeralState) -> None:
    state.set("k", b"\x00value\xff")
    assert state.get("k") == b"\x00value\xff"


def test_missing_key_reads_as_none(state: EphemeralState) -> None:
    assert state.get("absent") is None


def test_value_expires_after_its_ttl(state: EphemeralState) -> None:
    state.set("short", b"x", ttl=0.2)
    assert state.get("short") == b"x"
    time.sleep(0.35)
    assert state.get("short") is None


def test_ttl_reports_remaining_seconds(state: EphemeralState) -> None:
    state.set("k", b"x", ttl=60)
    remaining = state.ttl("k")
    assert remaining is not None and 55 < remaining <= 60
    state.set("forever", b"x")
    assert state.ttl("forever") is None


def test_add_stores_only_the_first_value(state: EphemeralState) -> None:
    assert state.add("replay:id-1", b"first", ttl=60) is True
    assert state.add("replay:id-1", b"second", ttl=60) is False
    assert state.get("replay:id-1") == b"first"


def test_add_succeeds_again_after_expiry(state: EphemeralState) -> None:
    assert state.add("replay:id-2", b"a", ttl=0.2)
    time.sleep(0.35)
    assert state.add("replay:id-2", b"b", ttl=60)


def test_pop_returns_the_value_once(state: EphemeralState) -> None:
    state.set("code:abc", b"grant", ttl=60)
    assert state.pop("code:abc") == b"grant"
    assert state.pop("code:abc") is None
    assert state.get("code:abc") is None


def test_pop_is_single_use_under_concurrency(state: EphemeralState) -> None:
    state.set("code:race", b"grant", ttl=60)
    winners: list[bytes] = []
    barrier = threading.Barrier(8)

    def redeem() -> None:
        barrier.wait()
        value = state.pop("code:race")
        if value is not None:
            winners.append(value)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert winners == [b"grant"]


def test_delete_counts_removed_keys(state: EphemeralState) -> None:
    state.set("a", b"1")
    state.set("b", b"2")
    assert state.delete("a", "b", "c") == 2
    assert state.get("a") is None


def test_incr_counts_and_expires_as_one_window(state: EphemeralState) -> None:
    assert [state.incr("attempts", ttl=0.3) for _ in range(3)] == [1, 2, 3]
    time.sleep(0.45)
    assert state.incr("attempts", ttl=0.3) == 1


def test_expire_extends_a_key(state: EphemeralState) -> None:
    state.set("session", b"s", ttl=0.2)
    assert state.expire("session", 60)
    time.sleep(0.3)
    assert state.get("session") == b"s"
    assert state.expire("missing", 60) is False


def test_sets_add_list_and_remove_members(state: EphemeralState) -> None:
    state.sadd("served:s1", "KY", "KSD")
    state.sadd("served:s1", "KY")
    assert state.smembers("served:s1") == {"KY", "KSD"}
    state.srem("served:s1", "KY")
    assert state.smembers("served:s1") == {"KSD"}
    assert state.smembers("served:none") == set()


def test_published_message_reaches_subscriber(state: EphemeralState) -> None:
    received: list[tuple[str, bytes]] = []
    arrived = threading.Event()

    def handler(channel: str, message: bytes) -> None:
        received.append((channel, message))
        arrived.set()

    subscription = state.subscribe("invalidate", handler)
    time.sleep(0.2)  # Redis: let the subscriber thread register
    state.publish("invalidate", b"user:42")
    assert arrived.wait(2.0)
    subscription.close()
    assert received == [("invalidate", b"user:42")]


def test_closed_subscription_receives_nothing(state: EphemeralState) -> None:
    received: list[bytes] = []
    subscription = state.subscribe("chan", lambda _c, m: received.append(m))
    subscription.close()
    state.publish("chan", b"late")
    time.sleep(0.3)
    assert received == []


def test_ping_succeeds_on_a_working_store(state: EphemeralState) -> None:
    state.ping()


def test_two_redis_clients_see_the_same_state(redis_state: RedisState) -> None:
    other = RedisState(_url_of(redis_state), prefix=redis_state._prefix)
    try:
        redis_state.set("shared", b"yes", ttl=30)
        assert other.get("shared") == b"yes"
        assert other.add("shared", b"no", ttl=30) is False
    finally:
        other.close()


def _url_of(state: RedisState) -> str:
    kwargs = state._client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_unreachable_redis_raises_state_unavailable() -> None:
    state = RedisState("redis://127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(StateUnavailable, match="Redis is not reachable"):
        state.get("k")
    with pytest.raises(StateUnavailable):
        state.ping()


def test_memory_state_is_not_shared_across_processes() -> None:
    assert MemoryState.shared_across_processes is False
    assert RedisState.shared_across_processes is True


def test_several_workers_without_redis_are_refused_with_a_remedy() -> None:
    with pytest.raises(ValueError, match="STS_REDIS_URL"):
        check_worker_count(4, None)
    check_worker_count(1, None)
    check_worker_count(4, "redis://127.0.0.1:6379/0")


def test_subscriber_started_while_redis_is_down_does_not_fail() -> None:
    state = RedisState("redis://127.0.0.1:1/0", timeout=0.2)
    subscription = state.subscribe("chan", lambda _c, _m: None)
    subscription.close()
    state.close()


def test_subscriber_resumes_after_the_connection_drops(redis_state: RedisState) -> None:
    received: list[bytes] = []
    arrived = threading.Event()

    def handler(_channel: str, message: bytes) -> None:
        received.append(message)
        if message == b"after-restart":
            arrived.set()

    subscription = redis_state.subscribe("resume", handler)
    # Kill every pub/sub connection server-side, as a Redis restart would.
    redis_state._client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    deadline = time.monotonic() + 5
    while not arrived.is_set() and time.monotonic() < deadline:
        redis_state.publish("resume", b"after-restart")
        arrived.wait(0.3)
    subscription.close()
    assert b"after-restart" in received


def test_set_and_expire_stores_the_value_and_extends_the_other_keys(
    state: EphemeralState,
) -> None:
    state.sadd("served:s1", "KY", ttl=0.2)
    state.set_and_expire("session:s1", b"s", 60, "served:s1", "served:missing")
    time.sleep(0.3)
    assert state.get("session:s1") == b"s"
    assert state.smembers("served:s1") == {"KY"}
    assert state.get("served:missing") is None
    assert state.ttl("session:s1") is not None


def test_a_subscriber_that_lost_its_connection_is_told_it_missed_messages(
    redis_state: RedisState,
) -> None:
    """Messages published while it was disconnected are gone: its caches must forget."""
    received: list[bytes] = []
    back = threading.Event()

    def handler(_channel: str, message: bytes) -> None:
        received.append(message)
        if message == MISSED:
            back.set()

    subscription = redis_state.subscribe("missed", handler)
    redis_state.publish("missed", b"before")
    time.sleep(0.3)
    assert received == [b"before"]  # a healthy connection: no false alarm
    redis_state._client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert back.wait(5), "the subscriber did not report the messages it may have missed"
    subscription.close()
    assert received == [b"before", MISSED]
