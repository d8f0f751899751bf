"""The KOMBIT STS token: a signed SAML 2.0 holder-of-key assertion; and bootstrap tokens.

The shape follows KOMBIT's ext-test STS byte for byte where clients look
(REFERENCE-KOMBIT-STS.md §3.1, REFERENCE-KOMBIT.md §1.8): default SAML namespace without a
prefix, ``ID="_"+GUID``, instants in milliseconds with ``Z``, Issuer (format entity), the
enveloped signature right after Issuer (exc-c14n, RSA-SHA256, the STS certificate in
KeyInfo), NameID X509SubjectName = the system certificate's subject in .NET style,
holder-of-key SubjectConfirmation whose ``KeyInfoConfirmationDataType`` data carries the
caller's certificate, Recipient = Audience = AppliesTo, the five basic-format attributes,
and an X509 AuthnStatement. Not encrypted.

Bootstrap tokens (OIO Bootstrap Token Profile): a user's assertion from our own IdP that a
fagsystem may exchange here for a system token on the user's behalf.
:func:`build_bootstrap_token` makes one (``Audience`` = the STS issuer, no AuthnStatement,
signed with our key); :func:`verify_bootstrap` accepts only those: signed by one of our
published keys, Issuer = our STS issuer or SAML IdP entityID, the STS issuer among its
audiences, within its validity.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from authz.bpp import encode_bpp
from idp.saml.constants import ATTR_CVR, ATTR_PERSISTENT_UUID, DS, NAMEID_PERSISTENT, SAML, XSI
from idp.saml.signing import VerifyKey, sign, verify_enveloped
from idp.saml.xmlutil import SamlError, parse_instant, text_of
from idp.sts.core import (
    UNKNOWN_CONFIGURATION,
    Grant,
    IssuedAssertion,
    StsRefusal,
    StsServices,
)

_A = f"{{{SAML}}}"
_DS = f"{{{DS}}}"
CM_HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
NAMEID_X509 = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
AC_X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
KOMBIT_CVR = "dk:gov:saml:attribute:CvrNumberIdentifier"
KOMBIT_ASSURANCE = "dk:gov:saml:attribute:AssuranceLevel"
KOMBIT_SPEC_VER = "dk:gov:saml:attribute:SpecVer"
KOMBIT_KOMBIT_SPEC_VER = "dk:gov:saml:attribute:KombitSpecVer"
KOMBIT_PRIVILEGES = "dk:gov:saml:attribute:Privileges_intermediate"
BOOTSTRAP_ATTRIBUTE = "https://data.gov.dk/model/core/eid/bootstrapToken"


def millis(moment: dt.datetime) -> str:
    """xs:dateTime in UTC with milliseconds and ``Z``, as KOMBIT writes it."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _attribute(statement: etree._Element, name: str, value: str) -> None:
    attribute = etree.SubElement(statement, _A + "Attribute", Name=name, NameFormat=ATTRNAME_BASIC)
    etree.SubElement(attribute, _A + "AttributeValue").text = value


def _certificate_b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def build_hok_assertion(services: StsServices, grant: Grant) -> IssuedAssertion:
    """The signed holder-of-key assertion for ``grant``."""
    issued, expires = grant.issued_at, grant.not_on_or_after
    assertion_id = "_" + str(uuid.uuid4())
    assertion = etree.Element(
        _A + "Assertion",
        nsmap={None: SAML},
        ID=assertion_id,
        IssueInstant=millis(issued),
        Version="2.0",
    )
    issuer = etree.SubElement(assertion, _A + "Issuer", Format=NAMEID_ENTITY)
    issuer.text = services.issuer
    subject = etree.SubElement(assertion, _A + "Subject")
    name_id = etree.SubElement(
        subject,
        _A + "NameID",
        Format=NAMEID_X509 if grant.subject_format == "system" else NAMEID_PERSISTENT,
    )
    name_id.text = grant.subject_name
    confirmation = etree.SubElement(subject, _A + "SubjectConfirmation", Method=CM_HOLDER_OF_KEY)
    data = etree.SubElement(
        confirmation,
        _A + "SubjectConfirmationData",
        NotBefore=millis(issued),
        NotOnOrAfter=millis(expires),
        Recipient=grant.applies_to,
    )
    # Unprefixed QName: the default namespace is SAML's, as in KOMBIT's tokens.
    data.set(f"{{{XSI}}}type", "KeyInfoConfirmationDataType")
    key_info = etree.SubElement(data, _DS + "KeyInfo", nsmap={"ds": DS})
    x509_data = etree.SubElement(key_info, _DS + "X509Data")
    etree.SubElement(x509_data, _DS + "X509Certificate").text = _certificate_b64(
        grant.caller.certificate
    )
    conditions = etree.SubElement(
        assertion, _A + "Conditions", NotBefore=millis(issued), NotOnOrAfter=millis(expires)
    )
    restriction = etree.SubElement(conditions, _A + "AudienceRestriction")
    etree.SubElement(restriction, _A + "Audience").text = grant.applies_to
    statement = etree.SubElement(assertion, _A + "AttributeStatement")
    _attribute(statement, KOMBIT_CVR, grant.cvr)
    _attribute(statement, KOMBIT_ASSURANCE, "3")
    _attribute(statement, KOMBIT_SPEC_VER, "DK-SAML-2.0")
    _attribute(statement, KOMBIT_KOMBIT_SPEC_VER, "1.0")
    _attribute(statement, KOMBIT_PRIVILEGES, encode_bpp(grant.groups))
    authn = etree.SubElement(assertion, _A + "AuthnStatement", AuthnInstant=millis(issued))
    context = etree.SubElement(authn, _A + "AuthnContext")
    etree.SubElement(context, _A + "AuthnContextClassRef").text = AC_X509
    sign(assertion, services.keys.signer())
    return IssuedAssertion(
        element=assertion,
        xml=etree.tostring(assertion),
        assertion_id=assertion_id,
        issued_at=issued,
        not_before=issued,
        not_on_or_after=expires,
        applies_to=grant.applies_to,
    )


# -- bootstrap tokens -------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapUser:
    user_id: str
    cvr: str
    assertion_id: str
    not_on_or_after: dt.datetime


def build_bootstrap_token(
    services: StsServices,
    *,
    user_id: str,
    cvr: str,
    now: dt.datetime,
    lifetime: dt.timedelta = dt.timedelta(hours=8),
) -> etree._Element:
    """A signed bootstrap token for a user (what our IdP hands a fagsystem to exchange)."""
    assertion = etree.Element(
        _A + "Assertion",
        nsmap={"saml": SAML},
        ID="_" + str(uuid.uuid4()),
        IssueInstant=millis(now),
        Version="2.0",
    )
    etree.SubElement(assertion, _A + "Issuer").text = services.issuer
    subject = etree.SubElement(assertion, _A + "Subject")
    etree.SubElement(subject, _A + "NameID", Format=NAMEID_PERSISTENT).text = user_id
    confirmation = etree.SubElement(subject, _A + "SubjectConfirmation", Method=CM_HOLDER_OF_KEY)
    etree.SubElement(
        confirmation, _A + "SubjectConfirmationData", NotOnOrAfter=millis(now + lifetime)
    )
    conditions = etree.SubElement(
        assertion, _A + "Conditions", NotBefore=millis(now), NotOnOrAfter=millis(now + lifetime)
    )
    restriction = etree.SubElement(conditions, _A + "AudienceRestriction")
    etree.SubElement(restriction, _A + "Audience").text = services.issuer
    statement = etree.SubElement(assertion, _A + "AttributeStatement")
    for name, value in ((ATTR_PERSISTENT_UUID, user_id), (ATTR_CVR, cvr)):
        attribute = etree.SubElement(statement, _A + "Attribute", Name=name)
        etree.SubElement(attribute, _A + "AttributeValue").text = value
    sign(assertion, services.keys.signer())
    return assertion


def add_bootstrap_attribute(
    services: StsServices, assertion: etree._Element, *, user_id: str, cvr: str, now: dt.datetime
) -> None:
    """Append the bootstrap-token attribute (OIOSAML 3) to a user's SAML assertion.

    Its value is base64 of a signed bootstrap token for the user (Audience = the STS), which
    the receiving fagsystem may exchange at the STS endpoints (``OnBehalfOf``) for a system
    token with the user's privileges, if its serviceaftale allows on-behalf-of. It lives as
    long as the SSO session may, at most 8 hours. Call it before the assertion is signed.
    """
    hours = min(8.0, services.settings.session_absolute_hours)
    token = build_bootstrap_token(
        services, user_id=user_id, cvr=cvr, now=now, lifetime=dt.timedelta(hours=hours)
    )
    statement = assertion.find(_A + "AttributeStatement")
    if statement is None:
        statement = etree.SubElement(assertion, _A + "AttributeStatement")
    attribute = etree.SubElement(
        statement,
        _A + "Attribute",
        Name=BOOTSTRAP_ATTRIBUTE,
        NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    )
    value = etree.SubElement(attribute, _A + "AttributeValue")
    value.text = base64.b64encode(etree.tostring(token)).decode("ascii")


def _bad(message: str, reason: str = "bad_bootstrap") -> StsRefusal:
    return StsRefusal(
        UNKNOWN_CONFIGURATION,
        f"The bootstrap token is not accepted: {message}. Log the user in again to get a new one.",
        reason,
    )


def _our_keys(services: StsServices) -> list[VerifyKey]:
    from certs.keys import KeyManager

    keys: list[VerifyKey] = []
    manager = KeyManager(services.settings.data_dir, issuer=services.settings.base_url)
    with services.database.session() as session:
        for row in manager.published(session):
            if row.kty == "RSA":
                certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
                keys.append(VerifyKey.from_certificate(certificate))
    return keys


def _signed_content(assertion: etree._Element) -> etree._Element:
    """A copy of a verified assertion without its ``ds:Signature``: exactly what the
    enveloped signature covered. Anything inside the Signature (``KeyInfo`` is not
    digested) could otherwise be read as a user, CVR or audience (signature wrapping)."""
    content = copy.deepcopy(assertion)
    for signature in [child for child in content if child.tag == _DS + "Signature"]:
        content.remove(signature)
    return content


def _attribute_value(assertion: etree._Element, name: str) -> str | None:
    """The one value of the named attribute, read from the AttributeStatements only;
    comments inside a value (outside the digest) are refused by :func:`text_of`."""
    values = [
        value
        for statement in assertion.findall(_A + "AttributeStatement")
        for attribute in statement.findall(_A + "Attribute")
        if attribute.get("Name") == name
        for value in attribute.findall(_A + "AttributeValue")
    ]
    if len(values) > 1:
        raise _bad(f"it has more than one {name} value")
    return text_of(values[0]) if values else None


def verify_bootstrap(
    services: StsServices, assertion: etree._Element, now: dt.datetime
) -> BootstrapUser:
    """The user of a bootstrap token issued by our own IdP; :class:`StsRefusal` otherwise."""
    if assertion.tag != _A + "Assertion":
        raise _bad("it is not a SAML 2.0 Assertion")
    issuer = (assertion.findtext(_A + "Issuer") or "").strip()
    settings = services.settings
    ours = {services.issuer, settings.saml_entity_id or f"{settings.base_url}/saml/metadata"}
    if issuer not in ours:
        raise _bad(f"it was issued by {issuer or 'nobody'}, not by this IdP")
    try:
        signed = verify_enveloped(assertion, _our_keys(services))
    except SamlError as exc:
        raise _bad(f"its signature does not verify ({exc})") from exc
    if not signed:
        raise _bad("it is not signed")
    assertion = _signed_content(assertion)  # from here on, read only what was signed
    conditions = assertion.find(_A + "Conditions")
    try:
        not_before = parse_instant(conditions.get("NotBefore")) if conditions is not None else now
        not_after = parse_instant(conditions.get("NotOnOrAfter") if conditions is not None else "")
    except SamlError as exc:
        raise _bad("its validity period is missing or malformed") from exc
    skew = dt.timedelta(seconds=settings.saml_clock_skew_seconds)
    if not (not_before - skew <= now < not_after):
        raise _bad("it has expired or is not yet valid", "bootstrap_expired")
    try:
        audiences = {
            text_of(audience)
            for audience in assertion.findall(
                f"{_A}Conditions/{_A}AudienceRestriction/{_A}Audience"
            )
        }
        name_id = text_of(assertion.find(f"{_A}Subject/{_A}NameID"))
        user_id = _attribute_value(assertion, ATTR_PERSISTENT_UUID) or name_id
        cvr = _attribute_value(assertion, ATTR_CVR) or ""
    except SamlError as exc:
        raise _bad(f"it is malformed ({exc})") from exc
    if services.issuer not in audiences:
        raise _bad(f"its audience does not include this STS ({services.issuer})")
    if not user_id or not cvr:
        raise _bad("it names no user or no CVR")
    if name_id and name_id != user_id:
        raise _bad("its NameID and its UUID attribute name different users")
    return BootstrapUser(user_id, cvr, assertion.get("ID", ""), not_after)
