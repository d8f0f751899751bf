"""The Administrationsmodul walked in headless Chromium against ``make demo``'s processes.

As the people would do it: Jonna (Jobfunktionsrolleadministrator) composes a role with a
KLE constraint; Bent (Brugeradministrator) assigns it to Lise with dates and a case
number; Lise signs on to KY and KY's token carries exactly that privilege. Lars
(Leverandøradministrator of SAPA) requests a serviceaftale and is offered no way to
approve it; Nanna (Godkender of Nabo Kommune) approves it, SAPA's ``client_credentials``
then succeeds at once; she revokes it and the next token request fails. Screenshots go
to ``docs/screenshots/admin-*.png`` (the README shows them).

Uses Debian's Chromium (/usr/bin/chromium) through Playwright; nothing is downloaded.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from demo.run import Demo, start
from tests.e2e.accessibility import serious_violations
from tests.e2e.browser import chromium_context, free_port

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DEMO = "29189846"
NABO = "29189862"
KY_UDBETAL = "http://ky.demo.test/roles/usersystemrole/udbetal/1"
KY_SERVICE_ROLE = "http://ky.demo.test/roles/servicesystemrole/laes_sager/1"
KLE = "http://sts.kombit.dk/constraints/KLE/1"
ROLE_ID = "http://demo.kommune.dk/roles/jobrole/udbetaler_unge/1"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STS_", "DEMO_PASSWORD_"))}
    env.pop("SAPA_WEB_SECRET", None)
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


@pytest.fixture
def context() -> Iterator[Any]:
    with chromium_context(timeout_ms=20_000, viewport={"width": 1100, "height": 800}) as made:
        yield made


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, demo: Demo, username: str, start_url: str) -> None:
    """Password, then (first time) enrol an authenticator; ends where ``start_url`` leads."""
    page.context.clear_cookies()
    page.goto(start_url)
    page.get_by_label("Brugernavn").fill(username)
    page.get_by_label("Adgangskode").fill(demo.users[username])
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(re.compile(r"/login/mfa/enrol"))
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Kode som appen viser nu").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Bekræft og aktivér").click()
    page.locator("#continue").click()


def accessible(page: Any) -> None:
    assert serious_violations(page) == [], page.url


def system_token_status(demo: Demo, cvr: str) -> int:
    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "resource": "https://ky.demo.test", "cvr": cvr}
    ).encode()
    credentials = base64.b64encode(f"sapa-web:{demo.env['SAPA_WEB_SECRET']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the demo IdP on loopback
        demo.url("IdP") + "/oidc/token",
        data=body,
        headers={"Authorization": f"Basic {credentials}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            json.load(response)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_roles_assignments_and_agreements_walked_as_the_people_would(
    context: Any, demo: Demo
) -> None:
    page = context.new_page()
    admin = demo.url("IdP") + "/admin/"

    # Jonna composes a role: KY's Udbetal with KLE 15.02 and a fixed sensitivity.
    sign_in(page, demo, "jonna", admin + f"kommuner/{DEMO}/jobfunktionsroller/ny")
    page.wait_for_url(re.compile(r"/jobfunktionsroller/ny"))
    accessible(page)
    page.locator("#name").fill("Udbetaler, Unge")
    page.get_by_label("Id (URI)").fill(ROLE_ID)
    page.locator("summary", has_text="Kommunernes Ydelsessystem").click()
    checkbox = page.locator(f"input[type=checkbox][value='{KY_UDBETAL}']")
    checkbox.check()
    prefix = checkbox.get_attribute("id")
    page.locator(f"#{prefix}-c-0-fixed").fill("15.02")
    page.locator(f"#{prefix}-c-1-fixed").fill("Normal")
    shot(page, "admin-jfr-compose")
    page.get_by_role("button", name="Gem").click()
    page.wait_for_url(re.compile(r"saved=1"))
    assert page.locator("#jfr-name").inner_text() == "Udbetaler, Unge"
    accessible(page)

    # Bent assigns it to Lise, dated and with a case number.
    today = dt.date.today()
    sign_in(page, demo, "bent", admin + f"kommuner/{DEMO}/brugere")
    page.wait_for_url(re.compile(r"/brugere"))
    page.get_by_label("Find en bruger").fill("lise")
    page.get_by_role("button", name="Søg").click()
    page.get_by_role("link", name="lise").click()
    page.get_by_role("link", name="Tildel jobfunktionsrolle").click()
    page.get_by_label("Jobfunktionsrolle").select_option(ROLE_ID)
    page.get_by_label("Gyldig fra").fill(today.isoformat())
    page.get_by_label("Gyldig til og med").fill((today + dt.timedelta(days=365)).isoformat())
    page.get_by_label("Sagsnummer").fill("26-000815")
    shot(page, "admin-assign")
    page.get_by_role("button", name="Tildel", exact=True).click()
    page.wait_for_url(re.compile(r"/brugere/lise\?saved=1"))
    assert "26-000815" in page.locator("#user-assignments").inner_text()
    accessible(page)

    # Lise signs on to KY: its token carries Udbetal with exactly KLE 15.02 and Normal.
    sign_in(page, demo, "lise", demo.url("KY") + "/login")
    page.wait_for_url(demo.url("KY") + "/")
    rows = [row.inner_text() for row in page.locator("#privileges tr.privilege").all()]
    udbetal = [row for row in rows if KY_UDBETAL in row]
    assert len(udbetal) == 1
    assert "15.02" in udbetal[0] and "Normal" in udbetal[0]
    assert "Fortrolig" not in udbetal[0] and "32." not in udbetal[0]
    shot(page, "admin-ky-token")

    # Lars, SAPA's supplier, asks for SAPA → KY on behalf of Nabo Kommune.
    sign_in(page, demo, "lars", admin + "serviceaftaler/ny")
    page.wait_for_url(re.compile(r"/serviceaftaler/ny"))
    page.get_by_label("Anvendersystem").select_option("SAPA")
    page.get_by_label("Service", exact=True).select_option("KY")  # the page shows KY's roles
    page.get_by_label(re.compile(r"Læs sager \(service\)")).check()
    page.get_by_label("Kommune").select_option(NABO)
    page.get_by_label("Kommentar").fill("SAPA skal vise Nabo Kommunes ydelsessager")
    page.get_by_role("button", name="Anmod om serviceaftale").click()
    page.wait_for_url(re.compile(r"anmodet=1"))
    aftale = page.url.split("/serviceaftaler/")[1].split("?")[0]
    assert page.locator("#agreement-status").get_attribute("data-status") == "requested"
    assert page.get_by_role("button", name="Godkend").count() == 0  # not his to approve
    assert system_token_status(demo, NABO) != 200

    # Nanna, Godkender of Nabo Kommune, sees it waiting and approves it.
    sign_in(page, demo, "nanna", admin)
    page.wait_for_url(admin)
    assert page.locator("#pending-count").inner_text() == "2"  # with the demo's own request
    shot(page, "admin-home")
    accessible(page)
    page.goto(admin + f"serviceaftaler/{aftale}")
    page.get_by_label("Kommentar").fill("Godkendt efter aftale med Lars")
    page.get_by_role("button", name="Godkend").click()
    assert page.locator("#agreement-status").get_attribute("data-status") == "approved"
    shot(page, "admin-agreement")
    assert system_token_status(demo, NABO) == 200

    page.get_by_label("Kommentar").fill("Projektet er slut")
    page.get_by_role("button", name="Tilbagekald").click()
    assert page.locator("#agreement-status").get_attribute("data-status") == "revoked"
    assert system_token_status(demo, NABO) != 200
