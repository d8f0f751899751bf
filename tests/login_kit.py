"""Helpers for the login tests: an app with the test fagsystem, users, a browser-ish client."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from connectors.local import PasswordHashing
from idp.login.services import LOGIN_EXTENSION, LoginServices, build_login_services
from settings import Settings, load_settings
from store.db import Database
from store.ephemeral import EphemeralState
from store.models import Municipality, User

CVR = "29189765"
PASSWORD = "korrekt hest batteri hæfteklamme"
FAST_ARGON2 = {  # OWASP's minimum (m=19 MiB, t=2, p=1): fast enough for tests
    "STS_ARGON2_MEMORY_KIB": "19456",
    "STS_ARGON2_TIME_COST": "2",
    "STS_ARGON2_PARALLELISM": "1",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<')


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def login_settings(tmp_path: Path, **extra: str) -> Settings:
    env = {
        "STS_DATA_DIR": str(tmp_path / "var"),
        "STS_DEMO_LOGIN_PAGE": "true",
        "STS_LOG_LEVEL": "WARNING",
        # Enrolment with an activation code (the default) is tested on its own
        # (test_mfa_activation.py); the other login tests enrol with the password.
        "STS_MFA_ENROLMENT": "password",
        **FAST_ARGON2,
        **extra,
    }
    return load_settings(env)


def make_app(settings: Settings, template: Path, state: EphemeralState | None = None) -> Flask:
    """The real app on a copy of the migrated SQLite template, optionally on ``state``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, settings.data_dir / "sts.db")
    app = create_app(settings)
    app.config["TESTING"] = True
    if state is not None:
        core = app.extensions["sts"]
        core.state = state
        app.extensions[LOGIN_EXTENSION] = build_login_services(core)
    return app


def login_of(app: Flask) -> LoginServices:
    services: LoginServices = app.extensions[LOGIN_EXTENSION]
    return services


def hashing(settings: Settings) -> PasswordHashing:
    return PasswordHashing(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def add_user(
    database: Database,
    settings: Settings,
    username: str = "anne",
    password: str = PASSWORD,
    **values: Any,
) -> str:
    with database.session() as session:
        if session.get(Municipality, CVR) is None:
            session.add(Municipality(cvr=CVR, name="Testkommune", domain="test.dk"))
            session.flush()
        user = User(
            cvr=CVR,
            username=username,
            name=username.title(),
            password_hash=hashing(settings).hash(password),
            **values,
        )
        session.add(user)
        session.flush()
        return user.id


def database_of(app: Flask) -> Database:
    database: Database = app.extensions["sts"].database
    return database


def csrf_of(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "page has no CSRF token"
    return match.group(1)


def flow_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["flow"][0]


@dataclass
class Browser:
    """Drives the login pages like a person would, following our own redirects."""

    client: FlaskClient
    last: TestResponse | None = None
    secrets: dict[str, str] = field(default_factory=dict)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        self.last = self.client.get(url, follow_redirects=True, **kwargs)
        return self.last

    def post(self, url: str, data: dict[str, str], **kwargs: Any) -> TestResponse:
        self.last = self.client.post(url, data=data, follow_redirects=True, **kwargs)
        return self.last

    def page_url(self) -> str:
        assert self.last is not None
        return str(self.last.request.url)

    def submit(self, **fields: str) -> TestResponse:
        """Post the form of the current page (its action is the page's own URL)."""
        assert self.last is not None
        url = self.page_url()
        return self.post(url, {"csrf_token": csrf_of(self.last), **fields})

    def start(self, loa: str = "Low", **params: str) -> TestResponse:
        query = "&".join(f"{k}={v}" for k, v in {"loa": loa, **params}.items())
        return self.get(f"/login/test?{query}")

    def finish(self) -> TestResponse:
        """Follow the continue page (a meta refresh in a real browser)."""
        assert self.last is not None
        match = re.search(r'href="(/login/resume\?flow=[^"]+)"', self.last.get_data(as_text=True))
        assert match, self.last.get_data(as_text=True)
        return self.get(match.group(1).replace("&amp;", "&"))

    def login(self, username: str = "anne", password: str = PASSWORD) -> TestResponse:
        self.submit(username=username, password=password)
        return self.last  # type: ignore[return-value]

    def enrol(self, clock: FakeClock) -> list[str]:
        """On the enrolment page: read the secret, confirm with a code; return the codes."""
        assert self.last is not None
        match = _SECRET.search(self.last.get_data(as_text=True))
        assert match, "enrolment page shows no secret"
        secret = match.group(1).replace(" ", "")
        self.secrets["totp"] = secret
        self.submit(code=pyotp.TOTP(secret).at(clock()))
        return re.findall(r"<li><code>([A-Z0-9-]{19})</code></li>", self.text())

    def totp(self, clock: FakeClock) -> str:
        return pyotp.TOTP(self.secrets["totp"]).at(clock())

    def text(self) -> str:
        assert self.last is not None
        return self.last.get_data(as_text=True)

    def cookie(self, name: str = "sts_sso") -> str | None:
        found = self.client.get_cookie(name)
        return None if found is None else found.value

    def result(self) -> dict[str, str]:
        """The test fagsystem's result page as a dict (empty if it shows no result)."""
        pairs = re.findall(r'<dd id="result-([a-z]+)">([^<]*)</dd>', self.text())
        return dict(pairs)
