"""Login throttling on both ephemeral stores, with an injected clock instead of sleeping."""

from __future__ import annotations

import pytest

from idp.throttle import Throttle, ThrottlePolicy
from store.ephemeral import EphemeralState
from tests.login_kit import FakeClock

POLICY = ThrottlePolicy(
    account_free=3, address_free=10, base_seconds=2, max_seconds=60, window_seconds=3600
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttle(state: EphemeralState, clock: FakeClock) -> Throttle:
    return Throttle(state, POLICY, clock)


def fail(throttle: Throttle, times: int, username: str = "anne", address: str = "10.0.0.1"):
    for _ in range(times):
        throttle.failure(username, address)


def test_free_failures_then_exponential_back_off(throttle: Throttle) -> None:
    fail(throttle, 3)
    assert throttle.retry_after("anne", "10.0.0.1") == 0
    waits = []
    for _ in range(4):
        fail(throttle, 1)
        waits.append(throttle.retry_after("anne", "10.0.0.1"))
    assert waits == [2, 4, 8, 16]


def test_back_off_is_capped_and_expires(throttle: Throttle, clock: FakeClock) -> None:
    fail(throttle, 20)
    assert throttle.retry_after("anne", "10.0.0.2") == POLICY.max_seconds
    clock.advance(POLICY.max_seconds + 0.5)
    assert throttle.retry_after("anne", "10.0.0.2") == 0


def test_the_count_is_forgotten_after_a_quiet_window(throttle: Throttle, clock: FakeClock) -> None:
    fail(throttle, 5)
    clock.advance(POLICY.window_seconds + 1)
    fail(throttle, 1)
    assert throttle.retry_after("anne", "10.0.0.1") == 0


def test_success_clears_the_account(throttle: Throttle) -> None:
    fail(throttle, 4)
    throttle.success("anne")
    assert throttle.retry_after("anne", "10.0.0.9") == 0


def test_the_account_key_ignores_case_and_spaces(throttle: Throttle) -> None:
    fail(throttle, 4, username=" Anne ")
    assert throttle.retry_after("anne", "10.0.0.9") > 0


def test_per_address_limit_spans_usernames(throttle: Throttle) -> None:
    for n in range(11):
        throttle.failure(f"user{n}", "10.0.0.7")
    assert throttle.retry_after("someone-else", "10.0.0.7") == 2
    assert throttle.retry_after("someone-else", "10.0.0.8") == 0


def test_unknown_and_known_names_are_throttled_alike(throttle: Throttle) -> None:
    fail(throttle, 4, username="anne")
    fail(throttle, 4, username="no-such-person")
    assert throttle.retry_after("anne", "a") == throttle.retry_after("no-such-person", "a")
