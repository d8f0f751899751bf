"""The provider's signing keys as JOSE keys, and the JWKS document (RFC 7517).

:class:`SigningKeys` keeps a short-lived snapshot of the published keys (next, active and
recently retired, from :class:`certs.keys.KeyManager`) so a token costs no database
query or key-file read. Signing always uses the *active* key of the snapshot;
verification accepts every published key, so tokens signed before a rotation verify
until they expire. A rotation is seen within ``max_age`` seconds; the new active key
was published as *next* before, so verifiers already know it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, KeySet, RSAKey

from certs.keys import KeyManager
from certs.publish import jwks as publish_jwks
from idp.oidc.jose import ALGORITHM_KEY_TYPES, Key
from store.db import Database

log = logging.getLogger("sts.oidc")


@dataclass(frozen=True)
class _Snapshot:
    taken_at: float
    verification: tuple[Key, ...]
    active: dict[str, Key] = field(default_factory=dict)  # kty -> key
    document: dict[str, Any] = field(default_factory=dict)


def _public_jose_key(certificate_pem: str, kid: str) -> Key:
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cls = RSAKey if isinstance(public_key, rsa.RSAPublicKey) else ECKey
    return cls.import_key(pem, parameters={"kid": kid, "use": "sig"})


class SigningKeys:
    """Active signing keys and the verification key set, refreshed every ``max_age`` s."""

    def __init__(self, database: Database, keys: KeyManager, *, max_age: float = 5.0) -> None:
        self.database = database
        self.keys = keys
        self.max_age = max_age
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        # Key material never changes under a kid: each key is read, decoded and imported
        # once per process; a refresh costs one query unless the published set changed.
        self._private: dict[str, Key] = {}
        self._public: dict[str, Key] = {}
        self._documents: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}

    def invalidate(self) -> None:
        """Forget the snapshot (after a rotation in this process, and in tests)."""
        self._snapshot = None

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - snapshot.taken_at < self.max_age:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or time.monotonic() - snapshot.taken_at >= self.max_age:
                try:
                    snapshot = self._load()
                except Exception as exc:
                    if snapshot is None:
                        raise
                    # The database is down: keep the keys we have (no rotation can happen
                    # meanwhile, it writes to the database); ask again in a second.
                    log.warning("signing keys not re-read, keeping the last ones: %s", exc)
                    snapshot = replace(snapshot, taken_at=time.monotonic() - self.max_age + 1.0)
                self._snapshot = snapshot
            return snapshot

    def _load(self) -> _Snapshot:
        with self.database.session() as session:
            rows = self.keys.published(session)
            active: dict[str, Key] = {}
            for row in rows:
                if row.state == "active":
                    key = self._private.get(row.kid)
                    if key is None:
                        loaded = self.keys.load(row)
                        pem = loaded.private_key.private_bytes(
                            serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption(),
                        )
                        cls = RSAKey if row.kty == "RSA" else ECKey
                        key = self._private[row.kid] = cls.import_key(
                            pem, parameters={"kid": row.kid}
                        )
                    active[row.kty] = key
            verification = []
            for row in rows:
                public = self._public.get(row.kid)
                if public is None:
                    public = self._public[row.kid] = _public_jose_key(row.certificate_pem, row.kid)
                verification.append(public)
            shape = tuple((row.kid, row.state) for row in rows)
            document = self._documents.get(shape)
            if document is None:
                document = publish_jwks(list(rows))
                # One RSA key signs both RS256 and PS256, so an RSA entry names no single
                # "alg" (RFC 7517 §4.4 makes it optional; a fixed value would make RPs
                # refuse PS256).
                for entry in document["keys"]:
                    if entry.get("kty") == "RSA":
                        entry.pop("alg", None)
                self._documents = {shape: document}
        return _Snapshot(time.monotonic(), tuple(verification), active, document)

    def signing_key(self, alg: str) -> Key:
        """The active key for ``alg`` (RS256/PS256: RSA, ES256: EC)."""
        kty = ALGORITHM_KEY_TYPES[alg]
        key = self._current().active.get(kty)
        if key is None:
            raise LookupError(f"no active {kty} signing key; run `stsctl init`")
        return key

    def verification_keys(self) -> tuple[Key, ...]:
        return self._current().verification

    def key_set(self) -> KeySet:
        return KeySet(list(self._current().verification))

    def document(self) -> dict[str, Any]:
        """The JWKS served at ``jwks_uri``: every published key, public parts only."""
        return self._current().document
