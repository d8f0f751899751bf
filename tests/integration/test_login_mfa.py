"""TOTP and recovery codes against the database: replay refused, single use, reset audited."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from idp import mfa
from idp.mfa import SecretBox, TotpOutcome
from settings import Settings
from store.db import Database
from store.models import AuditEvent, RecoveryCode, TotpCredential
from tests.login_kit import add_user, login_settings

NOW = 1_800_000_000.0


@pytest.fixture
def config(tmp_path: Path) -> Settings:
    return login_settings(tmp_path)


@pytest.fixture
def box(tmp_path: Path) -> SecretBox:
    return SecretBox.from_file(tmp_path / "mfa_key")


@pytest.fixture
def enrolled(
    sqlite_database: Database, config: Settings, box: SecretBox
) -> tuple[str, str, list[str]]:
    user_id = add_user(sqlite_database, config)
    secret = mfa.new_secret()
    step = mfa.matching_step(secret, pyotp.TOTP(secret).at(NOW), NOW)
    assert step is not None
    with sqlite_database.session() as session:
        codes = mfa.enrol(session, user_id, secret, step, box, actor="anne")
    return user_id, secret, codes


def verify(database: Database, box: SecretBox, user_id: str, code: str, now: float) -> TotpOutcome:
    with database.session() as session:
        return mfa.verify_totp(session, user_id, code, box, now)


def test_the_confirmation_code_cannot_log_in_again(
    sqlite_database: Database, box: SecretBox, enrolled: tuple[str, str, list[str]]
) -> None:
    user_id, secret, _ = enrolled
    code = pyotp.TOTP(secret).at(NOW)
    assert verify(sqlite_database, box, user_id, code, NOW) is TotpOutcome.REPLAYED


def test_a_code_is_accepted_once_per_time_step(
    sqlite_database: Database, box: SecretBox, enrolled: tuple[str, str, list[str]]
) -> None:
    user_id, secret, _ = enrolled
    later = NOW + 60
    code = pyotp.TOTP(secret).at(later)
    assert verify(sqlite_database, box, user_id, code, later) is TotpOutcome.ACCEPTED
    assert verify(sqlite_database, box, user_id, code, later + 5) is TotpOutcome.REPLAYED
    previous_step = pyotp.TOTP(secret).at(later - 30)
    assert verify(sqlite_database, box, user_id, previous_step, later) is TotpOutcome.REPLAYED
    assert verify(sqlite_database, box, user_id, "000000", later + 30) in (
        TotpOutcome.WRONG_CODE,
        TotpOutcome.ACCEPTED,  # one in a million: the next code happens to be 000000
    )


def test_one_step_of_clock_drift_is_tolerated_two_are_not(
    sqlite_database: Database, box: SecretBox, enrolled: tuple[str, str, list[str]]
) -> None:
    user_id, secret, _ = enrolled
    at = NOW + 300
    assert verify(sqlite_database, box, user_id, pyotp.TOTP(secret).at(at - 60), at) is (
        TotpOutcome.WRONG_CODE
    )
    assert verify(sqlite_database, box, user_id, pyotp.TOTP(secret).at(at + 30), at) is (
        TotpOutcome.ACCEPTED
    )


def test_recovery_codes_work_once_each(
    sqlite_database: Database, enrolled: tuple[str, str, list[str]]
) -> None:
    user_id, _, codes = enrolled
    assert len(codes) == 10
    with sqlite_database.session() as session:
        assert mfa.use_recovery_code(session, user_id, codes[3].lower()) is TotpOutcome.ACCEPTED
        assert mfa.use_recovery_code(session, user_id, codes[3]) is TotpOutcome.REPLAYED
        assert mfa.use_recovery_code(session, user_id, "AAAA-BBBB-CCCC-DDDD") is (
            TotpOutcome.WRONG_CODE
        )
        assert mfa.remaining_recovery_codes(session, user_id) == 9


def test_secrets_and_codes_are_not_stored_in_the_clear(
    sqlite_database: Database, enrolled: tuple[str, str, list[str]]
) -> None:
    user_id, secret, codes = enrolled
    with sqlite_database.session() as session:
        stored = session.get(TotpCredential, user_id)
        hashes = list(session.scalars(select(RecoveryCode.code_hash)))
    assert stored is not None and secret not in stored.secret_encrypted
    assert not set(codes) & set(hashes)


def test_a_replaced_key_file_is_reported_not_silently_accepted(
    sqlite_database: Database, tmp_path: Path, enrolled: tuple[str, str, list[str]]
) -> None:
    user_id, secret, _ = enrolled
    other = SecretBox.from_file(tmp_path / "other_key")
    with pytest.raises(RuntimeError, match="MFA key file"):
        verify(sqlite_database, other, user_id, pyotp.TOTP(secret).at(NOW + 60), NOW + 60)


def test_reset_by_a_brugeradministrator_removes_everything_and_is_audited(
    sqlite_database: Database, box: SecretBox, enrolled: tuple[str, str, list[str]]
) -> None:
    user_id, secret, _ = enrolled
    with sqlite_database.session() as session:
        assert mfa.reset_totp(session, user_id, "admin:karen") is True
    with sqlite_database.session() as session:
        assert not mfa.has_totp(session, user_id)
        assert mfa.remaining_recovery_codes(session, user_id) == 0
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "mfa.totp.reset")
        ).one()
    assert event.actor == "admin:karen" and event.object_id == user_id
    code = pyotp.TOTP(secret).at(NOW + 90)
    assert verify(sqlite_database, box, user_id, code, NOW + 90) is TotpOutcome.NOT_ENROLLED


def test_the_key_file_is_created_private(tmp_path: Path) -> None:
    SecretBox.from_file(tmp_path / "k")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
