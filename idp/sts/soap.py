"""A: KOMBIT's SOAP WS-Trust 1.3 Issue: reading the request and writing faults.

:func:`read_request` reads the ``RequestSecurityToken`` of an envelope whose WS-Security
header :mod:`idp.sts.wssecurity` has verified, as leniently as KOMBIT
(REFERENCE-KOMBIT-STS.md §2.3, §9.1): elements in any order and matched by name,
``Claims`` with an unqualified or ``wst:`` Dialect, ``ClaimType``/``Value`` by local name,
either policy namespace for AppliesTo. :func:`holder_of_key` checks that ``UseKey`` is the
signer's certificate or one registered to the same system. :func:`fault` writes a SOAP
fault carrying KOMBIT's numeric code in the request's SOAP version (1.2, or 1.1 answered
in kind). The flow from request to RSTR is :func:`idp.sts.soap_views.handle`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from idp.sts import core
from idp.sts.certificates import sha256_hex
from idp.sts.core import MALFORMED, UNSUPPORTED, StsRefusal, StsServices
from idp.sts.wsconstants import (
    ACTION_FAULT,
    CVR_CLAIM,
    ISSUE,
    PUBLIC_KEY,
    SAML_TOKEN_TYPES,
    SOAP11,
    SOAP12,
    UNSPECIFIED_MESSAGE,
    WSA,
    WSP,
    WSP15,
    WSSE,
    WST,
    WSU,
)
from idp.sts.wssecurity import binary_security_token, parse_instant

log = logging.getLogger(__name__)

_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
CONTENT_TYPES = {SOAP12: "application/soap+xml; charset=utf-8", SOAP11: "text/xml; charset=utf-8"}


@dataclass(frozen=True)
class SoapResponse:
    """What the view sends: HTTP status, content type and the envelope's bytes."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class TokenRequest:
    """A ``RequestSecurityToken`` as read from a verified envelope."""

    soap_ns: str
    message_id: str | None
    context: str | None
    applies_to: str
    cvr: str
    use_key: x509.Certificate | None
    lifetime: dt.timedelta | None
    on_behalf_of: core.OnBehalfOf | None


def _malformed(message: str, reason: str) -> StsRefusal:
    return StsRefusal(MALFORMED, message, reason)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _named(parent: etree._Element, name: str) -> list[etree._Element]:
    """Children by local name (clients differ in namespaces: §2.3)."""
    return [child for child in parent if _local(child) == name]


def _wst(parent: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in parent if child.tag == f"{{{WST}}}{name}"]


def _at_most_one(parent: etree._Element, name: str) -> etree._Element | None:
    found = _wst(parent, name)
    if len(found) > 1:
        raise _malformed(f"RequestSecurityToken has more than one {name}.", "bad_rst")
    return found[0] if found else None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    if len(element):
        raise _malformed(f"{_local(element)} must contain text only.", "bad_rst")
    return (element.text or "").strip()


def envelope_version(root: etree._Element) -> str:
    if root.tag == f"{{{SOAP12}}}Envelope":
        return SOAP12
    if root.tag == f"{{{SOAP11}}}Envelope":
        return SOAP11
    raise _malformed("The request is not a SOAP 1.2 (or 1.1) Envelope.", "not_soap")


def message_id(root: etree._Element, soap_ns: str) -> str | None:
    header = root.find(f"{{{soap_ns}}}Header")
    found = header.findall(f"{{{WSA}}}MessageID") if header is not None else []
    return (found[0].text or "").strip() or None if len(found) == 1 else None


def _applies_to(rst: etree._Element) -> str:
    applies = [
        child for child in rst if child.tag in (f"{{{WSP}}}AppliesTo", f"{{{WSP15}}}AppliesTo")
    ]
    if len(applies) != 1:
        raise _malformed(
            "The request must name the service in exactly one AppliesTo "
            "(wsp:AppliesTo/wsa:EndpointReference/wsa:Address = the service's entityID).",
            "no_applies_to",
        )
    addresses = [
        address
        for reference in _named(applies[0], "EndpointReference")
        for address in _named(reference, "Address")
    ]
    if len(addresses) != 1 or not _text(addresses[0]):
        raise _malformed(
            "AppliesTo must hold one EndpointReference/Address with the service's entityID.",
            "no_applies_to",
        )
    return addresses[0].text or ""


def _cvr(rst: etree._Element) -> str:
    claims = [
        claim_type
        for claims in _wst(rst, "Claims")
        for claim_type in _named(claims, "ClaimType")
        if (claim_type.get("Uri") or "").strip() == CVR_CLAIM
    ]
    if len(claims) != 1:
        raise _malformed(
            f'The request must have exactly one CVR claim (Claims/ClaimType Uri="{CVR_CLAIM}"), '
            f"it has {len(claims)}: name the municipality (anvenderkontekst) once.",
            "cvr_claims",
        )
    values = _named(claims[0], "Value")
    if len(values) != 1:
        raise _malformed("The CVR claim must have exactly one Value.", "cvr_claims")
    return _text(values[0]) or ""


def _certificate_text(text: str | None) -> x509.Certificate:
    try:
        der = base64.b64decode("".join((text or "").split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise _malformed(
            "OnBehalfOf must hold a SAML assertion, a BinarySecurityToken or a base64 DER "
            "certificate.",
            "bad_on_behalf_of",
        ) from exc


def _use_key(
    rst: etree._Element, security_tokens: dict[str, etree._Element]
) -> x509.Certificate | None:
    use_key = _at_most_one(rst, "UseKey")
    if use_key is None:
        return None
    tokens = [child for child in use_key if child.tag == f"{{{WSSE}}}BinarySecurityToken"]
    if len(tokens) == 1:
        return binary_security_token(tokens[0], "UseKey")
    reference = use_key.find(f"{{{WSSE}}}SecurityTokenReference/{{{WSSE}}}Reference")
    uri = reference.get("URI") if reference is not None else None
    if uri and uri.startswith("#") and uri[1:] in security_tokens:
        return binary_security_token(security_tokens[uri[1:]], "UseKey")
    raise _malformed(
        "UseKey must hold the client's certificate as a wsse:BinarySecurityToken.", "bad_use_key"
    )


def _on_behalf_of(rst: etree._Element) -> core.OnBehalfOf | None:
    element = _at_most_one(rst, "OnBehalfOf")
    if element is None:
        return None
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        if not (element.text or "").strip():
            return None
        return core.OnBehalfOf(certificate=_certificate_text(element.text))
    if len(children) != 1:
        raise _malformed("OnBehalfOf must hold exactly one token.", "bad_on_behalf_of")
    token = children[0]
    if token.tag == f"{{{_SAML}}}Assertion":
        return core.OnBehalfOf(bootstrap_assertion=token)
    if token.tag == f"{{{WSSE}}}BinarySecurityToken":
        return core.OnBehalfOf(certificate=binary_security_token(token, "OnBehalfOf"))
    raise _malformed(
        "OnBehalfOf must hold a saml:Assertion (a bootstrap token) or a "
        "wsse:BinarySecurityToken (the proxied system's certificate).",
        "bad_on_behalf_of",
    )


def _lifetime(rst: etree._Element, now: dt.datetime) -> dt.timedelta | None:
    element = _at_most_one(rst, "Lifetime")
    if element is None:
        return None
    expires = _named(element, "Expires")
    if len(expires) != 1:
        return None  # only Created: KOMBIT's default lifetime
    requested = parse_instant(expires[0].text, "Lifetime/Expires") - now
    if requested <= dt.timedelta(0):
        raise _malformed("The requested Lifetime/Expires is in the past.", "bad_lifetime")
    return requested


def read_request(
    root: etree._Element, soap_ns: str, body: etree._Element, now: dt.datetime
) -> TokenRequest:
    """The RequestSecurityToken of a (verified) envelope; :class:`StsRefusal` if malformed."""
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1 or children[0].tag != f"{{{WST}}}RequestSecurityToken":
        raise _malformed(
            "The Body must hold exactly one WS-Trust 1.3 RequestSecurityToken.", "not_rst"
        )
    rst = children[0]
    request_type = _text(_at_most_one(rst, "RequestType"))
    if request_type != ISSUE:
        raise StsRefusal(
            UNSUPPORTED, f"Only RequestType {ISSUE} is supported.", "unsupported_request_type"
        )
    token_type = _text(_at_most_one(rst, "TokenType"))
    if token_type is not None and token_type not in SAML_TOKEN_TYPES:
        raise StsRefusal(
            UNSUPPORTED,
            f"Only SAML 2.0 tokens are issued (TokenType {sorted(SAML_TOKEN_TYPES)[0]}).",
            "unsupported_token_type",
        )
    key_type = _text(_at_most_one(rst, "KeyType"))
    if key_type is not None and key_type != PUBLIC_KEY:
        raise StsRefusal(
            UNSUPPORTED,
            f"Only holder-of-key tokens are issued (KeyType {PUBLIC_KEY}).",
            "unsupported_key_type",
        )
    header = root.find(f"{{{soap_ns}}}Header")
    security = header.find(f"{{{WSSE}}}Security") if header is not None else None
    tokens = {
        token.get(f"{{{WSU}}}Id", ""): token
        for token in (security if security is not None else [])
        if token.tag == f"{{{WSSE}}}BinarySecurityToken"
    }
    return TokenRequest(
        soap_ns=soap_ns,
        message_id=message_id(root, soap_ns),
        context=rst.get("Context"),
        applies_to=_applies_to(rst),
        cvr=_cvr(rst),
        use_key=_use_key(rst, tokens),
        lifetime=_lifetime(rst, now),
        on_behalf_of=_on_behalf_of(rst),
    )


def holder_of_key(
    services: StsServices, signer: x509.Certificate, use_key: x509.Certificate | None
) -> x509.Certificate:
    """The certificate the token binds to: UseKey, which must be the signer's certificate
    or another one registered to the same system (rotation); absent UseKey: the signer's."""
    if use_key is None or use_key == signer:
        return signer
    registry = services.registry
    signer_system = registry.lookup(services.database, sha256_hex(signer))
    use_key_system = registry.lookup(services.database, sha256_hex(use_key))
    if signer_system is None or signer_system != use_key_system:
        raise StsRefusal(
            core.UNKNOWN_CONFIGURATION,
            "UseKey must be the certificate that signed the request, or another certificate "
            "registered to the same system.",
            "use_key_mismatch",
        )
    services.trust.check(signer, services.now())  # the signer must be usable too
    return use_key


# -- faults -------------------------------------------------------------------------------


def fault(refusal: StsRefusal, soap_ns: str, relates_to: str | None) -> SoapResponse:
    """A SOAP fault with KOMBIT's numeric code in Code/Subcode/Value and in the Reason."""
    sender = refusal.is_client_error
    text = f"{refusal.code}: {refusal.message}"
    envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"s": soap_ns, "a": WSA})
    header = etree.SubElement(envelope, f"{{{soap_ns}}}Header")
    action = etree.SubElement(header, f"{{{WSA}}}Action")
    action.set(f"{{{soap_ns}}}mustUnderstand", "1")
    action.text = ACTION_FAULT
    etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to or UNSPECIFIED_MESSAGE
    body = etree.SubElement(envelope, f"{{{soap_ns}}}Body")
    element = etree.SubElement(body, f"{{{soap_ns}}}Fault")
    if soap_ns == SOAP12:
        code = etree.SubElement(element, f"{{{soap_ns}}}Code")
        etree.SubElement(code, f"{{{soap_ns}}}Value").text = "s:Sender" if sender else "s:Receiver"
        subcode = etree.SubElement(code, f"{{{soap_ns}}}Subcode")
        etree.SubElement(subcode, f"{{{soap_ns}}}Value").text = refusal.code
        reason = etree.SubElement(element, f"{{{soap_ns}}}Reason")
        reason_text = etree.SubElement(reason, f"{{{soap_ns}}}Text")
        reason_text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason_text.text = text
    else:
        etree.SubElement(element, "faultcode").text = "s:Client" if sender else "s:Server"
        etree.SubElement(element, "faultstring").text = text
    return SoapResponse(
        500,
        CONTENT_TYPES[soap_ns],
        etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
    )
