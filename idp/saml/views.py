"""The SAML blueprint: ``/saml/sso``, ``/saml/slo``, ``/saml/metadata`` and friends.

Hot path with an SSO session (Redirect binding): parse and verify the AuthnRequest, hand
a LoginRequest to the login (which answers at once from the session), resolve privileges,
build, sign (and encrypt) in-process, and serve the auto-POST form.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Flask, Response, current_app, g, request, session, url_for
from markupsafe import escape
from sqlalchemy import bindparam, select

from idp.context import current_services
from idp.loa import LoA
from idp.login.types import FailureReason, LoginFailure, LoginRequest, LoginResult
from idp.logs import current_request_id
from idp.saml import login
from idp.saml.assertion import Audience, Subject, build_assertion, build_response, name_id_value
from idp.saml.bindings import post_form, redirect, redirect_url, secure_headers
from idp.saml.constants import (
    BINDING_REDIRECT,
    NAMEID_PERSISTENT,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_PASSIVE,
    STATUS_PARTIAL_LOGOUT,
    STATUS_REQUEST_DENIED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    loa_rank,
)
from idp.saml.encryption import encrypt_assertion
from idp.saml.metadata import Endpoint, MetadataCache, SpConfig, SpRegistry, idp_metadata
from idp.saml.privileges import privileges_b64
from idp.saml.requests import decode_post, decode_redirect, parse_authn_request
from idp.saml.signing import KeyRing, KeySnapshot, sign
from idp.saml.slo import (
    LogoutResponseInfo,
    Participant,
    ParticipantLog,
    build_logout_request,
    build_logout_response,
    parse_logout_request,
    parse_logout_response,
    participants,
    participants_key,
)
from idp.saml.xmlutil import SamlError
from idp.sso import SsoSession, clear_session_cookie, user_sessions_key
from store import audit
from store.audit_batch import batcher_for
from store.ephemeral import StateUnavailable
from store.models import Fagsystem, Municipality, User, utcnow

log = logging.getLogger("sts.saml")
blueprint = Blueprint(
    "saml", __name__, url_prefix="/saml", static_folder="static", static_url_path="/static"
)
EXTENSION = "saml"
PENDING_SECONDS = 900.0


@dataclass
class SamlRuntime:
    """Per-process SAML state: SP cache, key ring, signed-metadata cache, endpoints."""

    entity_id: str
    sso_url: str
    slo_url: str
    skew: dt.timedelta
    lifetime: dt.timedelta
    registry: SpRegistry
    keyring: KeyRing
    metadata: MetadataCache
    participants: ParticipantLog


def runtime(app: Flask | None = None) -> SamlRuntime:
    app = app or current_app
    existing: SamlRuntime | None = app.extensions.get(EXTENSION)
    if existing is not None:
        return existing
    services = current_services()
    settings = services.settings
    base = settings.base_url
    entity_id = settings.saml_entity_id or f"{base}/saml/metadata"
    keyring = KeyRing(services)
    valid_for = dt.timedelta(hours=settings.saml_metadata_valid_hours)

    def build_metadata(snapshot: KeySnapshot) -> bytes:
        # Keys listed and signing key from one snapshot: never signs with an unlisted key.
        return idp_metadata(
            entity_id=entity_id,
            sso_url=f"{base}/saml/sso",
            slo_url=f"{base}/saml/slo",
            key_rows=snapshot.rows,
            signer=snapshot.signer,
            valid_for=valid_for,
        )

    created = SamlRuntime(
        entity_id=entity_id,
        sso_url=f"{base}/saml/sso",
        slo_url=f"{base}/saml/slo",
        skew=dt.timedelta(seconds=settings.saml_clock_skew_seconds),
        lifetime=dt.timedelta(seconds=settings.saml_assertion_seconds),
        registry=SpRegistry(services.database, state=services.state),
        keyring=keyring,
        metadata=MetadataCache(build_metadata, keyring, ttl=300.0),
        participants=ParticipantLog(),
    )
    app.extensions[EXTENSION] = created
    return created


@blueprint.record_once
def _on_register(state: Any) -> None:
    login.register(_continue)
    login.register_logout(login.PROTOCOL, frontchannel=_frontchannel, answer=_answer)


# -- pages ----------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="da"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""


def page(title: str, message: str, status: int = 200) -> Response:
    body = _PAGE.format(title=escape(title), message=escape(message))
    return secure_headers(Response(body, status, mimetype="text/html"))


def error_page(message: str, status: int = 400) -> Response:
    return page("Login kunne ikke gennemføres", message, status)


@blueprint.errorhandler(StateUnavailable)
def _state_down(_exc: StateUnavailable) -> Response:
    return error_page("The session store is unavailable; please try again shortly.", 503)


def _audit_refusal(reason: str, sp: str | None, request_id: str | None = None) -> None:
    try:
        with current_services().database.session() as db:
            audit.record(
                db,
                actor=sp or "anonymous",
                action="saml.request.refused",
                object_type="saml_sp",
                object_id=sp,
                outcome="failure",
                request_id=current_request_id(),
                details={"reason": reason[:300], "saml_request_id": request_id},
            )
    except Exception:  # the refusal itself must never fail on the audit write
        log.exception("could not audit a refused SAML request")


def _refuse(exc: SamlError) -> Response:
    info = exc.request
    sp_id = info.sp.entity_id if info is not None else None
    _audit_refusal(str(exc), sp_id, info.id if info is not None else None)
    log.info("SAML request refused", extra={"reason": str(exc), "sp": sp_id})
    if info is not None and exc.status is not None:
        return error_response(
            info.sp, info.acs.location, info.id, info.relay_state, exc.status, str(exc)
        )
    return error_page(str(exc), exc.http_status)


# -- SSO ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An accepted AuthnRequest waiting for the login: what the response needs."""

    sp: str
    request_id: str | None
    acs: str
    relay_state: str | None
    name_id_format: str
    min_loa: str
    force_authn: bool
    passive: bool
    created: float

    def save(self, key: str | None = None) -> str:
        key = key or secrets.token_urlsafe(24)
        current_services().state.set(
            f"saml:pending:{key}", json.dumps(asdict(self)).encode(), ttl=PENDING_SECONDS
        )
        return key

    def hold(self) -> str:
        """Keep the request in this HTTP request only; :meth:`release` stores it if unused.

        On the hot path (an SSO session that satisfies the request) the login answers
        within the same request, so the pending request never needs the shared store.
        """
        key = secrets.token_urlsafe(24)
        g.setdefault("saml_pending", {})[key] = self
        return key

    @staticmethod
    def release(key: str) -> None:
        """Store a held request the login did not answer at once (it shows its pages)."""
        held: Pending | None = g.get("saml_pending", {}).pop(key, None)
        if held is not None:
            held.save(key)

    @classmethod
    def load(cls, key: str | None, *, consume: bool) -> Pending | None:
        if not key or len(key) > 64:
            return None
        held: dict[str, Pending] = g.get("saml_pending", {})
        if key in held:
            return held.pop(key) if consume else held[key]
        state = current_services().state
        raw = state.pop(f"saml:pending:{key}") if consume else state.get(f"saml:pending:{key}")
        return None if raw is None else cls(**json.loads(raw))

    def login_request(self, key: str, fagsystem: str) -> LoginRequest:
        return LoginRequest(
            fagsystem=fagsystem,
            protocol=login.PROTOCOL,
            return_state={"k": key},
            client=self.sp,
            min_loa=LoA(self.min_loa),
            force_authn=self.force_authn,
            passive=self.passive,
        )


def _requester_loa(entity_id: str) -> str | None:
    sp = runtime().registry.get(entity_id)
    if sp is not None:
        return sp.fagsystem.min_loa
    with current_services().database.session() as db:
        value = db.scalar(select(Fagsystem.min_loa).where(Fagsystem.entity_id == entity_id))
    return str(value) if value else None


@blueprint.route("/sso", methods=["GET", "POST"])
def sso() -> Any:
    rt = runtime()
    try:
        if request.method == "GET":
            incoming = decode_redirect(request.query_string, "SAMLRequest")
        else:
            incoming = decode_post(
                request.form.get("SAMLRequest"), request.form.get("RelayState"), "SAMLRequest"
            )
        info = parse_authn_request(
            incoming,
            rt.registry,
            current_services().state,
            sso_url=rt.sso_url,
            now=utcnow(),
            skew=rt.skew,
            requester_loa=_requester_loa,
        )
    except SamlError as exc:
        return _refuse(exc)
    pending = Pending(
        sp=info.sp.entity_id,
        request_id=info.id,
        acs=info.acs.location,
        relay_state=info.relay_state,
        name_id_format=info.name_id_format,
        min_loa=info.min_loa,
        force_authn=info.force_authn,
        passive=info.is_passive,
        created=time.time(),
    )
    return _begin(pending, info.sp.fagsystem.id)


# Audit events the login records on the hot path, appended together with the issuance.
DEFERRED_AUDIT = frozenset({"login.sso"})


def _begin(pending: Pending, fagsystem_id: str) -> Any:
    """Hand the request to the login; keep the pending request only if it is not answered.

    With a usable SSO session the login answers at once: ``login.sso`` is then appended to
    the audit trail together with ``saml.assertion.issued`` (one lock, one commit, before
    the response leaves; see ``store.audit.deferred``; on PostgreSQL both go through the
    process's group-commit writer, ``store.audit_batch``).
    """
    key = pending.hold()
    with audit.deferred(current_services().database, DEFERRED_AUDIT):
        # On a POST (no SameSite=Lax cookie) the login redirects to a same-site GET first.
        answer = login.begin(pending.login_request(key, fagsystem_id))
    Pending.release(key)
    return answer


@blueprint.get("/sso/idp")
def idp_initiated() -> Any:
    """IdP-initiated SSO (``?sp=<entityID>``), only for SPs registered to allow it."""
    sp = runtime().registry.get(request.args.get("sp"))
    if sp is None:
        return error_page("Unknown service provider.", 403)
    if not sp.allow_idp_initiated:
        return error_page("This service provider does not accept unsolicited logins.", 403)
    relay_state = request.args.get("RelayState")
    if relay_state is not None and len(relay_state.encode()) > 80:
        return error_page("RelayState is longer than 80 bytes.")
    try:
        acs = sp.acs_for(None, None, None)
    except SamlError as exc:
        return error_page(str(exc))
    pending = Pending(
        sp=sp.entity_id,
        request_id=None,
        acs=acs.location,
        relay_state=relay_state,
        name_id_format=NAMEID_PERSISTENT,
        min_loa=sp.fagsystem.min_loa,
        force_authn=False,
        passive=False,
        created=time.time(),
    )
    return _begin(pending, sp.fagsystem.id)


def _continue(login_request: LoginRequest, outcome: LoginResult | LoginFailure) -> Response:
    """The login's answer: a signed Response to the SP, or a SAML error."""
    pending = Pending.load(login_request.return_state.get("k"), consume=True)
    if pending is None:
        return error_page("The login request has expired or was already answered.")
    sp = runtime().registry.get(pending.sp)
    if sp is None:
        return error_page("The service provider is no longer registered.", 403)
    if isinstance(outcome, LoginFailure):
        sub = {
            FailureReason.NO_PASSIVE: STATUS_NO_PASSIVE,
            FailureReason.LOA_UNAVAILABLE: STATUS_NO_AUTHN_CONTEXT,
        }.get(outcome.reason, "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
        _audit_refusal(f"login ended: {outcome.reason}", sp.entity_id, pending.request_id)
        return error_response(
            sp, pending.acs, pending.request_id, pending.relay_state, sub, outcome.detail or None
        )
    if loa_rank(outcome.loa.value) < loa_rank(pending.min_loa):
        return error_response(
            sp, pending.acs, pending.request_id, pending.relay_state, STATUS_NO_AUTHN_CONTEXT
        )
    if pending.force_authn and outcome.auth_instant.timestamp() < pending.created - 1:
        return error_response(
            sp,
            pending.acs,
            pending.request_id,
            pending.relay_state,
            STATUS_REQUEST_DENIED,
            "ForceAuthn needs a fresh authentication",
        )
    return issue(sp, pending, outcome)


# The columns the assertion needs, in one round trip (no ORM entities on the hot path).
_USER_AND_ORG = (
    select(
        User.id,
        User.disabled,
        User.name,
        User.given_name,
        User.surname,
        User.email,
        Municipality.name.label("org_name"),
    )
    .join_from(User, Municipality, Municipality.cvr == bindparam("cvr"))
    .where(User.id == bindparam("user"))
)


def issue(sp: SpConfig, pending: Pending, result: LoginResult) -> Response:
    """Build, sign, encrypt and POST the assertion for ``result`` to ``sp``."""
    rt = runtime()
    services = current_services()
    now = utcnow()
    privileges = privileges_b64(result.user_id, result.cvr, sp.fagsystem.id)
    batcher = batcher_for(services.database)  # None on SQLite
    # One lookup outside a transaction (on PostgreSQL one round trip, no BEGIN/COMMIT).
    with services.database.reading() as connection:
        user = connection.execute(
            _USER_AND_ORG, {"user": result.user_id, "cvr": result.cvr}
        ).first()
    if user is None or user.disabled:
        return error_page("The user account is not available.", 403)
    subject = Subject(
        user_id=user.id,
        cvr=result.cvr,
        org_name=user.org_name,
        loa=result.loa.value,
        auth_instant=result.auth_instant,
        session_index=result.session_id,
        full_name=user.name or None,
        first_name=user.given_name,
        last_name=user.surname,
        email=user.email,
    )
    audience = Audience(
        sp_entity_id=sp.entity_id,
        acs_url=pending.acs,
        in_response_to=pending.request_id,
        name_id_format=pending.name_id_format,
        personal_data=sp.fagsystem.personal_data,
    )
    assertion = build_assertion(
        issuer=rt.entity_id,
        subject=subject,
        audience=audience,
        privileges_b64=privileges,
        now=now,
        lifetime=rt.lifetime,
    )
    if services.settings.saml_bootstrap_token:  # KOMBIT STS on-behalf-of (idp/sts)
        from idp.sts import current_sts
        from idp.sts.assertion import add_bootstrap_attribute

        add_bootstrap_attribute(current_sts(), assertion, user_id=user.id, cvr=result.cvr, now=now)
    response = build_response(
        issuer=rt.entity_id,
        destination=pending.acs,
        in_response_to=pending.request_id,
        now=now,
    )
    response.append(assertion)
    signer = rt.keyring.signer()
    method = sp.metadata.signature_method
    assertion_id = assertion.get("ID")
    if sp.sign_assertion or not sp.sign_response:
        sign(assertion, signer, method)
    if sp.encrypt_assertion:
        if not sp.metadata.encryption_certificates:
            return error_page("The SP asks for encryption but has no encryption key.", 500)
        encrypt_assertion(
            assertion,
            sp.metadata.encryption_certificates[0],
            sp.metadata.data_encryption_method,
        )
    if sp.sign_response:
        sign(response, signer, method)
    issued: dict[str, Any] = {
        "actor": user.id,
        "action": "saml.assertion.issued",
        "object_type": "saml_sp",
        "object_id": sp.entity_id,
        "cvr": result.cvr,
        "request_id": current_request_id(),
        "details": {
            "assertion_id": assertion_id,
            "in_response_to": pending.request_id,
            "loa": result.loa.value,
            "fagsystem": sp.fagsystem.id,
        },
    }
    if batcher is None:  # SQLite: in one transaction with the held login.sso
        with services.database.session() as db:
            audit.record(db, **issued)
    else:
        # PostgreSQL: group commit, with the held login.sso; returns once committed, and
        # raises (500, no assertion) if the commit fails. The held events are then given
        # back, for audit.deferred to write when the login's block ends.
        held = audit.take_held()
        try:
            batcher.write([*held, audit.new_event(**issued)])
        except BaseException:
            audit.hold_again(held)
            raise
    rt.participants.add(
        services.state,
        Participant(
            entity_id=sp.entity_id,
            name_id=name_id_value(subject, pending.name_id_format),
            name_id_format=pending.name_id_format,
            session_index=result.session_id,
        ),
        ttl=services.settings.session_absolute_hours * 3600,
    )
    return post_form(pending.acs, "SAMLResponse", response, pending.relay_state)


def error_response(
    sp: SpConfig,
    acs: str,
    in_response_to: str | None,
    relay_state: str | None,
    sub_status: str,
    message: str | None = None,
) -> Response:
    """A signed SAML error Response to a known, trusted ACS."""
    rt = runtime()
    top = (
        STATUS_RESPONDER
        if sub_status in (STATUS_NO_PASSIVE, STATUS_NO_AUTHN_CONTEXT)
        else (STATUS_REQUESTER)
    )
    if sub_status in (STATUS_REQUESTER, STATUS_RESPONDER):
        top, sub = sub_status, None
    else:
        sub = sub_status
    response = build_response(
        issuer=rt.entity_id,
        destination=acs,
        in_response_to=in_response_to,
        now=utcnow(),
        status=top,
        sub_status=sub,
        message=message,
    )
    sign(response, rt.keyring.signer(), sp.metadata.signature_method)
    return post_form(acs, "SAMLResponse", response, relay_state)


# -- metadata ---------------------------------------------------------------------------------


@blueprint.get("/metadata")
def metadata() -> Response:
    document = runtime().metadata.get()
    response = Response(document, 200, mimetype="application/samlmetadata+xml")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- single logout ----------------------------------------------------------------------------


def _send(endpoint: Endpoint, field: str, message: Any, relay_state: str | None) -> Response:
    rt = runtime()
    signer = rt.keyring.signer()
    location = (
        endpoint.response_location
        if field == "SAMLResponse" and endpoint.response_location
        else endpoint.location
    )
    if endpoint.binding == BINDING_REDIRECT:
        return redirect(redirect_url(location, field, message, relay_state, signer))
    sign(message, signer)
    return post_form(location, field, message, relay_state)


def _find_session(name_id: str, session_indexes: tuple[str, ...]) -> SsoSession | None:
    current = login.browser_session()
    if current is not None:
        return current
    store = login.session_store()
    for session_id in store.state.smembers(user_sessions_key(name_id)):
        candidate = store.load(session_id)
        if candidate is not None and candidate.public_id in session_indexes:
            return candidate
    return None


def _decryption_keys() -> list[bytes]:
    """Private keys of the certificates our metadata offers for encryption (active, next)."""
    services = current_services()
    keys = []
    for row in runtime().keyring.snapshot().rows:
        if row.kty == "RSA" and row.state in ("active", "next"):
            private_key = services.keys.load(row).private_key
            keys.append(
                private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    return keys


def _frontchannel(run: login.LogoutRun) -> Response | None:
    """The logout's SAML part: a LogoutRequest to the next SP of the session, if any."""
    if "saml" not in current_app.blueprints:
        return None
    rt = runtime()
    state = current_services().state
    front = run.front.get(login.PROTOCOL)
    if front is None:
        asked = run.initiated_by(login.PROTOCOL)
        found = [p for p in participants(state, run.sid) if p.entity_id != asked]
        state.delete(participants_key(run.sid))
        front = run.front[login.PROTOCOL] = {
            "pending": [asdict(p) for p in found],
            "waiting": None,
        }
    while front["pending"]:
        participant = Participant(**front["pending"].pop(0))
        sp = rt.registry.get(participant.entity_id)
        endpoint = sp.slo_endpoint() if sp is not None else None
        known = run.outcome(login.PROTOCOL, participant.entity_id)
        fagsystem = sp.fagsystem.id if sp is not None else known.fagsystem if known else ""
        if sp is None or endpoint is None:
            run.record(
                login.PROTOCOL,
                participant.entity_id,
                login.UNSUPPORTED,
                fagsystem=fagsystem or participant.entity_id,
                detail="no SingleLogoutService" if sp else "SP no longer registered",
            )
            continue
        run.record(login.PROTOCOL, sp.entity_id, login.PENDING, fagsystem=fagsystem)
        message = build_logout_request(
            issuer=rt.entity_id,
            destination=endpoint.location,
            participant=participant,
            now=utcnow(),
        )
        front["waiting"] = {"sp": sp.entity_id, "request_id": message.get("ID", "")}
        return _send(endpoint, "SAMLRequest", message, run.id)
    return None


def _answer(run: login.LogoutRun) -> Response | None:
    """The LogoutResponse to the SP that asked; PartialLogout unless every system confirmed."""
    initiator = run.initiator or {}
    return _logout_response(
        str(initiator.get("client")),
        str(initiator.get("request_id") or ""),
        initiator.get("relay_state"),
        partial=not run.all_confirmed,
    )


def _logout_response(
    entity_id: str, request_id: str, relay_state: str | None, *, partial: bool
) -> Response | None:
    rt = runtime()
    sp = rt.registry.get(entity_id)
    endpoint = sp.slo_endpoint() if sp is not None else None
    if sp is None or endpoint is None:
        return None
    message = build_logout_response(
        issuer=rt.entity_id,
        destination=endpoint.response_location or endpoint.location,
        in_response_to=request_id,
        now=utcnow(),
        status=STATUS_SUCCESS,
        sub_status=STATUS_PARTIAL_LOGOUT if partial else None,
    )
    return _send(endpoint, "SAMLResponse", message, relay_state)


def _clear_cookie(response: Response) -> Response:
    clear_session_cookie(response, secure=current_services().settings.uses_https)
    return response


@blueprint.route("/slo", methods=["GET", "POST"])
def slo() -> Any:
    source = request.args if request.method == "GET" else request.form
    field = "SAMLRequest" if "SAMLRequest" in source else "SAMLResponse"
    if field not in source:
        return error_page("No SAML message was sent.")
    rt = runtime()
    state = current_services().state
    try:
        if request.method == "GET":
            incoming = decode_redirect(request.query_string, field)
        else:
            incoming = decode_post(source.get(field), source.get("RelayState"), field)
        if field == "SAMLRequest":
            info = parse_logout_request(
                incoming,
                rt.registry,
                state,
                slo_url=rt.slo_url,
                now=utcnow(),
                skew=rt.skew,
                decryption_keys=_decryption_keys,
            )
        else:
            answer = parse_logout_response(
                incoming, rt.registry, slo_url=rt.slo_url, now=utcnow(), skew=rt.skew
            )
    except SamlError as exc:
        return _refuse(exc)
    if field == "SAMLResponse":
        return _logout_answered(answer)
    session = _find_session(info.name_id, info.session_indexes)
    if session is not None and (
        session.user_id == info.name_id
        or any(
            p.entity_id == info.sp.entity_id and p.name_id == info.name_id
            for p in participants(state, session.public_id)
        )
    ):
        initiator: dict[str, Any] = {
            "protocol": login.PROTOCOL,
            "client": info.sp.entity_id,
            "fagsystem": info.sp.fagsystem.id,
            "request_id": info.id,
            "relay_state": info.relay_state,
            "returns": info.sp.slo_endpoint() is not None,
        }
        return login.start_logout(session, initiator)
    # No session of this person here (already ended): nothing to propagate.
    with current_services().database.session() as db:
        audit.record(
            db,
            actor=info.name_id,
            action="saml.logout",
            object_type="saml_sp",
            object_id=info.sp.entity_id,
            details={"session": "none"},
        )
    done = _logout_response(info.sp.entity_id, info.id, info.relay_state, partial=False)
    return _clear_cookie(done if done is not None else page("Logget ud", "Du er logget ud."))


def _logout_answered(answer: LogoutResponseInfo) -> Any:
    """An SP's LogoutResponse: record it in the logout it belongs to, then carry on."""
    run = login.LogoutRun.load(current_services().state, answer.relay_state)
    front = run.front.get(login.PROTOCOL) if run is not None else None
    waiting = front.get("waiting") if front else None
    if (
        run is None
        or front is None
        or waiting is None
        or waiting["sp"] != answer.sp.entity_id
        or waiting["request_id"] != answer.in_response_to
    ):
        return error_page("This logout answer does not belong to a logout in progress.")
    ok = answer.status == STATUS_SUCCESS
    run.record(
        login.PROTOCOL,
        answer.sp.entity_id,
        login.LOGGED_OUT if ok else login.REFUSED,
        fagsystem=answer.sp.fagsystem.id,
        detail="" if ok else answer.status,
    )
    front["waiting"] = None
    return login.proceed_logout(run)


_LOGOUT_FORM = """<!doctype html>
<html lang="da"><head><meta charset="utf-8"><title>Log ud</title></head>
<body><main><h1>Log ud</h1>
<form method="post" action="{action}"><input type="hidden" name="csrf" value="{token}">
<button type="submit">Log ud af alle systemer</button></form></main></body></html>
"""


@blueprint.route("/logout", methods=["GET", "POST"])
def idp_logout() -> Any:
    """IdP-initiated logout from the IdP's own page (CSRF-protected POST)."""
    if request.method == "GET":
        token = session.setdefault("saml_logout_csrf", secrets.token_urlsafe(24))
        body = _LOGOUT_FORM.format(action=escape(url_for("saml.idp_logout")), token=escape(token))
        return secure_headers(Response(body, 200, mimetype="text/html"))
    expected = session.pop("saml_logout_csrf", None)
    if not expected or not secrets.compare_digest(expected, request.form.get("csrf", "")):
        return error_page("The logout form has expired; please try again.", 400)
    current = login.browser_session()
    if current is None:
        return _clear_cookie(page("Logget ud", "Du er ikke logget ind."))
    return login.start_logout(current, None)
