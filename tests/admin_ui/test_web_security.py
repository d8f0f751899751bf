"""Sign-in and web security of /admin/: the IdP's login at Substantial, the session cookie,
CSRF, the idle timeout, CSP and security headers, and refusals that reveal nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.models import Jobfunktionsrolle
from tests.admin_kit import JFR_A, JFR_B, A, B
from tests.admin_ui.kit import UiWorld, make_world
from tests.login_kit import PASSWORD

PAGES = (
    "/admin/",
    f"/admin/kommuner/{A}/jobfunktionsroller",
    f"/admin/kommuner/{A}/jobfunktionsroller/ny",
    f"/admin/kommuner/{A}/brugere",
    "/admin/serviceaftaler",
    "/admin/fagsystemer",
    "/admin/revisionslog",
    "/admin/katalog",
    "/admin/noegler",
    "/admin/no-such-page",
)


def test_an_anonymous_visit_is_sent_to_the_idps_login(ui: UiWorld) -> None:
    response = ui.browser().get(f"/admin/kommuner/{A}/jobfunktionsroller")
    assert "/login/password" in response.request.url
    assert "Administrationsmodul" in response.get_data(as_text=True)


def test_after_password_and_code_the_person_lands_where_they_were_going(ui: UiWorld) -> None:
    browser = ui.browser()
    browser.get(f"/admin/kommuner/{A}/jobfunktionsroller")
    browser.login("jens", PASSWORD)
    ui.second_factor(browser, "jens")
    assert browser.page_url().endswith(f"/admin/kommuner/{A}/jobfunktionsroller")
    assert "Logget ind som jens (sikringsniveau Betydelig)" in browser.text()


def test_a_password_only_session_steps_up_without_the_password_page(
    ui_template: Path, tmp_path: Path
) -> None:
    world = make_world(ui_template, tmp_path / "demo", STS_DEMO_LOGIN_PAGE="true")
    browser = world.browser()
    browser.get("/login/test?loa=Low")
    browser.login("jens", PASSWORD)
    browser.finish()
    assert browser.result()["loa"] == "Low"
    browser.get("/admin/")
    assert "/login/second-factor" in browser.page_url()
    world.second_factor(browser, "jens")
    assert browser.page_url().endswith("/admin/")


def test_the_session_cookie_is_httponly_and_samesite_lax(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    cookie = browser.client.get_cookie("sts_admin", path="/admin")
    assert cookie is not None
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure


def test_over_https_the_session_cookie_is_secure_with_the_host_prefix(
    ui_template: Path, tmp_path: Path
) -> None:
    world = make_world(ui_template, tmp_path / "https", STS_BASE_URL="https://idp.test")
    browser = world.browser(https=True)
    world.sign_in("jens", browser)
    cookies = {c.key: c for c in (browser.client._cookies or {}).values()}
    cookie = cookies.get("__Host-sts_admin")
    assert cookie is not None, sorted(cookies)
    assert cookie.secure and cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/"
    assert "max-age" in browser.client.get("/admin/").headers["Strict-Transport-Security"]


def test_a_new_login_gets_a_new_session_id(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    first = browser.client.get_cookie("sts_admin", path="/admin")
    browser.get("/admin/login?force=1")
    browser.login("jens", PASSWORD)
    ui.second_factor(browser, "jens")
    second = browser.client.get_cookie("sts_admin", path="/admin")
    assert first is not None and second is not None and first.value != second.value
    other = ui.browser()
    other.client.set_cookie("sts_admin", first.value, path="/admin")
    assert "/login/" in other.get("/admin/").request.url


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_a_form_without_this_sessions_token_is_refused(ui: UiWorld, token: str | None) -> None:
    browser = ui.sign_in("jens")
    form = {"name": "Sneaky", "g-0": "http://ky.test/roles/usersystemrole/skriv/1"}
    if token is not None:
        form["csrf_token"] = token
    response = browser.client.post(f"/admin/kommuner/{A}/jobfunktionsroller/ny", data=form)
    assert response.status_code == 400
    assert "Formularen er udløbet" in response.get_data(as_text=True)
    with ui.database.session() as session:
        named = select(func.count()).where(Jobfunktionsrolle.name == "Sneaky")
        assert session.scalar(named) == 0


def test_the_session_ends_after_fifteen_idle_minutes(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    ui.clock.advance(15 * 60)
    response = browser.get("/admin/")
    assert "/login/password" in response.request.url  # both factors again, not SSO


def test_activity_keeps_the_session_alive(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    for _ in range(3):
        ui.clock.advance(14 * 60)
        assert browser.get("/admin/").request.url.endswith("/admin/")


def test_logging_out_of_the_idp_ends_the_admin_session(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    ui.post(browser, "/admin/logout", {})
    assert "/login/logout" in browser.page_url()
    browser.submit()
    assert "/login/password" in browser.get("/admin/").request.url


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_csp_without_inline_script_and_security_headers(
    ui: UiWorld, path: str
) -> None:
    browser = ui.sign_in("ole")
    response = browser.client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in response.get_data(as_text=True)


def test_another_municipalitys_role_is_a_404_that_names_nothing(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    response = browser.client.get(f"/admin/kommuner/{B}/jobfunktionsrolle?id={JFR_B}")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Siden findes ikke" in body
    assert JFR_B not in body and "Sagsbehandler B" not in body


def test_a_role_without_the_right_is_refused_with_403(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")  # Brugeradministrator: reads roles, may not change them
    response = browser.client.get(f"/admin/kommuner/{A}/jobfunktionsrolle?id={JFR_A}")
    assert response.status_code == 200
    refused = ui.post(browser, f"/admin/kommuner/{A}/jobfunktionsrolle/slet?id={JFR_A}", {})
    assert refused.status_code == 403
    assert "Du har ikke adgang" in refused.get_data(as_text=True)
    assert JFR_A not in refused.get_data(as_text=True)


def test_the_login_never_returns_to_another_site(ui: UiWorld) -> None:
    browser = ui.browser()
    browser.get("/admin/login?next=//evil.test/admin/")
    browser.login("jens", PASSWORD)
    ui.second_factor(browser, "jens")
    assert browser.page_url() == "http://localhost/admin/"


def test_pages_switch_to_english_and_stay_there(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    assert "Job function roles" in browser.get("/admin/?lang=en").get_data(as_text=True)
    assert "What needs you" in browser.get("/admin/").get_data(as_text=True)
    assert "Det venter på dig" in browser.get("/admin/?lang=da").get_data(as_text=True)
