"""RFC 7662 token introspection.

Open to authenticated confidential clients only, and each sees only what is its own:
tokens whose audience is the client's fagsystem (a resource server asking about tokens
sent to it) or tokens issued to the client. Anything else, and any expired, revoked or
unknown token, is ``{"active": false}``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.oidc.bearer import AccessToken, find_token
from idp.oidc.client_credentials import CONFIDENTIAL_METHODS
from idp.oidc.provider import Provider
from idp.oidc.storage import RefreshGrant

REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a token type name
BEARER = "Bearer"
_COPIED = (
    "scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti",
    "cvr", "loa", "acr", "auth_time", "spec_ver", "priv", "act", "cnf", "principal",
)  # fmt: skip


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    @property
    def provider(self) -> Provider:
        return self.server.provider

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        found = find_token(self.provider, token_string, token_type_hint)
        if isinstance(found, RefreshGrant) and self.provider.store.grant_revoked(found.grant_id):
            return None
        return found

    def check_permission(self, token: Any, client: Any, request: Any) -> bool:
        if isinstance(token, RefreshGrant):
            return token.client_id == client.client_id
        aud = token.claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud or [])
        return client.audience in audiences or token.client_id == client.client_id

    def create_introspection_payload(self, token: Any) -> dict[str, Any]:
        if isinstance(token, RefreshGrant):
            if token.is_expired():
                return {"active": False}
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": token.client_id,
                "scope": token.scope,
                "sub": token.login.user_id,
                "exp": token.expires_at,
                "iss": self.provider.issuer,
            }
        return super().create_introspection_payload(token)

    def introspect_token(self, token: AccessToken) -> dict[str, Any]:
        payload = {name: token.claims[name] for name in _COPIED if name in token.claims}
        payload.update(active=True, token_type=BEARER)
        return payload
