"""The signed RequestSecurityTokenResponseCollection that carries the issued assertion.

Shaped like KOMBIT's ext-test STS response (REFERENCE-KOMBIT-STS.md §3.1) because KOMBIT's
.NET client checks it element by element (§3.2): ``wsa:Action`` = ``…/RSTRC/IssueFinal``,
``wsa:RelatesTo`` = the request's MessageID (``…/addressing/unspecified`` when there was
none), no ``wsa:MessageID`` (KOMBIT sends none), a ``wsu:Timestamp`` valid for five
minutes with millisecond instants, and one ``ds:Signature`` in the Security header: exclusive
c14n, RSA-SHA256, one SHA-256 reference each to Body, Action, RelatesTo and Timestamp by
``wsu:Id``, ``KeyInfo`` by ``X509SubjectKeyIdentifier`` (the RFC 5280 method-1 SKI of the
signing certificate). The Body echoes ``Context`` and ``AppliesTo`` and carries
``Lifetime`` (= the assertion's validity), the assertion, and its attached and unattached
references (SAMLID) that WSP calls copy.

The same active key signs the assertion and this message, as at KOMBIT.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from idp.saml.signing import Signer
from idp.sts.assertion import millis
from idp.sts.core import IssuedAssertion, StsServices
from idp.sts.soap import CONTENT_TYPES, SoapResponse, TokenRequest
from idp.sts.wsconstants import (
    ACTION_ISSUE_FINAL,
    DS,
    EXC_C14N,
    ISSUE,
    PUBLIC_KEY,
    RSA_SHA256,
    SAML_ID,
    SAML_TOKEN_TYPE,
    SHA256,
    SKI,
    UNSPECIFIED_MESSAGE,
    WSA,
    WSP,
    WSSE,
    WSSE11,
    WST,
    WSU,
)

TIMESTAMP_LIFETIME = dt.timedelta(minutes=5)
_ID = f"{{{WSU}}}Id"
_SKI_CACHE: dict[str, str] = {}


def subject_key_identifier(signer: Signer) -> str:
    """Base64 SHA-1 of the PKCS#1 RSAPublicKey (RFC 5280 method 1), as KOMBIT's KeyInfo."""
    cached = _SKI_CACHE.get(signer.kid)
    if cached is None:
        public = signer.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        cached = base64.b64encode(hashlib.sha1(public, usedforsecurity=False).digest()).decode()
        _SKI_CACHE[signer.kid] = cached
    return cached


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _token_reference(parent: etree._Element, assertion_id: str) -> None:
    reference = etree.SubElement(
        parent, f"{{{WSSE}}}SecurityTokenReference", nsmap={None: WSSE, "b": WSSE11}
    )
    reference.set(f"{{{WSSE11}}}TokenType", SAML_TOKEN_TYPE)
    identifier = etree.SubElement(reference, f"{{{WSSE}}}KeyIdentifier", ValueType=SAML_ID)
    identifier.text = assertion_id


def _body(request: TokenRequest, issued: IssuedAssertion, soap_ns: str) -> etree._Element:
    body = etree.Element(f"{{{soap_ns}}}Body")
    body.set(_ID, "_1")
    collection = etree.SubElement(
        body, f"{{{WST}}}RequestSecurityTokenResponseCollection", nsmap={"trust": WST}
    )
    response = etree.SubElement(collection, f"{{{WST}}}RequestSecurityTokenResponse")
    if request.context is not None:
        response.set("Context", request.context)
    lifetime = etree.SubElement(response, f"{{{WST}}}Lifetime")
    etree.SubElement(lifetime, f"{{{WSU}}}Created").text = millis(issued.not_before)
    etree.SubElement(lifetime, f"{{{WSU}}}Expires").text = millis(issued.not_on_or_after)
    applies_to = etree.SubElement(response, f"{{{WSP}}}AppliesTo", nsmap={"wsp": WSP})
    reference = etree.SubElement(applies_to, f"{{{WSA}}}EndpointReference")
    etree.SubElement(reference, f"{{{WSA}}}Address").text = request.applies_to
    token = etree.SubElement(response, f"{{{WST}}}RequestedSecurityToken")
    token.append(copy.deepcopy(issued.element))
    _token_reference(
        etree.SubElement(response, f"{{{WST}}}RequestedAttachedReference"), issued.assertion_id
    )
    _token_reference(
        etree.SubElement(response, f"{{{WST}}}RequestedUnattachedReference"), issued.assertion_id
    )
    etree.SubElement(response, f"{{{WST}}}TokenType").text = SAML_TOKEN_TYPE
    etree.SubElement(response, f"{{{WST}}}RequestType").text = ISSUE
    etree.SubElement(response, f"{{{WST}}}KeyType").text = PUBLIC_KEY
    return body


def _sign(
    security: etree._Element, targets: list[etree._Element], signer: Signer
) -> etree._Element:
    """A detached signature over ``targets`` (each by its wsu:Id), appended to Security."""
    signature = etree.SubElement(security, f"{{{DS}}}Signature", nsmap={None: DS})
    signed_info = etree.SubElement(signature, f"{{{DS}}}SignedInfo")
    etree.SubElement(signed_info, f"{{{DS}}}CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(signed_info, f"{{{DS}}}SignatureMethod", Algorithm=RSA_SHA256)
    for target in targets:
        reference = etree.SubElement(
            signed_info, f"{{{DS}}}Reference", URI="#" + target.get(_ID, "")
        )
        transforms = etree.SubElement(reference, f"{{{DS}}}Transforms")
        etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=EXC_C14N)
        etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=SHA256)
        digest = hashlib.sha256(_c14n(target)).digest()
        etree.SubElement(reference, f"{{{DS}}}DigestValue").text = base64.b64encode(digest).decode()
    value = etree.SubElement(signature, f"{{{DS}}}SignatureValue")
    key_info = etree.SubElement(signature, f"{{{DS}}}KeyInfo")
    token_reference = etree.SubElement(key_info, f"{{{WSSE}}}SecurityTokenReference")
    identifier = etree.SubElement(token_reference, f"{{{WSSE}}}KeyIdentifier", ValueType=SKI)
    identifier.text = subject_key_identifier(signer)
    raw = signer.private_key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    value.text = base64.b64encode(raw).decode()
    return signature


def build_rstr(
    services: StsServices, request: TokenRequest, issued: IssuedAssertion
) -> SoapResponse:
    """The signed response envelope (HTTP 200) in the request's SOAP version."""
    soap_ns = request.soap_ns
    envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"s": soap_ns, "a": WSA, "u": WSU})
    header = etree.SubElement(envelope, f"{{{soap_ns}}}Header")
    must_understand = f"{{{soap_ns}}}mustUnderstand"
    action = etree.SubElement(header, f"{{{WSA}}}Action", {must_understand: "1", _ID: "_2"})
    action.text = ACTION_ISSUE_FINAL
    relates_to = etree.SubElement(header, f"{{{WSA}}}RelatesTo", {_ID: "_3"})
    relates_to.text = request.message_id or UNSPECIFIED_MESSAGE
    security = etree.SubElement(
        header, f"{{{WSSE}}}Security", {must_understand: "1"}, nsmap={"o": WSSE}
    )
    timestamp = etree.SubElement(security, f"{{{WSU}}}Timestamp", {_ID: f"uuid-{uuid.uuid4()}-1"})
    now = services.now()
    etree.SubElement(timestamp, f"{{{WSU}}}Created").text = millis(now)
    etree.SubElement(timestamp, f"{{{WSU}}}Expires").text = millis(now + TIMESTAMP_LIFETIME)
    body = _body(request, issued, soap_ns)
    envelope.append(body)
    _sign(security, [body, action, relates_to, timestamp], services.keys.signer())
    return SoapResponse(
        200,
        CONTENT_TYPES[soap_ns],
        etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
    )
