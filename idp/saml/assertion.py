"""The OIOSAML 3.0 Response and Assertion, built with lxml element APIs.

Every value goes in as element text or an attribute value through lxml, never through
string formatting, so a display name such as
``</saml:AttributeValue><saml:Attribute Name="...privilegesIntermediate">`` stays text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from idp.saml.constants import (
    ATTR_CVR,
    ATTR_EMAIL,
    ATTR_FIRST_NAME,
    ATTR_FULL_NAME,
    ATTR_KOMBIT_SPEC_VER,
    ATTR_LAST_NAME,
    ATTR_LOA,
    ATTR_ORG_NAME,
    ATTR_PERSISTENT_UUID,
    ATTR_PRIVILEGES,
    ATTR_SPEC_VERSION,
    ATTRNAME_URI,
    CM_BEARER,
    KOMBIT_SPEC_VER,
    NAMEID_PERSISTENT,
    NAMEID_X509,
    SAML,
    SAMLP,
    SPEC_VERSION,
    STATUS_SUCCESS,
    loa_uri,
)
from idp.saml.xmlutil import instant, new_id

_P = f"{{{SAMLP}}}"
_A = f"{{{SAML}}}"
NSMAP = {"samlp": SAMLP, "saml": SAML}


@dataclass(frozen=True)
class Subject:
    """The person the assertion is about, as the directory and the login know them."""

    user_id: str
    cvr: str
    org_name: str
    loa: str
    auth_instant: dt.datetime
    session_index: str
    full_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Audience:
    """Where the assertion goes and what it answers."""

    sp_entity_id: str
    acs_url: str
    in_response_to: str | None
    name_id_format: str = NAMEID_PERSISTENT
    personal_data: bool = True


def name_id_value(subject: Subject, name_id_format: str) -> str:
    if name_id_format == NAMEID_X509:
        # KOMBIT's convention (REFERENCE-KOMBIT.md §1.3), each value escaped as RFC 4514
        # says, so a display name such as "Eve,Serial=bbbb" cannot add or replace an RDN.
        rdns = (
            ("C", "DK"),
            ("O", subject.cvr),
            ("CN", subject.full_name or ""),
            ("Serial", subject.user_id),
        )
        return ",".join(f"{name}={rfc4514_escape(value)}" for name, value in rdns)
    return subject.user_id


def rfc4514_escape(value: str) -> str:
    """An attribute value for an RFC 4514 string (§2.4), as ``cryptography`` escapes it."""
    for char in ("\\", '"', "+", ",", ";", "<", ">"):
        value = value.replace(char, "\\" + char)
    value = value.replace("\0", "\\00")
    if value[:1] == "#" or (value[:1] == " " and len(value) > 1):
        value = "\\" + value
    if value.endswith(" "):
        value = value[:-1] + "\\ "
    return value


def _attribute(parent: etree._Element, name: str, values: Sequence[str]) -> None:
    attribute = etree.SubElement(parent, _A + "Attribute", Name=name, NameFormat=ATTRNAME_URI)
    for value in values:
        etree.SubElement(attribute, _A + "AttributeValue").text = value


def attributes(subject: Subject, privileges_b64: str, personal_data: bool) -> list[tuple[str, str]]:
    """The OIOSAML 3.0 attributes (DOMAIN.md), in a fixed order."""
    result = [
        (ATTR_SPEC_VERSION, SPEC_VERSION),
        (ATTR_KOMBIT_SPEC_VER, KOMBIT_SPEC_VER),
        (ATTR_LOA, subject.loa),
        (ATTR_CVR, subject.cvr),
        (ATTR_ORG_NAME, subject.org_name),
        (ATTR_PERSISTENT_UUID, subject.user_id),
    ]
    if personal_data:
        for name, value in (
            (ATTR_EMAIL, subject.email),
            (ATTR_FIRST_NAME, subject.first_name),
            (ATTR_LAST_NAME, subject.last_name),
            (ATTR_FULL_NAME, subject.full_name),
        ):
            if value:
                result.append((name, value))
    result.append((ATTR_PRIVILEGES, privileges_b64))
    return result


def build_assertion(
    *,
    issuer: str,
    subject: Subject,
    audience: Audience,
    privileges_b64: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> etree._Element:
    """One saml:Assertion; sign and encrypt it afterwards."""
    expires = instant(now + lifetime)
    assertion = etree.Element(
        _A + "Assertion",
        nsmap={"saml": SAML},
        ID=new_id(),
        Version="2.0",
        IssueInstant=instant(now),
    )
    etree.SubElement(assertion, _A + "Issuer").text = issuer
    subject_element = etree.SubElement(assertion, _A + "Subject")
    name_id = etree.SubElement(
        subject_element,
        _A + "NameID",
        Format=audience.name_id_format,
        SPNameQualifier=audience.sp_entity_id,
    )
    if audience.name_id_format == NAMEID_PERSISTENT:
        name_id.set("NameQualifier", issuer)
    name_id.text = name_id_value(subject, audience.name_id_format)
    confirmation = etree.SubElement(subject_element, _A + "SubjectConfirmation", Method=CM_BEARER)
    data = etree.SubElement(
        confirmation,
        _A + "SubjectConfirmationData",
        NotOnOrAfter=expires,
        Recipient=audience.acs_url,
    )
    if audience.in_response_to:
        data.set("InResponseTo", audience.in_response_to)
    conditions = etree.SubElement(
        assertion, _A + "Conditions", NotBefore=instant(now), NotOnOrAfter=expires
    )
    restriction = etree.SubElement(conditions, _A + "AudienceRestriction")
    etree.SubElement(restriction, _A + "Audience").text = audience.sp_entity_id
    statement = etree.SubElement(
        assertion,
        _A + "AuthnStatement",
        AuthnInstant=instant(subject.auth_instant),
        SessionIndex=subject.session_index,
    )
    context = etree.SubElement(statement, _A + "AuthnContext")
    etree.SubElement(context, _A + "AuthnContextClassRef").text = loa_uri(subject.loa)
    attribute_statement = etree.SubElement(assertion, _A + "AttributeStatement")
    for name, value in attributes(subject, privileges_b64, audience.personal_data):
        _attribute(attribute_statement, name, [value])
    return assertion


def build_response(
    *,
    issuer: str,
    destination: str,
    in_response_to: str | None,
    now: dt.datetime,
    status: str = STATUS_SUCCESS,
    sub_status: str | None = None,
    message: str | None = None,
) -> etree._Element:
    """A samlp:Response with its Status; the assertion is appended by the caller."""
    response = etree.Element(
        _P + "Response",
        nsmap=NSMAP,
        ID=new_id(),
        Version="2.0",
        IssueInstant=instant(now),
        Destination=destination,
    )
    if in_response_to:
        response.set("InResponseTo", in_response_to)
    etree.SubElement(response, _A + "Issuer").text = issuer
    status_element = etree.SubElement(response, _P + "Status")
    code = etree.SubElement(status_element, _P + "StatusCode", Value=status)
    if sub_status:
        etree.SubElement(code, _P + "StatusCode", Value=sub_status)
    if message:
        etree.SubElement(status_element, _P + "StatusMessage").text = message
    return response
