"""Signing keys: lifecycle, file permissions, and their published views."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import select

from certs import KeyFileError, KeyManager, jwks, key_descriptors
from store.db import Database
from store.models import AuditEvent, SigningKey


@pytest.fixture
def manager(tmp_path: Path) -> KeyManager:
    return KeyManager(tmp_path / "var", issuer="http://127.0.0.1:8000")


def states(db: Database, kty: str) -> dict[str, list[str]]:
    with db.session() as session:
        rows = session.scalars(select(SigningKey).where(SigningKey.kty == kty)).all()
        result: dict[str, list[str]] = {}
        for row in rows:
            result.setdefault(row.state, []).append(row.kid)
        return result


def test_init_creates_an_active_and_a_next_key_of_each_type(
    database: Database, manager: KeyManager
) -> None:
    with database.session() as session:
        created = manager.ensure_keys(session)
    assert len(created) == 4
    for kty in ("RSA", "EC"):
        found = states(database, kty)
        assert len(found["active"]) == 1 and len(found["next"]) == 1


def test_ensure_keys_is_idempotent(database: Database, manager: KeyManager) -> None:
    with database.session() as session:
        manager.ensure_keys(session)
    with database.session() as session:
        assert manager.ensure_keys(session) == []


def test_private_key_files_are_owner_only(database: Database, manager: KeyManager) -> None:
    with database.session() as session:
        manager.ensure_keys(session)
    files = list(manager.key_dir.glob("*.pem"))
    assert len(files) == 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(manager.key_dir.stat().st_mode) == 0o700


def test_rsa_key_size_follows_the_setting(database: Database, tmp_path: Path) -> None:
    manager = KeyManager(tmp_path / "v", issuer="http://x", rsa_bits=3072)
    with database.session() as session:
        manager.ensure_keys(session)
        key = manager.active(session, "RSA")
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    assert key.private_key.key_size == 3072


def test_rotation_promotes_next_and_retires_active(database: Database, manager: KeyManager) -> None:
    with database.session() as session:
        manager.ensure_keys(session)
    before = states(database, "RSA")
    with database.session() as session:
        manager.rotate(session, "RSA")
    after = states(database, "RSA")
    assert after["active"] == before["next"]
    assert after["retired"] == before["active"]
    assert len(after["next"]) == 1 and after["next"] != before["next"]
    assert states(database, "EC") == {k: v for k, v in states(database, "EC").items()}


def test_rotation_is_audited(database: Database, manager: KeyManager) -> None:
    with database.session() as session:
        manager.ensure_keys(session)
        manager.rotate(session)
    with database.session() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("key.rotate") == 2


def test_next_key_is_published_before_it_signs(database: Database, manager: KeyManager) -> None:
    with database.session() as session:
        manager.ensure_keys(session)
        next_kids = {
            r.kid for r in session.scalars(select(SigningKey).where(SigningKey.state == "next"))
        }
        published = {entry["kid"] for entry in jwks(manager.published(session))["keys"]}
    assert next_kids <= published


def test_retired_key_stays_published_for_the_grace_period(
    database: Database, tmp_path: Path
) -> None:
    keeping = KeyManager(tmp_path / "v", issuer="http://x", retired_days=7)
    dropping = KeyManager(tmp_path / "v", issuer="http://x", retired_days=0)
    with database.session() as session:
        keeping.ensure_keys(session)
        retired_kid = keeping.active(session, "RSA").kid
        keeping.rotate(session, "RSA")
        assert retired_kid in {row.kid for row in keeping.published(session)}
        assert retired_kid not in {row.kid for row in dropping.published(session)}


def test_jwks_keys_verify_signatures_made_with_the_private_keys(
    database: Database, manager: KeyManager
) -> None:
    from joserfc.jwk import import_key

    with database.session() as session:
        manager.ensure_keys(session)
        document = jwks(manager.published(session))
        for kty in ("RSA", "EC"):
            key = manager.active(session, kty)
            entry = next(k for k in document["keys"] if k["kid"] == key.kid)
            public = import_key(entry).get_op_key("verify")
            message = b"signed by the active key"
            if isinstance(key.private_key, rsa.RSAPrivateKey):
                assert isinstance(public, rsa.RSAPublicKey)
                signature = key.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
                public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            else:
                assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
                assert isinstance(public, ec.EllipticCurvePublicKey)
                signature = key.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
                public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            assert "d" not in entry and "p" not in entry


def test_saml_key_descriptors_carry_active_and_next_rsa_certificates(
    database: Database, manager: KeyManager
) -> None:
    with database.session() as session:
        manager.ensure_keys(session)
        manager.rotate(session, "RSA")
        descriptors = key_descriptors(manager.published(session), uses=("signing",))
        live = {
            r.kid
            for r in session.scalars(
                select(SigningKey).where(SigningKey.kty == "RSA", SigningKey.state != "retired")
            )
        }
    names = {d.findtext(".//{http://www.w3.org/2000/09/xmldsig#}KeyName") for d in descriptors}
    assert names == live
    assert all(d.get("use") == "signing" for d in descriptors)


def test_missing_key_file_names_the_file_and_the_remedy(
    database: Database, manager: KeyManager
) -> None:
    with database.session() as session:
        manager.ensure_keys(session)
        row = session.scalars(select(SigningKey).where(SigningKey.state == "active")).first()
        assert row is not None
        (manager.key_dir / row.private_key_file).unlink()
        with pytest.raises(KeyFileError, match=row.private_key_file):
            manager.load(row)
