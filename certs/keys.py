"""Signing keys: generation, the next → active → retired lifecycle, and private-key files.

There is always one *active* key per key type (used to sign) and one *next* key (already
published in metadata and JWKS, so verifiers know it before it is used). Rotation
retires the active key, promotes next, and creates a new next. Retired keys stay
published for ``STS_KEY_RETIRED_DAYS`` so tokens they signed still verify until expiry.

Metadata lives in the database; private keys are PEM files with mode 0600 in
``<data dir>/keys``, never in the database and never in git.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from store import audit
from store.models import SigningKey, utcnow

KEY_TYPES = ("RSA", "EC")
DEFAULT_ALG = {"RSA": "RS256", "EC": "ES256"}
CERT_VALIDITY = dt.timedelta(days=3 * 365)


class KeyFileError(RuntimeError):
    """A key file is missing or unreadable; the message names the file and the remedy."""


@dataclass(frozen=True)
class LoadedKey:
    """A key ready to sign with: metadata plus the private key and certificate objects."""

    kid: str
    kty: str
    alg: str
    state: str
    private_key: PrivateKeyTypes
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def generate_private_key(kty: str, rsa_bits: int = 2048) -> PrivateKeyTypes:
    if kty == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if kty == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported key type {kty!r}; use RSA or EC")


def self_signed_certificate(
    private_key: PrivateKeyTypes, common_name: str, *, valid_for: dt.timedelta = CERT_VALIDITY
) -> x509.Certificate:
    """A self-signed certificate for SAML metadata; peers pin it, no CA is involved."""
    assert isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(private_key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )


def key_id(certificate: x509.Certificate) -> str:
    """Stable kid: base64url-free hex of the SHA-256 of the public key, shortened."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()[:32]


def write_private_key(path: Path, private_key: PrivateKeyTypes) -> None:
    """Write PEM with mode 0600 from the first byte (no window with wider permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


class KeyManager:
    """Creates, rotates and loads signing keys for one data directory."""

    def __init__(
        self, data_dir: Path, *, issuer: str, rsa_bits: int = 2048, retired_days: int = 7
    ) -> None:
        self.key_dir = Path(data_dir) / "keys"
        self.issuer = issuer
        self.rsa_bits = rsa_bits
        self.retired_for = dt.timedelta(days=retired_days)

    def _create(self, session: Session, kty: str, state: str) -> SigningKey:
        private_key = generate_private_key(kty, self.rsa_bits)
        certificate = self_signed_certificate(private_key, self.issuer)
        kid = key_id(certificate)
        path = self.key_dir / f"{kid}.pem"
        write_private_key(path, private_key)
        now = utcnow()
        row = SigningKey(
            kid=kid,
            kty=kty,
            alg=DEFAULT_ALG[kty],
            size=self.rsa_bits if kty == "RSA" else 256,
            state=state,
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
            private_key_file=path.name,
            created_at=now,
            activated_at=now if state == "active" else None,
        )
        session.add(row)
        session.flush()
        return row

    def _rows(self, session: Session, kty: str, state: str) -> list[SigningKey]:
        query = select(SigningKey).where(SigningKey.kty == kty, SigningKey.state == state)
        return list(session.scalars(query.order_by(SigningKey.created_at)))

    def ensure_keys(self, session: Session, actor: str = "system") -> list[str]:
        """Create an active and a next key of each type where missing; return new kids."""
        created: list[str] = []
        for kty in KEY_TYPES:
            for state in ("active", "next"):
                if not self._rows(session, kty, state):
                    row = self._create(session, kty, state)
                    created.append(row.kid)
                    audit.record(
                        session,
                        actor=actor,
                        action="key.create",
                        object_type="signing_key",
                        object_id=row.kid,
                        details={"kty": kty, "state": state, "size": row.size},
                    )
        return created

    def rotate(
        self, session: Session, kty: str | None = None, actor: str = "system"
    ) -> list[tuple[str, str]]:
        """Retire active, promote next, create a new next. Returns (retired, activated)."""
        self.ensure_keys(session, actor)
        changes: list[tuple[str, str]] = []
        now = utcnow()
        for key_type in [kty] if kty else list(KEY_TYPES):
            active = self._rows(session, key_type, "active")
            promoted = self._rows(session, key_type, "next")[0]
            for row in active:
                row.state, row.retired_at = "retired", now
            promoted.state, promoted.activated_at = "active", now
            session.flush()
            self._create(session, key_type, "next")
            changes.append((active[0].kid if active else "", promoted.kid))
            audit.record(
                session,
                actor=actor,
                action="key.rotate",
                object_type="signing_key",
                object_id=promoted.kid,
                details={"kty": key_type, "retired": [r.kid for r in active]},
            )
        return changes

    def published(self, session: Session) -> list[SigningKey]:
        """Keys verifiers should know: next, active and recently retired ones."""
        cutoff = utcnow() - self.retired_for
        rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
        return [row for row in rows if row.state != "retired" or _aware(row.retired_at) > cutoff]

    def load(self, row: SigningKey) -> LoadedKey:
        path = self.key_dir / row.private_key_file
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(
                f"private key file {path} for key {row.kid} cannot be read ({exc.strerror}); "
                "restore the data directory from backup or run `stsctl keys rotate`"
            ) from exc
        private_key = serialization.load_pem_private_key(data, password=None)
        certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
        return LoadedKey(row.kid, row.kty, row.alg, row.state, private_key, certificate)

    def active(self, session: Session, kty: str = "RSA") -> LoadedKey:
        rows = self._rows(session, kty, "active")
        if not rows:
            raise KeyFileError(f"no active {kty} signing key; run `stsctl init`")
        return self.load(rows[-1])


def _aware(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
