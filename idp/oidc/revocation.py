"""RFC 7009 token revocation.

A refresh token takes its whole family with it (§2.1); an access token is put on the
revocation list until it expires. A token the client does not own is refused; an unknown
or already invalid token is answered with 200, as §2.2 asks.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from authlib.oauth2.rfc7009 import RevocationEndpoint

from idp.oidc.bearer import AccessToken, find_token
from idp.oidc.clients import AUTH_METHODS
from idp.oidc.provider import Provider
from idp.oidc.storage import RefreshGrant


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    @property
    def provider(self) -> Provider:
        return self.server.provider

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        found = find_token(self.provider, token_string, token_type_hint)
        if isinstance(found, RefreshGrant):
            return _RefreshToken(token_string, found)
        return found

    def revoke_token(self, token: Any, request: Any) -> None:
        store = self.provider.store
        if isinstance(token, AccessToken):
            store.revoke_access_token(token.jti, float(token.claims["exp"]) - time.time() + 60)
        else:
            store.revoke_refresh_token(token.value)
        self.provider.audit(
            "oidc.token.revoke",
            client_id=request.client.client_id,
            details={"token_type": type(token).__name__},
        )


class _RefreshToken:
    def __init__(self, value: str, grant: RefreshGrant) -> None:
        self.value = value
        self.grant = grant

    def check_client(self, client: Any) -> bool:
        return self.grant.check_client(client)
