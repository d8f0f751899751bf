"""Anvendersystem certificates: registration lookup, trust anchors, validity and CRLs.

A caller of the KOMBIT STS is identified by its certificate (FOCES/VOCES/OCES3 system
certificate). It must be registered to a fagsystem (``system_certificates``, filled from
the catalogue's ``certificates:``), matched exactly on the DER bytes (SHA-256).

Trust (:class:`TrustStore`):

- validity (``notBefore``/``notAfter`` of the certificate itself) is always checked, so
  a rotated-out certificate stops working when it expires, and a new one works from its
  ``notBefore`` (several per system, rotation without downtime);
- with ``STS_SYSTEM_CA_FILES`` (comma-separated PEM files of CA certificates, e.g. OCES3
  roots and intermediates) the certificate must chain to one of them, every link within
  its validity and correctly signed;
- with ``STS_SYSTEM_CRL_FILES`` (PEM or DER CRLs) a certificate listed by the CRL of its
  issuer is refused; a CRL whose signature does not verify with its issuer is ignored
  (and logged at start).

Unset trust anchors mean registration alone (and validity), with a warning at start.

Certificates from OCES CAs carry a certificate-policies extension that ``cryptography``
cannot always parse (REFERENCE-KOMBIT-STS.md §8), so nothing here reads ``.extensions``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from store.catalogue.certificates import (  # noqa: F401 - re-exported
    CertificateConflict,
    der,
    register_certificate,
    registered_certificates,
    sha1_hex,
    sha256_hex,
)
from store.db import Database

log = logging.getLogger(__name__)

_DOTNET_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "S",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.GIVEN_NAME: "G",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "T",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
}
_NEEDS_QUOTES = set(',+="\n<>#;')


def _dotnet_value(value: str) -> str:
    if value != value.strip() or any(char in _NEEDS_QUOTES for char in value):
        return '"' + value.replace('"', '""') + '"'
    return value


def dotnet_subject(certificate: x509.Certificate) -> str:
    """The subject as .NET's ``X500DistinguishedName.Name`` prints it (KOMBIT's NameID).

    Most specific RDN first, ``", "`` between RDNs and ``" + "`` inside a multi-valued one:
    ``SERIALNUMBER=CVR:19435075-FID:64205450 + CN=WSC_Core (funktionscertifikat), O=…, C=DK``.
    """
    parts: list[str] = []
    for rdn in reversed(list(certificate.subject.rdns)):
        names = []
        for attribute in rdn:
            label = _DOTNET_NAMES.get(attribute.oid, f"OID.{attribute.oid.dotted_string}")
            value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
            names.append(f"{label}={_dotnet_value(value)}")
        parts.append(" + ".join(names))
    return ", ".join(parts)


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (or one DER certificate)."""
    if b"-----BEGIN" not in data:
        return [x509.load_der_x509_certificate(data)]
    return list(x509.load_pem_x509_certificates(data))


def load_certificate(text: str | bytes) -> x509.Certificate:
    """One certificate from PEM text or base64 DER (the PEM body on one line)."""
    import base64

    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if b"-----BEGIN" in raw:
        return x509.load_pem_x509_certificate(raw)
    return x509.load_der_x509_certificate(base64.b64decode(b"".join(raw.split()), validate=True))


# -- registration lookup ----------------------------------------------------------------


class CertificateRegistry:
    """Certificate SHA-256 → fagsystem id, from ``system_certificates``, cached briefly.

    Entries (also "not registered") live at most ``ttl`` seconds; :meth:`invalidate`
    (subscribed to the authz invalidation channel, which the catalogue import announces)
    empties the cache at once.
    """

    def __init__(self, ttl: float = 5.0, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def invalidate(self, *_args: object) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def lookup(self, database: Database, sha256: str) -> str | None:
        from store.models import SystemCertificate

        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(sha256)
            generation = self._generation
        if cached is not None and cached[0] > now:
            return cached[1]
        with database.session() as session:
            found = session.scalar(
                select(SystemCertificate.fagsystem_id).where(SystemCertificate.sha256 == sha256)
            )
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= self.size:
                    self._entries.clear()
                self._entries[sha256] = (now + self.ttl, found)
        return found

    def lookup_sha1(self, database: Database, sha1: str) -> x509.Certificate | None:
        """The registered certificate with this SHA-1 thumbprint (OAuth on-behalf-of)."""
        from store.models import SystemCertificate

        with database.session() as session:
            data = session.scalar(
                select(SystemCertificate.der).where(SystemCertificate.sha1 == sha1.lower())
            )
        return x509.load_der_x509_certificate(data) if data is not None else None


# -- trust ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors and CRLs for anvendersystem certificates (see the module text)."""

    authorities: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    @property
    def anchored(self) -> bool:
        return bool(self.authorities)

    @classmethod
    def from_files(cls, ca_files: Iterable[Path], crl_files: Iterable[Path] = ()) -> TrustStore:
        authorities: list[x509.Certificate] = []
        for path in ca_files:
            authorities.extend(load_pem_certificates(Path(path).read_bytes()))
        crls: list[x509.CertificateRevocationList] = []
        for path in crl_files:
            data = Path(path).read_bytes()
            crl = (
                x509.load_pem_x509_crl(data)
                if b"-----BEGIN" in data
                else x509.load_der_x509_crl(data)
            )
            issuer = next((ca for ca in authorities if ca.subject == crl.issuer), None)
            if issuer is None or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                log.warning("CRL %s is not signed by a configured CA; ignored", path)
                continue
            crls.append(crl)
        return cls(tuple(authorities), tuple(crls))

    def check(self, certificate: x509.Certificate, now: dt.datetime) -> None:
        """Raise :class:`~idp.sts.core.StsRefusal` unless ``certificate`` may be used now."""
        from idp.sts.core import UNKNOWN_CONFIGURATION, StsRefusal

        if not _valid_at(certificate, now):
            raise StsRefusal(
                UNKNOWN_CONFIGURATION,
                "The certificate is outside its validity period "
                f"({certificate.not_valid_before_utc:%Y-%m-%d} to "
                f"{certificate.not_valid_after_utc:%Y-%m-%d}). Use a current certificate "
                "registered to the system.",
                "expired_certificate",
            )
        if not self.authorities:
            return
        issuer = self._issuer(certificate, now)
        if issuer is None:
            raise StsRefusal(
                UNKNOWN_CONFIGURATION,
                "The certificate does not chain to a trusted certificate authority "
                "(STS_SYSTEM_CA_FILES), or a certificate in its chain has expired. Use a "
                "certificate issued by a trusted CA.",
                "untrusted_certificate",
            )
        if self._revoked(certificate, issuer):
            raise StsRefusal(
                UNKNOWN_CONFIGURATION,
                "The certificate has been revoked by its certificate authority. Use "
                "a new certificate registered to the system.",
                "revoked_certificate",
            )

    def _issuer(self, certificate: x509.Certificate, now: dt.datetime) -> x509.Certificate | None:
        """The configured CA (root or intermediate: each is an anchor) that signed
        ``certificate`` and is within its validity, or None."""
        for authority in self.authorities:
            if (
                authority.subject == certificate.issuer
                and _valid_at(authority, now)
                and _signed_by(certificate, authority)
            ):
                return authority
        return None

    def _revoked(self, certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
        for crl in self.crls:
            if crl.issuer != issuer.subject:
                continue
            if crl.get_revoked_certificate_by_serial_number(certificate.serial_number):
                return True
        return False


def _valid_at(certificate: x509.Certificate, now: dt.datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
