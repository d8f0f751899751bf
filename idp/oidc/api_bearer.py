"""Bearer tokens of the administration API (``/api/v1``): RFC 6750 with RFC 9068 tokens.

The API takes only access tokens we issued for it (RFC 8707 resource
``<base>/api/v1``), in ``Authorization: Bearer`` (never in a query or a form):

- an integration's: ``client_credentials`` with ``resource=<base>/api/v1`` and nothing else,
  issued only to a client that holds an administrative role;
- a person's: the code flow with that resource, from a client listed in
  ``STS_ADMIN_API_USER_CLIENTS``.

A token passes when :func:`idp.oidc.jose.verify` accepts it as ours (issuer, published
keys, ``typ: at+jwt``, RS256/PS256/ES256 only), its ``aud`` is exactly the API's, it has
not expired or been revoked (RFC 7009, or its grant ended with the login), and a
certificate-bound token (``cnf``, RFC 8705) comes with the same client certificate. Whom
it speaks for is the ``principal`` claim, which only API tokens carry and which must
agree with the rest: a client's has ``sub`` = ``client_id`` and no login (``auth_time``,
``loa``); a person's has both and the user's id as ``sub``. An ID token, a fagsystem's or
service's token, or an exchanged (``act``) token never passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from idp.oidc.access_token import PRINCIPAL_CLAIM
from idp.oidc.bearer import ACCESS_TOKEN_CLAIMS, verify_access_token
from idp.oidc.errors import safe_description
from idp.oidc.jose import TokenRejected
from idp.oidc.mtls import presented_confirmation
from idp.oidc.provider import current_provider
from settings import Settings

API_PATH = "/api/v1"
_REQUIRED = (*ACCESS_TOKEN_CLAIMS, "aud")  # principal: checked after the audience
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def api_audience(settings: Settings) -> str:
    """The API's audience and RFC 8707 resource: ``<base_url>/api/v1``."""
    return settings.base_url.rstrip("/") + API_PATH


@dataclass(frozen=True)
class ApiBearer:
    """A verified API token: an integration (``client``) or a person (``user``)."""

    kind: Literal["user", "client"]
    client_id: str
    user_id: str | None  # users.id of a person; None for a client
    loa: str | None  # the person's NSIS level at login; None for a client
    claims: dict[str, Any] = field(repr=False)


class ApiTokenError(Exception):
    """No acceptable bearer token. ``error`` is RFC 6750's: ``invalid_request`` (missing
    or malformed credentials) or ``invalid_token``; answer 401 with ``WWW-Authenticate``."""

    def __init__(self, error: Literal["invalid_request", "invalid_token"], description: str):
        self.error = error
        self.description = safe_description(description)
        super().__init__(f"{error}: {self.description}")


def _invalid(description: str) -> ApiTokenError:
    return ApiTokenError("invalid_token", description)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if not authorization or not authorization.strip():
        raise ApiTokenError("invalid_request", "send Authorization: Bearer <access token>")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise ApiTokenError("invalid_request", "only Bearer access tokens are accepted")
    token = credentials.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        raise ApiTokenError("invalid_request", "the Authorization header is malformed")
    return token


def _bearer(claims: dict[str, Any]) -> ApiBearer:
    """Who the token speaks for; every marker must agree with the principal claim."""
    principal = claims.get(PRINCIPAL_CLAIM)
    sub, client_id = claims.get("sub"), claims.get("client_id")
    if not isinstance(sub, str) or not isinstance(client_id, str) or not sub or not client_id:
        raise _invalid("the token names no subject or client")
    if "act" in claims:
        raise _invalid("exchanged (on-behalf-of) tokens are not accepted")
    login = [name for name in ("auth_time", "loa", "acr") if name in claims]
    if principal == "client":
        if sub != client_id or login:
            raise _invalid("the token's client principal does not match its claims")
        return ApiBearer("client", client_id, None, None, claims)
    if principal == "user":
        loa = claims.get("loa")
        auth_time = claims.get("auth_time")
        if (
            sub == client_id
            or not isinstance(loa, str)
            or not isinstance(auth_time, int)
            or isinstance(auth_time, bool)
        ):
            raise _invalid("the token's user principal does not match its claims")
        return ApiBearer("user", client_id, sub, loa, claims)
    raise _invalid("the token is not for the administration API")


def authenticate_api_request(authorization: str | None) -> ApiBearer:
    """The bearer of this request's ``Authorization`` header (inside a request of the app).

    Raises :class:`ApiTokenError`; may raise ``store.ephemeral.StateUnavailable`` when the
    revocation list cannot be read (fail closed: answer 503).
    """
    token = bearer_token(authorization)
    provider = current_provider()
    settings = provider.services.settings
    audience = api_audience(settings)
    try:
        verified = verify_access_token(provider, token, audience=audience, require=_REQUIRED)
    except TokenRejected as exc:
        raise _invalid(f"access token rejected: {exc}") from exc
    claims = verified.claims
    if claims.get("aud") != audience:  # verify() also accepts a list that contains it
        raise _invalid("the token is not for the administration API alone")
    bearer = _bearer(claims)
    if provider.store.access_token_revoked(str(claims["jti"])):
        raise _invalid("the access token has been revoked")
    bound = claims.get("cnf")
    if bound and presented_confirmation(settings) != bound:
        raise _invalid("the access token is bound to another client certificate")
    return bearer
