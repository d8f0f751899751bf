"""TOTP enrolment needs a one-time activation code by default (``STS_MFA_ENROLMENT``).

The code comes from ``stsctl mfa activation-code`` (run here with click's runner against
the same SQLite database as the app); the person enrols through the real login pages.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select

from cli import main as stsctl
from idp import mfa
from idp.mfa import has_totp
from settings import Settings, load_settings
from store.models import AuditEvent, MfaActivationCode, User
from tests.login_kit import (
    FAST_ARGON2,
    Browser,
    FakeClock,
    add_user,
    database_of,
    login_of,
    make_app,
)

_CODE = re.compile(r"^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$")


class RealClock:
    """Session timestamps must be real time: ending access compares them with ``now``."""

    def __call__(self) -> float:
        return time.time()


def settings_for(tmp_path: Path, **extra: str) -> Settings:
    """The deployment's defaults (no STS_MFA_ENROLMENT), with the test fagsystem."""
    return load_settings(
        {
            "STS_DATA_DIR": str(tmp_path / "var"),
            "STS_DEMO_LOGIN_PAGE": "true",
            "STS_LOG_LEVEL": "WARNING",
            **FAST_ARGON2,
            **extra,
        }
    )


def build(tmp_path: Path, template: Path, clock: object, **extra: str) -> tuple[Flask, Settings]:
    settings = settings_for(tmp_path, **extra)
    app = make_app(settings, template)
    login_of(app).set_clock(clock)  # type: ignore[arg-type]
    add_user(database_of(app), settings)
    return app, settings


def cli(settings: Settings, *args: str) -> Result:
    env = {
        "STS_DATA_DIR": str(settings.data_dir),
        "STS_LOG_LEVEL": "WARNING",
        "STS_MFA_ACTIVATION_CODE_HOURS": str(settings.mfa_activation_code_hours),
    }
    return CliRunner().invoke(stsctl, list(args), env=env, catch_exceptions=False)


def issue(settings: Settings, *extra: str) -> str:
    result = cli(settings, "mfa", "activation-code", "anne", *extra)
    assert result.exit_code == 0, result.output
    code = result.stdout.strip().splitlines()[0]
    assert _CODE.match(code), result.stdout
    return code


def at_enrolment(app: Flask) -> Browser:
    browser = Browser(app.test_client())
    browser.start("Substantial")
    browser.login()
    assert "/login/mfa/enrol" in browser.page_url()
    return browser


def enrol_with(browser: Browser, clock: object, activation: str | None) -> None:
    """Fill the enrolment form: the app's code for the shown secret, and the activation code."""
    import pyotp

    match = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', browser.text())
    assert match, "enrolment page shows no secret"
    secret = match.group(1).replace(" ", "")
    browser.secrets["totp"] = secret
    fields = {"code": pyotp.TOTP(secret).at(clock())}  # type: ignore[operator]
    if activation is not None:
        fields["activation_code"] = activation
    browser.submit(**fields)


def user_id(app: Flask) -> str:
    with database_of(app).session() as session:
        found = session.scalar(select(User.id).where(User.username == "anne"))
    assert found is not None
    return found


def events(app: Flask, action: str) -> list[AuditEvent]:
    with database_of(app).session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_activation_code_is_the_default(tmp_path: Path) -> None:
    assert settings_for(tmp_path).mfa_enrolment == "activation_code"


def test_enrolment_without_an_activation_code_is_refused(
    tmp_path: Path, sqlite_template: Path, clock: FakeClock
) -> None:
    app, _ = build(tmp_path, sqlite_template, clock)
    browser = at_enrolment(app)
    assert 'name="activation_code"' in browser.text()
    enrol_with(browser, clock, activation=None)
    assert "/login/mfa/enrol" in browser.page_url()
    assert 'id="activation-error"' in browser.text()
    assert "Skriv aktiveringskoden" in browser.text()
    enrol_with(browser, clock, activation="ABCD-EFGH-JKLM-NPQR")  # never issued
    assert "Aktiveringskoden passer ikke" in browser.text()
    with database_of(app).session() as session:
        assert not has_totp(session, user_id(app))
    refused = events(app, "mfa.activation_code.use")
    assert [(e.outcome, e.details["reason"]) for e in refused] == [("failure", "wrong_code")]
    assert events(app, "mfa.totp.enrol") == []


def test_an_activation_code_enrols_once_and_is_audited(
    tmp_path: Path, sqlite_template: Path, clock: FakeClock
) -> None:
    app, settings = build(tmp_path, sqlite_template, clock)
    code = issue(settings)
    browser = at_enrolment(app)
    enrol_with(browser, clock, activation=code.lower().replace("-", " "))  # as typed by hand
    codes = re.findall(r"<li><code>([A-Z0-9-]{19})</code></li>", browser.text())
    assert len(codes) == 10
    uid = user_id(app)
    with database_of(app).session() as session:
        assert has_totp(session, uid)
        stored = session.scalars(select(MfaActivationCode)).one()
        assert stored.used_at is not None
        assert code not in stored.code_hash and len(stored.code_hash) == 64  # hashed
    issued = events(app, "mfa.activation_code.issue")
    assert [(e.actor, e.object_id, e.cvr) for e in issued] == [("stsctl", uid, "29189765")]
    used = events(app, "mfa.activation_code.use")
    assert [(e.actor, e.outcome) for e in used] == [("anne", "success")]
    assert len(events(app, "mfa.totp.enrol")) == 1

    # Lost phone without a new code: the spent code does not enrol again.
    with database_of(app).session() as session:
        mfa.reset_totp(session, uid, "test")
    again = at_enrolment(app)
    enrol_with(again, clock, activation=code)
    assert "Aktiveringskoden er allerede brugt" in again.text()
    with database_of(app).session() as session:
        assert not has_totp(session, uid)
    assert [e.details["reason"] for e in events(app, "mfa.activation_code.use")] == [
        "accepted",
        "used",
    ]


def test_an_expired_activation_code_is_refused(
    tmp_path: Path, sqlite_template: Path, clock: FakeClock
) -> None:
    app, settings = build(tmp_path, sqlite_template, clock, STS_MFA_ACTIVATION_CODE_HOURS="0.0001")
    code = issue(settings)  # valid for 0.36 s
    browser = at_enrolment(app)
    time.sleep(0.5)
    enrol_with(browser, clock, activation=code)
    assert "Aktiveringskoden er udløbet" in browser.text()
    with database_of(app).session() as session:
        assert not has_totp(session, user_id(app))
    assert [e.details["reason"] for e in events(app, "mfa.activation_code.use")] == ["expired"]


def test_a_new_code_withdraws_the_unused_older_one(
    tmp_path: Path, sqlite_template: Path, clock: FakeClock
) -> None:
    app, settings = build(tmp_path, sqlite_template, clock)
    old, new = issue(settings), issue(settings)
    browser = at_enrolment(app)
    enrol_with(browser, clock, activation=old)
    assert "Aktiveringskoden passer ikke" in browser.text()
    enrol_with(browser, clock, activation=new)
    assert re.findall(r"<li><code>([A-Z0-9-]{19})</code></li>", browser.text())


def test_reset_ends_the_sessions_and_issues_a_code_that_enrols(
    tmp_path: Path, sqlite_template: Path
) -> None:
    clock = RealClock()
    app, settings = build(tmp_path, sqlite_template, clock)
    browser = at_enrolment(app)
    enrol_with(browser, clock, activation=issue(settings))
    browser.finish()
    assert browser.result()["loa"] == "Substantial"
    browser.start("Low")
    assert browser.result()["username"] == "anne"  # the SSO session answers

    result = cli(settings, "mfa", "activation-code", "anne", "--cvr", "29189765", "--reset")
    assert result.exit_code == 0, result.output
    new_code = result.stdout.strip().splitlines()[0]
    ended_at = time.monotonic()
    while True:  # the server (no Redis) reads the change marker within a second
        browser.start("Low")
        if "/login/password" in browser.page_url():
            break
        assert time.monotonic() - ended_at < 1.0, "the session outlived the reset by 1 s"
        time.sleep(0.05)
    uid = user_id(app)
    with database_of(app).session() as session:
        assert not has_totp(session, uid)
    reset = events(app, "mfa.totp.reset")
    assert [(e.actor, e.object_id, e.details["had_totp"]) for e in reset] == [("stsctl", uid, True)]
    assert len(events(app, "mfa.activation_code.issue")) == 2

    fresh = at_enrolment(app)
    enrol_with(fresh, clock, activation=new_code)
    with database_of(app).session() as session:
        assert has_totp(session, uid)


def test_password_mode_enrols_without_a_code(
    tmp_path: Path, sqlite_template: Path, clock: FakeClock
) -> None:
    app, _ = build(tmp_path, sqlite_template, clock, STS_MFA_ENROLMENT="password")
    browser = at_enrolment(app)
    assert 'name="activation_code"' not in browser.text()
    enrol_with(browser, clock, activation=None)
    with database_of(app).session() as session:
        assert has_totp(session, user_id(app))


def test_the_command_refuses_an_unknown_user(tmp_path: Path, sqlite_template: Path) -> None:
    _, settings = build(tmp_path, sqlite_template, FakeClock())
    result = cli(settings, "mfa", "activation-code", "nobody")
    assert result.exit_code == 1
    assert "no user 'nobody'" in result.output
