"""``certificates:`` under a fagsystem: the system's certificates for the KOMBIT STS.

Each entry is a PEM string or ``{file: path}`` (relative to the catalogue file, read when
the file is loaded and inlined as its PEM text). Validity comes from the certificate
itself; list several for rotation. When a fagsystem in the file has ``certificates``,
its registered certificates become exactly those listed (a certificate left out stops
working at the next import); without the key they are left alone.

The loader, the checks, the importer and the exporter each call one function here:
:func:`resolve_files`, :func:`certificate_errors`, :func:`import_certificates`,
:func:`exported`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.catalogue.common import CatalogueError, join_path
from store.models import SystemCertificate

Item = dict[str, Any]


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def sha256_hex(certificate: x509.Certificate) -> str:
    """How a registered certificate is found: SHA-256 of the DER bytes, hex."""
    return hashlib.sha256(der(certificate)).hexdigest()


def sha1_hex(certificate: x509.Certificate) -> str:
    """The SHA-1 thumbprint (KOMBIT's OAuth ``onbehalfof:<sha1hex>`` names a system by it)."""
    return hashlib.sha1(der(certificate), usedforsecurity=False).hexdigest()


# -- registration -----------------------------------------------------------------------


class CertificateConflict(ValueError):
    """The certificate is already registered to another fagsystem."""


def register_certificate(session: Session, fagsystem_id: str, certificate: x509.Certificate) -> str:
    """Register ``certificate`` to ``fagsystem_id`` (idempotent); its SHA-256 hex.

    A certificate identifies exactly one system: registering it to a second one raises
    :class:`CertificateConflict`.
    """
    from store.models import SystemCertificate

    fingerprint = sha256_hex(certificate)
    existing = session.get(SystemCertificate, fingerprint)
    if existing is not None:
        if existing.fagsystem_id != fagsystem_id:
            raise CertificateConflict(
                f"certificate {fingerprint[:16]}… is already registered to "
                f"{existing.fagsystem_id}; a certificate identifies one system"
            )
        return fingerprint
    session.add(
        SystemCertificate(
            sha256=fingerprint,
            fagsystem_id=fagsystem_id,
            sha1=sha1_hex(certificate),
            der=der(certificate),
            subject=certificate.subject.rfc4514_string()[:1000],
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )
    )
    return fingerprint


def registered_certificates(session: Session, fagsystem_id: str) -> list[x509.Certificate]:
    """The certificates registered to a fagsystem, oldest first."""
    from store.models import SystemCertificate

    rows = session.scalars(
        select(SystemCertificate.der)
        .where(SystemCertificate.fagsystem_id == fagsystem_id)
        .order_by(SystemCertificate.not_before, SystemCertificate.sha256)
    )
    return [x509.load_der_x509_certificate(data) for data in rows]


def _systems(data: Any) -> list[tuple[int, Item]]:
    systems = data.get("fagsystemer") if isinstance(data, dict) else None
    if not isinstance(systems, list):
        return []
    return [(i, s) for i, s in enumerate(systems) if isinstance(s, dict)]


def resolve_files(data: Any, *, base_dir: Path) -> list[CatalogueError]:
    """Replace each ``{file: path}`` entry by the file's PEM text; errors for unreadable files."""
    errors: list[CatalogueError] = []
    for f_index, system in _systems(data):
        entries = system.get("certificates")
        if not isinstance(entries, list):
            continue
        for c_index, entry in enumerate(entries):
            if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)):
                continue
            path = base_dir / entry["file"]
            try:
                entries[c_index] = path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not a PEM text file"
                errors.append(
                    CatalogueError(
                        join_path("fagsystemer", f_index, "certificates", c_index, "file"),
                        f"cannot read {path}: {reason}; check the path",
                    )
                )
    return errors


def parse(entry: str) -> list[x509.Certificate]:
    """The certificates of one PEM entry (a bundle may hold several)."""
    return list(x509.load_pem_x509_certificates(entry.encode("ascii")))


def certificate_errors(session: Session, data: Any) -> list[CatalogueError]:
    """Unreadable PEM, one certificate listed for two systems, or already another's."""
    errors: list[CatalogueError] = []
    owners: dict[str, str] = {}
    for f_index, system in _systems(data):
        for c_index, entry in enumerate(system.get("certificates") or []):
            path = join_path("fagsystemer", f_index, "certificates", c_index)
            if not isinstance(entry, str):
                continue  # an unreadable {file:} entry was reported by the loader
            try:
                certificates = parse(entry)
            except (ValueError, UnicodeEncodeError) as exc:
                errors.append(CatalogueError(path, f"not a PEM certificate: {exc}"))
                continue
            for certificate in certificates:
                digest = sha256_hex(certificate)
                owner = owners.setdefault(digest, system.get("id", ""))
                if owner != system.get("id"):
                    errors.append(
                        CatalogueError(path, f"the certificate is also listed for {owner}")
                    )
                    continue
                stored = session.scalar(
                    select(SystemCertificate.fagsystem_id).where(SystemCertificate.sha256 == digest)
                )
                if stored is not None and stored != system.get("id"):
                    errors.append(
                        CatalogueError(
                            path,
                            f"the certificate is registered to fagsystem {stored}; a "
                            "certificate identifies one system",
                        )
                    )
    return errors


def import_certificates(session: Session, system_id: str, entries: list[str]) -> tuple[int, int]:
    """Make ``system_id``'s certificates exactly ``entries``; (created, removed)."""
    wanted = {sha256_hex(c): c for entry in entries for c in parse(entry)}
    stored = set(
        session.scalars(
            select(SystemCertificate.sha256).where(SystemCertificate.fagsystem_id == system_id)
        )
    )
    created = 0
    for digest, certificate in wanted.items():
        if digest not in stored:
            register_certificate(session, system_id, certificate)
            created += 1
    gone = stored - set(wanted)
    if gone:
        session.execute(
            delete(SystemCertificate).where(
                SystemCertificate.fagsystem_id == system_id, SystemCertificate.sha256.in_(gone)
            )
        )
    return created, len(gone)


def exported(session: Session, system_id: str) -> Item:
    """``{"certificates": [PEM, ...]}`` for a fagsystem that has any, else ``{}``."""
    rows = session.scalars(
        select(SystemCertificate.der)
        .where(SystemCertificate.fagsystem_id == system_id)
        .order_by(SystemCertificate.not_before, SystemCertificate.sha256)
    ).all()
    if not rows:
        return {}
    return {
        "certificates": [
            x509.load_der_x509_certificate(data)
            .public_bytes(serialization.Encoding.PEM)
            .decode("ascii")
            for data in rows
        ]
    }
