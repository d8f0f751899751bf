"""Incoming SAML messages: binding decoding, then AuthnRequest checks (SECURITY.md).

Order matters: size and XML hardening first (no DTD ever reaches the parser's entity
code), then the issuer must be a registered SP, then the signature (Redirect: over the
query string as received; POST: enveloped, narrow shape), then Destination, IssueInstant
and the replay cache, and only then the request's wishes (ACS from metadata only,
NameIDPolicy, RequestedAuthnContext, Scoping, ForceAuthn, IsPassive).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from idp.saml.constants import (
    BINDING_POST,
    BINDING_REDIRECT,
    DS,
    LOA_LEVELS,
    LOA_URI_PREFIX,
    MAX_RELAY_STATE,
    NAMEID_PERSISTENT,
    NAMEID_UNSPECIFIED,
    NAMEID_X509,
    SAML,
    SAMLP,
    STATUS_INVALID_NAMEID_POLICY,
    STATUS_NO_AUTHN_CONTEXT,
    loa_rank,
    max_loa,
)
from idp.saml.metadata import Endpoint, SpConfig, SpRegistry
from idp.saml.signing import RedirectParams, split_redirect_query, verify_enveloped, verify_redirect
from idp.saml.xmlutil import SamlError, b64decode, inflate, parse, parse_instant, text_of
from store.ephemeral import EphemeralState

_P = f"{{{SAMLP}}}"
_A = f"{{{SAML}}}"
# Class refs that name an attribute profile or a method, not a level: no LoA constraint.
NEUTRAL_CLASS_REFS = frozenset(
    {
        "https://data.gov.dk/eid/Professional",
        "https://data.gov.dk/eid/Person",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
    }
)


@dataclass(frozen=True)
class Incoming:
    """A decoded message and how it came."""

    binding: str
    root: etree._Element
    relay_state: str | None
    redirect: RedirectParams | None = None


def _check_relay_state(relay_state: str | None) -> None:
    if relay_state is not None and len(relay_state.encode("utf-8")) > MAX_RELAY_STATE:
        raise SamlError(f"RelayState is longer than {MAX_RELAY_STATE} bytes")


def decode_redirect(raw_query: bytes, field: str) -> Incoming:
    """HTTP-Redirect: base64 of raw DEFLATE in ``field``, signature over the query string."""
    params = split_redirect_query(raw_query, field)
    _check_relay_state(params.relay_state)
    root = parse(inflate(b64decode(params.message)))
    if root.find(f"{{{DS}}}Signature") is not None:
        raise SamlError("an HTTP-Redirect message must not carry an XML signature")
    return Incoming(BINDING_REDIRECT, root, params.relay_state, params)


def decode_post(value: str | None, relay_state: str | None, field: str) -> Incoming:
    """HTTP-POST: base64 of the XML in form field ``field``."""
    if not value:
        raise SamlError(f"{field} is missing")
    _check_relay_state(relay_state)
    return Incoming(BINDING_POST, parse(b64decode(value)), relay_state)


def verify_signature(incoming: Incoming, sp: SpConfig, *, required: bool) -> bool:
    """True when validly signed by the SP; raise if required and unsigned, or if bad."""
    if incoming.redirect is not None:
        signed = verify_redirect(incoming.redirect, sp.verify_keys)
    else:
        signed = verify_enveloped(incoming.root, sp.verify_keys)
    if required and not signed:
        raise SamlError("this SP must sign its requests, and the request is unsigned")
    return signed


def check_envelope(
    root: etree._Element,
    *,
    expected_tag: str,
    destination: str,
    signed: bool,
    now: dt.datetime,
    skew: dt.timedelta,
) -> None:
    """Version, Destination and IssueInstant (SECURITY.md, IdP line 5)."""
    if root.get("Version") != "2.0":
        raise SamlError("only SAML 2.0 messages are accepted")
    got = root.get("Destination")
    if got is not None and got != destination:
        raise SamlError("Destination is not this identity provider")
    if got is None and signed:
        raise SamlError("a signed message must name its Destination")
    issued = parse_instant(root.get("IssueInstant"))
    if abs(now - issued) > skew:
        raise SamlError("IssueInstant is outside the allowed clock skew")


def message_issuer(root: etree._Element) -> str:
    issuer = text_of(root.find(_A + "Issuer"))
    if not issuer:
        raise SamlError("the message has no Issuer")
    return issuer


def message_id(root: etree._Element) -> str:
    value = root.get("ID")
    if not value or len(value) > 256 or not (value[0].isalpha() or value[0] == "_"):
        raise SamlError("the message has no valid ID")
    return value


def remember_id(
    state: EphemeralState, kind: str, issuer: str, value: str, ttl: dt.timedelta
) -> None:
    """The replay cache: a message ID is accepted once within its lifetime."""
    key = f"saml:seen:{kind}:{issuer}:{value}"
    if not state.add(key, b"1", max(1.0, ttl.total_seconds())):
        raise SamlError("this request was already used (replay)")


@dataclass(frozen=True)
class AuthnRequestInfo:
    """A checked AuthnRequest, reduced to what the login and the response need."""

    id: str
    sp: SpConfig
    acs: Endpoint
    binding: str
    relay_state: str | None
    signed: bool
    force_authn: bool
    is_passive: bool
    requested_loa: str | None
    min_loa: str
    name_id_format: str
    requester_ids: tuple[str, ...]


def _flag(value: str | None) -> bool:
    return value in ("true", "1")


def name_id_format(root: etree._Element, sp: SpConfig) -> str:
    policy = root.find(_P + "NameIDPolicy")
    wanted = policy.get("Format") if policy is not None else None
    if wanted in (None, NAMEID_UNSPECIFIED, NAMEID_PERSISTENT):
        return NAMEID_PERSISTENT
    if wanted == NAMEID_X509:
        if not sp.fagsystem.personal_data:  # the subject name carries the person's name
            raise SamlError(
                "X509SubjectName carries the person's name; this fagsystem gets no personal data",
                status=STATUS_INVALID_NAMEID_POLICY,
            )
        return NAMEID_X509
    raise SamlError(f"NameID format {wanted} is not supported", status=STATUS_INVALID_NAMEID_POLICY)


def requested_loa(root: etree._Element) -> str | None:
    """The minimum NSIS level asked for in RequestedAuthnContext, or None."""
    context = root.find(_P + "RequestedAuthnContext")
    if context is None:
        return None
    comparison = context.get("Comparison", "exact")
    refs = [text_of(ref) or "" for ref in context.findall(_A + "AuthnContextClassRef")]
    levels = [
        ref.removeprefix(LOA_URI_PREFIX)
        for ref in refs
        if ref.startswith(LOA_URI_PREFIX) and ref.removeprefix(LOA_URI_PREFIX) in LOA_LEVELS
    ]
    if not levels:
        unknown = [ref for ref in refs if ref not in NEUTRAL_CLASS_REFS]
        if comparison in ("exact", "better") and unknown:
            raise SamlError(
                "none of the requested authentication contexts is supported",
                status=STATUS_NO_AUTHN_CONTEXT,
            )
        return None
    lowest = min(levels, key=loa_rank)
    if comparison in ("exact", "minimum"):
        return lowest
    if comparison == "better":
        rank = loa_rank(lowest) + 1
        if rank >= len(LOA_LEVELS):
            raise SamlError("no level better than High exists", status=STATUS_NO_AUTHN_CONTEXT)
        return LOA_LEVELS[rank]
    if comparison == "maximum":
        return None
    raise SamlError(f"Comparison {comparison} is not valid")


def requester_ids(root: etree._Element) -> tuple[str, ...]:
    scoping = root.find(_P + "Scoping")
    if scoping is None:
        return ()
    return tuple(text_of(r) or "" for r in scoping.findall(_P + "RequesterID") if r.text)


def parse_authn_request(
    incoming: Incoming,
    registry: SpRegistry,
    state: EphemeralState,
    *,
    sso_url: str,
    now: dt.datetime,
    skew: dt.timedelta,
    requester_loa: Callable[[str], str | None] = lambda _entity_id: None,
) -> AuthnRequestInfo:
    root = incoming.root
    if root.tag != _P + "AuthnRequest":
        raise SamlError("the message is not an AuthnRequest")
    request_id = message_id(root)
    issuer = message_issuer(root)
    sp = registry.get(issuer)
    if sp is None:
        raise SamlError("the requesting service provider is not registered here", http_status=403)
    signed = verify_signature(incoming, sp, required=sp.require_signed_requests)
    check_envelope(
        root, expected_tag="AuthnRequest", destination=sso_url, signed=signed, now=now, skew=skew
    )
    acs = sp.acs_for(
        root.get("AssertionConsumerServiceURL"),
        root.get("AssertionConsumerServiceIndex"),
        root.get("ProtocolBinding"),
    )
    remember_id(state, "authn", issuer, request_id, 2 * skew)
    requesters = requester_ids(root)
    base = AuthnRequestInfo(
        id=request_id,
        sp=sp,
        acs=acs,
        binding=incoming.binding,
        relay_state=incoming.relay_state,
        signed=signed,
        force_authn=_flag(root.get("ForceAuthn")),
        is_passive=_flag(root.get("IsPassive")),
        requested_loa=None,
        min_loa=sp.fagsystem.min_loa,
        name_id_format=NAMEID_PERSISTENT,
        requester_ids=requesters,
    )
    # From here on the SP and its ACS are known and trusted: failures become SAML errors.
    try:
        wanted_format = name_id_format(root, sp)
        loa = requested_loa(root)
    except SamlError as exc:
        exc.request = base
        raise
    requester_levels = [requester_loa(r) for r in requesters]
    return AuthnRequestInfo(
        **{
            **base.__dict__,
            "requested_loa": loa,
            "min_loa": max_loa(sp.fagsystem.min_loa, loa, *requester_levels),
            "name_id_format": wanted_format,
        }
    )
