"""OpenID Connect Core ID tokens, as an extension of the code and refresh grants.

Signed with the client's algorithm (RS256 default, PS256 or ES256), ``kid`` in the
header. The ID token says who logged in and how: ``sub``, ``auth_time``, ``acr`` (the NSIS
level URI), ``amr``, ``sid`` (for back-channel logout), ``nonce``, ``at_hash``, plus
``cvr`` and ``loa``. Profile and e-mail claims are served by userinfo, since the client
gets an access token (OIDC Core §5.4).
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope, validate_nonce
from authlib.oidc.core.util import create_half_hash

from idp.oidc.access_token import TokenSubject
from idp.oidc.jose import sign
from idp.oidc.provider import Provider

ID_TOKEN_TYP = "JWT"  # noqa: S105 - a media type, not a secret


class IdToken(OpenIDCode):
    """Adds ``id_token`` to token responses whose scope includes ``openid``."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # The nonce binds the ID token to the RP's session; replay is the RP's check.
        return False

    def claims(self, token: dict[str, Any], request: Any) -> dict[str, Any]:
        client = request.client
        subject: TokenSubject = request.user
        login = subject.login
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.provider.issuer,
            "sub": subject.sub,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + self.provider.services.settings.oidc_access_token_seconds,
            "cvr": subject.cvr,
        }
        if login is not None:
            claims.update(auth_time=login.auth_time, loa=login.loa, amr=list(login.amr))
            if login.sid:
                claims["sid"] = login.sid
        if subject.acr:
            claims["acr"] = subject.acr
        code = request.authorization_code
        if code is not None and code.get_nonce():
            claims["nonce"] = code.get_nonce()
        at_hash = create_half_hash(token["access_token"], client.signing_alg)
        if at_hash is not None:
            claims["at_hash"] = at_hash.decode()
        return claims

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        alg = request.client.signing_alg
        key = self.provider.keys.signing_key(alg)
        return sign(self.claims(token, request), key, alg, ID_TOKEN_TYP)

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if is_openid_scope(token.get("scope")):
            token["id_token"] = self.encode_id_token(token, grant.request)
        return token

    def validate_openid_authorization_request(self, grant: Any, redirect_uri: str) -> None:
        validate_nonce(grant.request, self.exists_nonce, self.require_nonce)

    def __call__(self, grant: Any) -> None:
        # prompt, max_age and id_token_hint are decided by the authorization view and
        # the shared login, not by authlib's guess from "is there a user".
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook(
                "after_validate_authorization_request_payload",
                self.validate_openid_authorization_request,
            )
