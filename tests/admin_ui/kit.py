"""A world for the admin UI tests: tests/admin_kit.py's catalogue plus people who sign in.

Each person has a password and an enrolled authenticator (TOTP secret known to the test)
and holds administrative roles in municipality A (29189846) unless noted:

- ``jens`` Jobfunktionsrolleadministrator, ``birgit`` Brugeradministrator,
  ``gorm`` Godkender, ``alma`` Administrator, ``ole`` operator;
- ``lars`` Leverandøradministrator of SAPA *and* Godkender of A (so four-eyes, not a
  missing role, is what stops him approving his own request);
- ``bo`` Administrator of B (11111111); ``karen`` holds no role.

``sign_in`` goes through the IdP's real login pages (password, then TOTP) with a test
clock, as a browser without JavaScript would.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
from flask import Flask
from werkzeug.test import TestResponse

from app import create_app, initialise, setup_keys, setup_store
from idp import mfa
from idp.login.services import LOGIN_EXTENSION, LoginServices
from settings import Settings
from store.catalogue import import_catalogue
from store.db import Database
from store.models import AdminRoleAssignment, User
from tests.admin_kit import A, B, seed, settings_for
from tests.login_kit import PASSWORD, Browser, FakeClock, csrf_of, hashing

ROLES: dict[str, list[tuple[str, str | None]]] = {
    "jens": [("jobfunktionsrolleadministrator", A)],
    "birgit": [("brugeradministrator", A)],
    "gorm": [("godkender", A)],
    "alma": [("administrator", A)],
    "ole": [("operator", None)],
    "lars": [("leverandoeradministrator", "fagsystem:SAPA"), ("godkender", A)],
    "bo": [("administrator", B)],
    "karen": [],
}
HOME = {"bo": B}
SECRETS = {name: pyotp.random_base32() for name in ROLES}
_NEW_USERS = ("jens", "birgit", "gorm", "alma", "ole", "lars")


def build_template(data_dir: Path) -> None:
    settings = settings_for(data_dir)
    database = setup_store(settings)
    initialise(settings, database, setup_keys(settings))
    seed(database)
    people = [{"username": name, "cvr": A, "name": name.title() + " Admin"} for name in _NEW_USERS]
    import_catalogue(database, {"version": 1, "users": people}, actor="test-setup")
    box = mfa.SecretBox.from_file(data_dir / "mfa_key")
    password_hash = hashing(settings).hash(PASSWORD)
    with database.session() as session:
        for name, held in ROLES.items():
            user = session.query(User).filter_by(username=name, cvr=HOME.get(name, A)).one()
            user.password_hash = password_hash
            mfa.enrol(session, user.id, SECRETS[name], 0, box, actor="test-setup")
            for role, scope in held:
                fagsystem = scope.removeprefix("fagsystem:") if scope and ":" in scope else None
                cvr = scope if scope and fagsystem is None else None
                session.add(
                    AdminRoleAssignment(
                        user_id=user.id,
                        role=role,
                        cvr=cvr,
                        fagsystem_id=fagsystem,
                        holder=f"user:{user.id}",
                        scope=scope or "*",
                        granted_by="test-setup",
                    )
                )
    database.dispose()


@dataclass
class UiWorld:
    app: Flask
    settings: Settings
    clock: FakeClock = field(default_factory=FakeClock)

    @property
    def database(self) -> Database:
        database: Database = self.app.extensions["sts"].database
        return database

    @property
    def login(self) -> LoginServices:
        services: LoginServices = self.app.extensions[LOGIN_EXTENSION]
        return services

    def browser(self, *, https: bool = False) -> Browser:
        client = self.app.test_client()
        if https:
            client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
        return Browser(client)

    def sign_in(self, username: str, browser: Browser | None = None) -> Browser:
        """Password, then the authenticator's code; ends on the admin UI's front page."""
        browser = browser or self.browser()
        browser.get("/admin/")
        assert "/login/password" in browser.page_url(), browser.page_url()
        browser.login(username, PASSWORD)
        self.second_factor(browser, username)
        return browser

    def second_factor(self, browser: Browser, username: str) -> TestResponse:
        assert "/login/second-factor" in browser.page_url(), browser.page_url()
        self.clock.advance(30)  # a fresh time step: a code is accepted once
        browser.submit(code=pyotp.TOTP(SECRETS[username]).at(self.clock()))
        return browser.finish()

    def post(self, browser: Browser, url: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
        """Post a form of the admin UI with this browser's form token."""
        token = csrf_of(browser.client.get("/admin/"))
        return browser.post(url, {"csrf_token": token, **data}, **kwargs)


def make_world(template: Path, data_dir: Path, **extra: str) -> UiWorld:
    shutil.copytree(template, data_dir)
    settings = settings_for(data_dir, **extra)
    app = create_app(settings)
    app.config["TESTING"] = True
    world = UiWorld(app, settings)
    world.login.set_clock(world.clock)
    return world


def field_error(response: TestResponse, field_id: str) -> str:
    """The text of the field-level message of ``field_id`` ('' if there is none)."""
    match = re.search(
        rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>',
        response.get_data(as_text=True),
    )
    return html.unescape(match.group(1)) if match else ""
