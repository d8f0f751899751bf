"""RFC 9068 JWT access tokens, registered as the server's token generator.

Header ``typ: at+jwt`` and ``kid``; signed RS256 unless the client is registered for
PS256 or ES256. Claims: ``iss``, ``sub``, ``aud`` (the one fagsystem or service the token
is for), ``client_id``, ``iat``/``nbf``/``exp``, ``jti``, ``scope``, and KOMBIT's
``cvr``, ``spec_ver`` and ``priv`` (base64 JSON of the privilege groups for that audience
only, DOMAIN.md). User tokens add ``auth_time``, ``acr`` and ``loa``; exchanged tokens
``act`` (RFC 8693); certificate-bound tokens ``cnf`` (RFC 8705).

Tokens for the administration API (audience ``<base>/api/v1``, :mod:`idp.oidc.api_bearer`)
carry no KOMBIT privileges: no ``priv`` and ``spec_ver``, and ``cvr`` only for a person
(the municipality of the login). Instead ``principal`` says whom the token speaks for:
``"client"`` (``client_credentials``: ``sub`` = ``client_id``) or ``"user"`` (a person's
login: ``sub`` = the user's id, with ``auth_time``, ``loa`` and ``acr``). Only these
tokens carry ``principal``, and no other token may name the API as its audience: the
issuer refuses to write one, so a fagsystem registered with the API's URL as its entity
ID gets no token that the API would take.

Every grant hands the generator a :class:`TokenSubject` as authlib's ``user``: the grant
decides *what* a token says, this module only writes it down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from authz.model import PrivilegeGroup
from idp.oidc.authz_port import encode_priv
from idp.oidc.claims import SPEC_VER
from idp.oidc.clients import Client
from idp.oidc.errors import InvalidTargetError
from idp.oidc.jose import sign
from idp.oidc.jwks import SigningKeys
from idp.oidc.storage import Login, OAuthStore, RefreshGrant, new_secret

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type, not a secret
SYSTEM_GRANTS = frozenset({"client_credentials"})
PRINCIPAL_CLAIM = "principal"  # admin API tokens only: "client" or "user"
ApiPrincipal = Literal["client", "user"]


@dataclass(frozen=True)
class TokenSubject:
    """Whom and what a token speaks for; built by a grant, written by the generator."""

    sub: str
    audience: str
    cvr: str | None  # None only in a client's token for the administration API
    privileges: tuple[PrivilegeGroup, ...]
    login: Login | None = None  # user tokens: the login behind them
    grant_id: str | None = None  # the token family (revoked together)
    family_expires_at: int | None = None
    acr: str | None = None
    act: dict[str, Any] | None = None
    cnf: dict[str, str] | None = None
    api_principal: ApiPrincipal | None = None  # set for the administration API only

    def get_user_id(self) -> str:
        return self.sub


class AccessTokenIssuer:
    """authlib token generator: ``(grant_type, client, user, scope, ...) -> token dict``."""

    def __init__(
        self,
        *,
        issuer: str,
        keys: SigningKeys,
        store: OAuthStore,
        user_seconds: int,
        system_seconds: int,
        api_audience: str,
    ) -> None:
        self.issuer = issuer
        self.keys = keys
        self.store = store
        self.user_seconds = user_seconds
        self.system_seconds = system_seconds
        self.api_audience = api_audience

    def lifetime(self, grant_type: str) -> int:
        return self.system_seconds if grant_type in SYSTEM_GRANTS else self.user_seconds

    def claims(
        self, client: Client, subject: TokenSubject, scope: str | None, lifetime: int
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject.sub,
            "aud": subject.audience,
            "client_id": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": new_secret(16),
        }
        if subject.api_principal is None:
            claims.update(cvr=subject.cvr, spec_ver=SPEC_VER, priv=encode_priv(subject.privileges))
        else:
            claims[PRINCIPAL_CLAIM] = subject.api_principal
            if subject.cvr:
                claims["cvr"] = subject.cvr
        if scope:
            claims["scope"] = scope
        if subject.login is not None:
            claims["auth_time"] = subject.login.auth_time
            claims["loa"] = subject.login.loa
        if subject.acr:
            claims["acr"] = subject.acr
        if subject.act:
            claims["act"] = subject.act
        if subject.cnf:
            claims["cnf"] = subject.cnf
        return claims

    def __call__(
        self,
        grant_type: str,
        client: Client,
        user: TokenSubject | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if not isinstance(user, TokenSubject):
            raise TypeError("every grant must pass a TokenSubject as the token's user")
        subject = user
        for_api = subject.audience == self.api_audience
        if for_api != (subject.api_principal is not None):
            # A fagsystem or service whose entity ID is the API's URL, or a grant that
            # forgot to mark its subject: never a token the API might mistake for its own.
            raise InvalidTargetError(
                description="the audience is reserved for the administration API"
                if for_api
                else "an administration API token must name the API as its audience"
            )
        lifetime = int(expires_in or self.lifetime(grant_type))
        claims = self.claims(client, subject, scope, lifetime)
        access_token = sign(
            claims, self.keys.signing_key(client.signing_alg), client.signing_alg, ACCESS_TOKEN_TYP
        )
        if subject.grant_id:
            self.store.remember_access_token(claims["jti"], subject.grant_id, lifetime + 60)
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access_token,
            "expires_in": lifetime,
        }
        if scope:
            token["scope"] = scope
        if (
            include_refresh_token
            and subject.login is not None
            and subject.grant_id
            and subject.family_expires_at
        ):
            refresh_token = new_secret(32)
            self.store.save_refresh_token(
                refresh_token,
                RefreshGrant(
                    client_id=client.client_id,
                    scope=scope or "",
                    login=subject.login,
                    grant_id=subject.grant_id,
                    expires_at=subject.family_expires_at,
                    cnf=subject.cnf,
                    acr=subject.acr,
                    resource=subject.audience if subject.api_principal else None,
                ),
            )
            token["refresh_token"] = refresh_token
        return token
