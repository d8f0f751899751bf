"""The SSO session store on both ephemeral stores: ids, timeouts, served systems, ending."""

from __future__ import annotations

import pytest

from idp.loa import LoA
from idp.sso import ServedSystem, SessionStore, served_key, session_key, user_sessions_key
from store.ephemeral import EphemeralState
from tests.login_kit import FakeClock

IDLE, ABSOLUTE = 1800.0, 36000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(state: EphemeralState, clock: FakeClock) -> SessionStore:
    return SessionStore(state, idle_seconds=IDLE, absolute_seconds=ABSOLUTE, clock=clock)


def login(
    store: SessionStore,
    user: str = "u1",
    methods: tuple[str, ...] = ("pwd",),
    replacing: str | None = None,
) -> str:
    session = store.create(
        user_id=user, cvr="29189765", username=user, methods=methods, replacing=replacing
    )
    return session.id


def test_a_session_is_stored_under_its_key_and_indexed_by_user(
    store: SessionStore, state: EphemeralState
) -> None:
    session_id = login(store)
    assert state.get(session_key(session_id)) is not None
    assert state.smembers(user_sessions_key("u1")) == {session_id}
    loaded = store.load(session_id)
    assert loaded is not None and loaded.loa is LoA.LOW and loaded.username == "u1"


def test_ids_are_fresh_random_and_the_replaced_session_is_gone(store: SessionStore) -> None:
    first = login(store)
    second = login(store, replacing=first)
    assert first != second and len(second) >= 43
    assert store.load(first) is None
    assert store.load(second) is not None


def test_a_planted_unknown_id_is_never_adopted(store: SessionStore) -> None:
    planted = "P" * 43
    session_id = login(store, replacing=planted)
    assert session_id != planted
    assert store.load(planted) is None


def test_idle_timeout(store: SessionStore, clock: FakeClock) -> None:
    session_id = login(store)
    clock.advance(IDLE - 1)
    assert store.load(session_id) is not None  # activity restarts the idle timer
    clock.advance(IDLE - 1)
    assert store.load(session_id) is not None
    clock.advance(IDLE)
    assert store.load(session_id) is None


def test_absolute_timeout_despite_activity(store: SessionStore, clock: FakeClock) -> None:
    session_id = login(store)
    for _ in range(int(ABSOLUTE // (IDLE / 2)) - 1):
        clock.advance(IDLE / 2)
        assert store.load(session_id) is not None
    clock.advance(IDLE / 2)
    assert store.load(session_id) is None


def test_step_up_keeps_the_start_and_adds_the_method(store: SessionStore, clock: FakeClock) -> None:
    low = login(store)
    clock.advance(600)
    high = store.create(
        user_id="u1", cvr="29189765", username="u1", methods=["otp"], replacing=low, step_up=True
    )
    assert high.loa is LoA.SUBSTANTIAL
    assert high.created_at == clock.now - 600
    assert high.auth_instant == clock.now


def test_served_systems_carry_over_to_the_same_persons_new_session(store: SessionStore) -> None:
    first = login(store)
    session = store.load(first)
    assert session is not None
    store.add_served(session, ServedSystem("saml", "ky", "https://ky.test/sp"))
    store.add_served(session, ServedSystem("oidc", "ksd", "ksd-client"))
    second = login(store, replacing=first)
    assert [s.fagsystem for s in store.served(second)] == ["ksd", "ky"]
    other = login(store, user="u2", replacing=second)
    assert store.served(other) == []


def test_end_returns_the_served_systems_and_removes_every_key(
    store: SessionStore, state: EphemeralState
) -> None:
    session_id = login(store)
    session = store.load(session_id)
    assert session is not None
    store.add_served(session, ServedSystem("saml", "ky", "https://ky.test/sp"))
    served = store.end(session_id)
    assert served == [ServedSystem("saml", "ky", "https://ky.test/sp")]
    assert state.get(session_key(session_id)) is None
    assert state.smembers(served_key(session_id)) == set()
    assert session_id not in state.smembers(user_sessions_key("u1"))


def test_end_all_ends_every_session_of_the_user_only(store: SessionStore) -> None:
    mine = [login(store) for _ in range(3)]
    theirs = login(store, user="u2")
    assert store.end_all("u1", keep=mine[0]) == 2
    assert store.load(mine[0]) is not None
    assert all(store.load(s) is None for s in mine[1:])
    assert store.load(theirs) is not None


def test_deleting_the_session_key_ends_it_as_the_ad_sync_does(
    store: SessionStore, state: EphemeralState
) -> None:
    session_id = login(store)
    for listed in state.smembers(user_sessions_key("u1")):
        state.delete(session_key(listed))
    assert store.load(session_id) is None
