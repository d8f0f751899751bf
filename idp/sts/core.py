"""The issuing core shared by the three KOMBIT STS front doors (SOAP, JSON, OAuth).

A front door turns its wire format into an :class:`IssueRequest` (the caller's certificate,
the service asked for, the CVR, an optional lifetime and on-behalf-of) and calls
:func:`issue_assertion` (a signed SAML 2.0 holder-of-key assertion) or :func:`issue_jwt`
(a PS256 holder-of-key JWT). Either returns the token or raises :class:`StsRefusal` with
KOMBIT's numeric error code; the front door only renders it.

The decision, in order:

1. The caller's certificate must be registered to a fagsystem (exact DER match), be within
   its validity and, when ``STS_SYSTEM_CA_FILES`` is set, chain to one of those CAs and
   not be revoked by a configured CRL (:mod:`idp.sts.certificates`).
2. ``applies_to`` must be exactly a registered fagsystem's entityID (surrounding white
   space aside; a trailing ``/`` is a different service, as at KOMBIT).
3. An *approved* serviceaftale for (anvendersystem, service, CVR), read through the same
   :class:`~idp.oidc.authz_port.AgreementCache` as ``client_credentials``: a revocation
   announced on the authz channel stops issuance at once on every node, and within the
   cache's 5 s bound otherwise. Its servicesystemroller and constraint values are the
   token's privileges (OIO-BPP for SAML, ``priv`` for the JWT).
4. On-behalf-of: a proxied system's certificate (the caller then needs an approved
   agreement that allows on-behalf-of, and the proxied system its own approved agreement,
   whose privileges the token carries), or a bootstrap token issued by our own IdP (the
   caller needs an on-behalf-of agreement; the token carries the user's privileges for
   the service).
5. The audit event (issue or refusal) is durable before the token or the refusal leaves.

``services`` is an :class:`StsServices`: settings, database, the signing key ring, the
agreement cache, the audit batcher and the trust store. ``idp.sts.setup_sts`` builds one
per application (``current_sts()`` finds it in a request); tests may build their own.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from sqlalchemy.orm import Session

from authz.model import PrivilegeGroup
from idp.oidc.authz_port import AgreementCache, AgreementDecision, AgreementRefusal
from idp.saml.signing import KeyRing
from settings import Settings
from store import audit
from store.audit_batch import AuditBatcher
from store.db import Database

log = logging.getLogger(__name__)

SOAP = "soap"
REST = "rest"
OAUTH = "oauth"
PROTOCOLS = (SOAP, REST, OAUTH)
MAX_LIFETIME = dt.timedelta(hours=8)
MIN_LIFETIME = dt.timedelta(minutes=1)
_CVR = re.compile(r"^\d{8}$")

# KOMBIT's numeric error codes (Snitfladebeskrivelse STS OIO WS-Trust §3.7).
UNEXPECTED = "100"
UNKNOWN_CONFIGURATION = "101"
MALFORMED = "103"
NO_ENDPOINT = "104"
AUDIT_ERROR = "106"
UNSUPPORTED = "110"
CONFIGURATION_ERROR = "111"
DATABASE_ERROR = "130"


class StsRefusal(Exception):
    """A request the STS refuses.

    ``code``: KOMBIT numeric error code (str); ``message``: user-facing text saying what
    happened and what to do; ``reason``: short machine reason for audit and metrics.
    """

    def __init__(self, code: str, message: str, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason

    @property
    def is_client_error(self) -> bool:
        """False for failures on our side (audit, database, unexpected)."""
        return self.code not in (UNEXPECTED, AUDIT_ERROR, DATABASE_ERROR)


@dataclass(frozen=True)
class OnBehalfOf:
    """Exactly one of the two: a proxied system's certificate, or a user's bootstrap token."""

    certificate: x509.Certificate | None = None  # proxy case
    bootstrap_assertion: etree._Element | None = None  # issued by our own IdP

    def __post_init__(self) -> None:
        if (self.certificate is None) == (self.bootstrap_assertion is None):
            raise ValueError("OnBehalfOf needs exactly one of certificate, bootstrap_assertion")


@dataclass(frozen=True)
class IssueRequest:
    certificate: x509.Certificate  # the caller (WS-Security signer, or TLS client certificate)
    applies_to: str  # service entityID, matched exactly (surrounding white space aside)
    cvr: str
    lifetime: dt.timedelta | None  # requested; capped at 8 h
    on_behalf_of: OnBehalfOf | None
    protocol: str  # "soap" | "rest" | "oauth" (for audit and metrics)


@dataclass(frozen=True)
class Caller:
    """A registered anvendersystem, identified by one of its certificates."""

    fagsystem_id: str
    certificate: x509.Certificate
    sha256: str  # hex of the DER certificate's SHA-256
    subject: str  # .NET X500DistinguishedName style, as KOMBIT's NameID


@dataclass(frozen=True)
class IssuedAssertion:
    """A signed SAML 2.0 holder-of-key assertion."""

    element: etree._Element
    xml: bytes
    assertion_id: str
    issued_at: dt.datetime
    not_before: dt.datetime
    not_on_or_after: dt.datetime
    applies_to: str


@dataclass(frozen=True)
class IssuedJwt:
    """A PS256 holder-of-key JWT (KOMBIT's OAuth endpoint)."""

    token: str
    claims: dict[str, Any]
    jti: str
    issued_at: dt.datetime
    not_on_or_after: dt.datetime
    applies_to: str

    @property
    def expires_in(self) -> int:
        return int((self.not_on_or_after - self.issued_at).total_seconds())


@dataclass(frozen=True)
class Grant:
    """What a token says, decided once for both token forms."""

    caller: Caller
    service_id: str
    applies_to: str
    cvr: str
    groups: tuple[PrivilegeGroup, ...]
    agreement_id: str | None
    subject_name: str  # NameID: a system's certificate subject, or the user's UUID
    subject_format: str  # "system" or "user"
    issued_at: dt.datetime
    not_on_or_after: dt.datetime
    details: dict[str, Any]


UserPrivileges = Callable[[Session, str, str, str], tuple[PrivilegeGroup, ...]]


@dataclass
class StsServices:
    """The app-level handle the core needs (built by :func:`idp.sts.setup_sts`)."""

    settings: Settings
    database: Database
    keys: KeyRing  # the IdP's active RSA key: signs assertions and JWTs
    agreements: AgreementCache  # shared with the OAuth provider (same invalidation)
    trust: Any  # idp.sts.certificates.TrustStore
    registry: Any  # idp.sts.certificates.CertificateRegistry
    audit_batcher: AuditBatcher | None = None
    user_privileges: UserPrivileges | None = None  # for bootstrap tokens
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))

    @property
    def issuer(self) -> str:
        """The SAML Issuer of STS assertions: ``<STS_BASE_URL>/runtime``."""
        return sts_issuer(self.settings)

    @property
    def jwt_issuer(self) -> str:
        """``iss`` of STS JWTs: the same URL with a trailing slash, as KOMBIT's."""
        return self.issuer.rstrip("/") + "/"


def sts_issuer(settings: Settings) -> str:
    """``<STS_BASE_URL>/runtime``, shaped like KOMBIT's ``https://saml.<host>/runtime``."""
    return settings.base_url.rstrip("/") + "/runtime"


# -- the decision -----------------------------------------------------------------------


def resolve_caller(services: StsServices, certificate: x509.Certificate) -> Caller:
    """The registered anvendersystem of ``certificate``; :class:`StsRefusal` otherwise.

    Exact match of the DER certificate against the registered ones, validity always, and
    chain + CRL when trust anchors are configured (``STS_SYSTEM_CA_FILES``).
    """
    from idp.sts.certificates import dotnet_subject, sha256_hex

    fingerprint = sha256_hex(certificate)
    fagsystem_id = services.registry.lookup(services.database, fingerprint)
    if fagsystem_id is None:
        raise StsRefusal(
            UNKNOWN_CONFIGURATION,
            "The certificate is not registered to any system. Register it under the "
            "system's certificates in the catalogue, then try again.",
            "unknown_certificate",
        )
    services.trust.check(certificate, services.now())
    return Caller(fagsystem_id, certificate, fingerprint, dotnet_subject(certificate))


def _lifetime(requested: dt.timedelta | None) -> dt.timedelta:
    if requested is None or requested > MAX_LIFETIME:
        return MAX_LIFETIME
    return max(requested, MIN_LIFETIME)


def _refusal_for(decision: AgreementDecision, who: str, applies_to: str, cvr: str) -> StsRefusal:
    reasons = {
        AgreementRefusal.NONE: "no_agreement",
        AgreementRefusal.NOT_APPROVED: "not_approved",
        AgreementRefusal.NO_ON_BEHALF_OF: "no_on_behalf_of",
    }
    refusal = decision.refusal or AgreementRefusal.NONE
    return StsRefusal(
        UNKNOWN_CONFIGURATION,
        f"{who} has no approved service agreement"
        f"{' allowing on-behalf-of' if refusal is AgreementRefusal.NO_ON_BEHALF_OF else ''} "
        f"for {applies_to} in the context of CVR {cvr}. Ask the municipality to approve one.",
        reasons[refusal],
    )


def _decide(
    services: StsServices,
    session: Session,
    system_id: str,
    applies_to: str,
    cvr: str,
    *,
    on_behalf_of: bool = False,
) -> AgreementDecision:
    decision = services.agreements.decide(
        session, system_id, applies_to, cvr, on_behalf_of=on_behalf_of
    )
    if decision is None or decision.service.entity_id != applies_to:
        raise StsRefusal(
            UNKNOWN_CONFIGURATION,
            f"No service is registered with the entityID {applies_to!r} (AppliesTo must match "
            "it exactly, without a trailing slash). Check the service's entityID.",
            "unknown_service",
        )
    if decision.groups is None:
        raise _refusal_for(decision, system_id, applies_to, cvr)
    return decision


def decide(services: StsServices, req: IssueRequest, session: Session) -> Grant:
    """Every check of the request; the grant a token is built from, or StsRefusal."""
    if req.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {req.protocol}")
    caller = resolve_caller(services, req.certificate)
    details: dict[str, Any] = {"anvendersystem": caller.fagsystem_id}
    applies_to = (req.applies_to or "").strip()
    if not applies_to:
        raise StsRefusal(
            MALFORMED, "AppliesTo is missing: name the service's entityID.", "no_applies_to"
        )
    cvr = (req.cvr or "").strip()
    if not _CVR.match(cvr):
        raise StsRefusal(
            MALFORMED,
            "The anvenderkontekst (CVR claim) must be exactly one 8-digit CVR number.",
            "bad_cvr",
        )
    now = services.now()
    lifetime = _lifetime(req.lifetime)
    obo = req.on_behalf_of
    subject_name, subject_format = caller.subject, "system"
    if obo is None:
        decision = _decide(services, session, caller.fagsystem_id, applies_to, cvr)
        groups: tuple[PrivilegeGroup, ...] = decision.groups or ()
    elif obo.certificate is not None:
        proxied = resolve_caller(services, obo.certificate)
        _decide(services, session, caller.fagsystem_id, applies_to, cvr, on_behalf_of=True)
        decision = _decide(services, session, proxied.fagsystem_id, applies_to, cvr)
        groups = decision.groups or ()
        subject_name = proxied.subject
        details["on_behalf_of"] = {"system": proxied.fagsystem_id, "certificate": proxied.sha256}
    else:
        from idp.sts.assertion import verify_bootstrap

        assert obo.bootstrap_assertion is not None
        user = verify_bootstrap(services, obo.bootstrap_assertion, now)
        if user.cvr != cvr:
            raise StsRefusal(
                UNKNOWN_CONFIGURATION,
                f"The bootstrap token is for CVR {user.cvr}, the request for {cvr}.",
                "bootstrap_cvr_mismatch",
            )
        decision = _decide(
            services, session, caller.fagsystem_id, applies_to, cvr, on_behalf_of=True
        )
        groups = _bootstrap_user_privileges(services, session, user.user_id, cvr, decision)
        subject_name, subject_format = user.user_id, "user"
        lifetime = min(lifetime, max(user.not_on_or_after - now, MIN_LIFETIME))
        details["on_behalf_of"] = {"user": user.user_id, "bootstrap": user.assertion_id}
    details.update(
        service=decision.service.id,
        agreement=decision.agreement_id,
        roles=sorted({g.privilege for g in groups}),
    )
    return Grant(
        caller=caller,
        service_id=decision.service.id,
        applies_to=applies_to,
        cvr=cvr,
        groups=groups,
        agreement_id=decision.agreement_id,
        subject_name=subject_name,
        subject_format=subject_format,
        issued_at=now,
        not_on_or_after=now + lifetime,
        details=details,
    )


_NO_BOOTSTRAP_USER = (
    "The user of the bootstrap token is unknown or may not use the service now, so no token "
    "is issued on their behalf. Ask the municipality to check the user's account."
)


def _bootstrap_user_privileges(
    services: StsServices, session: Session, user_id: str, cvr: str, decision: AgreementDecision
) -> tuple[PrivilegeGroup, ...]:
    """The privileges of a bootstrap token's user for the service; a user we do not know,
    or who is disabled, is a refusal (101) like any other, never an error on our side. The
    caller is told the same in both cases (as a user at the login page); the audit event's
    reason tells them apart."""
    from authz.errors import AuthzError, UserDisabled

    try:
        return _user_privileges(services)(session, user_id, cvr, decision.service.id)
    except UserDisabled as exc:
        raise StsRefusal(
            UNKNOWN_CONFIGURATION, _NO_BOOTSTRAP_USER, "bootstrap_user_disabled"
        ) from exc
    except AuthzError as exc:
        log.info("bootstrap token refused: %s", exc)
        raise StsRefusal(
            UNKNOWN_CONFIGURATION, _NO_BOOTSTRAP_USER, "bootstrap_unknown_user"
        ) from exc


def _user_privileges(services: StsServices) -> UserPrivileges:
    if services.user_privileges is not None:
        return services.user_privileges
    from idp.oidc.authz_port import user_privileges

    return user_privileges


# -- audit ------------------------------------------------------------------------------


def _audit(
    services: StsServices,
    req: IssueRequest,
    *,
    outcome: str,
    actor: str,
    object_id: str | None,
    cvr: str | None,
    details: dict[str, Any],
) -> None:
    """Write the event and return once it is committed (no token before that)."""
    from idp.logs import current_request_id

    event: dict[str, Any] = {
        "actor": actor,
        "action": "sts.token.issue" if outcome == "success" else "sts.token.refuse",
        "object_type": "sts_token",
        "object_id": object_id,
        "cvr": cvr if cvr and _CVR.match(cvr) else None,
        "outcome": outcome,
        "request_id": current_request_id(),
        "details": {"protocol": req.protocol, "applies_to": req.applies_to, **details},
    }
    try:
        _write(services, event)
    except Exception as exc:
        log.exception("STS audit event could not be written")
        raise StsRefusal(
            AUDIT_ERROR,
            "The token could not be issued because the audit log is unavailable. Try again "
            "in a moment.",
            "audit_failed",
        ) from exc


def _write(services: StsServices, event: dict[str, Any]) -> None:
    """Append ``event``; return once it is committed (the batcher waits for its commit)."""
    if services.audit_batcher is not None:
        services.audit_batcher.record(**event)
    else:
        with services.database.session() as session:
            audit.record(session, **event)


def _issue(services: StsServices, req: IssueRequest, build: Callable[[Grant], Any]) -> Any:
    from idp.sts.certificates import sha256_hex

    caller_id: str | None = None
    try:
        # who asked, for the audit trail even when the request is refused (cached lookup)
        caller_id = services.registry.lookup(services.database, sha256_hex(req.certificate))
        with services.database.session() as session:
            grant = decide(services, req, session)
        token = build(grant)
    except StsRefusal as refusal:
        _refuse(services, req, refusal, caller_id)
        raise
    except Exception as exc:
        log.exception("STS issue failed unexpectedly")
        unexpected = StsRefusal(
            UNEXPECTED,
            "The token could not be issued because of an error on our side. Try again; "
            "if it persists, contact the operator with the request reference.",
            "unexpected",
        )
        _refuse(services, req, unexpected, caller_id)
        raise unexpected from exc
    _audit(
        services,
        req,
        outcome="success",
        actor=f"sts-system:{grant.caller.fagsystem_id}",
        object_id=token_id(token),
        cvr=grant.cvr,
        details={**grant.details, "certificate": grant.caller.sha256},
    )
    return token


def _refuse(
    services: StsServices, req: IssueRequest, refusal: StsRefusal, caller_id: str | None
) -> None:
    from idp.sts.certificates import sha256_hex

    details = {
        "code": refusal.code,
        "reason": refusal.reason,
        "message": refusal.message,
        "certificate": sha256_hex(req.certificate),
    }
    if refusal.reason == "audit_failed":
        return
    with contextlib.suppress(StsRefusal):  # the refusal stands; the failure is logged
        _audit(
            services,
            req,
            outcome="failure",
            actor=f"sts-system:{caller_id}" if caller_id else "sts",
            object_id=None,
            cvr=req.cvr,
            details=details,
        )


def record_refusal(
    services: StsServices,
    *,
    protocol: str,
    refusal: StsRefusal,
    certificate: x509.Certificate | None = None,
    applies_to: str = "",
    cvr: str = "",
) -> None:
    """Audit a refusal a front door made before the core saw a request (no certificate,
    a malformed or badly signed request); returns once the event is durable."""
    from idp.logs import current_request_id
    from idp.sts.certificates import sha256_hex

    details: dict[str, Any] = {
        "protocol": protocol,
        "applies_to": applies_to,
        "code": refusal.code,
        "reason": refusal.reason,
        "message": refusal.message,
        "certificate": sha256_hex(certificate) if certificate is not None else None,
    }
    event: dict[str, Any] = {
        "actor": "sts",
        "action": "sts.token.refuse",
        "object_type": "sts_token",
        "object_id": None,
        "cvr": cvr if cvr and _CVR.match(cvr) else None,
        "outcome": "failure",
        "request_id": current_request_id(),
        "details": details,
    }
    try:
        _write(services, event)
    except Exception:
        log.exception("STS audit event could not be written")


def token_id(token: Any) -> str:
    if isinstance(token, IssuedAssertion):
        return token.assertion_id
    if isinstance(token, IssuedJwt):
        return token.jti
    return str(token)


def issue_assertion(services: StsServices, req: IssueRequest) -> IssuedAssertion:
    """A signed SAML 2.0 holder-of-key assertion for ``req``, or :class:`StsRefusal`."""
    from idp.sts.assertion import build_hok_assertion

    result: IssuedAssertion = _issue(services, req, lambda g: build_hok_assertion(services, g))
    return result


def issue_jwt(services: StsServices, req: IssueRequest) -> IssuedJwt:
    """A PS256 holder-of-key JWT for ``req``, or :class:`StsRefusal`."""
    result: IssuedJwt = _issue(services, req, lambda g: _build_jwt(services, g))
    return result


# -- the JWT ----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def priv_claim(groups: tuple[PrivilegeGroup, ...]) -> str:
    """KOMBIT's ``priv``: base64 of ``{"privilegegroups": [...]}``."""
    document = {
        "privilegegroups": [
            {
                "privilege": group.privilege,
                "scope": group.scope,
                "constraints": [
                    {"name": constraint.name, "value": constraint.value}
                    for constraint in group.constraints
                ],
            }
            for group in groups
        ]
    }
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def _build_jwt(services: StsServices, grant: Grant) -> IssuedJwt:
    from cryptography.hazmat.primitives.asymmetric import padding

    signer = services.keys.signer()
    x5t = _b64url(signer.certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - KOMBIT's kid
    header = {"alg": "PS256", "kid": x5t, "x5t": x5t, "typ": "JWT"}
    jti = str(uuid.uuid4())
    issued = int(grant.issued_at.timestamp())
    claims: dict[str, Any] = {
        "cvr": grant.cvr,
        "spec_ver": "1.0",
        "priv": priv_claim(grant.groups),
        "jti": jti,
        "sub": grant.applies_to if grant.subject_format == "system" else grant.subject_name,
        "cnf": {"x5t#S256": _b64url(grant.caller.certificate.fingerprint(hashes.SHA256()))},
        "nbf": issued,
        "exp": int(grant.not_on_or_after.timestamp()),
        "iat": issued,
        "iss": services.jwt_issuer,
        "aud": grant.applies_to,
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = signer.private_key.sign(
        signing_input.encode("ascii"),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    return IssuedJwt(
        token=signing_input + "." + _b64url(signature),
        claims=claims,
        jti=jti,
        issued_at=grant.issued_at,
        not_on_or_after=grant.not_on_or_after,
        applies_to=grant.applies_to,
    )
