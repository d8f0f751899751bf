"""The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2) and its login continuation.

1. authlib validates client, exact redirect URI, response type, scope, PKCE and nonce.
2. The OpenID parameters become a :class:`LoginRequest`: ``prompt=none`` → passive,
   ``prompt=login`` → forced, ``max_age``, ``acr_values`` (NSIS levels, raised to the
   fagsystem's minimum), ``login_hint``, ``ui_locales``; ``id_token_hint`` is verified;
   an RFC 8707 ``resource`` must be one the client may ask for (:mod:`idp.oidc.resource`).
3. The request is parked in the ephemeral store and the shared login runs; its outcome
   comes back to :func:`finish_authorization`, which issues the code.

Errors go to the client's registered redirect URI (with ``state`` and, RFC 9207, ``iss``)
only once that URI is verified; otherwise the browser gets an error page. Unknown
parameters are ignored; ``request`` and ``request_uri`` objects are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core.errors import (
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import redirect

from idp.loa import LoA
from idp.login.types import FailureReason, LoginFailure, LoginRequest, LoginResult
from idp.oidc.claims import required_loa
from idp.oidc.errors import InvalidTargetError, oauth_error
from idp.oidc.jose import TokenRejected, verify
from idp.oidc.login_bridge import PROTOCOL
from idp.oidc.pages import error_page
from idp.oidc.provider import Provider, current_provider
from idp.oidc.resource import requested_resource
from idp.oidc.server import ParkedRequest
from idp.oidc.storage import Login

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
MAX_PARAMETER = 2048


class Rfc9207Issuer(IssuerParameter):
    """``iss`` in every authorization response, errors included (RFC 9207 §2)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


@dataclass(frozen=True)
class OpenIdParameters:
    min_loa: LoA
    passive: bool
    force_authn: bool
    max_age: int | None
    login_hint: str | None
    ui_locale: str | None
    hint_sub: str | None


def _fail(grant: Any, cls: type[OAuth2Error], description: str) -> OAuth2Error:
    return oauth_error(
        cls, description, redirect_uri=grant.redirect_uri, state=grant.request.payload.state
    )


def openid_parameters(provider: Provider, grant: Any) -> OpenIdParameters:
    """The OpenID parameters of a validated request; errors redirect to the client."""
    data = grant.request.payload.data
    client = grant.request.client
    for name, value in data.items():
        if isinstance(value, str) and len(value) > MAX_PARAMETER:
            raise _fail(grant, InvalidRequestError, f"parameter {name} is too long")
    if data.get("request"):
        raise _fail(grant, RequestNotSupportedError, "request objects are not supported")
    if data.get("request_uri"):
        raise _fail(grant, RequestURINotSupportedError, "request_uri is not supported")
    try:
        requested_resource(grant.request.payload.datalist, client, provider.services.settings)
    except InvalidTargetError as exc:
        raise _fail(grant, InvalidTargetError, str(exc.description)) from exc
    if data.get("response_mode") not in (None, "", "query"):
        raise _fail(grant, InvalidRequestError, "only response_mode=query is supported")
    prompts = set((data.get("prompt") or "").split())
    if "none" in prompts and len(prompts) > 1:
        raise _fail(grant, InvalidRequestError, "prompt=none cannot be combined")
    max_age = None
    if data.get("max_age") not in (None, ""):
        try:
            max_age = int(data["max_age"])
        except ValueError:
            max_age = -1
        if max_age < 0:
            raise _fail(grant, InvalidRequestError, "max_age must be a non-negative integer")
    hint_sub = None
    if data.get("id_token_hint"):
        try:
            hint = verify(
                data["id_token_hint"],
                provider.keys.verification_keys(),
                typ="JWT",
                issuer=provider.issuer,
                audience=client.client_id,
                require=("sub", "iat"),
                check_expiry=False,
            )
        except TokenRejected as exc:
            raise _fail(grant, InvalidRequestError, f"id_token_hint rejected: {exc}") from exc
        hint_sub = str(hint.claims["sub"])
    locales = (data.get("ui_locales") or "").split()
    return OpenIdParameters(
        min_loa=required_loa(client.min_loa, data.get("acr_values")),
        passive="none" in prompts,
        force_authn=bool(prompts & {"login", "select_account"}),
        max_age=max_age,
        login_hint=data.get("login_hint") or None,
        ui_locale=locales[0] if locales else None,
        hint_sub=hint_sub,
    )


def error_response(provider: Provider, error: OAuth2Error) -> Any:
    """Redirect to the verified redirect URI with the error, or show an error page."""
    if error.redirect_uri:
        status, _body, headers = error()
        response = redirect(dict(headers)["Location"], status)
        provider.extra["rfc9207"].add_issuer_parameter(provider.server, response)
        return response
    return error_page(str(error.error), error.description)


def _validate(provider: Provider, oauth_request: Any) -> tuple[Any, OpenIdParameters]:
    grant = provider.server.get_consent_grant(request=oauth_request)
    return grant, openid_parameters(provider, grant)


def authorize() -> Any:
    """GET or POST /oidc/authorize: validate, park, and hand over to the login."""
    provider = current_provider()
    settings = provider.services.settings
    with provider.transaction():
        oauth_request = provider.server.create_oauth2_request(None)
        try:
            grant, wanted = _validate(provider, oauth_request)
        except OAuth2Error as error:
            return error_response(provider, error)
        params = {name: list(values) for name, values in oauth_request.payload.datalist.items()}
        ticket = provider.store.park_request(params, ttl=settings.oidc_code_seconds + 15 * 60)
        client = grant.request.client
        login_request = LoginRequest(
            fagsystem=client.fagsystem_id,
            protocol=PROTOCOL,
            return_state={"ticket": ticket},
            client=client.client_id,
            min_loa=wanted.min_loa,
            force_authn=wanted.force_authn,
            passive=wanted.passive,
            login_hint=wanted.login_hint,
            ui_locale=wanted.ui_locale,
            max_age=wanted.max_age,
        )
    return provider.login.begin(login_request)


_FAILURES: dict[FailureReason, tuple[type[OAuth2Error], str]] = {
    FailureReason.NO_PASSIVE: (LoginRequiredError, "no login session good enough"),
    FailureReason.CANCELLED: (AccessDeniedError, "the login was cancelled"),
    FailureReason.LOA_UNAVAILABLE: (AccessDeniedError, "the requested assurance level"
                                    " cannot be reached here"),
}  # fmt: skip


def finish_authorization(login_request: LoginRequest, outcome: LoginResult | LoginFailure) -> Any:
    """The login's continuation: issue the code, or send the error to the client."""
    provider = current_provider()
    ticket = login_request.return_state.get("ticket", "")
    with provider.transaction():
        params = provider.store.take_request(ticket)
        if params is None:
            return error_page("expired", "the authorization request has expired; start again")
        oauth_request = ParkedRequest(provider.url("authorization_endpoint"), params)
        try:
            grant, wanted = _validate(provider, oauth_request)
            if isinstance(outcome, LoginFailure):
                cls, text = _FAILURES.get(outcome.reason, (AccessDeniedError, "login failed"))
                raise _fail(grant, cls, text)
            if wanted.hint_sub and wanted.hint_sub != outcome.user_id and wanted.passive:
                raise _fail(grant, LoginRequiredError, "the logged-in user is not id_token_hint")
            if not outcome.loa.satisfies(wanted.min_loa):
                raise _fail(grant, AccessDeniedError, "assurance level too low")
        except OAuth2Error as error:
            return error_response(provider, error)
        login = Login(
            user_id=outcome.user_id,
            cvr=outcome.cvr,
            loa=outcome.loa.value,
            auth_time=int(outcome.auth_instant.timestamp()),
            amr=tuple(outcome.methods),
            sid=outcome.session_id,
        )
        response = provider.server.create_authorization_response(
            request=oauth_request, grant_user=login, grant=grant
        )
        if not response.location:  # authlib's JSON error for an unverified redirect
            return error_page("invalid_request", response.get_data(as_text=True)[:200])
        return response
