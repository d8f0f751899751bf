"""The per-process memory of active users behind the SSO session's reuse check."""

from __future__ import annotations

from idp.login.active import ActiveUsers


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_remembered_user_is_known_active() -> None:
    active = ActiveUsers(ttl_seconds=5.0)
    active.remember("u1", active.generation)
    assert active.known_active("u1")
    assert not active.known_active("u2")


def test_a_remembered_user_is_forgotten_after_the_ttl() -> None:
    clock = _Clock()
    active = ActiveUsers(ttl_seconds=5.0, clock=clock)
    active.remember("u1", active.generation)
    clock.now += 5.0
    assert not active.known_active("u1")


def test_any_invalidation_message_forgets_everyone() -> None:
    active = ActiveUsers()
    active.remember("u1", active.generation)
    active.invalidate("user.disabled", b"u2")  # the subscription handler's signature
    assert not active.known_active("u1")


def test_an_answer_read_before_an_invalidation_is_not_stored() -> None:
    active = ActiveUsers()
    generation = active.generation  # the lookup starts
    active.invalidate("authz:invalidate", b"{}")  # the user changes meanwhile
    active.remember("u1", generation)
    assert not active.known_active("u1")


def test_a_session_started_before_the_users_access_ended_is_not_known_active() -> None:
    active = ActiveUsers()
    active.remember("u1", active.generation, not_before=200.0)
    assert not active.known_active("u1", since=150.0)
    assert active.known_active("u1", since=200.0)
    assert active.known_active("u1")  # asked without a session: the user is active
