"""Verify a SAML 2.0 Response posted to a fagsystem's ACS (OIOSAML 3.0 web SSO).

The order matters and is the point of this module:

1. bounded size, base64, UTF-8 only, DTDs and entities refused before parsing;
2. wrapping checks on the whole tree: one Response at the root, exactly one
   Assertion (or EncryptedAssertion) and only as its child, every ``ds:Signature``
   a direct child of the element its single Reference names, IDs unique;
3. structural validation (:mod:`verifier.saml._schema`), no comments in the assertion;
4. the signatures, checked with signxml against the metadata's pinned certificates
   only (KeyInfo is never used to find a key);
5. everything afterwards is read from signxml's re-parsed copy of the signed bytes,
   never from the posted tree;
6. issuer, destination, recipient, audience, InResponseTo, time, and finally the
   replay cache.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidInput, SignXMLException

from verifier._xml import full_text, parse_untrusted
from verifier.errors import InvalidToken
from verifier.privileges import PrivilegeSet, from_bpp
from verifier.replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from verifier.saml import _schema
from verifier.saml._decrypt import PrivateKeyLike, decrypt_assertion
from verifier.saml._names import BEARER, DS, SAML, SAMLP, STATUS_SUCCESS, q
from verifier.saml._time import optional_datetime, parse_datetime
from verifier.saml.metadata import IdpMetadata, MetadataCache

__all__ = [
    "Assertion",
    "IdpMetadata",
    "MemoryReplayCache",
    "MetadataCache",
    "RedisReplayCache",
    "ReplayCache",
    "verify_response",
]

MAX_RESPONSE_SIZE = 512 * 1024
DEFAULT_CLOCK_SKEW = 60
MAX_CLOCK_SKEW = 180

PRIVILEGES_ATTRIBUTES = (
    "https://data.gov.dk/model/core/eid/privilegesIntermediate",
    "dk:gov:saml:attribute:Privileges_intermediate",
)
LOA_ATTRIBUTE = "https://data.gov.dk/concept/core/nsis/loa"
CVR_ATTRIBUTE = "https://data.gov.dk/model/core/eid/professional/cvr"

_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.SHA256_RSA_MGF1,
        SignatureMethod.SHA384_RSA_MGF1,
        SignatureMethod.SHA512_RSA_MGF1,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
_DIGEST_ALGORITHMS = frozenset(
    {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
)
_SIGNATURE_URIS = frozenset(m.value for m in _SIGNATURE_METHODS)
_DIGEST_URIS = frozenset(d.value for d in _DIGEST_ALGORITHMS)
_ALLOWED_TRANSFORMS = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    }
)
_ALLOWED_C14N = frozenset({"http://www.w3.org/2001/10/xml-exc-c14n#"})
_ID_ATTRIBUTES = ("ID", "Id", "id", "{http://www.w3.org/XML/1998/namespace}id")

#: The process-wide replay cache used when ``replay_cache`` is not given.
DEFAULT_REPLAY_CACHE: ReplayCache = MemoryReplayCache()


@dataclass(frozen=True)
class Assertion:
    """What a verified assertion says; every field was read from signed bytes."""

    id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    attributes: Mapping[str, list[str]]
    privileges: PrivilegeSet
    session_index: str | None
    not_on_or_after: datetime
    authn_instant: datetime | None = None
    authn_context: str | None = None
    in_response_to: str | None = None
    audiences: tuple[str, ...] = field(default_factory=tuple)

    def attribute(self, name: str) -> str | None:
        """The first value of attribute ``name``, or None."""
        values = self.attributes.get(name)
        return values[0] if values else None

    @property
    def loa(self) -> str | None:
        """NSIS assurance level: ``Low``, ``Substantial`` or ``High``."""
        return self.attribute(LOA_ATTRIBUTE)

    @property
    def cvr(self) -> str | None:
        """The CVR of the municipality the user acts for."""
        return self.attribute(CVR_ATTRIBUTE)


def verify_response(
    saml_response: str | bytes,
    *,
    idp_metadata: str | bytes | IdpMetadata | MetadataCache,
    sp_entity_id: str,
    acs_url: str,
    request_id: str | None = None,
    decryption_key: PrivateKeyLike | None = None,
    replay_cache: ReplayCache | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    now: datetime | None = None,
) -> Assertion:
    """Verify the ``SAMLResponse`` form field as posted (base64) and return its assertion.

    ``idp_metadata`` is the IdP's metadata XML (or a parsed :class:`IdpMetadata`, or a
    :class:`MetadataCache`); only its signing certificates are trusted. ``request_id``
    is the ID of the AuthnRequest this response answers: when given, the response must
    answer exactly it; when None, only unsolicited responses (no InResponseTo) pass.
    ``decryption_key`` (RSA private key, PEM or DER) opens an EncryptedAssertion.
    Assertion IDs are remembered in ``replay_cache`` (in-process by default) until
    they expire. ``clock_skew`` seconds (at most 180) are allowed on every time check.

    Raises :class:`verifier.InvalidToken` with a ``reason`` when anything is wrong.
    """
    if not 0 <= clock_skew <= MAX_CLOCK_SKEW:
        raise ValueError(f"clock_skew must be between 0 and {MAX_CLOCK_SKEW} seconds")
    metadata = _metadata(idp_metadata)
    root = parse_untrusted(_decode_posted(saml_response), max_size=MAX_RESPONSE_SIZE)
    _check_wrapping(root)
    _check_unique_ids(root)
    _schema.validate(root)
    for plain in root.iterchildren(q(SAML, "Assertion")):
        _check_no_comments(plain)

    signed_response = _verify_signature(root, metadata) if _signature(root) is not None else None
    response = signed_response if signed_response is not None else root
    (child,) = [
        c for c in response if c.tag in (q(SAML, "Assertion"), q(SAML, "EncryptedAssertion"))
    ]
    if child.tag == q(SAML, "EncryptedAssertion"):
        assertion_element = _decrypted(child, decryption_key)
    else:
        assertion_element = child
    if _signature(assertion_element) is not None:
        assertion_element = _verify_signature(assertion_element, metadata)
    elif signed_response is None:
        raise InvalidToken("unsigned", "neither the assertion nor the response is signed")

    current = now or datetime.now(UTC)
    skew = timedelta(seconds=clock_skew)
    _check_response(response, metadata, acs_url=acs_url, request_id=request_id)
    assertion = _read_assertion(
        assertion_element,
        metadata,
        sp_entity_id=sp_entity_id,
        acs_url=acs_url,
        request_id=request_id,
        now=current,
        skew=skew,
    )
    cache = replay_cache if replay_cache is not None else DEFAULT_REPLAY_CACHE
    expires = assertion.not_on_or_after + skew
    if not cache.add(f"saml:{assertion.issuer}:{assertion.id}", expires.timestamp()):
        raise InvalidToken("replay", f"assertion {assertion.id} was seen before")
    return assertion


# --- input ------------------------------------------------------------------------------


def _metadata(value: str | bytes | IdpMetadata | MetadataCache) -> IdpMetadata:
    if isinstance(value, IdpMetadata):
        return value
    if isinstance(value, MetadataCache):
        return value.metadata()
    return _parsed_metadata(value.encode("utf-8") if isinstance(value, str) else value)


_metadata_lock = threading.Lock()
_metadata_memo: dict[bytes, IdpMetadata] = {}


def _parsed_metadata(xml: bytes) -> IdpMetadata:
    """Metadata parsed once per distinct document (fagsystems pass the same bytes each time)."""
    with _metadata_lock:
        cached = _metadata_memo.get(xml)
    if cached is not None and (
        cached.valid_until is None or cached.valid_until > datetime.now(UTC)
    ):
        return cached
    parsed = IdpMetadata.parse(xml)
    with _metadata_lock:
        if len(_metadata_memo) > 16:
            _metadata_memo.clear()
        _metadata_memo[xml] = parsed
    return parsed


def _decode_posted(saml_response: str | bytes) -> bytes:
    raw = (
        saml_response.encode("ascii", "replace")
        if isinstance(saml_response, str)
        else saml_response
    )
    raw = b"".join(raw.split())
    if len(raw) > MAX_RESPONSE_SIZE * 4 // 3 + 4:
        raise InvalidToken("too_large", "SAMLResponse too large")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed", "SAMLResponse is not base64") from exc


# --- wrapping and structure -------------------------------------------------------------


def _signature(element: etree._Element) -> etree._Element | None:
    signatures = element.findall(q(DS, "Signature"))
    if len(signatures) > 1:
        raise InvalidToken("xsw", f"{len(signatures)} signatures on one element")
    return signatures[0] if signatures else None


def _check_wrapping(root: etree._Element) -> None:
    if root.tag != q(SAMLP, "Response"):
        raise InvalidToken("schema_invalid", f"{root.tag} is not a samlp:Response")
    for element in root.iter(q(SAMLP, "Response")):
        if element is not root:
            raise InvalidToken("xsw", "a Response inside the Response")
    assertions = [e for e in root.iter(q(SAML, "Assertion"), q(SAML, "EncryptedAssertion"))]
    misplaced = [e for e in assertions if e.getparent() is not root]
    if misplaced:
        raise InvalidToken("xsw", "an assertion nested inside another element")
    if not assertions:
        raise InvalidToken("no_assertion", "the response carries no assertion")
    if len(assertions) > 1:
        raise InvalidToken("multiple_assertions", f"{len(assertions)} assertions in one response")
    _check_signature_placement(root)


def _check_signature_placement(root: etree._Element) -> None:
    """Every signature sits directly in the element it signs, and signs only that."""
    for signature in root.iter(q(DS, "Signature")):
        parent = signature.getparent()
        assert parent is not None
        if parent.tag not in (q(SAMLP, "Response"), q(SAML, "Assertion")):
            raise InvalidToken("xsw", f"a signature inside {parent.tag}")
        if signature.find(q(DS, "Object")) is not None:
            raise InvalidToken("xsw", "ds:Object inside a signature")
        references = signature.findall(f"{q(DS, 'SignedInfo')}/{q(DS, 'Reference')}")
        if len(references) != 1:
            raise InvalidToken("xsw", f"signature with {len(references)} references")
        if references[0].get("URI") != "#" + (parent.get("ID") or "\x00"):
            raise InvalidToken(
                "xsw", f"signature on {parent.tag} references {references[0].get('URI')!r}"
            )
        c14n = signature.find(f"{q(DS, 'SignedInfo')}/{q(DS, 'CanonicalizationMethod')}")
        if c14n is None or c14n.get("Algorithm") not in _ALLOWED_C14N:
            raise InvalidToken("bad_signature", "SignedInfo must use exclusive c14n")
        method = signature.find(f"{q(DS, 'SignedInfo')}/{q(DS, 'SignatureMethod')}")
        if method is None or method.get("Algorithm") not in _SIGNATURE_URIS:
            algorithm = method.get("Algorithm") if method is not None else None
            raise InvalidToken("alg_not_allowed", f"signature method {algorithm!r}")
        digest = references[0].find(q(DS, "DigestMethod"))
        if digest is None or digest.get("Algorithm") not in _DIGEST_URIS:
            algorithm = digest.get("Algorithm") if digest is not None else None
            raise InvalidToken("alg_not_allowed", f"digest method {algorithm!r}")
        for transform in references[0].iterfind(f"{q(DS, 'Transforms')}/{q(DS, 'Transform')}"):
            if transform.get("Algorithm") not in _ALLOWED_TRANSFORMS:
                raise InvalidToken(
                    "bad_signature", f"transform {transform.get('Algorithm')!r} is not accepted"
                )


def _check_unique_ids(root: etree._Element) -> None:
    seen: set[str] = set()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name in _ID_ATTRIBUTES:
            value = element.get(name)
            if value is None:
                continue
            if value in seen:
                raise InvalidToken("xsw", f"ID {value!r} occurs twice")
            seen.add(value)


def _check_no_comments(assertion: etree._Element) -> None:
    for _ in assertion.iter(etree.Comment, etree.ProcessingInstruction):
        raise InvalidToken("xml_comment", "comments and processing instructions in the assertion")


def _decrypted(encrypted: etree._Element, key: PrivateKeyLike | None) -> etree._Element:
    plaintext = decrypt_assertion(encrypted, key)
    if plaintext.lstrip().startswith(b"<?xml"):
        plaintext = plaintext.split(b"?>", 1)[1]
    # The plaintext may use prefixes declared on the Response; give them back.
    declarations = b" ".join(
        b'xmlns:%s="%s"' % (prefix.encode(), uri.encode())
        for prefix, uri in encrypted.nsmap.items()
        if prefix and uri and '"' not in uri
    )
    wrapped = b"<wrapper " + declarations + b">" + plaintext + b"</wrapper>"
    wrapper = parse_untrusted(wrapped, max_size=MAX_RESPONSE_SIZE)
    children = [c for c in wrapper if isinstance(c.tag, str)]
    if len(children) != 1 or children[0].tag != q(SAML, "Assertion"):
        raise InvalidToken("decryption_failed", "EncryptedAssertion does not hold one Assertion")
    if any((c.tail or "").strip() for c in wrapper) or (wrapper.text or "").strip():
        raise InvalidToken("decryption_failed", "text around the decrypted Assertion")
    assertion = children[0]
    _check_no_comments(assertion)
    if any(e is not assertion for e in wrapper.iter(q(SAML, "Assertion"), q(SAMLP, "Response"))):
        raise InvalidToken("xsw", "an assertion inside the encrypted assertion")
    _check_signature_placement(assertion)
    _check_unique_ids(assertion)
    return assertion


# --- signatures -------------------------------------------------------------------------


def _verify_signature(element: etree._Element, metadata: IdpMetadata) -> etree._Element:
    """The signed element as signxml re-parsed it from the verified bytes."""
    _schema.validate(element)
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGEST_ALGORITHMS,
    )
    result = None
    for certificate in metadata.signing_certificates:
        try:
            result = XMLVerifier().verify(element, x509_cert=certificate, expect_config=config)
            break
        except InvalidInput as exc:
            raise InvalidToken("bad_signature", f"unusable signature: {exc}") from exc
        except SignXMLException:
            continue
    if result is None:
        raise InvalidToken("bad_signature", "signature does not verify with a pinned IdP key")
    assert not isinstance(result, list)
    signed = result.signed_xml
    if signed is None or signed.tag != element.tag or signed.get("ID") != element.get("ID"):
        raise InvalidToken("xsw", "the signature covers another element")
    return signed


# --- semantic checks --------------------------------------------------------------------


def _check_in_response_to(value: str | None, request_id: str | None, where: str) -> None:
    if request_id is None:
        if value is not None:
            raise InvalidToken(
                "unknown_in_response_to", f"{where} answers request {value!r}, none expected"
            )
    elif value is None:
        raise InvalidToken("unsolicited", f"{where} has no InResponseTo, expected {request_id!r}")
    elif value != request_id:
        raise InvalidToken(
            "in_response_to_mismatch", f"{where} answers {value!r}, not {request_id!r}"
        )


def _check_response(
    response: etree._Element, metadata: IdpMetadata, *, acs_url: str, request_id: str | None
) -> None:
    status = response.find(f"{q(SAMLP, 'Status')}/{q(SAMLP, 'StatusCode')}")
    if status is None or status.get("Value") != STATUS_SUCCESS:
        code = status.get("Value") if status is not None else None
        raise InvalidToken("status_not_success", f"IdP answered {code!r}")
    issuer = response.find(q(SAML, "Issuer"))
    if issuer is not None and full_text(issuer).strip() != metadata.entity_id:
        raise InvalidToken("wrong_issuer", "response issuer is not the IdP in the metadata")
    if response.get("Destination") != acs_url:
        raise InvalidToken(
            "wrong_destination",
            f"Destination {response.get('Destination')!r}, expected {acs_url!r}",
        )
    _check_in_response_to(response.get("InResponseTo"), request_id, "response")


def _check_window(
    not_before: datetime | None,
    not_on_or_after: datetime | None,
    now: datetime,
    skew: timedelta,
    what: str,
) -> None:
    if not_before is not None and now + skew < not_before:
        raise InvalidToken("not_yet_valid", f"{what} is not valid before {not_before.isoformat()}")
    if not_on_or_after is not None and now - skew >= not_on_or_after:
        raise InvalidToken("expired", f"{what} expired at {not_on_or_after.isoformat()}")


def _bearer_confirmation(
    subject: etree._Element,
    *,
    acs_url: str,
    request_id: str | None,
    now: datetime,
    skew: timedelta,
) -> tuple[datetime, str | None]:
    failures: list[InvalidToken] = []
    for confirmation in subject.findall(q(SAML, "SubjectConfirmation")):
        if confirmation.get("Method") != BEARER:
            continue
        data = confirmation.find(q(SAML, "SubjectConfirmationData"))
        try:
            if data is None:
                raise InvalidToken("schema_invalid", "bearer confirmation without data")
            if data.get("Recipient") != acs_url:
                raise InvalidToken(
                    "wrong_recipient", f"Recipient {data.get('Recipient')!r}, expected {acs_url!r}"
                )
            not_on_or_after = parse_datetime(
                data.get("NotOnOrAfter"), "SubjectConfirmationData@NotOnOrAfter"
            )
            not_before = optional_datetime(data.get("NotBefore"), "NotBefore")
            _check_window(not_before, not_on_or_after, now, skew, "subject confirmation")
            _check_in_response_to(data.get("InResponseTo"), request_id, "subject confirmation")
            return not_on_or_after, data.get("InResponseTo")
        except InvalidToken as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    raise InvalidToken("schema_invalid", "no bearer SubjectConfirmation")


def _read_assertion(
    element: etree._Element,
    metadata: IdpMetadata,
    *,
    sp_entity_id: str,
    acs_url: str,
    request_id: str | None,
    now: datetime,
    skew: timedelta,
) -> Assertion:
    _schema.validate(element)
    issuer_element = element.find(q(SAML, "Issuer"))
    assert issuer_element is not None
    issuer = full_text(issuer_element).strip()
    if issuer != metadata.entity_id:
        raise InvalidToken(
            "wrong_issuer", f"assertion issuer {issuer!r} is not {metadata.entity_id!r}"
        )
    issued = parse_datetime(element.get("IssueInstant"), "Assertion@IssueInstant")
    if now + skew < issued:
        raise InvalidToken("not_yet_valid", "assertion issued in the future")

    subject = element.find(q(SAML, "Subject"))
    name_id = subject.find(q(SAML, "NameID")) if subject is not None else None
    if subject is None or name_id is None:
        raise InvalidToken("schema_invalid", "assertion has no Subject/NameID")
    confirmed_until, in_response_to = _bearer_confirmation(
        subject, acs_url=acs_url, request_id=request_id, now=now, skew=skew
    )

    conditions = element.find(q(SAML, "Conditions"))
    if conditions is None:
        raise InvalidToken("schema_invalid", "assertion has no Conditions")
    conditions_end = optional_datetime(conditions.get("NotOnOrAfter"), "Conditions@NotOnOrAfter")
    _check_window(
        optional_datetime(conditions.get("NotBefore"), "Conditions@NotBefore"),
        conditions_end,
        now,
        skew,
        "assertion",
    )
    if conditions.find(q(SAML, "Condition")) is not None:
        raise InvalidToken("unsupported_condition", "assertion carries a condition we do not know")
    restrictions = conditions.findall(q(SAML, "AudienceRestriction"))
    audiences: list[str] = []
    for restriction in restrictions:
        allowed = [full_text(a).strip() for a in restriction.findall(q(SAML, "Audience"))]
        audiences.extend(allowed)
        if sp_entity_id not in allowed:
            raise InvalidToken("wrong_audience", f"audience {allowed!r} does not include us")
    if not restrictions:
        raise InvalidToken("wrong_audience", "assertion has no AudienceRestriction")

    authn = element.find(q(SAML, "AuthnStatement"))
    if authn is None:
        raise InvalidToken("schema_invalid", "assertion has no AuthnStatement")
    session_end = optional_datetime(authn.get("SessionNotOnOrAfter"), "SessionNotOnOrAfter")
    _check_window(None, session_end, now, skew, "session")
    class_ref = authn.find(f"{q(SAML, 'AuthnContext')}/{q(SAML, 'AuthnContextClassRef')}")

    attributes: dict[str, list[str]] = {}
    for attribute in element.iterfind(f"{q(SAML, 'AttributeStatement')}/{q(SAML, 'Attribute')}"):
        values = [full_text(v) for v in attribute.findall(q(SAML, "AttributeValue"))]
        attributes.setdefault(attribute.get("Name") or "", []).extend(values)
    if element.find(f"{q(SAML, 'AttributeStatement')}/{q(SAML, 'EncryptedAttribute')}") is not None:
        raise InvalidToken("schema_invalid", "encrypted attributes are not supported")

    privileges = PrivilegeSet()
    for name in PRIVILEGES_ATTRIBUTES:
        for value in attributes.get(name, []):
            privileges = PrivilegeSet([*privileges, *from_bpp(value)])

    return Assertion(
        id=element.get("ID") or "",
        issuer=issuer,
        name_id=full_text(name_id).strip(),
        name_id_format=name_id.get("Format"),
        attributes=attributes,
        privileges=privileges,
        session_index=authn.get("SessionIndex"),
        not_on_or_after=min(t for t in (confirmed_until, conditions_end) if t is not None),
        authn_instant=parse_datetime(authn.get("AuthnInstant"), "AuthnInstant"),
        authn_context=full_text(class_ref).strip() if class_ref is not None else None,
        in_response_to=in_response_to,
        audiences=tuple(audiences),
    )
