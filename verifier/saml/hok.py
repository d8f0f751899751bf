"""Verify a holder-of-key system token from a KOMBIT-style STS (ours or KOMBIT's).

A service (WSP) receives the STS's SAML assertion from the calling system, either inside
a WS-Security header, base64 in a form field or header, or as XML. The assertion is bound
to the caller's certificate (``SubjectConfirmation`` ``holder-of-key``, the certificate in
``SubjectConfirmationData/ds:KeyInfo``): only the system holding that certificate's key
may use it. :func:`verify_hok_assertion` checks, in this order:

1. size, no DTD or entities, UTF-8 (as for SAML responses);
2. the root is one ``saml:Assertion`` with no nested assertion, its one ``ds:Signature``
   a direct child referencing the assertion's ID, unique IDs, no comments, the
   structural subset (:mod:`verifier.saml._schema`);
3. the enveloped signature, against the STS certificates you pin (``sts_certificates``),
   never a key from the token; everything afterwards is read from the signed bytes;
4. Issuer = ``issuer``; ``AudienceRestriction`` contains ``audience``; the time windows
   of Conditions and the confirmation with ``clock_skew``;
5. a ``holder-of-key`` SubjectConfirmation whose ``Recipient`` (when present) is
   ``audience`` and whose ``KeyInfo`` certificate is **byte-equal** to
   ``presented_certificate``, the certificate the caller proved it holds (the TLS client
   certificate, or the one that signed the WS-Security message). Anything else is
   ``hok_mismatch``.

There is no replay cache: a holder-of-key token is meant to be presented many times
during its lifetime; the proof of possession is the caller's own TLS or message
signature.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from verifier._xml import full_text, parse_untrusted
from verifier.errors import InvalidToken
from verifier.privileges import PrivilegeSet, from_bpp
from verifier.saml import (
    DEFAULT_CLOCK_SKEW,
    MAX_CLOCK_SKEW,
    PRIVILEGES_ATTRIBUTES,
    Assertion,
    IdpMetadata,
    _check_no_comments,
    _check_signature_placement,
    _check_unique_ids,
    _check_window,
    _schema,
    _verify_signature,
)
from verifier.saml._names import DS, SAML, q
from verifier.saml._time import optional_datetime, parse_datetime

HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
KOMBIT_CVR_ATTRIBUTE = "dk:gov:saml:attribute:CvrNumberIdentifier"
MAX_ASSERTION_SIZE = 256 * 1024

CertificateLike = x509.Certificate | bytes | str


@dataclass(frozen=True)
class HokAssertion(Assertion):
    """A verified holder-of-key assertion; ``certificate`` is the confirmation key's."""

    certificate: x509.Certificate | None = None

    @property
    def cvr(self) -> str | None:
        """The anvenderkontekst CVR (KOMBIT's attribute, or the OIOSAML 3 one)."""
        return self.attribute(KOMBIT_CVR_ATTRIBUTE) or super().cvr


def _certificate(value: CertificateLike) -> x509.Certificate:
    if isinstance(value, x509.Certificate):
        return value
    raw = value.encode("ascii") if isinstance(value, str) else value
    if b"-----BEGIN" in raw:
        return x509.load_pem_x509_certificate(raw)
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        return x509.load_der_x509_certificate(base64.b64decode(b"".join(raw.split())))


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _decode(token: str | bytes | etree._Element) -> bytes:
    if isinstance(token, etree._Element):
        return bytes(etree.tostring(token))
    raw = token.encode("utf-8") if isinstance(token, str) else bytes(token)
    stripped = raw.strip()
    if stripped.startswith(b"<"):
        return stripped
    try:
        return base64.b64decode(b"".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("not_base64", "the token is neither XML nor base64") from exc


def _confirmation_certificate(
    subject: etree._Element, audience: str, now: datetime, skew: timedelta
) -> tuple[x509.Certificate, datetime | None]:
    for confirmation in subject.findall(q(SAML, "SubjectConfirmation")):
        if confirmation.get("Method") != HOLDER_OF_KEY:
            continue
        data = confirmation.find(q(SAML, "SubjectConfirmationData"))
        if data is None:
            raise InvalidToken("schema_invalid", "holder-of-key confirmation without data")
        recipient = data.get("Recipient")
        if recipient is not None and recipient != audience:
            raise InvalidToken("wrong_recipient", f"Recipient {recipient!r}, expected {audience!r}")
        not_on_or_after = optional_datetime(data.get("NotOnOrAfter"), "NotOnOrAfter")
        _check_window(
            optional_datetime(data.get("NotBefore"), "NotBefore"),
            not_on_or_after,
            now,
            skew,
            "subject confirmation",
        )
        found = data.findall(f"{q(DS, 'KeyInfo')}/{q(DS, 'X509Data')}/{q(DS, 'X509Certificate')}")
        if len(found) != 1:
            raise InvalidToken(
                "schema_invalid", "the confirmation must carry exactly one X509Certificate"
            )
        try:
            certificate = x509.load_der_x509_certificate(
                base64.b64decode("".join(full_text(found[0]).split()), validate=True)
            )
        except (binascii.Error, ValueError) as exc:
            raise InvalidToken("schema_invalid", "unreadable confirmation certificate") from exc
        return certificate, not_on_or_after
    raise InvalidToken("not_holder_of_key", "the assertion has no holder-of-key confirmation")


def verify_hok_assertion(
    token: str | bytes | etree._Element,
    *,
    sts_certificates: Sequence[CertificateLike],
    issuer: str,
    audience: str,
    presented_certificate: CertificateLike,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    now: datetime | None = None,
) -> HokAssertion:
    """Verify an STS holder-of-key assertion presented with ``presented_certificate``.

    ``token``: the assertion as XML (str/bytes/element) or base64 of it.
    ``sts_certificates``: the STS signing certificates you trust (PEM, DER or objects;
    several during a rollover). Raises :class:`verifier.InvalidToken` when anything is
    wrong; ``reason`` ``hok_mismatch`` when the presenter is not the key holder.
    """
    if not 0 <= clock_skew <= MAX_CLOCK_SKEW:
        raise ValueError(f"clock_skew must be between 0 and {MAX_CLOCK_SKEW} seconds")
    pinned = tuple(_certificate(c) for c in sts_certificates)
    if not pinned:
        raise ValueError("pin at least one STS signing certificate")
    presented = _certificate(presented_certificate)
    root = parse_untrusted(_decode(token), max_size=MAX_ASSERTION_SIZE)
    if root.tag != q(SAML, "Assertion"):
        raise InvalidToken("schema_invalid", f"{root.tag} is not a saml:Assertion")
    if any(e is not root for e in root.iter(q(SAML, "Assertion"))):
        raise InvalidToken("xsw", "an assertion inside the assertion")
    _check_signature_placement(root)
    _check_unique_ids(root)
    _check_no_comments(root)
    _schema.validate(root)
    if root.find(q(DS, "Signature")) is None:
        raise InvalidToken("unsigned", "the assertion is not signed")
    element = _verify_signature(root, IdpMetadata(issuer, pinned))

    current = now or datetime.now(UTC)
    skew = timedelta(seconds=clock_skew)
    issuer_element = element.find(q(SAML, "Issuer"))
    found_issuer = full_text(issuer_element).strip() if issuer_element is not None else ""
    if found_issuer != issuer:
        raise InvalidToken("wrong_issuer", f"assertion issuer {found_issuer!r} is not {issuer!r}")
    issued = parse_datetime(element.get("IssueInstant"), "Assertion@IssueInstant")
    if current + skew < issued:
        raise InvalidToken("not_yet_valid", "assertion issued in the future")
    conditions = element.find(q(SAML, "Conditions"))
    if conditions is None:
        raise InvalidToken("schema_invalid", "assertion has no Conditions")
    conditions_end = parse_datetime(conditions.get("NotOnOrAfter"), "Conditions@NotOnOrAfter")
    _check_window(
        optional_datetime(conditions.get("NotBefore"), "Conditions@NotBefore"),
        conditions_end,
        current,
        skew,
        "assertion",
    )
    if conditions.find(q(SAML, "Condition")) is not None:
        raise InvalidToken("unsupported_condition", "assertion carries a condition we do not know")
    audiences = [
        full_text(a).strip()
        for restriction in conditions.findall(q(SAML, "AudienceRestriction"))
        for a in restriction.findall(q(SAML, "Audience"))
    ]
    if audience not in audiences:
        raise InvalidToken("wrong_audience", f"audience {audiences!r} does not include us")

    subject = element.find(q(SAML, "Subject"))
    name_id = subject.find(q(SAML, "NameID")) if subject is not None else None
    if subject is None or name_id is None:
        raise InvalidToken("schema_invalid", "assertion has no Subject/NameID")
    certificate, confirmed_until = _confirmation_certificate(subject, audience, current, skew)
    if _der(certificate) != _der(presented):
        raise InvalidToken(
            "hok_mismatch",
            "the presenting certificate is not the one the token is bound to",
        )

    attributes: dict[str, list[str]] = {}
    for attribute in element.iterfind(f"{q(SAML, 'AttributeStatement')}/{q(SAML, 'Attribute')}"):
        values = [full_text(v) for v in attribute.findall(q(SAML, "AttributeValue"))]
        attributes.setdefault(attribute.get("Name") or "", []).extend(values)
    privileges = PrivilegeSet()
    for name in PRIVILEGES_ATTRIBUTES:
        for value in attributes.get(name, []):
            privileges = PrivilegeSet([*privileges, *from_bpp(value)])
    authn = element.find(q(SAML, "AuthnStatement"))
    class_ref = (
        authn.find(f"{q(SAML, 'AuthnContext')}/{q(SAML, 'AuthnContextClassRef')}")
        if authn is not None
        else None
    )
    ends = [t for t in (confirmed_until, conditions_end) if t is not None]
    return HokAssertion(
        id=element.get("ID") or "",
        issuer=found_issuer,
        name_id=full_text(name_id).strip(),
        name_id_format=name_id.get("Format"),
        attributes=attributes,
        privileges=privileges,
        session_index=None,
        not_on_or_after=min(ends),
        authn_instant=(
            parse_datetime(authn.get("AuthnInstant"), "AuthnInstant") if authn is not None else None
        ),
        authn_context=full_text(class_ref).strip() if class_ref is not None else None,
        audiences=tuple(audiences),
        certificate=certificate,
    )
