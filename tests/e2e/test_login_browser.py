"""Headless Chromium: enrol TOTP, log in with it, and come back through a cross-site POST.

Uses Debian's Chromium (/usr/bin/chromium) through Playwright; nothing is downloaded.
"""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from werkzeug.serving import make_server

from tests.e2e.browser import chromium_context, free_port
from tests.login_kit import PASSWORD, add_user, database_of, login_settings, make_app


@pytest.fixture
def idp_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = login_settings(tmp_path, STS_BASE_URL=base)
    app = make_app(settings, sqlite_template)
    add_user(database_of(app), settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def other_site(idp_url: str) -> Iterator[str]:
    """A "fagsystem" on another site (localhost, not 127.0.0.1) that POSTs to the IdP."""
    page = (
        "<!doctype html><title>SP</title>"
        f'<form method="post" action="{idp_url}/login/test">'
        '<input type="hidden" name="loa" value="Low">'
        '<input type="hidden" name="fagsystem" value="ksd">'
        '<button id="go" type="submit">Go</button></form>'
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_context(timeout_ms=15_000) as context:
        yield context.new_page()


def result(page: Any) -> dict[str, str]:
    return {
        key: page.locator(f"#result-{key}").inner_text()
        for key in ("username", "loa", "methods", "session")
    }


def test_enrol_totp_then_log_in_with_it(page: Any, idp_url: str, other_site: str) -> None:
    page.goto(f"{idp_url}/login/test?loa=Substantial")
    page.get_by_label("Brugernavn").fill("anne")
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()

    page.wait_for_url(re.compile(r"/login/mfa/enrol"))
    assert page.locator("svg.qr").count() == 1
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Kode som appen viser nu").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Bekræft og aktivér").click()
    assert page.locator("#recovery-codes li").count() == 10
    page.locator("#continue").click()
    page.wait_for_url(re.compile(r"/login/resume"))
    assert result(page)["loa"] == "Substantial"

    cookie = next(c for c in page.context.cookies() if c["name"] == "sts_sso")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]

    page.goto(f"{idp_url}/login/logout")
    page.get_by_role("button", name="Log ud").click()
    assert "Du er logget ud" in page.content()

    page.goto(f"{idp_url}/login/test?loa=Substantial")
    page.get_by_label("Brugernavn").fill("anne")
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(re.compile(r"/login/second-factor"))
    # The enrolment used this time step's code; the next step's is within the drift window.
    page.get_by_label("Kode fra appen eller en gendannelseskode").fill(
        pyotp.TOTP(secret).at(time.time() + 30)
    )
    page.get_by_role("button", name="Bekræft").click()
    page.wait_for_url(re.compile(r"/login/resume"))
    logged_in = result(page)
    assert logged_in["loa"] == "Substantial" and logged_in["methods"] == "otp pwd"

    # A fagsystem on another site posts to us (as the SAML POST binding does): Chromium
    # withholds the Lax cookie on that POST, sends it on the 303's GET, and SSO holds.
    page.goto(other_site)
    page.locator("#go").click()
    page.wait_for_url(re.compile(r"/login/resume"))
    again = result(page)
    assert again["session"] == logged_in["session"]
    assert again["username"] == "anne"
