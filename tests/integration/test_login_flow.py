"""The login pages end to end through the WSGI app, with the built-in test fagsystem.

Session behaviour runs on both ephemeral stores (the ``state`` fixture: memory, Redis).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from idp.mfa import has_totp
from idp.sso import session_key, user_sessions_key
from settings import Settings
from store.ephemeral import EphemeralState
from store.models import AuditEvent, User
from tests.login_kit import (
    Browser,
    FakeClock,
    add_user,
    csrf_of,
    database_of,
    login_of,
    login_settings,
    make_app,
)


@pytest.fixture
def login_config(tmp_path: Path) -> Settings:
    return login_settings(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(
    login_config: Settings, sqlite_template: Path, state: EphemeralState, clock: FakeClock
) -> Flask:
    app = make_app(login_config, sqlite_template, state)
    login_of(app).set_clock(clock)
    add_user(database_of(app), login_config)
    return app


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app.test_client())


def audit_events(app: Flask, action: str) -> list[AuditEvent]:
    with database_of(app).session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def logout(browser: Browser) -> None:
    page = browser.get("/login/logout")
    if 'name="csrf_token"' in page.get_data(as_text=True):
        browser.submit()


def enrolled(browser: Browser, clock: FakeClock) -> list[str]:
    """Log in at Substantial for the first time (enrolling TOTP); return the recovery codes."""
    browser.start("Substantial")
    browser.login()
    codes = browser.enrol(clock)
    browser.finish()
    return codes


def test_success_at_low_gives_a_low_result_and_a_session(browser: Browser) -> None:
    page = browser.start("Low")
    assert "/login/password" in browser.page_url()
    assert 'lang="da"' in page.get_data(as_text=True)
    browser.login()
    browser.finish()
    result = browser.result()
    assert result["username"] == "anne"
    assert result["loa"] == "Low"
    assert result["methods"] == "pwd"
    assert result["cvr"] == "29189765"
    assert browser.cookie() is not None


def test_the_session_cookie_never_leaves_as_the_result_session_id(browser: Browser) -> None:
    browser.start()
    browser.login()
    browser.finish()
    assert browser.result()["session"] != browser.cookie()


def test_success_at_substantial_enrols_then_logs_in_with_totp(
    browser: Browser, clock: FakeClock, app: Flask
) -> None:
    codes = enrolled(browser, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert browser.result()["loa"] == "Substantial"
    logout(browser)
    clock.advance(30)
    browser.start("Substantial")
    browser.login()
    assert "/login/second-factor" in browser.page_url()
    browser.submit(code=browser.totp(clock))
    browser.finish()
    assert browser.result()["loa"] == "Substantial"
    assert browser.result()["methods"] == "otp pwd"
    assert [e.outcome for e in audit_events(app, "login.second_factor")] == ["success"]


def test_sso_reuses_the_session_without_any_page(browser: Browser) -> None:
    browser.start()
    browser.login()
    browser.finish()
    first = browser.result()
    page = browser.client.get("/login/test?loa=Low&fagsystem=ksd")
    assert page.status_code == 200
    assert browser.result() == first or "result-user" in page.get_data(as_text=True)


def test_step_up_from_low_asks_only_for_the_second_factor(
    browser: Browser, clock: FakeClock
) -> None:
    enrolled(browser, clock)
    logout(browser)
    browser.start("Low")
    browser.login()
    browser.finish()
    low_cookie = browser.cookie()
    assert browser.result()["loa"] == "Low"
    clock.advance(30)
    browser.start("Substantial")
    assert "/login/second-factor" in browser.page_url()  # no password page
    browser.submit(code=browser.totp(clock))
    browser.finish()
    assert browser.result()["loa"] == "Substantial"
    assert browser.cookie() != low_cookie  # a new id after the step-up too


def test_step_up_cancelled_reaches_the_fagsystem_as_cancelled(
    browser: Browser, clock: FakeClock
) -> None:
    enrolled(browser, clock)
    logout(browser)
    browser.start("Low")
    browser.login()
    browser.finish()
    browser.start("Substantial")
    page = browser.last
    assert page is not None
    cancel = re.search(r'action="(/login/cancel\?flow=[^"]+)"', browser.text())
    assert cancel
    browser.post(cancel.group(1).replace("&amp;", "&"), {"csrf_token": csrf_of(page)})
    browser.finish()
    assert 'id="failure-reason">cancelled<' in browser.text()


def low_session_then_step_up_page(browser: Browser, clock: FakeClock) -> None:
    """An enrolled person logged in at Low, now on the step-up's second-factor page."""
    enrolled(browser, clock)
    logout(browser)
    browser.start("Low")
    browser.login()
    browser.finish()
    clock.advance(30)
    browser.start("Substantial")
    assert "/login/second-factor" in browser.page_url()


def test_step_up_after_logout_goes_back_to_the_password_page(
    browser: Browser, clock: FakeClock, app: Flask
) -> None:
    low_session_then_step_up_page(browser, clock)
    second_factor_page = browser.last
    logout(browser)
    browser.last = second_factor_page  # the TOTP page is still open (back button)
    browser.submit(code=browser.totp(clock))
    assert "/login/password" in browser.page_url()
    assert browser.cookie() is None
    assert audit_events(app, "login.step_up")[-1].details["reason"] == "session_ended"


def test_step_up_after_the_absolute_timeout_goes_back_to_the_password_page(
    browser: Browser, clock: FakeClock, app: Flask
) -> None:
    sessions = login_of(app).sessions
    browser.start("Substantial")
    browser.login()
    browser.enrol(clock)
    browser.finish()
    logout(browser)
    browser.start("Low")
    browser.login()
    browser.finish()
    elapsed = 0.0
    while elapsed + sessions.idle_seconds / 2 < sessions.absolute_seconds - 120:
        clock.advance(sessions.idle_seconds / 2)
        elapsed += sessions.idle_seconds / 2
        browser.start("Low")
        assert browser.result()
    clock.advance(sessions.absolute_seconds - 120 - elapsed)  # 2 minutes of the session left
    browser.start("Substantial")
    assert "/login/second-factor" in browser.page_url()
    clock.advance(125)  # the absolute timeout passes while on the TOTP page
    browser.submit(code=browser.totp(clock))
    assert "/login/password" in browser.page_url()
    assert browser.cookie() is None or sessions.load(browser.cookie()) is None


def test_step_up_enrolment_after_logout_enrols_nothing(
    browser: Browser, clock: FakeClock, app: Flask
) -> None:
    browser.start("Low")
    browser.login()
    browser.finish()
    browser.start("Substantial")
    assert "/login/mfa/enrol" in browser.page_url()
    enrol_page = browser.last
    logout(browser)
    browser.last = enrol_page
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', browser.text())
    assert secret
    browser.submit(code=pyotp.TOTP(secret.group(1).replace(" ", "")).at(clock()))
    assert "/login/password" in browser.page_url()
    with database_of(app).session() as db:
        user_id = db.scalars(select(User.id).where(User.username == "anne")).one()
        assert not has_totp(db, user_id)


def test_step_up_when_another_person_has_logged_in_meanwhile_goes_back_to_the_password_page(
    browser: Browser, clock: FakeClock, app: Flask, login_config: Settings
) -> None:
    add_user(database_of(app), login_config, username="bo")
    low_session_then_step_up_page(browser, clock)
    second_factor_page = browser.last
    logout(browser)
    browser.start("Low")
    browser.login(username="bo")
    browser.finish()
    assert browser.result()["username"] == "bo"
    browser.last = second_factor_page  # anne's step-up page, still open
    browser.submit(code=browser.totp(clock))
    assert "/login/password" in browser.page_url()


def test_wrong_password_and_unknown_user_get_the_same_answer(browser: Browser, app: Flask) -> None:
    answers = []
    for username in ("anne", "nobody"):
        browser.start()
        page = browser.submit(username=username, password="forkert kodeord")
        body = re.sub(r'value="[^"]*"|flow=[\w-]+', "", page.get_data(as_text=True))
        answers.append((page.status_code, body.replace(username, "NAME")))
    assert answers[0] == answers[1]
    assert "Brugernavn eller adgangskode er forkert" in answers[0][1]
    reasons = [e.details["reason"] for e in audit_events(app, "login.password")]
    assert reasons == ["bad_password", "unknown_user"]


def test_throttling_backs_off_and_expires(browser: Browser, clock: FakeClock, app: Flask) -> None:
    free = login_of(app).throttle.policy.account_free
    for _ in range(free + 1):
        browser.start()
        browser.submit(username="anne", password="forkert kodeord")
    browser.start()
    locked = browser.submit(username="anne", password="korrekt hest batteri hæfteklamme")
    assert locked.status_code == 429
    assert "For mange forsøg" in locked.get_data(as_text=True)
    assert audit_events(app, "login.password")[-1].outcome == "throttled"
    clock.advance(login_of(app).throttle.policy.base_seconds + 1)
    browser.start()
    browser.login()
    browser.finish()
    assert browser.result()["username"] == "anne"


def test_throttling_is_identical_for_unknown_accounts(browser: Browser, app: Flask) -> None:
    free = login_of(app).throttle.policy.account_free
    statuses = []
    for _ in range(free + 2):
        browser.start()
        statuses.append(browser.submit(username="nobody", password="x").status_code)
    assert statuses == [200] * (free + 1) + [429]


def test_aliases_of_one_account_share_one_throttle_count(browser: Browser, app: Flask) -> None:
    free = login_of(app).throttle.policy.account_free
    for n in range(free):
        browser.start()
        browser.submit(username="anne", password=f"forkert {n}")
    browser.start()
    browser.submit(username=" Anne@Test.dk ", password="forkert igen")  # the same account
    browser.start()
    locked = browser.submit(username="anne@test.dk", password="korrekt hest batteri hæfteklamme")
    assert locked.status_code == 429


def test_recovery_code_logs_in_once_and_is_refused_the_second_time(
    browser: Browser, clock: FakeClock, app: Flask
) -> None:
    codes = enrolled(browser, clock)
    for attempt in range(2):
        logout(browser)
        browser.start("Substantial")
        browser.login()
        page = browser.submit(code=codes[0].lower())
        if attempt == 0:
            assert "Du har 9 tilbage" in page.get_data(as_text=True)
            browser.finish()
            assert browser.result()["methods"] == "pwd rcode"
        else:
            assert "allerede brugt" in page.get_data(as_text=True)
            assert "/login/second-factor" in browser.page_url()
    reasons = [e.details["reason"] for e in audit_events(app, "login.second_factor")]
    assert reasons == ["accepted", "replayed"]


def test_a_totp_code_cannot_be_replayed_within_its_time_step(
    browser: Browser, clock: FakeClock, app: Flask
) -> None:
    enrolled(browser, clock)
    clock.advance(30)
    code = browser.totp(clock)
    other = Browser(app.test_client(), secrets=dict(browser.secrets))
    for person in (browser, other):
        logout(person)
        person.start("Substantial")
        person.login()
        person.submit(code=code)
    assert "allerede brugt" in other.text()
    reasons = [e.details["reason"] for e in audit_events(app, "login.second_factor")]
    assert reasons == ["accepted", "replayed"]


def test_session_fixation_a_planted_id_is_not_the_id_after_login(
    browser: Browser, app: Flask
) -> None:
    planted = "A" * 43
    browser.client.set_cookie("sts_sso", planted)
    browser.start()
    browser.login()
    browser.finish()
    assert browser.cookie() != planted
    state = app.extensions["sts"].state
    assert state.get(session_key(planted)) is None
    assert browser.result()["username"] == "anne"


def test_a_valid_session_id_from_before_login_is_ended_at_login(
    browser: Browser, app: Flask
) -> None:
    browser.start()
    browser.login()
    browser.finish()
    before = browser.cookie()
    assert before is not None
    browser.start("Low", force="1")
    browser.login()
    browser.finish()
    assert browser.cookie() != before
    assert app.extensions["sts"].state.get(session_key(before)) is None


def test_idle_timeout_ends_the_session(browser: Browser, clock: FakeClock, app: Flask) -> None:
    browser.start()
    browser.login()
    browser.finish()
    clock.advance(login_of(app).sessions.idle_seconds + 1)
    browser.start()
    assert "/login/password" in browser.page_url()


def test_activity_keeps_the_session_until_the_absolute_timeout(
    browser: Browser, clock: FakeClock, app: Flask
) -> None:
    sessions = login_of(app).sessions
    browser.start()
    browser.login()
    browser.finish()
    elapsed = 0.0
    while elapsed + sessions.idle_seconds / 2 < sessions.absolute_seconds:
        clock.advance(sessions.idle_seconds / 2)
        elapsed += sessions.idle_seconds / 2
        browser.start()
        assert browser.result(), f"session gone after {elapsed} s"
    clock.advance(sessions.idle_seconds / 2 + 1)
    browser.start()
    assert "/login/password" in browser.page_url()


def test_logout_lists_the_served_systems_and_ends_the_session(browser: Browser, app: Flask) -> None:
    browser.start("Low", fagsystem="ky")
    browser.login()
    browser.finish()
    browser.start("Low", fagsystem="ksd")
    user_id = browser.result()["user"]
    session_id = browser.cookie()
    page = browser.get("/login/logout")
    listed = re.findall(r"<li>([^<]+)</li>", page.get_data(as_text=True))
    assert listed == ["ksd", "ky"]
    done = browser.submit()
    assert "Du er logget ud" in done.get_data(as_text=True)
    assert re.findall(r"<li>([^<]+)</li>", done.get_data(as_text=True)) == ["ksd", "ky"]
    state = app.extensions["sts"].state
    assert session_id and state.get(session_key(session_id)) is None
    assert session_id not in state.smembers(user_sessions_key(user_id))
    assert browser.cookie() is None
    browser.start()
    assert "/login/password" in browser.page_url()


def test_passive_without_a_session_answers_no_passive(browser: Browser) -> None:
    browser.start("Low", passive="1")
    assert 'id="failure-reason">no_passive<' in browser.text()


def test_passive_with_a_session_answers_at_once(browser: Browser) -> None:
    browser.start()
    browser.login()
    browser.finish()
    browser.start("Low", passive="1")
    assert browser.result()["username"] == "anne"


def test_high_is_refused_as_unreachable(browser: Browser) -> None:
    browser.start("High")
    assert 'id="failure-reason">loa_unavailable<' in browser.text()


def test_max_age_forces_a_new_password_when_the_login_is_older(
    browser: Browser, clock: FakeClock
) -> None:
    browser.start()
    browser.login()
    browser.finish()
    clock.advance(120)
    browser.start("Low", max_age="60")
    assert "/login/password" in browser.page_url()


def test_a_disabled_user_loses_the_session(browser: Browser, app: Flask) -> None:
    from store.models import User

    browser.start()
    browser.login()
    browser.finish()
    from store.access import end_user_access

    with database_of(app).session() as session:  # disabled as the product does it
        user = session.scalars(select(User)).one()
        user.disabled = True
        end_user_access(session, app.extensions["sts"].state, [user.id], reason="test")
    browser.start()
    assert "/login/password" in browser.page_url()
