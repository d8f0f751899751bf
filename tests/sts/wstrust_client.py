"""An independent WS-Trust client for KOMBIT's STS, written only from the wire format.

It shares no code with the server (nothing from ``idp/``; lxml, signxml and cryptography
only), modelled on the production clients in REFERENCE-KOMBIT-STS.md §2 and §9.5:

- :func:`build_request` writes the RequestSecurityToken in each of the three real styles
  (:class:`Style`): KOMBIT's .NET library (``uuid:`` MessageID, signs the BST, sends
  ``trust:Issuer`` and a ``Lifetime``), Magenta's ``os2mo-fkk`` (signxml, BST not signed,
  millisecond timestamps valid ten minutes, pretty-printed, ``u:``/``o:`` prefixes) and
  itk-dev's PHP library (``wsa:To`` = the service entityID, ``mustUnderstand="true"``,
  ``ReplyTo``, TokenType first, every header signed);
- :func:`verify_response` checks the RSTR the way ``Kombit.OioIdws.WscCore`` does
  (§3.2: the signature in ``Header/Security`` verified with the *pinned* STS certificate,
  references by ``wsu:Id`` to Body, Action, RelatesTo and Timestamp, RelatesTo = our
  MessageID, Timestamp and Lifetime in the future) and then the assertion (§9.5 item 3),
  reading only what the signatures covered.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.verifier import SignatureConfiguration

S12 = "http://www.w3.org/2003/05/soap-envelope"
S11 = "http://schemas.xmlsoap.org/soap/envelope/"
A = "http://www.w3.org/2005/08/addressing"
O = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"  # noqa: E741
U = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
T = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
P = "http://schemas.xmlsoap.org/ws/2004/09/policy"
AU = "http://docs.oasis-open.org/wsfed/authorization/200706"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
B64 = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
CVR_URI = "dk:gov:saml:attribute:CvrNumberIdentifier"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
ID = f"{{{U}}}Id"


class Style(enum.Enum):
    DOTNET = "dotnet"  # Kombit.OioIdws.WscCore
    MAGENTA = "magenta"  # magenta-aps/os2mo-fkk
    ITKDEV = "itkdev"  # itk-dev/serviceplatformen SF1514


@dataclass(frozen=True)
class Identity:
    """The anvendersystem's certificate and private key."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()


@dataclass
class Request:
    """A built request and what the client remembers to check the answer."""

    xml: bytes
    message_id: str | None
    applies_to: str
    cvr: str
    style: Style
    sent_at: dt.datetime


def _seconds(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _bst(parent: etree._Element, b64: str, token_id: str | None) -> etree._Element:
    token = _sub(parent, f"{{{O}}}BinarySecurityToken", b64, ValueType=X509V3, EncodingType=B64)
    if token_id:
        token.set(ID, token_id)
    return token


def _rst(
    body: etree._Element,
    style: Style,
    *,
    applies_to: str,
    cvrs: list[str],
    use_key_b64: str | None,
    lifetime: dt.timedelta | None,
    now: dt.datetime,
    on_behalf_of: etree._Element | None,
    issuer: str | None,
) -> None:
    rst = etree.SubElement(body, f"{{{T}}}RequestSecurityToken", nsmap={"trust": T})
    if style is Style.DOTNET:
        rst.set("Context", str(uuid.uuid4()))
    parts = {
        "RequestType": lambda: _sub(rst, f"{{{T}}}RequestType", T + "/Issue"),
        "TokenType": lambda: _sub(
            rst,
            f"{{{T}}}TokenType",
            "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
        ),
        "KeyType": lambda: _sub(rst, f"{{{T}}}KeyType", T + "/PublicKey"),
    }
    head = {
        Style.DOTNET: ("RequestType", "TokenType", "KeyType"),
        Style.ITKDEV: ("TokenType", "RequestType", "KeyType"),
        Style.MAGENTA: (),
    }[style]
    for name in head:
        parts[name]()
    applies = etree.SubElement(rst, f"{{{P}}}AppliesTo", nsmap={"wsp": P})
    reference = etree.SubElement(applies, f"{{{A}}}EndpointReference", nsmap={"wsa": A})
    _sub(reference, f"{{{A}}}Address", applies_to)
    if cvrs:
        claims = etree.SubElement(rst, f"{{{T}}}Claims", nsmap={"auth": AU})
        claims.set("Dialect", AU + "/authclaims")
        for cvr in cvrs:
            claim = _sub(claims, f"{{{AU}}}ClaimType", Uri=CVR_URI, Optional="false")
            _sub(claim, f"{{{AU}}}Value", cvr)
    if style is Style.MAGENTA:  # KeyType, RequestType, TokenType after the claims
        for name in ("KeyType", "RequestType", "TokenType"):
            parts[name]()
    if use_key_b64 is not None:
        use_key = _sub(rst, f"{{{T}}}UseKey")
        key_id = {
            Style.DOTNET: f"uuid:{uuid.uuid4()}",
            Style.MAGENTA: "usekey-binary-security-token",
        }
        _bst(use_key, use_key_b64, key_id.get(style))
    if lifetime is not None:
        _sub(_sub(rst, f"{{{T}}}Lifetime"), f"{{{U}}}Expires", _seconds(now + lifetime))
    if on_behalf_of is not None:
        _sub(rst, f"{{{T}}}OnBehalfOf").append(on_behalf_of)
    if issuer is not None:
        reference = _sub(_sub(rst, f"{{{T}}}Issuer"), f"{{{A}}}EndpointReference")
        _sub(reference, f"{{{A}}}Address", issuer)


class _Signer(XMLSigner):
    def check_deprecated_methods(self) -> None:
        """Allow RSA-SHA1: WCF's default algorithm suite still sends it (§2.2)."""


def on_behalf_of_certificate(certificate: x509.Certificate) -> etree._Element:
    """The proxy case: the proxied system's certificate as a BinarySecurityToken."""
    holder = etree.Element("holder")
    b64 = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    return _bst(holder, b64, None)


def build_request(
    identity: Identity,
    *,
    sts_url: str,
    applies_to: str,
    cvr: str | list[str],
    style: Style = Style.DOTNET,
    use_key: x509.Certificate | None = None,
    omit_use_key: bool = False,
    lifetime: dt.timedelta | None = None,
    on_behalf_of: etree._Element | None = None,
    now: dt.datetime | None = None,
    timestamp_ttl: dt.timedelta | None = None,
    with_message_id: bool = True,
    soap: str = S12,
    sign: bool = True,
    signature_method: SignatureMethod = SignatureMethod.RSA_SHA256,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    issuer: str | None = None,
) -> Request:
    """A signed Issue request in ``style``; the knobs exist for the negative cases."""
    now = now or dt.datetime.now(dt.UTC)
    cvrs = [cvr] if isinstance(cvr, str) else list(cvr)
    use_key_b64 = (
        None
        if omit_use_key
        else base64.b64encode(
            (use_key or identity.cert).public_bytes(serialization.Encoding.DER)
        ).decode()
    )
    u_prefix = "wsu" if style is Style.DOTNET else "u"
    envelope = etree.Element(f"{{{soap}}}Envelope", nsmap={"s": soap, "a": A, u_prefix: U})
    header = _sub(envelope, f"{{{soap}}}Header")
    must = "true" if style is Style.ITKDEV else "1"
    message_id = None
    ids = {
        Style.DOTNET: ("action", "msgid", "to", "sec-ts", "sec-binsectoken", "body", "replyto"),
        Style.MAGENTA: (
            "action",
            "message-id",
            "to",
            "timestamp",
            "security-binary-security-token",
            "body",
            "replyto",
        ),
        Style.ITKDEV: ("Id-action", "Id-msgid", "Id-to", "TS-1", "X509-1", "Id-body", "Id-replyto"),
    }[style]
    action_id, msg_id, to_id, ts_id, bst_id, body_id, reply_id = ids
    action = _sub(header, f"{{{A}}}Action", T + "/RST/Issue")
    action.set(f"{{{soap}}}mustUnderstand", must)
    action.set(ID, action_id)
    signed = [action_id]
    if with_message_id:
        message_id = f"uuid:{uuid.uuid4()}" if style is Style.DOTNET else f"urn:uuid:{uuid.uuid4()}"
        _sub(header, f"{{{A}}}MessageID", message_id).set(ID, msg_id)
        signed.append(msg_id)
    if style is Style.ITKDEV:
        reply = _sub(header, f"{{{A}}}ReplyTo")
        reply.set(ID, reply_id)
        _sub(reply, f"{{{A}}}Address", ANONYMOUS)
        signed.append(reply_id)
    to = _sub(header, f"{{{A}}}To", applies_to if style is Style.ITKDEV else sts_url)
    to.set(ID, to_id)
    signed.append(to_id)
    if style is Style.MAGENTA:
        to.set(f"{{{soap}}}mustUnderstand", must)
    security = etree.SubElement(
        header, f"{{{O}}}Security", nsmap={"o": O} if style is Style.MAGENTA else {None: O}
    )
    security.set(f"{{{soap}}}mustUnderstand", must)
    ttl = timestamp_ttl or (
        dt.timedelta(minutes=10) if style is Style.MAGENTA else dt.timedelta(minutes=5)
    )
    stamp = _millis if style is Style.MAGENTA else _seconds
    timestamp = _sub(security, f"{{{U}}}Timestamp")
    timestamp.set(ID, ts_id)
    _sub(timestamp, f"{{{U}}}Created", stamp(now))
    _sub(timestamp, f"{{{U}}}Expires", stamp(now + ttl))
    signed.append(ts_id)
    if style is Style.ITKDEV:  # the BST before the Timestamp (both orders occur)
        timestamp.addprevious(_bst(etree.Element("holder"), identity.b64, bst_id))
    else:
        _bst(security, identity.b64, bst_id)
    if style is not Style.MAGENTA:
        signed.append(bst_id)
    body = _sub(envelope, f"{{{soap}}}Body")
    body.set(ID, body_id)
    signed.append(body_id)
    _rst(
        body,
        style,
        applies_to=applies_to,
        cvrs=cvrs,
        use_key_b64=use_key_b64,
        lifetime=lifetime,
        now=now,
        on_behalf_of=on_behalf_of,
        issuer=issuer if issuer is not None else (sts_url if style is Style.DOTNET else None),
    )
    if style is Style.MAGENTA:
        etree.indent(envelope)
    if sign:
        key_info = etree.Element(f"{{{DSIG}}}KeyInfo", nsmap={None: DSIG})
        token_reference = _sub(key_info, f"{{{O}}}SecurityTokenReference")
        _sub(token_reference, f"{{{O}}}Reference", URI="#" + bst_id, ValueType=X509V3)
        signer = _Signer(
            method=SignatureConstructionMethod.detached,
            signature_algorithm=signature_method,
            digest_algorithm=digest,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signer.namespaces = {None: DSIG}  # type: ignore[dict-item]
        signature = signer.sign(envelope, key=identity.key, reference_uri=signed, key_info=key_info)
        security.append(signature)
    xml = etree.tostring(envelope, xml_declaration=style is Style.ITKDEV, encoding="utf-8")
    return Request(xml, message_id, applies_to, cvrs[0] if cvrs else "", style, now)


# -- the response -------------------------------------------------------------------------


class RstrInvalid(AssertionError):
    """The response fails a check KOMBIT's client makes."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RstrInvalid(message)


def _instant(value: str | None) -> dt.datetime:
    text = (value or "").strip()
    _check(text.endswith("Z"), f"instant {text!r} is not UTC with Z")
    main, _, fraction = text[:-1].partition(".")
    moment = dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return moment + dt.timedelta(microseconds=int(fraction.ljust(6, "0")[:6] or 0))


@dataclass
class Token:
    """What the client takes from a verified response."""

    assertion: etree._Element  # the signed assertion as verified (the signature's own copy)
    assertion_xml: bytes  # verbatim from the response, for presenting it to a WSP
    lifetime_created: dt.datetime
    lifetime_expires: dt.datetime
    attributes: dict[str, list[str]] = field(default_factory=dict)
    privileges: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)
    holder_certificate: bytes = b""
    name_id: str = ""
    reference_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Fault:
    code: str
    subcode: str | None
    reason: str


def parse_fault(xml: bytes) -> Fault | None:
    """The SOAP fault of a response (1.2 or 1.1), or None when it is not a fault."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    fault = root.find(f"{{{S12}}}Body/{{{S12}}}Fault")
    if fault is not None:
        return Fault(
            code=fault.findtext(f"{{{S12}}}Code/{{{S12}}}Value") or "",
            subcode=fault.findtext(f"{{{S12}}}Code/{{{S12}}}Subcode/{{{S12}}}Value"),
            reason=fault.findtext(f"{{{S12}}}Reason/{{{S12}}}Text") or "",
        )
    fault = root.find(f"{{{S11}}}Body/{{{S11}}}Fault")
    if fault is not None:
        return Fault(fault.findtext("faultcode") or "", None, fault.findtext("faultstring") or "")
    return None


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def verify_response(
    xml: bytes,
    request: Request,
    *,
    sts_certificate: x509.Certificate,
    sts_issuer: str,
    client: x509.Certificate,
    soap: str = S12,
    now: dt.datetime | None = None,
) -> Token:
    """Every check of §9.5 items 2 and 3; the token, or :class:`RstrInvalid`."""
    now = now or dt.datetime.now(dt.UTC)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(xml, parser)
    _check(root.tag == f"{{{soap}}}Envelope", "not a SOAP envelope of the request's version")
    header, body = root.find(f"{{{soap}}}Header"), root.find(f"{{{soap}}}Body")
    _check(header is not None and body is not None, "Header and Body are required")
    assert header is not None and body is not None
    security = header.find(f"{{{O}}}Security")
    _check(security is not None, "no wsse:Security header")
    assert security is not None
    signatures = security.findall(f"{{{DSIG}}}Signature")
    _check(len(signatures) == 1, "exactly one Signature in Header/Security")

    # 1. the signature, with the pinned STS certificate (KeyInfo is not used for lookup)
    config = SignatureConfiguration(expect_references=4, location="./{*}Header/{*}Security/")
    results = XMLVerifier().verify(
        copy.deepcopy(root),
        x509_cert=_pem(sts_certificate),
        expect_config=config,
        ignore_ambiguous_key_info=True,
    )
    _check(isinstance(results, list) and len(results) == 4, "four signed references expected")
    # 2. the references by wsu:Id: Body, Action, RelatesTo, Timestamp
    uris = [
        reference.get("URI")
        for reference in signatures[0].findall(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}Reference")
    ]
    action = header.find(f"{{{A}}}Action")
    relates_to = header.find(f"{{{A}}}RelatesTo")
    timestamp = security.find(f"{{{U}}}Timestamp")
    for name, element in (
        ("Body", body),
        ("Action", action),
        ("RelatesTo", relates_to),
        ("Timestamp", timestamp),
    ):
        _check(element is not None, f"{name} is missing")
        assert element is not None
        element_id = element.get(ID)
        _check(bool(element_id), f"{name} has no wsu:Id")
        _check(f"#{element_id}" in uris, f"{name} is not signed")
        _check(
            len(root.xpath("//*[@*[local-name()='Id' or local-name()='ID']=$v]", v=element_id))
            == 1,
            f"{name}'s Id is not unique",
        )
    assert action is not None and relates_to is not None and timestamp is not None
    _check(action.text == T + "/RSTRC/IssueFinal", "Action is not RSTRC/IssueFinal")
    # 3. RelatesTo = our MessageID
    _check(relates_to.text == request.message_id, "RelatesTo is not the request's MessageID")
    # 4./5. Timestamp and Lifetime in the future
    _check(_instant(timestamp.findtext(f"{{{U}}}Expires")) > now, "the Timestamp has expired")
    responses = body.findall(
        f"{{{T}}}RequestSecurityTokenResponseCollection/{{{T}}}RequestSecurityTokenResponse"
    )
    _check(len(responses) == 1, "exactly one RSTRC with one RSTR")
    rstr = responses[0]
    created = _instant(rstr.findtext(f"{{{T}}}Lifetime/{{{U}}}Created"))
    expires = _instant(rstr.findtext(f"{{{T}}}Lifetime/{{{U}}}Expires"))
    _check(expires > now, "the Lifetime has expired")
    _check(
        rstr.findtext(f"{{{P}}}AppliesTo/{{{A}}}EndpointReference/{{{A}}}Address")
        == request.applies_to,
        "AppliesTo is not echoed",
    )
    assertions = rstr.findall(f"{{{T}}}RequestedSecurityToken/{{{SAML2}}}Assertion")
    _check(len(assertions) == 1, "exactly one assertion")
    assertion_id = assertions[0].get("ID")
    for kind in ("RequestedAttachedReference", "RequestedUnattachedReference"):
        key_identifier = rstr.findtext(
            f"{{{T}}}{kind}/{{{O}}}SecurityTokenReference/{{{O}}}KeyIdentifier"
        )
        _check(key_identifier == assertion_id, f"{kind} does not name the assertion")
    for name, value in (
        ("TokenType", "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"),
        ("RequestType", T + "/Issue"),
        ("KeyType", T + "/PublicKey"),
    ):
        _check(rstr.findtext(f"{{{T}}}{name}") == value, f"{name} is not {value}")

    token = _verify_assertion(
        etree.tostring(assertions[0]),
        request,
        sts_certificate=sts_certificate,
        sts_issuer=sts_issuer,
        client=client,
        now=now,
    )
    _check(
        token.lifetime_created == created and token.lifetime_expires == expires,
        "RSTR Lifetime differs from the assertion's Conditions",
    )
    token.reference_ids = [uri or "" for uri in uris]
    return token


def _verify_assertion(
    assertion_xml: bytes,
    request: Request,
    *,
    sts_certificate: x509.Certificate,
    sts_issuer: str,
    client: x509.Certificate,
    now: dt.datetime,
) -> Token:
    result = XMLVerifier().verify(
        assertion_xml, x509_cert=_pem(sts_certificate), ignore_ambiguous_key_info=True
    )
    assert not isinstance(result, list)
    signed = result.signed_xml
    assert signed is not None
    _check(signed.tag == f"{{{SAML2}}}Assertion", "the signature does not cover the assertion")
    n = f"{{{SAML2}}}"
    _check(signed.findtext(n + "Issuer") == sts_issuer, "wrong Issuer")
    _check(
        signed.find(n + "Issuer").get("Format")
        == "urn:oasis:names:tc:SAML:2.0:nameid-format:entity",
        "Issuer Format is not entity",
    )
    conditions = signed.find(n + "Conditions")
    assert conditions is not None
    not_before = _instant(conditions.get("NotBefore"))
    not_on_or_after = _instant(conditions.get("NotOnOrAfter"))
    _check(not_on_or_after - not_before <= dt.timedelta(hours=8), "lifetime over 8 hours")
    _check(
        not_before <= now + dt.timedelta(minutes=5) < not_on_or_after + dt.timedelta(minutes=5),
        "assertion not valid now",
    )
    audiences = conditions.findall(f"{n}AudienceRestriction/{n}Audience")
    _check([a.text for a in audiences] == [request.applies_to], "Audience is not AppliesTo")
    confirmations = signed.findall(f"{n}Subject/{n}SubjectConfirmation")
    _check(len(confirmations) == 1, "exactly one SubjectConfirmation")
    confirmation = confirmations[0]
    _check(
        confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
        "not holder-of-key",
    )
    data = confirmation.find(n + "SubjectConfirmationData")
    assert data is not None
    _check(data.get("Recipient") == request.applies_to, "Recipient is not AppliesTo")
    _check(_instant(data.get("NotOnOrAfter")) == not_on_or_after, "confirmation lifetime differs")
    xsi_type = data.get(f"{{{XSI_NS}}}type") or ""
    prefix, _, local = xsi_type.rpartition(":")
    _check(
        local == "KeyInfoConfirmationDataType" and data.nsmap.get(prefix or None) == SAML2,
        "SubjectConfirmationData xsi:type does not resolve to saml:KeyInfoConfirmationDataType",
    )
    certificates = data.findall(f"{{{DSIG}}}KeyInfo/{{{DSIG}}}X509Data/{{{DSIG}}}X509Certificate")
    _check(len(certificates) == 1, "exactly one holder-of-key certificate")
    holder = base64.b64decode("".join((certificates[0].text or "").split()))
    _check(
        holder == client.public_bytes(serialization.Encoding.DER),
        "the holder-of-key certificate is not byte-equal to ours",
    )
    name_id = signed.find(f"{n}Subject/{n}NameID")
    assert name_id is not None
    attributes: dict[str, list[str]] = {}
    for attribute in signed.findall(f"{n}AttributeStatement/{n}Attribute"):
        _check(
            attribute.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
            f"attribute {attribute.get('Name')} is not basic",
        )
        attributes[attribute.get("Name") or ""] = [
            v.text or "" for v in attribute.findall(n + "AttributeValue")
        ]
    _check(attributes.get(CVR_URI) == [request.cvr], "the CVR attribute is not the requested claim")
    _check(
        attributes.get("dk:gov:saml:attribute:AssuranceLevel") == ["3"], "AssuranceLevel is not 3"
    )
    _check(attributes.get("dk:gov:saml:attribute:SpecVer") == ["DK-SAML-2.0"], "SpecVer")
    _check(attributes.get("dk:gov:saml:attribute:KombitSpecVer") == ["1.0"], "KombitSpecVer")
    bpp = attributes.get("dk:gov:saml:attribute:Privileges_intermediate")
    _check(bpp is not None and len(bpp) == 1, "one Privileges_intermediate value")
    assert bpp is not None
    privileges = _decode_bpp(bpp[0])
    _check(
        signed.findtext(f"{n}AuthnStatement/{n}AuthnContext/{n}AuthnContextClassRef")
        == "urn:oasis:names:tc:SAML:2.0:ac:classes:X509",
        "AuthnContextClassRef is not X509",
    )
    return Token(
        assertion=signed,
        assertion_xml=assertion_xml,
        lifetime_created=not_before,
        lifetime_expires=not_on_or_after,
        attributes=attributes,
        privileges=privileges,
        holder_certificate=holder,
        name_id=(name_id.text or "") + "|" + (name_id.get("Format") or ""),
    )


def _decode_bpp(value: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """OIO-BPP: [(scope, privilege, [(constraint name, value)])], one per privilege."""
    document = etree.fromstring(
        base64.b64decode(value), etree.XMLParser(resolve_entities=False, no_network=True)
    )
    _check(
        document.tag == "{http://itst.dk/oiosaml/basic_privilege_profile}PrivilegeList",
        "not OIO-BPP",
    )
    found = []
    for group in document.findall("PrivilegeGroup"):
        constraints = [(c.get("Name") or "", c.text or "") for c in group.findall("Constraint")]
        for privilege in group.findall("Privilege"):
            found.append((group.get("Scope") or "", privilege.text or "", constraints))
    return found
