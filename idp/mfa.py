"""TOTP second factor (RFC 6238) with recovery codes, activation codes, and reset.

A code is accepted for the current 30-second step or one step either side (clock drift),
and only for a step later than the last accepted one, so a code cannot be used twice.
Secrets are encrypted with a key kept in the data directory (not in the database), so a
database dump or a catalogue export does not carry them. Recovery codes are 80 random
bits, stored as SHA-256, each usable once.

A first enrolment needs, besides the password, a one-time activation code that a
Brugeradministrator issues (``stsctl mfa activation-code``), unless the deployment says
otherwise (``STS_MFA_ENROLMENT=password``, for the demo): a stolen password alone must not
be enough to bind the thief's phone to the account. Activation codes are 80 random bits,
stored as SHA-256, single use, and expire; issuing and using one are audited.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from store import audit
from store.models import MfaActivationCode, RecoveryCode, TotpCredential, utcnow

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed by hand
_CODE = re.compile(r"^\d{6}$")


class TotpOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    WRONG_CODE = "wrong_code"
    REPLAYED = "replayed"  # right code, but its time step was already used
    NOT_ENROLLED = "not_enrolled"


class SecretBox:
    """Encrypts TOTP secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """Read the key, or create it once with mode 0600."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another worker created it first
            else:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "a TOTP secret cannot be decrypted: the MFA key file was replaced; "
                "restore it or reset the person's TOTP"
            ) from exc


def new_secret() -> str:
    """160 random bits, base32, as authenticator apps expect."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str, title: str) -> str:
    """The QR code as inline SVG: rendered here, no external service, no inline style."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title=title, svgclass="qr"))


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it in by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (now or one either side) whose code equals ``code``, else None."""
    code = code.strip().replace(" ", "")
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def has_totp(session: Session, user_id: str) -> bool:
    return session.get(TotpCredential, user_id) is not None


def enrol(
    session: Session,
    user_id: str,
    secret: str,
    confirmed_step: int,
    box: SecretBox,
    *,
    actor: str,
    request_id: str | None = None,
) -> list[str]:
    """Store a confirmed TOTP secret and ten new recovery codes; return the codes (shown once).

    ``confirmed_step`` is the step of the code that confirmed the enrolment; it counts as
    used, so that code cannot log in a second time.
    """
    session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.add(
        TotpCredential(
            user_id=user_id, secret_encrypted=box.encrypt(secret), last_step=confirmed_step
        )
    )
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(RecoveryCode(user_id=user_id, code_hash=_code_hash(user_id, c)) for c in codes)
    audit.record(
        session,
        actor=actor,
        action="mfa.totp.enrol",
        object_type="user",
        object_id=user_id,
        request_id=request_id,
        details={"recovery_codes": len(codes)},
    )
    return codes


def verify_totp(
    session: Session, user_id: str, code: str, box: SecretBox, now: float
) -> TotpOutcome:
    """Check a code and, when right, mark its step used (atomically: one winner per step)."""
    credential = session.get(TotpCredential, user_id)
    if credential is None:
        return TotpOutcome.NOT_ENROLLED
    step = matching_step(box.decrypt(credential.secret_encrypted), code, now)
    if step is None:
        return TotpOutcome.WRONG_CODE
    claimed = session.execute(
        update(TotpCredential)
        .where(TotpCredential.user_id == user_id)
        .where((TotpCredential.last_step.is_(None)) | (TotpCredential.last_step < step))
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.expire(credential)
    return TotpOutcome.ACCEPTED if _rowcount(claimed) == 1 else TotpOutcome.REPLAYED


def use_recovery_code(session: Session, user_id: str, code: str) -> TotpOutcome:
    """Spend a recovery code; a code already used is :attr:`TotpOutcome.REPLAYED`."""
    digest = _code_hash(user_id, code)
    spent = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.code_hash == digest)
        .where(RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if _rowcount(spent) == 1:
        return TotpOutcome.ACCEPTED
    known = session.scalar(
        select(func.count()).where(
            RecoveryCode.user_id == user_id, RecoveryCode.code_hash == digest
        )
    )
    return TotpOutcome.REPLAYED if known else TotpOutcome.WRONG_CODE


def remaining_recovery_codes(session: Session, user_id: str) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def reset_totp(
    session: Session, user_id: str, actor: str, *, request_id: str | None = None
) -> bool:
    """Remove a person's TOTP and recovery codes (lost phone); audited. True if there was one.

    The person enrols again at their next login that needs Substantial. The caller should
    also end the person's SSO sessions (``SessionStore.end_all``).
    """
    removed = session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    had_totp = _rowcount(removed) > 0
    audit.record(
        session,
        actor=actor,
        action="mfa.totp.reset",
        object_type="user",
        object_id=user_id,
        request_id=request_id,
        details={"had_totp": had_totp},
    )
    return had_totp


class ActivationOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    MISSING = "missing"
    WRONG_CODE = "wrong_code"
    USED = "used"
    EXPIRED = "expired"


def issue_activation_code(
    session: Session,
    user_id: str,
    *,
    actor: str,
    lifetime: dt.timedelta,
    cvr: str | None = None,
    request_id: str | None = None,
) -> tuple[str, dt.datetime]:
    """A new activation code for the user (shown once) and when it expires; audited.

    Codes issued earlier and not used are withdrawn: only the newest one works.
    """
    session.execute(
        delete(MfaActivationCode).where(
            MfaActivationCode.user_id == user_id, MfaActivationCode.used_at.is_(None)
        )
    )
    code = _new_recovery_code()
    now = utcnow()
    expires = now + lifetime
    session.add(
        MfaActivationCode(
            user_id=user_id,
            code_hash=_activation_hash(user_id, code),
            issued_by=actor,
            issued_at=now,
            expires_at=expires,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="mfa.activation_code.issue",
        object_type="user",
        object_id=user_id,
        cvr=cvr,
        request_id=request_id,
        details={"expires_at": expires.isoformat()},
    )
    return code, expires


def use_activation_code(
    session: Session,
    user_id: str,
    code: str,
    *,
    actor: str,
    cvr: str | None = None,
    request_id: str | None = None,
) -> ActivationOutcome:
    """Spend the user's activation code (atomically: once); audited either way."""
    now = utcnow()
    outcome = ActivationOutcome.MISSING
    if _normalise(code):
        digest = _activation_hash(user_id, code)
        spent = session.execute(
            update(MfaActivationCode)
            .where(MfaActivationCode.user_id == user_id, MfaActivationCode.code_hash == digest)
            .where(MfaActivationCode.used_at.is_(None), MfaActivationCode.expires_at > now)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(spent) == 1:
            outcome = ActivationOutcome.ACCEPTED
        else:
            found = session.execute(
                select(MfaActivationCode.used_at).where(
                    MfaActivationCode.user_id == user_id, MfaActivationCode.code_hash == digest
                )
            ).first()
            if found is None:
                outcome = ActivationOutcome.WRONG_CODE
            else:
                outcome = (
                    ActivationOutcome.USED
                    if found.used_at is not None
                    else ActivationOutcome.EXPIRED
                )
    accepted = outcome is ActivationOutcome.ACCEPTED
    audit.record(
        session,
        actor=actor,
        action="mfa.activation_code.use",
        object_type="user",
        object_id=user_id,
        cvr=cvr,
        outcome="success" if accepted else "failure",
        request_id=request_id,
        details={"reason": outcome.value},
    )
    return outcome


def is_recovery_code_shape(code: str) -> bool:
    return not _CODE.match(code.strip().replace(" ", "")) and len(_normalise(code)) == 16


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


def _activation_hash(user_id: str, code: str) -> str:
    return hashlib.sha256(f"activation:{user_id}:{_normalise(code)}".encode()).hexdigest()


def _code_hash(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{_normalise(code)}".encode()).hexdigest()


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))
