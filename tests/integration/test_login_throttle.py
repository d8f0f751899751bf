"""Login throttling on both ephemeral stores, with an injected clock instead of sleeping."""

from __future__ import annotations

import pytest

from connectors.base import AuthenticationFailed, Directory, DirectoryUser
from idp.throttle import Throttle, ThrottlePolicy, canonical_account
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
    assert throttle.retry_after("anne", "10.0.0.1") == POLICY.max_seconds
    clock.advance(POLICY.max_seconds + 0.5)
    assert throttle.retry_after("anne", "10.0.0.1") == 0


def test_the_count_is_forgotten_after_a_quiet_window(throttle: Throttle, clock: FakeClock) -> None:
    fail(throttle, 5)
    clock.advance(POLICY.window_seconds + 1)
    fail(throttle, 1)
    assert throttle.retry_after("anne", "10.0.0.1") == 0


def test_success_clears_the_account(throttle: Throttle) -> None:
    fail(throttle, 4)
    throttle.success("anne", "10.0.0.1")
    assert throttle.retry_after("anne", "10.0.0.1") == 0


def test_the_account_key_ignores_case_and_spaces(throttle: Throttle) -> None:
    fail(throttle, 4, username=" Anne ")
    assert throttle.retry_after("anne", "10.0.0.1") > 0


def test_per_address_limit_spans_usernames(throttle: Throttle) -> None:
    for n in range(11):
        throttle.failure(f"user{n}", "10.0.0.7")
    assert throttle.retry_after("someone-else", "10.0.0.7") == 2
    assert throttle.retry_after("someone-else", "10.0.0.8") == 0


def test_unknown_and_known_names_are_throttled_alike(throttle: Throttle) -> None:
    fail(throttle, 4, username="anne")
    fail(throttle, 4, username="no-such-person")
    wait = throttle.retry_after("anne", "10.0.0.1")
    assert wait > 0 and wait == throttle.retry_after("no-such-person", "10.0.0.1")


# -- per (account, address), with a much higher ceiling for the account as a whole --

WIDE = POLICY.account_free * POLICY.account_wide_factor


def test_failures_from_other_addresses_do_not_block_the_person_at_their_own(
    throttle: Throttle,
) -> None:
    for n in range(WIDE):  # just below the account-wide ceiling, one address after another
        fail(throttle, 1, address=f"10.9.{n}.1")
    assert throttle.retry_after("anne", "192.0.2.10") == 0


def test_the_account_wide_ceiling_slows_guessing_spread_over_many_addresses(
    throttle: Throttle,
) -> None:
    for n in range(WIDE + 1):
        fail(throttle, 1, address=f"10.9.{n}.1")
    assert throttle.retry_after("anne", "10.9.250.1") == POLICY.base_seconds


def test_the_account_wide_lock_is_capped_and_expires(throttle: Throttle, clock: FakeClock) -> None:
    for n in range(WIDE + 20):
        fail(throttle, 1, address=f"10.9.{n % 250}.{n // 250}")
    assert throttle.retry_after("anne", "192.0.2.10") == POLICY.max_seconds
    clock.advance(POLICY.max_seconds + 0.5)
    assert throttle.retry_after("anne", "192.0.2.10") == 0


def test_the_account_wide_lock_spares_an_address_the_account_logged_in_from(
    throttle: Throttle,
) -> None:
    throttle.success("anne", "192.0.2.10")  # Anne's usual desk
    for n in range(WIDE + 20):  # strangers keep the account-wide back-off going
        fail(throttle, 1, address=f"10.9.{n % 250}.{n // 250}")
    assert throttle.retry_after("anne", "192.0.2.10") == 0
    assert throttle.retry_after("anne", "198.51.100.7") == POLICY.max_seconds


def test_a_known_address_still_gets_its_own_lock(throttle: Throttle) -> None:
    throttle.success("anne", "192.0.2.10")
    fail(throttle, POLICY.account_free + 1, address="192.0.2.10")
    assert throttle.retry_after("anne", "192.0.2.10") == POLICY.base_seconds


def test_a_known_address_is_forgotten_after_its_lifetime(
    throttle: Throttle, clock: FakeClock
) -> None:
    throttle.success("anne", "192.0.2.10")
    clock.advance(POLICY.known_seconds + 1)
    for n in range(WIDE + 1):
        fail(throttle, 1, address=f"10.9.{n}.1")
    assert throttle.retry_after("anne", "192.0.2.10") > 0


# -- one count for every alias of an account --


class RecordingDirectory(Directory):
    """Knows one person, under two names; records every name it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def authenticate(self, username: str, password: str) -> DirectoryUser:
        raise AuthenticationFailed("bad_password")

    def lookup(self, username: str) -> DirectoryUser | None:
        self.asked.append(username)
        if username.lower() in ("anne", "anne@test.dk"):
            return DirectoryUser(uuid="u-1", username="anne", cvr="29189765", name="Anne")
        return None


def test_aliases_of_an_account_have_one_canonical_name() -> None:
    directory = RecordingDirectory()
    assert canonical_account(directory, "anne") == canonical_account(directory, "Anne@Test.dk")


def test_the_directory_is_asked_about_unknown_names_too() -> None:
    directory = RecordingDirectory()
    assert canonical_account(directory, " NoBody ") == "name:nobody"
    assert canonical_account(directory, "anne") == "id:u-1"
    assert directory.asked == [" NoBody ", "anne"]
