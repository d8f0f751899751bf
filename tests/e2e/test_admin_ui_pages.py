"""The admin UI in headless Chromium on a live server: an accessibility check (axe-core,
no serious or critical violation) on every screen, and the core forms with JavaScript
switched off.

Uses Debian's Chromium (/usr/bin/chromium) through Playwright; nothing is downloaded.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from werkzeug.serving import make_server

from tests.admin_kit import JFR_A, ORG_ROLE, A
from tests.admin_ui.kit import SECRETS, UiWorld, build_template, make_world
from tests.e2e.accessibility import serious_violations
from tests.e2e.browser import chromium_context, free_port
from tests.login_kit import PASSWORD

SCREENS = (
    "/admin/",
    "/admin/?lang=en",
    f"/admin/kommuner/{A}/jobfunktionsroller",
    f"/admin/kommuner/{A}/jobfunktionsroller/ny",
    f"/admin/kommuner/{A}/jobfunktionsrolle?id={JFR_A}",
    f"/admin/kommuner/{A}/brugere?q=a",
    f"/admin/kommuner/{A}/brugere/anne",
    f"/admin/kommuner/{A}/brugere/anne/adgang?fagsystem=KY",
    f"/admin/kommuner/{A}/tildelinger",
    f"/admin/kommuner/{A}/tildelinger/ny?role={JFR_A}",
    "/admin/serviceaftaler",
    "/admin/serviceaftaler/ny?service=ORG",
    "/admin/serviceaftaler/sa-requested-a",
    "/admin/fagsystemer",
    "/admin/fagsystemer/KY",
    "/admin/revisionslog",
    "/admin/revisionslog?since=i-gaar&cvr=kommune",
    "/admin/katalog",
    "/admin/noegler",
    "/admin/no-such-page",
)


@pytest.fixture(scope="module")
def ui_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("admin-ui-e2e") / "data"
    build_template(path)
    return path


@pytest.fixture
def live(ui_template: Path, tmp_path: Path) -> Iterator[tuple[str, UiWorld]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    world = make_world(ui_template, tmp_path / "data", STS_BASE_URL=base)
    world.login.set_clock(time.time)
    server = make_server("127.0.0.1", port, world.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, world
    server.shutdown()
    thread.join(timeout=5)
    world.database.dispose()


def sign_in(page: Any, base: str, username: str, path: str = "/admin/") -> None:
    page.goto(base + path)
    page.get_by_label("Brugernavn").fill(username)
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(re.compile(r"/login/second-factor"))
    page.get_by_label("Kode fra appen eller en gendannelseskode").fill(
        pyotp.TOTP(SECRETS[username]).now()
    )
    page.get_by_role("button", name="Bekræft").click()
    page.wait_for_url(re.compile(r"/admin/"))


@pytest.mark.parametrize("script", [True, False], ids=["with-js", "without-js"])
def test_every_screen_has_no_serious_accessibility_violation(
    live: tuple[str, UiWorld], script: bool
) -> None:
    base, _world = live
    with chromium_context(timeout_ms=15_000, java_script_enabled=script) as context:
        page = context.new_page()
        sign_in(page, base, "ole")
        problems = {}
        for path in SCREENS:
            page.goto(base + path)
            if script:
                found = serious_violations(page)
                if found:
                    problems[path] = found
            else:
                assert page.locator("main h1").count() == 1, path
        assert problems == {}


def test_a_brugeradministrator_assigns_without_javascript(live: tuple[str, UiWorld]) -> None:
    base, _world = live
    with chromium_context(timeout_ms=15_000, java_script_enabled=False) as context:
        page = context.new_page()
        sign_in(page, base, "birgit")
        page.goto(f"{base}/admin/kommuner/{A}/brugere")
        page.get_by_label("Find en bruger").fill("kar")
        page.get_by_role("button", name="Søg").click()
        page.get_by_role("link", name="karen").click()
        page.get_by_role("link", name="Tildel jobfunktionsrolle").click()
        page.get_by_label("Jobfunktionsrolle").select_option(JFR_A)
        page.get_by_role("button", name="Vis rollens felter").click()
        page.get_by_label("Gyldig fra").fill("2026-01-01")
        page.get_by_label("Gyldig til og med").fill("2026-12-31")
        page.get_by_label("Sagsnummer").fill("26-77")
        page.get_by_role("button", name="Tildel", exact=True).click()
        page.wait_for_url(re.compile(r"/brugere/karen\?saved=1"))
        assert "26-77" in page.locator("#user-assignments").inner_text()


def test_search_as_you_type_updates_the_results_with_javascript(
    live: tuple[str, UiWorld],
) -> None:
    base, _world = live
    with chromium_context(timeout_ms=15_000) as context:
        page = context.new_page()
        sign_in(page, base, "birgit")
        page.goto(f"{base}/admin/kommuner/{A}/brugere")
        page.get_by_label("Find en bruger").press_sequentially("kare", delay=30)
        page.locator("#user-results .user-row").nth(1).wait_for(state="detached")
        assert page.locator("#user-results .user-row a").inner_text() == "karen"
        assert page.url.endswith("/brugere?q=kare")


def test_a_supplier_requests_and_a_godkender_approves_without_javascript(
    live: tuple[str, UiWorld],
) -> None:
    base, _world = live
    with chromium_context(timeout_ms=15_000, java_script_enabled=False) as context:
        page = context.new_page()
        sign_in(page, base, "lars", "/admin/serviceaftaler/ny")
        page.get_by_label("Anvendersystem").select_option("SAPA")
        page.get_by_label("Service", exact=True).select_option("ORG")
        page.get_by_role("button", name="Vis servicens roller").click()
        page.get_by_label("Kommune").select_option(A)
        page.get_by_label(re.compile("Udstil organisation")).check()
        page.get_by_role("button", name="Anmod om serviceaftale").click()
        page.wait_for_url(re.compile(r"anmodet=1"))
        aftale = page.url.split("/serviceaftaler/")[1].split("?")[0]
        context.clear_cookies()
        sign_in(page, base, "gorm", f"/admin/serviceaftaler/{aftale}")
        page.get_by_label("Kommentar").fill("Godkendt til overblik")
        page.get_by_role("button", name="Godkend").click()
        assert page.locator("#agreement-status").get_attribute("data-status") == "approved"
        assert ORG_ROLE in page.content()


def test_an_operator_sees_why_a_role_in_use_cannot_be_removed_without_javascript(
    live: tuple[str, UiWorld],
) -> None:
    base, _world = live
    with chromium_context(timeout_ms=15_000, java_script_enabled=False) as context:
        page = context.new_page()
        sign_in(page, base, "ole", "/admin/fagsystemer/KY")
        page.get_by_role("button", name="Fjern Læs", exact=True).click()
        message = page.locator("#system-roles .field-error").inner_text()
        assert "kan ikke fjernes" in message and "bruges af 1 jobfunktionsrolle" in message
        assert page.locator("#system-roles .system-role").count() == 3
