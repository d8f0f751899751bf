"""Shared helpers for the KOMBIT STS tests (JSON, OAuth and SOAP front doors).

A test PKI generated at run time (a trusted CA, an untrusted one, a CRL) and a seeded world:

- municipality ``CVR`` (and ``OTHER_CVR``, where SAPA's agreement is only requested);
- ``SAPA``: an anvendersystem with certificates ``sapa`` and ``sapa_next`` (rotation), and
  ``expired``, ``untrusted`` (other CA) and ``revoked`` (listed in the CRL) registered to
  it too, so only the trust checks refuse them; ``unknown`` is issued by the CA but not
  registered;
- ``DEMO``: the service ``SERVICE`` (entityID) with the servicesystemrolle ``SERVICE_ROLE``
  and the constraint type ``CONSTRAINT``; ``OTHER_SERVICE`` is registered but SAPA has no
  agreement for it;
- agreements: ``sa-sapa-demo`` (approved, ``SERVICE_ROLE`` with ``CONSTRAINT`` = Nej);
  ``sa-sapa-demo-other`` (requested, ``OTHER_CVR``); ``sa-proxy-demo`` (PROXY → DEMO,
  approved with on-behalf-of); ``sa-ext-demo`` (EXT → DEMO, approved, ``EXT_ROLE``);
  ``sa-noobo-demo`` (NOOBO → DEMO approved, no on-behalf-of);
- user ``ANNE`` of ``CVR`` holds ``EXT_ROLE`` through the job role ``JFR`` (for bootstrap
  tokens exchanged by PROXY, whose agreement allows on-behalf-of).

:func:`build_template` writes a data directory (SQLite, signing keys, ``ca.pem``,
``crl.pem``) once per module; :func:`make_world` copies it and creates the app.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from app import create_app, initialise, setup_keys, setup_store
from idp.sts import EXTENSION, StsServices
from idp.sts.certificates import register_certificate
from settings import Settings, load_settings
from store.db import Database
from store.models import (
    Assignment,
    ConstraintType,
    Fagsystem,
    JfrGrant,
    Jobfunktionsrolle,
    Municipality,
    Serviceaftale,
    SystemRole,
    User,
)

BASE_URL = "https://sts.test"
ISSUER = BASE_URL + "/runtime"  # the SAML Issuer; the JWT iss adds "/"
CVR = "29189846"
OTHER_CVR = "11111111"
SERVICE = "http://entityid.kombit.dk/service/demoservice/1"
OTHER_SERVICE = "http://entityid.kombit.dk/service/other/1"
SERVICE_ROLE = "http://entityid.kombit.dk/roles/servicesystemrole/udstil/1"
EXT_ROLE = "http://entityid.kombit.dk/roles/servicesystemrole/laes/1"
CONSTRAINT = "urn:x:fysiskslet"
ANNE = "11111111-2222-3333-4444-555555555555"
JFR = "http://demo.dk/roles/jobrole/sagsbehandler/1"
JSON_PATH = "/runtime/api/rest/wstrust/v1/issue"
OAUTH_PATH = "/runtime/api/rest/oauth/v1/issue"
CERTS_PATH = "/runtime/oauth2/certs.idp"
SOAP_PATH = "/runtime/services/kombittrust/14/certificatemixed"
CERT_HEADER = "X-SSL-Client-Cert"


# -- PKI ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    """A certificate with its private key, in the forms tests need."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def b64(self) -> str:
        """Base64 DER on one line (a PEM body), as UseKey/BinarySecurityToken carry it."""
        return base64.b64encode(self.der).decode()

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """``<name>.pem`` and ``<name>.key`` in ``directory`` (for mTLS clients)."""
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_text(self.pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ca(name: str) -> KeyPair:
    key = _key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def system_certificate(
    ca: KeyPair,
    common_name: str,
    fid: str,
    *,
    org: str = "Testleverandør A/S // CVR:12345678",
    valid_from: dt.timedelta = dt.timedelta(days=-1),
    valid_for: dt.timedelta = dt.timedelta(days=30),
    key: rsa.RSAPrivateKey | None = None,
) -> KeyPair:
    """An OCES3-style system certificate (multi-valued SERIALNUMBER + CN RDN) from ``ca``."""
    key = key or _key()
    subject = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, f"CVR:12345678-FID:{fid}"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} (funktionscertifikat)"),
                ]
            ),
        ]
    )
    start = dt.datetime.now(dt.UTC) + valid_from
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def crl(ca: KeyPair, revoked: list[x509.Certificate]) -> x509.CertificateRevocationList:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + dt.timedelta(days=7))
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - dt.timedelta(minutes=5))
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    ca: KeyPair
    other_ca: KeyPair
    sapa: KeyPair
    sapa_next: KeyPair
    proxy: KeyPair
    ext: KeyPair
    noobo: KeyPair
    unknown: KeyPair
    expired: KeyPair
    untrusted: KeyPair
    revoked: KeyPair

    def crl(self) -> x509.CertificateRevocationList:
        return crl(self.ca, [self.revoked.cert])


@functools.lru_cache(maxsize=1)
def pki() -> Pki:
    """The test PKI, generated once per test process."""
    ca, other = _ca("Test OCES3 CA"), _ca("Untrusted CA")
    return Pki(
        ca=ca,
        other_ca=other,
        sapa=system_certificate(ca, "SAPA", "10000001"),
        sapa_next=system_certificate(ca, "SAPA next", "10000002"),
        proxy=system_certificate(ca, "Serviceplatformen", "10000003"),
        ext=system_certificate(ca, "External", "10000004"),
        noobo=system_certificate(ca, "No OBO", "10000005"),
        unknown=system_certificate(ca, "Unknown", "10000006"),
        expired=system_certificate(
            ca,
            "Expired",
            "10000007",
            valid_from=dt.timedelta(days=-30),
            valid_for=dt.timedelta(days=29),
        ),
        untrusted=system_certificate(other, "Untrusted", "10000008"),
        revoked=system_certificate(ca, "Revoked", "10000009"),
    )


# -- the world ----------------------------------------------------------------------------


def seed(database: Database, keys: Pki | None = None) -> None:
    keys = keys or pki()
    with database.session() as session:
        session.add(Municipality(cvr=CVR, name="Demo Kommune", domain="demo.dk"))
        session.add(Municipality(cvr=OTHER_CVR, name="Anden Kommune", domain="anden.dk"))
        session.flush()
        session.add_all(
            [
                Fagsystem(
                    id="SAPA",
                    name="SAPA",
                    entity_id="https://sapa.demo.test",
                    kinds=["anvender"],
                ),
                Fagsystem(id="DEMO", name="Demoservice", entity_id=SERVICE, kinds=["service"]),
                Fagsystem(
                    id="OTHER", name="Anden service", entity_id=OTHER_SERVICE, kinds=["service"]
                ),
                Fagsystem(
                    id="PROXY",
                    name="Serviceplatformen",
                    entity_id="https://sp.test",
                    kinds=["anvender"],
                ),
                Fagsystem(
                    id="EXT",
                    name="Eksternt system",
                    entity_id="https://ext.test",
                    kinds=["anvender"],
                ),
                Fagsystem(
                    id="NOOBO",
                    name="Uden OBO",
                    entity_id="https://noobo.test",
                    kinds=["anvender"],
                ),
            ]
        )
        session.flush()
        session.add(
            ConstraintType(
                fagsystem_id="DEMO",
                uri=CONSTRAINT,
                name="Fysisk slet",
                kind="values",
                values=["Ja", "Nej"],
            )
        )
        session.add_all(
            [
                SystemRole(
                    id=SERVICE_ROLE,
                    fagsystem_id="DEMO",
                    name="Udstil",
                    constraint_uris=[CONSTRAINT],
                ),
                SystemRole(id=EXT_ROLE, fagsystem_id="DEMO", name="Læs"),
                SystemRole(id=OTHER_SERVICE + "/role", fagsystem_id="OTHER", name="Other"),
            ]
        )
        session.flush()
        agreements = [
            ("sa-sapa-demo", "SAPA", CVR, "approved", False, [SERVICE_ROLE]),
            ("sa-sapa-demo-other", "SAPA", OTHER_CVR, "requested", False, [SERVICE_ROLE]),
            ("sa-proxy-demo", "PROXY", CVR, "approved", True, [SERVICE_ROLE]),
            ("sa-ext-demo", "EXT", CVR, "approved", False, [EXT_ROLE]),
            ("sa-noobo-demo", "NOOBO", CVR, "approved", False, [EXT_ROLE]),
        ]
        for aid, system, cvr, status, obo, roles in agreements:
            session.add(
                Serviceaftale(
                    id=aid,
                    cvr=cvr,
                    anvendersystem_id=system,
                    service_id="DEMO",
                    roles=roles,
                    constraints={CONSTRAINT: ["Nej"]} if SERVICE_ROLE in roles else {},
                    on_behalf_of=obo,
                    status=status,
                )
            )
        session.flush()
        # a person whose job role grants EXT_ROLE of DEMO (bootstrap-token on-behalf-of)
        session.add(
            User(id=ANNE, cvr=CVR, username="anne", name="Anne Sagsbehandler", email="a@demo.dk")
        )
        session.add(Jobfunktionsrolle(id=JFR, cvr=CVR, name="Sagsbehandler"))
        session.flush()
        session.add(JfrGrant(jfr_id=JFR, position=0, role_id=EXT_ROLE, constraints={}))
        session.add(Assignment(cvr=CVR, jfr_id=JFR, subject_type="user", user_id=ANNE))
        session.flush()
        for system, pair in (
            ("SAPA", keys.sapa),
            ("SAPA", keys.sapa_next),
            ("SAPA", keys.expired),
            ("SAPA", keys.untrusted),
            ("SAPA", keys.revoked),
            ("PROXY", keys.proxy),
            ("EXT", keys.ext),
            ("NOOBO", keys.noobo),
        ):
            register_certificate(session, system, pair.cert)


def write_trust_files(directory: Path, keys: Pki | None = None) -> tuple[Path, Path]:
    keys = keys or pki()
    ca_file, crl_file = directory / "ca.pem", directory / "crl.pem"
    ca_file.write_text(keys.ca.pem)
    crl_file.write_bytes(keys.crl().public_bytes(serialization.Encoding.PEM))
    return ca_file, crl_file


def sts_settings(data_dir: Path, **extra: str) -> Settings:
    env = {
        "STS_DATA_DIR": str(data_dir),
        "STS_BASE_URL": BASE_URL,
        "STS_LOG_LEVEL": "WARNING",
        "STS_ARGON2_MEMORY_KIB": "19456",
        "STS_ARGON2_TIME_COST": "2",
        "STS_ARGON2_PARALLELISM": "1",
        "STS_SYSTEM_CA_FILES": str(data_dir / "ca.pem"),
        "STS_SYSTEM_CRL_FILES": str(data_dir / "crl.pem"),
        "STS_TLS_CLIENT_CERT_HEADER": CERT_HEADER,
        "STS_TLS_TRUSTED_PROXIES": "127.0.0.1",
        **extra,
    }
    return load_settings(env)


def build_template(data_dir: Path) -> None:
    """A data directory with a migrated, seeded SQLite database, keys and trust files."""
    data_dir.mkdir(parents=True, exist_ok=True)
    write_trust_files(data_dir)
    settings = sts_settings(data_dir)
    initialise(settings, setup_store(settings), setup_keys(settings))
    database = Database(settings.effective_database_url)
    seed(database)
    database.dispose()


@dataclass
class StsWorld:
    app: Flask
    client: FlaskClient
    pki: Pki

    @property
    def sts(self) -> StsServices:
        sts: StsServices = self.app.extensions[EXTENSION]
        return sts

    @property
    def database(self) -> Database:
        return self.sts.database

    @property
    def settings(self) -> Settings:
        return self.sts.settings

    def signing_certificate(self) -> x509.Certificate:
        """The STS's active signing certificate (what clients pin)."""
        return self.sts.keys.signer().certificate


def make_world(template: Path, data_dir: Path, **extra: str) -> StsWorld:
    shutil.copytree(template, data_dir)
    app = create_app(sts_settings(data_dir, **extra))
    return StsWorld(app, app.test_client(), pki())


def tls(pair: KeyPair) -> dict[str, Any]:
    """WSGI environ presenting ``pair`` as the TLS client certificate (as mod_wsgi does)."""
    return {"SSL_CLIENT_CERT": pair.pem}


def set_agreement_status(world_or_db: Any, aftale_id: str, status: str, state: Any = None) -> None:
    """Change an agreement's status and announce it on the authz channel, as the admin
    module's decision does (``admin.service.agreements.decide``)."""
    from admin.service.changes import announce
    from authz.cache import Scope

    if isinstance(world_or_db, StsWorld):
        database, state = world_or_db.database, state or _state(world_or_db.app)
    else:
        database = world_or_db
    with database.session() as session:
        aftale = session.get(Serviceaftale, aftale_id)
        assert aftale is not None
        aftale.status = status
        fagsystems = {aftale.anvendersystem_id, aftale.service_id}
    if state is not None:
        announce(state, Scope(fagsystems=fagsystems))


def _state(app: Flask) -> Any:
    from idp.context import EXTENSION as CORE

    return app.extensions[CORE].state
