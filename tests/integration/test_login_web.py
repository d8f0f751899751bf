"""The login pages as web pages: cookies, CSRF, CSP, error pages, language, password change."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask

from connectors.base import AuthenticationFailed, Directory, DirectoryUnavailable, DirectoryUser
from settings import Settings
from store.ephemeral import MemoryState
from tests.login_kit import (
    PASSWORD,
    Browser,
    FakeClock,
    add_user,
    database_of,
    login_of,
    login_settings,
    make_app,
)

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@pytest.fixture
def login_config(tmp_path: Path) -> Settings:
    return login_settings(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(login_config: Settings, sqlite_template: Path, clock: FakeClock) -> Flask:
    app = make_app(login_config, sqlite_template, MemoryState())
    login_of(app).set_clock(clock)
    add_user(database_of(app), login_config)
    return app


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app.test_client())


def set_cookie_header(response: object, name: str) -> str:
    headers = response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith(f"{name}=")]
    assert found, headers
    return str(found[0])


def test_session_cookie_is_httponly_samesite_lax_without_secure_on_http(
    browser: Browser, app: Flask
) -> None:
    browser.start()
    done = browser.login()
    header = set_cookie_header(done, "sts_sso")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Secure" not in header
    assert "Expires" not in header and "Max-Age" not in header  # ends with the browser


def test_session_cookie_is_secure_and_host_prefixed_under_https(
    tmp_path: Path, sqlite_template: Path
) -> None:
    settings = login_settings(tmp_path, STS_BASE_URL="https://idp.test")
    app = make_app(settings, sqlite_template, MemoryState())
    add_user(database_of(app), settings)
    client = app.test_client()
    browser = Browser(client)
    browser.get("/login/test", base_url="https://idp.test")
    done = browser.submit(username="anne", password=PASSWORD)
    header = set_cookie_header(done, "__Host-sts_sso")
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_a_cross_site_post_binding_return_finds_the_lax_session_cookie(
    browser: Browser,
) -> None:
    """SameSite=Lax withholds our cookie on a cross-site POST (the SAML HTTP-POST binding)
    but sends it on a cross-site top-level GET. ``begin_login`` therefore answers a POST
    with 303 to ``/login/resume`` and looks for the session only there; the person is not
    asked for a password again.
    """
    browser.start()
    browser.login()
    browser.finish()
    first = browser.result()
    cookie = browser.cookie()
    assert cookie is not None
    browser.client.delete_cookie("sts_sso")  # what the browser does on a cross-site POST
    posted = browser.client.post("/login/test", data={"loa": "Low", "fagsystem": "ksd"})
    assert posted.status_code == 303
    assert posted.headers["Location"].startswith("/login/resume?flow=")
    browser.client.set_cookie("sts_sso", cookie)  # ...and sends it on the top-level GET
    browser.get(posted.headers["Location"])
    assert browser.result()["user"] == first["user"]
    assert browser.result()["session"] == first["session"]


def test_a_form_without_the_csrf_token_is_refused(browser: Browser) -> None:
    browser.start()
    url = browser.page_url()
    for data in ({}, {"csrf_token": "forged"}):
        refused = browser.client.post(url, data={"username": "anne", "password": PASSWORD, **data})
        assert refused.status_code == 400
        assert "Formularen er udløbet" in refused.get_data(as_text=True)
    assert browser.cookie() is None


def test_logout_without_the_csrf_token_keeps_the_session(browser: Browser) -> None:
    browser.start()
    browser.login()
    browser.finish()
    assert browser.client.post("/login/logout").status_code == 400
    browser.start()
    assert browser.result()["username"] == "anne"


def test_every_login_page_has_the_strict_csp_and_no_inline_code(
    browser: Browser, clock: FakeClock
) -> None:
    pages = [browser.start("Substantial")]
    pages.append(browser.login())  # the enrolment page, with its QR code
    pages.append(browser.get("/login/password?flow=" + "x" * 32))  # an error page
    for page in pages:
        assert page.headers["Content-Security-Policy"] == EXPECTED_CSP
        assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
        body = page.get_data(as_text=True)
        assert "<script" not in body and "style=" not in body and "<style" not in body
        assert not re.search(r'(src|href)="(https?:)?//', body), "external asset"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Cache-Control"] == "no-store"
    assert "<svg" in pages[1].get_data(as_text=True)


def test_allow_form_action_widens_only_that_response(app: Flask) -> None:
    from flask import Response

    from idp.web import allow_form_action

    response = allow_form_action(Response(), "https://ky.test/acs")
    assert response.headers["Content-Security-Policy"].endswith(
        "form-action 'self' https://ky.test/acs"
    )


def test_directory_down_shows_a_page_with_a_reference_that_is_in_the_log(
    browser: Browser, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    class Down(Directory):
        def authenticate(self, username: str, password: str) -> DirectoryUser:
            raise DirectoryUnavailable("ldaps://dc1.test: timed out")

        def lookup(self, username: str) -> DirectoryUser | None:
            raise DirectoryUnavailable("down")

    login_of(app).directory = Down()
    browser.start()
    with caplog.at_level(logging.WARNING):
        page = browser.submit(username="anne", password=PASSWORD)
    assert page.status_code == 503
    body = page.get_data(as_text=True)
    assert "Brugerkataloget svarer ikke" in body
    reference = re.search(r'id="reference">([^<]+)<', body)
    assert reference and reference.group(1) == page.headers["X-Request-ID"]
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == reference.group(1)]
    assert any("timed out" in str(getattr(r, "cause", "")) for r in logged)
    assert "timed out" not in body


def test_a_disabled_account_with_the_right_password_gets_its_own_page(
    browser: Browser, app: Flask, login_config: Settings
) -> None:
    add_user(database_of(app), login_config, "bo", disabled=True)
    browser.start()
    right = browser.submit(username="bo", password=PASSWORD)
    assert right.status_code == 403
    assert "kan ikke bruges til at logge ind" in right.get_data(as_text=True)
    browser.start()
    wrong = browser.submit(username="bo", password="forkert kodeord")
    assert "Brugernavn eller adgangskode er forkert" in wrong.get_data(as_text=True)


def test_an_ad_account_not_yet_synchronised_gets_its_own_page(browser: Browser, app: Flask) -> None:
    class Ad(Directory):
        def authenticate(self, username: str, password: str) -> DirectoryUser:
            return DirectoryUser(uuid="guid-1", username=username, cvr="29189765", source="ad")

        def lookup(self, username: str) -> DirectoryUser | None:
            return None

    login_of(app).directory = Ad()
    browser.start()
    page = browser.submit(username="new.person", password="whatever")
    assert page.status_code == 403
    assert "ikke oprettet her endnu" in page.get_data(as_text=True)


def test_an_unknown_or_used_flow_gets_an_expiry_page(browser: Browser) -> None:
    page = browser.get("/login/password?flow=" + "x" * 32)
    assert page.status_code == 400
    assert "Siden er udløbet" in page.get_data(as_text=True)


def test_english_by_lang_parameter_and_remembered(browser: Browser) -> None:
    page = browser.get("/login/test?lang=en")
    body = page.get_data(as_text=True)
    assert '<html lang="en">' in body and "Log in to continue" in body
    assert browser.cookie("sts_lang") == "en"
    assert "Log in to continue" in browser.start().get_data(as_text=True)


def test_english_by_ui_locales_of_the_login_request(browser: Browser) -> None:
    body = browser.get("/login/test?ui_locales=en-GB%20da").get_data(as_text=True)
    assert '<html lang="en">' in body and "Username" in body


def test_password_change_replaces_the_password_and_ends_other_sessions(
    app: Flask, browser: Browser
) -> None:
    other = Browser(app.test_client())
    for person in (browser, other):
        person.start()
        person.login()
        person.finish()
    page = browser.get("/login/account")
    assert "/login/password/change" in browser.page_url()
    new = "en helt ny og lang sætning"
    short = browser.submit(current=PASSWORD, new="kort", repeat="kort")
    assert "mindst 12 tegn" in short.get_data(as_text=True)
    wrong = browser.submit(current="forkert", new=new, repeat=new)
    assert "nuværende adgangskode er forkert" in wrong.get_data(as_text=True)
    done = browser.submit(current=PASSWORD, new=new, repeat=new)
    assert "Din adgangskode er skiftet" in done.get_data(as_text=True)
    other.start()
    assert "/login/password" in other.page_url()  # the other session was ended
    other.login(password=new)
    other.finish()
    assert other.result()["username"] == "anne"
    assert page.status_code == 200


def test_the_account_page_logs_in_first_when_there_is_no_session(browser: Browser) -> None:
    browser.get("/login/account")
    assert "/login/password" in browser.page_url()
    browser.login()
    browser.finish()
    assert "/login/password/change" in browser.page_url()


def test_the_test_fagsystem_is_off_by_default(settings: Settings, sqlite_template: Path) -> None:
    app = make_app(settings, sqlite_template)
    assert app.test_client().get("/login/test").status_code == 404


def test_a_flow_past_the_password_cannot_be_finished_from_another_browser(
    browser: Browser, app: Flask
) -> None:
    browser.start("Substantial")
    browser.login()
    enrol_url = browser.page_url()
    assert "/login/mfa/enrol" in enrol_url
    thief = Browser(app.test_client())
    page = thief.get(enrol_url)
    assert page.status_code == 400
    assert "totp-secret" not in page.get_data(as_text=True)


def test_a_directory_that_names_states_before_the_password_gets_the_generic_answer(
    browser: Browser, app: Flask
) -> None:
    class EarlyState(Directory):
        def authenticate(self, username: str, password: str) -> DirectoryUser:
            raise AuthenticationFailed("disabled")  # as AD does, before any bind

        def lookup(self, username: str) -> DirectoryUser | None:
            return None

    login_of(app).directory = EarlyState()
    browser.start()
    page = browser.submit(username="someone", password="anything")
    assert page.status_code == 200
    assert "Brugernavn eller adgangskode er forkert" in page.get_data(as_text=True)
