"""OpenID Connect RP-Initiated Logout 1.0, on authlib's ``EndSessionEndpoint``, and the
OIDC part of every logout.

Redirection after logout only to a ``post_logout_redirect_uri`` registered for the client
(exact string), and only when the request carries a valid ``id_token_hint`` (without one
authlib refuses to redirect). Since anyone can link to a logout URL, we ask the user to
confirm unless the hint is about the logged-in user and session.

The logout itself is one :mod:`idp.login.logout` run whichever system started it (this
endpoint, a SAML SP, the IdP's own page): :func:`session_ended` is its OIDC back-channel
part (the session's grants revoked, a logout token to every OIDC client it served), and
:func:`answer` the redirect back to the RP that asked.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import current_app, g, redirect
from werkzeug.wrappers.response import Response

from idp.login.logout import LOGGED_OUT, NO_ANSWER, REFUSED, UNSUPPORTED, LogoutRun
from idp.oidc import backchannel_logout
from idp.oidc.errors import oauth_error
from idp.oidc.jose import TokenRejected, verify
from idp.oidc.login_bridge import PROTOCOL, LogoutInitiator
from idp.oidc.provider import EXTENSION, Provider, current_provider


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
        end_session(self.provider, end_session_request)


def end_session(provider: Provider, end_session_request: EndSessionRequest) -> Response | None:
    """Log the browser out everywhere; the response to send (None: our "logged out" page)."""
    client = end_session_request.client
    response = provider.login.logout(
        LogoutInitiator(
            client_id=client.client_id if client else None,
            fagsystem=client.fagsystem_id if client else None,
            redirect_uri=end_session_request.redirect_uri,
        )
    )
    g.oidc_session_ended = True
    if response is None and end_session_request.redirect_uri:
        response = redirect(end_session_request.redirect_uri, 302)
    return response


def session_ended(run: LogoutRun) -> None:
    """The OIDC part of a logout: revoke the session's grants, send logout tokens, and
    record for each OIDC client of the session whether it confirmed."""
    if EXTENSION not in current_app.extensions:
        return
    provider = current_provider()
    systems = run.of(PROTOCOL)
    with provider.transaction():
        revoked = provider.store.revoke_session(run.sid)
        clients = {
            system.client: client
            for system in systems
            if system.client
            and (client := provider.clients.get(provider.db(), system.client)) is not None
        }
    delivered = backchannel_logout.notify(provider, clients.values(), run.user_id, run.sid)
    asked = run.initiated_by(PROTOCOL)
    for system in systems:
        if system.client == asked:
            continue  # it asked, so it knows
        outcome = delivered.get(system.client or "")
        if outcome is None:
            status, detail = UNSUPPORTED, "no backchannel_logout_uri"
        elif outcome == "delivered":
            status, detail = LOGGED_OUT, outcome
        elif outcome.startswith("http "):
            status, detail = REFUSED, outcome
        else:
            status, detail = NO_ANSWER, outcome
        run.record(PROTOCOL, system.client, status, fagsystem=system.fagsystem, detail=detail)
    run.audit[PROTOCOL] = {"revoked_grants": len(revoked), "backchannel": delivered}


def answer(run: LogoutRun) -> Response | None:
    """Back to the RP that asked: its verified ``post_logout_redirect_uri`` (with ``state``)."""
    target = (run.initiator or {}).get("redirect_uri")
    return redirect(str(target), 302) if target else None


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
