"""The WS-Security header of a WS-Trust request: who signed it, and what they signed.

KOMBIT's STS identifies the caller by the certificate that signed the request, not by TLS
(REFERENCE-KOMBIT-STS.md §1.2, §9.1 "Accept" 3–5). :func:`verify_security` checks, in
order, and raises :class:`~idp.sts.core.StsRefusal` (code 103, malformed) at the first
failure:

- exactly one ``wsse:Security`` header, with one ``wsu:Timestamp`` whose ``Created`` is
  not in the future and whose ``Expires`` is not past (both with ``skew``);
- one ``ds:Signature`` in it: exclusive c14n (or inclusive, when a client leaves the
  Transforms out, which XML-DSig defines as inclusive c14n), RSA-SHA256/384/512 and
  SHA-256/384/512 digests; RSA-SHA1 and SHA-1 only with ``STS_WSTRUST_ALLOW_SHA1``;
- its key is the ``wsse:BinarySecurityToken`` its ``KeyInfo`` points at (an STR
  ``Reference URI="#…"``), or a ``ds:X509Data`` certificate;
- every reference is ``#id`` of a ``wsu:Id`` (or plain ``Id``) that occurs once in the
  message, on the Body, a direct child of the Header, or a child of the Security header;
  only c14n transforms; each digest matches; the signature value verifies;
- the Body and the Timestamp the caller reads are among the signed elements. Any other
  reference present (Action, MessageID, To, ReplyTo, the BST) is verified too, but none
  is required: Magenta's production client does not sign the BST, itk-dev's sends the
  service entityID in ``wsa:To``.

Nothing here decides whether the signer may have a token; :mod:`idp.sts.core` does, given
the certificate returned here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from idp.sts.core import MALFORMED, StsRefusal
from idp.sts.wsconstants import (
    C14N,
    DS,
    EXC_C14N,
    EXC_C14N_NS,
    RSA_SHA1,
    RSA_SHA256,
    RSA_SHA384,
    RSA_SHA512,
    SHA1,
    SHA256,
    SHA384,
    SHA512,
    WSSE,
    WSU,
    X509V3,
)

DEFAULT_SKEW = dt.timedelta(minutes=5)
_SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    RSA_SHA256: hashes.SHA256,
    RSA_SHA384: hashes.SHA384,
    RSA_SHA512: hashes.SHA512,
}
_DIGESTS = {SHA256: "sha256", SHA384: "sha384", SHA512: "sha512"}
_ID_ATTRIBUTES = (f"{{{WSU}}}Id", "Id", "ID", "id")
_INSTANT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$"
)


def refuse(message: str, reason: str) -> StsRefusal:
    return StsRefusal(MALFORMED, message, reason)


@dataclass(frozen=True)
class VerifiedSecurity:
    """What the Security header proved: the signer's certificate and what it covered."""

    certificate: x509.Certificate
    signed: tuple[etree._Element, ...]  # the referenced elements (kept alive: identity holds)
    created: dt.datetime
    expires: dt.datetime | None
    signature_method: str

    def covers(self, element: etree._Element | None) -> bool:
        return element is not None and any(element is signed for signed in self.signed)


def parse_instant(value: str | None, what: str) -> dt.datetime:
    """xs:dateTime (fractions of any length, ``Z`` or an offset; none means UTC)."""
    match = _INSTANT.match((value or "").strip())
    if not match:
        raise refuse(f"{what} is not an xs:dateTime such as 2026-01-31T12:00:00Z.", "bad_time")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8) or "Z"
    tz = dt.UTC
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        raise refuse(f"{what} is not a valid time.", "bad_time") from exc
    return moment.astimezone(dt.UTC)


def _children(parent: etree._Element, tag: str) -> list[etree._Element]:
    return [child for child in parent if child.tag == tag]


def _one(parent: etree._Element, tag: str, what: str) -> etree._Element:
    found = _children(parent, tag)
    if len(found) != 1:
        raise refuse(f"The request must have exactly one {what}.", "bad_security_header")
    return found[0]


def _ids(envelope: etree._Element) -> dict[str, etree._Element]:
    """Every Id in the message; one that occurs twice is refused (signature wrapping)."""
    found: dict[str, etree._Element] = {}
    for element in envelope.iter():
        if not isinstance(element.tag, str):
            continue
        for name in _ID_ATTRIBUTES:
            value = element.get(name)
            if value is None:
                continue
            if value in found and found[value] is not element:
                raise refuse(f"The Id {value!r} occurs more than once.", "duplicate_id")
            found[value] = element
    return found


def _certificate_from_b64(text: str | None, what: str) -> x509.Certificate:
    try:
        der = base64.b64decode("".join((text or "").split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise refuse(f"{what} is not a base64 DER X.509 certificate.", "bad_certificate") from exc


def binary_security_token(element: etree._Element, what: str) -> x509.Certificate:
    """The certificate of a ``wsse:BinarySecurityToken`` (X509v3, base64)."""
    value_type = element.get("ValueType")
    if value_type not in (None, X509V3):
        raise refuse(f"{what} must be an X509v3 BinarySecurityToken.", "bad_certificate")
    return _certificate_from_b64(element.text, what)


def _signing_certificate(
    signature: etree._Element, security: etree._Element, ids: dict[str, etree._Element]
) -> x509.Certificate:
    key_info = _one(signature, f"{{{DS}}}KeyInfo", "ds:KeyInfo in the signature")
    reference = key_info.find(f"{{{WSSE}}}SecurityTokenReference/{{{WSSE}}}Reference")
    if reference is not None:
        uri = reference.get("URI") or ""
        token = ids.get(uri[1:]) if uri.startswith("#") else None
        if token is None or token.tag != f"{{{WSSE}}}BinarySecurityToken":
            raise refuse(
                "The signature's KeyInfo must point to a BinarySecurityToken in the "
                'Security header (wsse:Reference URI="#…").',
                "no_signing_token",
            )
        if token.getparent() is not security:
            raise refuse(
                "The signing BinarySecurityToken must be in the Security header.",
                "no_signing_token",
            )
        return binary_security_token(token, "The signing BinarySecurityToken")
    certificate = key_info.find(f"{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    if certificate is not None:
        return _certificate_from_b64(certificate.text, "The signature's X509Certificate")
    raise refuse(
        "The signature's KeyInfo must reference the BinarySecurityToken of the signing "
        "certificate.",
        "no_signing_token",
    )


def _canonical(element: etree._Element, algorithm: str, prefixes: list[str] | None) -> bytes:
    if algorithm == EXC_C14N:
        return etree.tostring(
            element,
            method="c14n",
            exclusive=True,
            with_comments=False,
            inclusive_ns_prefixes=prefixes or None,
        )
    return etree.tostring(element, method="c14n", exclusive=False, with_comments=False)


def _c14n_method(element: etree._Element) -> tuple[str, list[str] | None]:
    """(algorithm, InclusiveNamespaces PrefixList) of a CanonicalizationMethod/Transform."""
    algorithm = element.get("Algorithm") or ""
    prefixes: list[str] | None = None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag != f"{{{EXC_C14N_NS}}}InclusiveNamespaces" or algorithm != EXC_C14N:
            raise refuse("A c14n transform has unexpected parameters.", "bad_transform")
        prefixes = (child.get("PrefixList") or "").split()
    if algorithm not in (EXC_C14N, C14N):
        raise refuse(
            f"Canonicalisation {algorithm!r} is not accepted: use exclusive c14n ({EXC_C14N}).",
            "bad_transform",
        )
    return algorithm, prefixes


def _allowed_target(
    element: etree._Element, header: etree._Element, body: etree._Element, security: etree._Element
) -> bool:
    parent = element.getparent()
    return element is body or parent is header or parent is security


def _check_reference(
    reference: etree._Element,
    ids: dict[str, etree._Element],
    allowed: tuple[etree._Element, etree._Element, etree._Element],
    allow_sha1: bool,
) -> etree._Element:
    uri = reference.get("URI") or ""
    target = ids.get(uri[1:]) if uri.startswith("#") and len(uri) > 1 else None
    if target is None:
        raise refuse(
            f"The signature references {uri!r}, which is not an Id in the message.",
            "bad_reference",
        )
    header, body, security = allowed
    if not _allowed_target(target, header, body, security):
        raise refuse(
            "The signature may reference only the Body, SOAP headers and tokens in the "
            "Security header.",
            "bad_reference",
        )
    algorithm, prefixes = C14N, None
    transforms = reference.find(f"{{{DS}}}Transforms")
    if transforms is not None:
        steps = [step for step in transforms if isinstance(step.tag, str)]
        if len(steps) != 1 or steps[0].tag != f"{{{DS}}}Transform":
            raise refuse(
                "Each reference must have exactly one transform: exclusive c14n.",
                "bad_transform",
            )
        algorithm, prefixes = _c14n_method(steps[0])
    digest_method = _one(reference, f"{{{DS}}}DigestMethod", "DigestMethod per reference")
    digest_name = _DIGESTS.get(digest_method.get("Algorithm") or "")
    if digest_name is None and allow_sha1 and digest_method.get("Algorithm") == SHA1:
        digest_name = "sha1"
    if digest_name is None:
        raise refuse(
            f"Digest {digest_method.get('Algorithm')!r} is not accepted: use SHA-256.",
            "weak_digest",
        )
    expected = _one(reference, f"{{{DS}}}DigestValue", "DigestValue per reference").text or ""
    actual = hashlib.new(digest_name, _canonical(target, algorithm, prefixes)).digest()
    try:
        matches = base64.b64decode("".join(expected.split()), validate=True) == actual
    except (binascii.Error, ValueError):
        matches = False
    if not matches:
        raise refuse(
            f"The digest of the signed element {uri!r} does not match: the message was "
            "changed after it was signed.",
            "digest_mismatch",
        )
    return target


def _check_timestamp(
    timestamp: etree._Element, now: dt.datetime, skew: dt.timedelta
) -> tuple[dt.datetime, dt.datetime | None]:
    created_element = _children(timestamp, f"{{{WSU}}}Created")
    if len(created_element) != 1:
        raise refuse("The Timestamp must have one Created.", "bad_timestamp")
    created = parse_instant(created_element[0].text, "Timestamp/Created")
    expires_element = _children(timestamp, f"{{{WSU}}}Expires")
    expires = (
        parse_instant(expires_element[0].text, "Timestamp/Expires")
        if len(expires_element) == 1
        else None
    )
    if created > now + skew:
        raise refuse(
            "The Timestamp's Created is in the future: check the client's clock.",
            "timestamp_future",
        )
    # Without Expires a message is fresh for five minutes after Created, as with Expires.
    deadline = expires if expires is not None else created + dt.timedelta(minutes=5)
    if deadline + skew <= now:
        raise refuse(
            "The Timestamp has expired: send a new request with a fresh Timestamp (and "
            "check the client's clock).",
            "timestamp_expired",
        )
    return created, expires


def verify_security(
    envelope: etree._Element,
    soap_ns: str,
    *,
    now: dt.datetime,
    allow_sha1: bool = False,
    skew: dt.timedelta = DEFAULT_SKEW,
) -> VerifiedSecurity:
    """Check the Security header of ``envelope`` (see the module text); the signer's
    certificate and the elements its signature covers, or :class:`StsRefusal`."""
    header = _one(envelope, f"{{{soap_ns}}}Header", "SOAP Header")
    body = _one(envelope, f"{{{soap_ns}}}Body", "SOAP Body")
    security = _one(header, f"{{{WSSE}}}Security", "wsse:Security header")
    timestamp = _one(security, f"{{{WSU}}}Timestamp", "wsu:Timestamp in the Security header")
    signatures = _children(security, f"{{{DS}}}Signature")
    if not signatures:
        raise refuse(
            "The request is not signed: sign it with the system's registered certificate "
            "(WS-Security, RSA-SHA256 over Body and Timestamp).",
            "unsigned",
        )
    if len(signatures) > 1:
        raise refuse("The Security header must have exactly one signature.", "bad_security_header")
    signature = signatures[0]
    created, expires = _check_timestamp(timestamp, now, skew)

    ids = _ids(envelope)
    signed_info = _one(signature, f"{{{DS}}}SignedInfo", "SignedInfo")
    c14n_algorithm, c14n_prefixes = _c14n_method(
        _one(signed_info, f"{{{DS}}}CanonicalizationMethod", "CanonicalizationMethod")
    )
    method = _one(signed_info, f"{{{DS}}}SignatureMethod", "SignatureMethod").get("Algorithm") or ""
    hash_type = _SIGNATURE_HASHES.get(method)
    if hash_type is None and allow_sha1 and method == RSA_SHA1:
        hash_type = hashes.SHA1
    if hash_type is None:
        raise refuse(
            f"Signature method {method!r} is not accepted: sign with RSA-SHA256 ({RSA_SHA256}).",
            "weak_signature",
        )
    references = _children(signed_info, f"{{{DS}}}Reference")
    if not references:
        raise refuse("The signature has no references.", "bad_reference")
    uris = [reference.get("URI") for reference in references]
    if len(set(uris)) != len(uris):
        raise refuse("The signature references an element twice.", "bad_reference")

    certificate = _signing_certificate(signature, security, ids)
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise refuse("The signing certificate must have an RSA key.", "bad_certificate")
    value_element = _one(signature, f"{{{DS}}}SignatureValue", "SignatureValue")
    try:
        value = base64.b64decode("".join((value_element.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise refuse("The SignatureValue is not base64.", "bad_signature") from exc
    try:
        public_key.verify(
            value,
            _canonical(signed_info, c14n_algorithm, c14n_prefixes),
            padding.PKCS1v15(),
            hash_type(),
        )
    except InvalidSignature as exc:
        raise refuse(
            "The signature does not verify with the certificate in the request: sign with "
            "the private key of that certificate.",
            "bad_signature",
        ) from exc

    signed = tuple(
        _check_reference(reference, ids, (header, body, security), allow_sha1)
        for reference in references
    )
    result = VerifiedSecurity(certificate, signed, created, expires, method)
    if not result.covers(body):
        raise refuse("The signature must cover the SOAP Body.", "body_not_signed")
    if not result.covers(timestamp):
        raise refuse("The signature must cover the Timestamp.", "timestamp_not_signed")
    return result
