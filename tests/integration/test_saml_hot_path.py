"""The SSO hot path's shortcuts keep their guarantees: audit events, pending state, SLO."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from authz import cache as authz_cache
from connectors.revocation import USER_DISABLED_CHANNEL
from idp.saml.constants import STATUS_SUCCESS
from idp.saml.slo import Participant, ParticipantLog, participants, participants_key
from settings import Settings
from store import audit
from store.ephemeral import MemoryState
from store.models import AuditEvent, User
from tests.saml_kit import SpKeys, World, authn_request, make_world, redirect_query, response_of

KY = "https://ky.test/sp"
KSD = "https://ksd.test/sp"


@pytest.fixture(scope="module")
def keys() -> SpKeys:
    return SpKeys.generate("ky")


@pytest.fixture
def world(settings: Settings, keys: SpKeys) -> World:
    world = make_world(settings)
    world.add_sp(KY, keys, fagsystem="ky")
    world.add_sp(KSD, keys, fagsystem="ksd")
    return world


def _sso(world: World, issuer: str):
    return world.client.get("/saml/sso?" + redirect_query(authn_request(issuer), relay_state="r"))


def _events(world: World) -> list[AuditEvent]:
    with world.app.extensions["sts"].database.session() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _status(http: Any) -> str:
    response = response_of(http)[1]
    code = response.find("{urn:oasis:names:tc:SAML:2.0:protocol}Status/")
    return code.get("Value")


def test_reused_session_audits_login_and_issuance_together(world: World) -> None:
    first = _sso(world, KY)
    assert first.status_code == 303  # no session yet: the login pages
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    before = len(_events(world))
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS  # answered from the SSO session
    new = _events(world)[before:]
    assert [e.action for e in new] == ["login.sso", "saml.assertion.issued"]
    assert new[1].prev_hash == new[0].hash and new[1].id == new[0].id + 1
    assert new[0].details["fagsystem"] == "ksd" and new[1].object_id == KSD
    with world.app.extensions["sts"].database.session() as db:
        assert audit.verify_chain(db) is None


def test_the_issuance_event_carries_the_request_id_of_the_response(world: World) -> None:
    first = _sso(world, KY)
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    hostile = "a b;<x>"  # not a sane id: replaced, and the replacement is what is logged
    http = world.client.get(
        "/saml/sso?" + redirect_query(authn_request(KSD), relay_state="r"),
        headers={"X-Request-ID": hostile},
    )
    issued = [e for e in _events(world) if e.action == "saml.assertion.issued"][-1]
    assert issued.request_id == http.headers["X-Request-ID"] != hostile


def test_pending_request_is_stored_only_when_the_login_shows_pages(world: World) -> None:
    state = world.app.extensions["sts"].state
    stored: list[str] = []
    original = state.set

    def spy(key: str, value: bytes, ttl: float | None = None) -> None:
        stored.append(key)
        original(key, value, ttl)

    state.set = spy
    first = _sso(world, KY)
    assert any(k.startswith("saml:pending:") for k in stored)  # the pages need it later
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    stored.clear()
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS
    assert not any(k.startswith("saml:pending:") for k in stored)  # answered at once


def test_a_failed_issuance_still_audits_the_sso_login(world: World) -> None:
    first = _sso(world, KY)
    world.login(first.headers["Location"])
    before = len(_events(world))
    world.app.extensions["saml.privileges"] = _failing
    assert _sso(world, KSD).status_code == 500  # no assertion
    new = _events(world)[before:]
    assert [e.action for e in new] == ["login.sso"]  # written although nothing was issued
    with world.app.extensions["sts"].database.session() as db:
        assert audit.verify_chain(db) is None


def _failing(_user: str, _cvr: str, _fagsystem: str) -> str:
    raise RuntimeError("authorization engine down")


def test_participant_log_skips_repeats_only_within_its_refresh() -> None:
    state = MemoryState()
    log = ParticipantLog(refresh=600.0)
    ky = Participant(KY, "u1", "persistent", "s1")
    ksd = Participant(KSD, "u1", "persistent", "s1")
    log.add(state, ky, ttl=3600)
    state.delete(participants_key("s1"))  # (only a logout deletes it; here to see the skip)
    log.add(state, ky, ttl=3600)
    assert participants(state, "s1") == []  # the repeat was skipped
    log.add(state, ksd, ttl=3600)
    assert participants(state, "s1") == [ksd]  # another SP is added at once
    log.refresh = 0.0
    log.add(state, ky, ttl=3600)
    assert participants(state, "s1") == [ksd, ky]  # after the refresh time, added again
    assert state.ttl(participants_key("s1")) is not None


def test_login_flow_is_stored_only_when_the_login_shows_pages(world: World) -> None:
    state = world.app.extensions["sts"].state
    stored: list[str] = []
    original = state.set

    def spy(key: str, value: bytes, ttl: float | None = None) -> None:
        stored.append(key)
        original(key, value, ttl)

    state.set = spy
    first = _sso(world, KY)
    assert any(k.startswith("login-flow:") for k in stored)  # the pages need it
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    stored.clear()
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS
    assert not any(k.startswith("login-flow:") for k in stored)  # answered at once


def test_user_disabled_after_a_cached_check_gets_no_assertion(world: World) -> None:
    first = _sso(world, KY)
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS  # the user is now cached as active
    with world.app.extensions["sts"].database.session() as db:
        db.get(User, world.user_id).disabled = True
    # No session revocation and no message: the cache still says active, but the
    # assertion re-reads the account in its own transaction.
    assert _sso(world, KY).status_code == 403


def test_authz_invalidation_makes_the_reuse_check_read_the_user_again(world: World) -> None:
    first = _sso(world, KY)
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS
    with world.app.extensions["sts"].database.session() as db:
        db.get(User, world.user_id).disabled = True
    services = world.app.extensions["sts"]
    authz_cache.invalidate_user(services.state, world.user_id)  # what the catalogue/admin do
    again = _sso(world, KY)
    assert again.status_code == 303  # the session was not reused: the login pages
    assert world.app.extensions["sts.login"].active_users.known_active(world.user_id) is False


def test_user_disabled_message_empties_the_active_user_cache(world: World) -> None:
    first = _sso(world, KY)
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS
    active = world.app.extensions["sts.login"].active_users
    assert active.known_active(world.user_id)
    world.app.extensions["sts"].state.publish(USER_DISABLED_CHANNEL, world.user_id.encode())
    assert not active.known_active(world.user_id)


def test_served_system_is_recorded_once_per_session_and_process(world: World) -> None:
    first = _sso(world, KY)
    assert _status(world.login(first.headers["Location"])) == STATUS_SUCCESS
    state = world.app.extensions["sts"].state
    added: list[str] = []
    original = state.sadd

    def spy(key: str, *members: str, ttl: float | None = None) -> None:
        added.append(key)
        original(key, *members, ttl=ttl)

    state.sadd = spy
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS
    assert _status(_sso(world, KSD)) == STATUS_SUCCESS
    assert _status(_sso(world, KY)) == STATUS_SUCCESS  # recorded by the login already
    assert len([k for k in added if k.startswith("session-served:")]) == 1  # KSD, once
