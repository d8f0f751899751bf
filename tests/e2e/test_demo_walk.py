"""The README's quick start, walked in headless Chromium against ``make demo``'s processes.

``demo.run.start`` (what ``make demo`` runs) starts the IdP (``stsctl serve``) and the
demo fagsystemer KY, KSD and SAPA on free ports in a temporary data directory. Then, as
a caseworker would: sign on to KY (password, TOTP enrolment), see KY's cases; open KSD
and sign on without a password (the SSO session); open SAPA (OpenID Connect, again no
password) and see its cases and the KY cases fetched on the user's behalf by token
exchange. Screenshots go to ``docs/screenshots/`` (the README shows them).

Uses Debian's Chromium (/usr/bin/chromium) through Playwright; nothing is downloaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from demo.run import Demo, start
from tests.e2e.browser import chromium_context, free_port

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def browser_context() -> Iterator[Any]:
    with chromium_context(timeout_ms=20_000, viewport={"width": 1000, "height": 700}) as context:
        yield context


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STS_", "DEMO_PASSWORD_"))}
    env.pop("SAPA_WEB_SECRET", None)
    # OWASP's argon2 minimum instead of the default 64 MiB: kinder to a shared test machine.
    env.update(
        STS_LOG_LEVEL="WARNING",
        STS_ARGON2_MEMORY_KIB="19456",
        STS_ARGON2_TIME_COST="2",
        STS_ARGON2_PARALLELISM="1",
    )
    ports = {name: free_port() for name in ("IdP", "KY", "KSD", "SAPA")}
    running = start(tmp_path / "var", ports, env)
    yield running
    running.stop()


def case_ids(page: Any, selector: str) -> set[str]:
    return {row.get_attribute("data-case") for row in page.locator(selector).all()}


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_readme_walk(browser_context: Any, demo: Demo) -> None:
    page = browser_context.new_page()
    idp = re.escape(demo.url("IdP"))
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))

    # 1. KY: sign on with password and (first time) TOTP enrolment.
    page.goto(demo.url("KY") + "/")
    page.locator("#login").click()
    page.wait_for_url(re.compile(idp + r"/login/"))
    page.get_by_label("Brugernavn").fill("peter")
    page.get_by_label("Adgangskode").fill(demo.users["peter"])
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(re.compile(r"/login/mfa/enrol"))
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Kode som appen viser nu").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Bekræft og aktivér").click()
    assert page.locator("#recovery-codes li").count() == 10
    page.locator("#continue").click()
    page.wait_for_url(demo.url("KY") + "/")
    assert page.locator("#user-name").inner_text() == "Peter Sygedagpenge"
    assert page.locator("#user-loa").inner_text() == "Substantial"
    # Læs sag in KY: KLE 27.* in Team Sygedagpenge only.
    assert case_ids(page, "#visible-cases tr.case") == {"KY-2026-0104"}
    assert "KY-2026-0105" in case_ids(page, "#hidden-cases tr.hidden-case")
    page.locator("#hidden-cases summary").click()
    shot(page, "demo-ky")

    # 2. KSD: single sign-on, no password page this time.
    visited.clear()
    page.locator("#nav-ksd").click()  # KSD's /login: an AuthnRequest the SSO session answers
    page.wait_for_url(demo.url("KSD") + "/")
    assert not [url for url in visited if "/login/password" in url or "/login/mfa" in url]
    assert [url for url in visited if "/saml/sso" in url]
    assert page.locator("#user-name").inner_text() == "Peter Sygedagpenge"
    # Borgerservice and below, KLE 27.*; and Nabo Kommune's case through its delegated role.
    assert case_ids(page, "#visible-cases tr.case") == {"KSD-4711", "KSD-4712", "KSD-9001"}
    assert page.locator("#privileges tr.privilege").count() == 3
    page.locator("#hidden-cases summary").click()
    shot(page, "demo-ksd")

    # 3. SAPA: OpenID Connect, the same session; KY's cases come by token exchange.
    visited.clear()
    page.locator("#nav-sapa").click()
    page.wait_for_url(demo.url("SAPA") + "/")
    assert not [url for url in visited if "/login/password" in url]
    assert [url for url in visited if "/oidc/authorize" in url]
    assert case_ids(page, "#visible-cases tr.case") == {"SAPA-01"}
    assert case_ids(page, "#ky-cases tr.ky-case") == {"KY-2026-0104"}
    assert "sapa-web" in page.locator("#ky-cases").inner_text()
    shot(page, "demo-sapa")
