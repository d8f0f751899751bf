"""Strict structural validation of a SAML 2.0 Response: a hand-written subset of the XSDs.

Not a full XSD validation: the elements a fagsystem reads (Response, Status, Assertion,
Subject, Conditions, statements, Attribute) are checked for the children the SAML 2.0
schemas allow, in the order they allow, and for their required attributes. Anything
in a place the schema does not allow is ``schema_invalid``. Elements we never read
(Extensions, Advice, StatusDetail, KeyInfo) are not descended into, but the wrapping
checks in ``verifier.saml`` look at the whole tree regardless.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from verifier.errors import InvalidToken
from verifier.saml._names import DS, SAML, SAMLP, XENC, q
from verifier.saml._time import parse_datetime

_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
UNBOUNDED = math.inf


@dataclass(frozen=True)
class _Particle:
    tags: frozenset[str]
    min: int = 0
    max: float = 1


def _p(*tags: str, min: int = 0, max: float = 1) -> _Particle:
    return _Particle(frozenset(tags), min, max)


@dataclass(frozen=True)
class _Type:
    sequence: Sequence[_Particle] = ()
    required: Sequence[str] = ()
    times: Sequence[str] = ()
    ids: Sequence[str] = ()
    text: bool = False


_STATEMENTS = (
    q(SAML, "Statement"),
    q(SAML, "AuthnStatement"),
    q(SAML, "AuthzDecisionStatement"),
    q(SAML, "AttributeStatement"),
)
_IDENTIFIERS = (q(SAML, "BaseID"), q(SAML, "NameID"), q(SAML, "EncryptedID"))

_TYPES: dict[str, _Type] = {
    q(SAMLP, "Response"): _Type(
        sequence=(
            _p(q(SAML, "Issuer")),
            _p(q(DS, "Signature")),
            _p(q(SAMLP, "Extensions")),
            _p(q(SAMLP, "Status"), min=1),
            _p(q(SAML, "Assertion"), q(SAML, "EncryptedAssertion"), max=UNBOUNDED),
        ),
        required=("ID", "Version", "IssueInstant"),
        times=("IssueInstant",),
        ids=("ID",),
    ),
    q(SAMLP, "Status"): _Type(
        sequence=(
            _p(q(SAMLP, "StatusCode"), min=1),
            _p(q(SAMLP, "StatusMessage")),
            _p(q(SAMLP, "StatusDetail")),
        )
    ),
    q(SAMLP, "StatusCode"): _Type(sequence=(_p(q(SAMLP, "StatusCode")),), required=("Value",)),
    q(SAML, "Assertion"): _Type(
        sequence=(
            _p(q(SAML, "Issuer"), min=1),
            _p(q(DS, "Signature")),
            _p(q(SAML, "Subject")),
            _p(q(SAML, "Conditions")),
            _p(q(SAML, "Advice")),
            _p(*_STATEMENTS, max=UNBOUNDED),
        ),
        required=("ID", "Version", "IssueInstant"),
        times=("IssueInstant",),
        ids=("ID",),
    ),
    q(SAML, "EncryptedAssertion"): _Type(
        sequence=(_p(q(XENC, "EncryptedData"), min=1), _p(q(XENC, "EncryptedKey"), max=UNBOUNDED))
    ),
    q(SAML, "Issuer"): _Type(text=True),
    q(SAML, "NameID"): _Type(text=True),
    q(SAML, "Subject"): _Type(
        sequence=(
            _p(*_IDENTIFIERS),
            _p(q(SAML, "SubjectConfirmation"), max=UNBOUNDED),
        )
    ),
    q(SAML, "SubjectConfirmation"): _Type(
        sequence=(_p(*_IDENTIFIERS), _p(q(SAML, "SubjectConfirmationData"))),
        required=("Method",),
    ),
    q(SAML, "SubjectConfirmationData"): _Type(
        sequence=(_p(q(DS, "KeyInfo"), max=UNBOUNDED),),
        times=("NotBefore", "NotOnOrAfter"),
    ),
    q(SAML, "Conditions"): _Type(
        sequence=(
            _p(
                q(SAML, "Condition"),
                q(SAML, "AudienceRestriction"),
                q(SAML, "OneTimeUse"),
                q(SAML, "ProxyRestriction"),
                max=UNBOUNDED,
            ),
        ),
        times=("NotBefore", "NotOnOrAfter"),
    ),
    q(SAML, "AudienceRestriction"): _Type(
        sequence=(_p(q(SAML, "Audience"), min=1, max=UNBOUNDED),)
    ),
    q(SAML, "Audience"): _Type(text=True),
    q(SAML, "AuthnStatement"): _Type(
        sequence=(_p(q(SAML, "SubjectLocality")), _p(q(SAML, "AuthnContext"), min=1)),
        required=("AuthnInstant",),
        times=("AuthnInstant", "SessionNotOnOrAfter"),
    ),
    q(SAML, "AuthnContext"): _Type(
        sequence=(
            _p(q(SAML, "AuthnContextClassRef")),
            _p(q(SAML, "AuthnContextDecl"), q(SAML, "AuthnContextDeclRef")),
            _p(q(SAML, "AuthenticatingAuthority"), max=UNBOUNDED),
        )
    ),
    q(SAML, "AuthnContextClassRef"): _Type(text=True),
    q(SAML, "AttributeStatement"): _Type(
        sequence=(_p(q(SAML, "Attribute"), q(SAML, "EncryptedAttribute"), min=1, max=UNBOUNDED),)
    ),
    q(SAML, "Attribute"): _Type(
        sequence=(_p(q(SAML, "AttributeValue"), max=UNBOUNDED),), required=("Name",)
    ),
    q(SAML, "AttributeValue"): _Type(text=True),
}


def validate(element: etree._Element) -> None:
    """Raise ``schema_invalid`` unless ``element`` (Response or Assertion) fits the subset."""
    kind = _TYPES.get(element.tag)
    if kind is None:
        return
    for name in kind.required:
        if element.get(name) is None:
            raise InvalidToken("schema_invalid", f"{_local(element)} lacks attribute {name}")
    if (
        element.tag in (q(SAMLP, "Response"), q(SAML, "Assertion"))
        and element.get("Version") != "2.0"
    ):
        raise InvalidToken("schema_invalid", f"{_local(element)} Version must be 2.0")
    for name in kind.ids:
        if not _NCNAME.match(element.get(name) or ""):
            raise InvalidToken("schema_invalid", f"{_local(element)} {name} is not an xs:ID")
    for name in kind.times:
        if element.get(name) is not None:
            parse_datetime(element.get(name), f"{_local(element)}@{name}")
    children = [c for c in element if isinstance(c.tag, str)]
    if kind.text:
        if children:
            raise InvalidToken("schema_invalid", f"{_local(element)} must hold text only")
        return
    if (element.text or "").strip() or any((c.tail or "").strip() for c in element):
        raise InvalidToken("schema_invalid", f"{_local(element)} must not hold text")
    _match(element, children, kind.sequence)
    for child in children:
        validate(child)


def _match(
    parent: etree._Element, children: list[etree._Element], sequence: Sequence[_Particle]
) -> None:
    position = 0
    for particle in sequence:
        count = 0
        while (
            position < len(children)
            and children[position].tag in particle.tags
            and count < particle.max
        ):
            position += 1
            count += 1
        if count < particle.min:
            wanted = " or ".join(sorted(_short(t) for t in particle.tags))
            raise InvalidToken("schema_invalid", f"{_local(parent)} needs {wanted}")
    if position < len(children):
        raise InvalidToken(
            "schema_invalid",
            f"{_short(children[position].tag)} is not allowed there in {_local(parent)}",
        )


def _short(tag: str) -> str:
    return tag.rpartition("}")[2]


def _local(element: etree._Element) -> str:
    return _short(element.tag)
