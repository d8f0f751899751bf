"""No user enumeration through AD, against the real Samba AD DC (issue 15).

An unknown name, a wrong password, a disabled and a locked account get the same page,
byte for byte once the per-request values are masked (CSRF token, flow id, and the
name the person typed, which the page repeats), and the login does the same work on the
way: one service-account search, one bind (a dummy bind for everyone but a known,
usable account), one dummy argon2 check in the local directory behind AD. The timing
itself is measured in ``bench/ad_login_enumeration.py`` (p50 within 10 %).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app, initialise, setup_keys, setup_store
from connectors.base import AuthenticationFailed
from connectors.chain import ChainDirectory
from connectors.ldap import LdapDirectory
from idp.i18n import MESSAGES
from settings import Settings, load_settings
from store.models import AuditEvent
from tests.integration.conftest import ldap_environment
from tests.integration.samba import OU_JOBCENTER, SambaDC, Seed, make_password
from tests.login_kit import FAST_ARGON2, Browser, login_of

GENERIC = MESSAGES["da"]["password.wrong"]
_MASKS = [
    (re.compile(r'name="csrf_token" value="[^"]+"'), 'name="csrf_token" value="CSRF"'),
    (re.compile(r"flow=[A-Za-z0-9_-]{32}"), "flow=FLOW"),
    (re.compile(r'nonce="[^"]+"'), 'nonce="NONCE"'),
]


@pytest.fixture(scope="module")
def wrong_password_user(samba_dc: SambaDC) -> str:
    """An enabled account of this module's own, so its bad passwords lock nobody else's."""
    sam = f"enum.{secrets.token_hex(3)}"
    admin = samba_dc.admin()
    try:
        ok = admin.add(
            f"CN={sam},{OU_JOBCENTER}",
            ["top", "person", "organizationalPerson", "user"],
            {
                "sAMAccountName": sam,
                "unicodePwd": f'"{make_password()}"'.encode("utf-16-le"),
                "userAccountControl": "512",
            },
        )
        assert ok, admin.result
    finally:
        admin.unbind()
    return sam


@pytest.fixture(scope="module")
def settings(
    samba_dc: SambaDC, samba_seed: Seed, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    root = tmp_path_factory.mktemp("ad-enumeration")
    env = ldap_environment(
        samba_dc,
        samba_seed,
        STS_DATA_DIR=str(root / "var"),
        STS_DEMO_LOGIN_PAGE="true",
        STS_LOG_LEVEL="WARNING",
        **FAST_ARGON2,
    )
    loaded = load_settings(env)
    initialise(loaded, setup_store(loaded), setup_keys(loaded))
    return loaded


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    for member in chain_of(application).directories:
        close = getattr(member, "close", None)
        if close is not None:
            close()
    application.extensions["sts"].database.dispose()


def chain_of(app: Flask) -> ChainDirectory:
    directory = login_of(app).directory
    assert isinstance(directory, ChainDirectory)
    return directory


def masked(page: str, typed: str) -> str:
    for pattern, replacement in _MASKS:
        page = pattern.sub(replacement, page)
    # The page repeats the typed name in the form (escaped as HTML would).
    return page.replace(f'value="{typed}"', 'value="TYPED"')


def refusal_page(app: Flask, username: str, password: str) -> tuple[int, str, str]:
    browser = Browser(app.test_client())
    browser.start()
    answer = browser.submit(username=username, password=password)
    return answer.status_code, answer.headers["Content-Type"], answer.get_data(as_text=True)


def test_unknown_wrong_disabled_and_locked_get_the_same_page(
    app: Flask, samba_seed: Seed, wrong_password_user: str
) -> None:
    attempts = {
        "unknown_user": ("ingen.saadan.her", samba_seed.password),
        "bad_password": (wrong_password_user, "Not-the-password-1"),
        "disabled": (samba_seed.users["disabled"].sam, samba_seed.password),
        "locked": (samba_seed.users["locked"].sam, samba_seed.password),
    }
    pages: dict[str, tuple[int, str, str]] = {}
    for reason, (username, password) in attempts.items():
        status, content_type, body = refusal_page(app, username, password)
        assert GENERIC in body
        pages[reason] = (status, content_type, masked(body, username))
    first = pages["unknown_user"]
    assert first[0] == 200
    for reason, answer in pages.items():
        assert answer == first, reason  # byte-identical apart from the masked values
    # Four different paths were taken (the precise reason is in the audit trail only).
    with app.extensions["sts"].database.session() as db:
        reasons = [
            e.details["reason"]
            for e in db.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "login.password")
                .order_by(AuditEvent.id.desc())
                .limit(4)
            )
        ]
    assert sorted(reasons) == sorted(attempts)


def _counting(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, calls: list[str], label: str
) -> None:
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(label)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


@pytest.mark.parametrize("case", ["unknown_user", "bad_password", "disabled", "locked", "expired"])
def test_every_refusal_does_the_same_work(
    app: Flask,
    samba_seed: Seed,
    wrong_password_user: str,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    """One service search, one bind (never as a refused account), one dummy argon2."""
    chain = chain_of(app)
    ad, local = chain.directories
    assert isinstance(ad, LdapDirectory)
    username = {
        "unknown_user": "ingen.saadan.her",
        "bad_password": wrong_password_user,
        "disabled": samba_seed.users["disabled"].sam,
        "locked": samba_seed.users["locked"].sam,
        "expired": samba_seed.users["expired"].sam,
    }[case]
    password = "Not-the-password-1" if case == "bad_password" else samba_seed.password
    ad.authenticate("bench00", samba_seed.password)  # warm pools: connects are not work
    calls: list[str] = []
    binds: list[str] = []
    _counting(monkeypatch, ad.search_pool, "run", calls, "search")
    _counting(monkeypatch, ad.auth_pool, "run", calls, "bind")
    _counting(monkeypatch, local.hashing, "dummy_verify", calls, "argon2")  # type: ignore[attr-defined]
    real_verify = ad.verify_password

    def verify(dn: str, secret: str, **kwargs: Any) -> None:
        binds.append(dn)
        real_verify(dn, secret, **kwargs)

    monkeypatch.setattr(ad, "verify_password", verify)
    with pytest.raises(AuthenticationFailed) as refused:
        chain.authenticate(username, password)
    assert refused.value.reason == case
    assert calls == ["search", "bind", "argon2"]
    if case == "bad_password":
        assert binds != [ad.dummy_dn]
    else:  # a refused or unknown account is never bound as
        assert binds == [ad.dummy_dn]
