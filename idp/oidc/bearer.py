"""RFC 6750 on our side: reading our own access tokens where we are the resource server.

Userinfo, introspection, revocation and token exchange all accept only JWTs that
:func:`idp.oidc.jose.verify` accepts with ``typ: at+jwt`` and our issuer, so an ID token
or a logout token can never pass for an access token. A certificate-bound token
(``cnf.x5t#S256``, RFC 8705 §3) is only honoured with the same client certificate.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import MissingAuthorizationError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from flask import request as flask_request

from idp.oidc.access_token import ACCESS_TOKEN_TYP
from idp.oidc.jose import TokenRejected, Verified, verify
from idp.oidc.mtls import presented_confirmation
from idp.oidc.provider import Provider, current_provider
from idp.oidc.storage import RefreshGrant


@dataclass(frozen=True)
class AccessToken:
    """A verified access token, with the authlib TokenMixin interface."""

    claims: dict[str, Any]
    revoked: bool

    @property
    def jti(self) -> str:
        return str(self.claims.get("jti", ""))

    @property
    def client_id(self) -> str | None:
        value = self.claims.get("client_id")
        return value if isinstance(value, str) else None

    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        scope = self.claims.get("scope")
        return scope if isinstance(scope, str) else ""

    def get_expires_in(self) -> int:
        return max(0, int(self.claims["exp"] - time.time()))

    def is_expired(self) -> bool:
        return bool(self.claims["exp"] <= time.time())

    def is_revoked(self) -> bool:
        return self.revoked


ACCESS_TOKEN_CLAIMS = ("exp", "iat", "sub", "jti", "client_id")


def verify_access_token(
    provider: Provider,
    token: str,
    *,
    audience: str | None = None,
    require: Collection[str] = ACCESS_TOKEN_CLAIMS,
    check_expiry: bool = True,
) -> Verified:
    """One of our access tokens (``typ: at+jwt``, our issuer and keys), or TokenRejected."""
    return verify(
        token,
        provider.keys.verification_keys(),
        typ=ACCESS_TOKEN_TYP,
        issuer=provider.issuer,
        audience=audience,
        leeway=provider.services.settings.oidc_jwt_leeway_seconds,
        require=require,
        check_expiry=check_expiry,
    )


def read_access_token(
    provider: Provider, token: str, *, check_expiry: bool = True
) -> AccessToken | None:
    """Our access token, verified, with its revocation state; None when not one."""
    try:
        verified = verify_access_token(provider, token, check_expiry=check_expiry)
    except TokenRejected:
        return None
    jti = str(verified.claims["jti"])
    return AccessToken(verified.claims, provider.store.access_token_revoked(jti))


MAX_TOKEN_LENGTH = 16 * 1024


def find_token(
    provider: Provider, token_string: object, token_type_hint: str | None
) -> AccessToken | RefreshGrant | None:
    """The access token or refresh grant a client names (RFC 7662 / RFC 7009 lookup).

    The hint only decides the order: an access token is tried first unless the client
    says ``refresh_token``, and a refresh token is always tried as well.
    """
    if not isinstance(token_string, str) or len(token_string) > MAX_TOKEN_LENGTH:
        return None
    if token_type_hint != "refresh_token":  # noqa: S105 - a token type name
        token = read_access_token(provider, token_string)
        if token is not None:
            return token
    return provider.store.peek_refresh_token(token_string)


class AccessTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> AccessToken | None:
        return read_access_token(current_provider(), token_string)

    def validate_token(self, token: Any, scopes: Any, request: Any) -> None:
        super().validate_token(token, scopes, request)
        bound = token.claims.get("cnf")
        if bound:
            settings = current_provider().services.settings
            if presented_confirmation(settings) != bound:
                raise InvalidTokenError(description="token is bound to another certificate")


class BodyOrHeaderProtector(ResourceProtector):
    """A protector that also takes ``access_token`` from a form body (RFC 6750 §2.2)."""

    def parse_request_authorization(self, request: Any) -> Any:
        header = request.headers.get("Authorization")
        form_token = None
        if flask_request.method == "POST" and flask_request.mimetype == (
            "application/x-www-form-urlencoded"
        ):
            form_token = flask_request.form.get("access_token")
        if header and form_token:
            raise InvalidTokenError(description="send the token in one place only")
        if not header and form_token:
            return self.get_token_validator("bearer"), form_token
        if not header:
            raise MissingAuthorizationError(self._default_auth_type, self._default_realm)
        return super().parse_request_authorization(request)


def protector() -> BodyOrHeaderProtector:
    protect = BodyOrHeaderProtector()
    protect.register_token_validator(AccessTokenValidator())
    return protect
