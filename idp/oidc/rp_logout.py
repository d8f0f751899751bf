"""OpenID Connect RP-Initiated Logout 1.0, on authlib's ``EndSessionEndpoint``.

Redirection after logout only to a ``post_logout_redirect_uri`` registered for the client
(exact string), and only when the request carries a valid ``id_token_hint`` (without one
authlib refuses to redirect). Since anyone can link to a logout URL, we ask the user to
confirm unless the hint is about the logged-in user and session. Ending the session
revokes the grants made in it and sends back-channel logout tokens to every OIDC client
the session served.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import g

from idp.oidc import backchannel_logout
from idp.oidc.errors import oauth_error
from idp.oidc.jose import TokenRejected, verify
from idp.oidc.provider import Provider


class EndSession(EndSessionEndpoint):
    @property
    def provider(self) -> Provider:
        return self.server.provider

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        # Our strict verifier instead of authlib's: same key set, no alg/kid/typ leniency.
        try:
            verified = verify(
                id_token_hint,
                self.provider.keys.verification_keys(),
                typ="JWT",
                issuer=self.provider.issuer,
                audience=None,
                require=("sub", "aud", "iat"),
                check_expiry=False,
            )
        except TokenRejected as exc:
            raise oauth_error(InvalidRequestError, f"id_token_hint rejected: {exc}") from exc
        return verified.claims

    def get_server_jwks(self) -> Any:
        return self.provider.keys.key_set()

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        provider = self.provider
        ended = provider.login.end_session()
        g.oidc_session_ended = True
        if ended is None:
            return
        revoked = provider.store.revoke_session(ended.sid)
        clients = [
            client
            for client_id in ended.client_ids
            if (client := provider.clients.get(provider.db(), client_id)) is not None
        ]
        delivered = backchannel_logout.notify(provider, clients, ended.user_id, ended.sid)
        initiator = end_session_request.client
        provider.audit(
            "oidc.logout",
            client_id=initiator.client_id if initiator else None,
            object_id=ended.sid,
            details={
                "user_id": ended.user_id,
                "revoked_grants": len(revoked),
                "backchannel": delivered,
            },
        )


def confirmed_by_hint(provider: Provider, end_session_request: EndSessionRequest) -> bool:
    """Whether a logout may skip the confirmation page: only when the hint is about the
    logged-in user (``sub``) and, if it names one, this session (``sid``).

    Any valid ID token would otherwise do, an attacker's own for instance, and log out
    whoever is signed in in the browser that follows the link.
    """
    claims = end_session_request.id_token_claims
    live = provider.login.current()
    if claims is None or live is None or str(claims.get("sub")) != live.user_id:
        return False
    return "sid" not in claims or claims["sid"] == live.sid
