"""Disabling a person and their second factor through the admin API: what each call
changes in the store and the shared state, and what the audit trail says."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import select

from idp import mfa
from store.access import session_key, user_sessions_key
from store.models import AuditEvent, TotpCredential, User
from tests.admin_kit import A, ApiWorld, problem

WHO = "a-brugeradministrator"


def _user(api: ApiWorld, username: str) -> User:
    with api.database.session() as session:
        user = session.scalars(select(User).where(User.username == username, User.cvr == A)).one()
        session.expunge(user)
        return user


def _events(api: ApiWorld, action: str, object_id: str) -> list[AuditEvent]:
    with api.database.session() as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_id == object_id)
        ).all()
        for event in found:
            session.expunge(event)
        return list(found)


def _live_session(api: ApiWorld, user_id: str, session_id: str) -> None:
    state = api.app.extensions["sts"].state
    state.set(session_key(session_id), b"{}", ttl=600)
    state.sadd(user_sessions_key(user_id), session_id, ttl=600)


def test_disabling_ends_the_sessions_and_is_audited_and_enabling_undoes_it(api: ApiWorld) -> None:
    anne = api.user_id("anne")
    _live_session(api, anne, "sso-anne-1")
    path = f"/municipalities/{A}/users/anne/disabled"

    response = api.call("PUT", path, WHO, json={"disabled": True})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["disabled"] is True
    stored = _user(api, "anne")
    assert stored.disabled and stored.access_not_before is not None
    state = api.app.extensions["sts"].state
    assert state.get(session_key("sso-anne-1")) is None
    [event] = _events(api, "user.disabled", anne)
    assert event.actor == WHO and event.cvr == A
    assert event.details["before"]["disabled"] is False

    again = api.call("PUT", path, WHO, json={"disabled": False})
    assert again.status_code == 200 and again.get_json()["disabled"] is False
    assert not _user(api, "anne").disabled
    assert [e.actor for e in _events(api, "user.enabled", anne)] == [WHO]


def test_the_disabled_body_is_checked(api: ApiWorld) -> None:
    path = f"/municipalities/{A}/users/anne/disabled"
    refused = api.call("PUT", path, WHO, json={"disabled": "yes"})
    assert refused.status_code == 422 and problem(refused)["errors"][0]["pointer"] == "/disabled"
    assert api.call("PUT", f"/municipalities/{A}/users/ghost/disabled", WHO,
                    json={"disabled": True}).status_code == 404  # fmt: skip
    assert not _user(api, "anne").disabled


def test_an_activation_code_is_shown_once_and_works_once(api: ApiWorld) -> None:
    anne = api.user_id("anne")
    response = api.call("POST", f"/municipalities/{A}/users/anne/mfa-activation-code", WHO)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["username"] == "anne" and body["reset"] is False
    assert response.headers["Cache-Control"] == "no-store"
    [event] = _events(api, "mfa.activation_code.issue", anne)
    assert event.actor == WHO and body["code"] not in str(event.details)
    with api.database.session() as session:
        first = mfa.use_activation_code(session, anne, body["code"], actor="anne")
    with api.database.session() as session:
        second = mfa.use_activation_code(session, anne, body["code"], actor="anne")
    assert (first, second) == (mfa.ActivationOutcome.ACCEPTED, mfa.ActivationOutcome.USED)


def test_a_reset_removes_the_authenticator_and_ends_the_sessions(api: ApiWorld) -> None:
    anne = api.user_id("anne")
    box = mfa.SecretBox(Fernet.generate_key())
    with api.database.session() as session:
        mfa.enrol(session, anne, mfa.new_secret(), 0, box, actor="test")
    _live_session(api, anne, "sso-anne-2")

    response = api.call(
        "POST", f"/municipalities/{A}/users/anne/mfa-activation-code", WHO, json={"reset": True}
    )

    assert response.status_code == 201 and response.get_json()["reset"] is True
    with api.database.session() as session:
        assert not mfa.has_totp(session, anne)
        assert (
            session.scalars(select(TotpCredential).where(TotpCredential.user_id == anne)).all()
            == []
        )
    assert api.app.extensions["sts"].state.get(session_key("sso-anne-2")) is None
    assert _user(api, "anne").access_not_before is not None
    assert [e.actor for e in _events(api, "mfa.totp.reset", anne)] == [WHO]


def test_a_disabled_person_gets_no_activation_code(api: ApiWorld) -> None:
    api.call("PUT", f"/municipalities/{A}/users/anne/disabled", WHO, json={"disabled": True})
    refused = api.call("POST", f"/municipalities/{A}/users/anne/mfa-activation-code", WHO)
    assert refused.status_code == 409
    assert "enable the account" in problem(refused)["detail"]
