"""A person's access on their user page: disable (with confirmation) and enable again, and
a TOTP activation code (and reset) a Brugeradministrator hands over, shown once."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp import mfa
from store.access import session_key, user_sessions_key
from store.models import AuditEvent, User
from tests.admin_kit import A
from tests.admin_ui.kit import UiWorld, field_error

ANNE = f"/admin/kommuner/{A}/brugere/anne"


def _anne(ui: UiWorld) -> User:
    with ui.database.session() as session:
        user = session.scalars(select(User).where(User.username == "anne", User.cvr == A)).one()
        session.expunge(user)
        return user


def _actions(ui: UiWorld, object_id: str) -> list[tuple[str, str]]:
    with ui.database.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.actor)
            .where(AuditEvent.object_id == object_id)
            .order_by(AuditEvent.id)
        ).all()
        return [(row.action, row.actor) for row in rows]


def test_disabling_asks_for_confirmation_then_ends_the_sessions(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    page = browser.get(ANNE).get_data(as_text=True)
    assert 'id="disable-user"' in page and 'id="issue-activation-code"' in page
    anne = _anne(ui)
    state = ui.app.extensions["sts"].state
    state.set(session_key("sso-anne"), b"{}", ttl=600)
    state.sadd(user_sessions_key(anne.id), "sso-anne", ttl=600)

    unconfirmed = ui.post(browser, f"{ANNE}/spaerring", {"disabled": "1"})
    assert unconfirmed.status_code == 422
    assert field_error(unconfirmed, "confirm") == "Bekræft spærringen ved at sætte flueben."
    assert not _anne(ui).disabled

    done = ui.post(browser, f"{ANNE}/spaerring", {"disabled": "1", "confirm": "on"})
    assert done.status_code == 200 and 'id="disabled-notice"' in done.get_data(as_text=True)
    assert _anne(ui).disabled and state.get(session_key("sso-anne")) is None
    assert 'id="enable-user"' in done.get_data(as_text=True)

    ui.post(browser, f"{ANNE}/spaerring", {"disabled": "0"})
    assert not _anne(ui).disabled
    assert [a for a in _actions(ui, anne.id) if a[0].startswith("user.")] == [
        ("user.disabled", "birgit"),
        ("user.enabled", "birgit"),
    ]


def test_an_activation_code_is_shown_once_and_lets_the_person_enrol(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    response = ui.post(browser, f"{ANNE}/aktiveringskode", {})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    match = re.search(r'id="activation-code">([^<]+)<', body)
    assert match, body[:2000]
    anne = _anne(ui)
    with ui.database.session() as session:
        used = mfa.use_activation_code(session, anne.id, match.group(1), actor="anne")
    assert used is mfa.ActivationOutcome.ACCEPTED
    assert ("mfa.activation_code.issue", "birgit") in _actions(ui, anne.id)
    # Not on the user page afterwards, nor anywhere in an address.
    assert match.group(1) not in browser.get(ANNE).get_data(as_text=True)


def test_a_reset_needs_its_own_confirmation_and_removes_the_authenticator(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    with ui.database.session() as session:
        karen = session.scalars(select(User.id).where(User.username == "karen")).one()
        assert mfa.has_totp(session, karen)
    karen_page = f"/admin/kommuner/{A}/brugere/karen"
    refused = ui.post(browser, f"{karen_page}/aktiveringskode", {"reset": "on"})
    assert refused.status_code == 422 and field_error(refused, "confirm_reset")
    done = ui.post(browser, f"{karen_page}/aktiveringskode", {"reset": "on", "confirm_reset": "on"})
    assert done.status_code == 200 and 'id="reset-done"' in done.get_data(as_text=True)
    with ui.database.session() as session:
        assert not mfa.has_totp(session, karen)
    assert ("mfa.totp.reset", "birgit") in _actions(ui, karen)


def test_an_administrator_sees_no_buttons_and_may_not_post(ui: UiWorld) -> None:
    browser = ui.sign_in("alma")
    page = browser.get(ANNE).get_data(as_text=True)
    assert 'id="disable-user"' not in page and 'id="issue-activation-code"' not in page
    refused = ui.post(browser, f"{ANNE}/spaerring", {"disabled": "1", "confirm": "on"})
    assert refused.status_code == 403
    assert ui.post(browser, f"{ANNE}/aktiveringskode", {}).status_code == 403
    assert not _anne(ui).disabled


def test_without_the_form_token_nothing_happens(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    response = browser.post(f"{ANNE}/spaerring", {"disabled": "1", "confirm": "on"})
    assert response.status_code == 400 and not _anne(ui).disabled
