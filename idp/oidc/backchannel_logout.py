"""OpenID Connect Back-Channel Logout 1.0: a logout token to every RP of a session.

The logout token is a JWT with ``typ: logout+jwt`` (so it can never pass for an ID or
access token), ``iss``, ``aud`` = client_id, ``iat``, ``exp``, ``jti``, ``sub``, ``sid``
and the back-channel ``events`` member, and never a ``nonce`` (§2.4). It is POSTed as
``logout_token`` to each client's registered ``backchannel_logout_uri``; RPs are called
in parallel with a short timeout so a dead RP cannot hold up the user's logout.

:func:`notify` returns each client's outcome. Every logout (at an RP, at a SAML SP, on the
IdP's own page) reaches it through :func:`idp.oidc.rp_logout.session_ended`, the OIDC part
of :mod:`idp.login.logout`; anything else that ends sessions may call it directly.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from idp.oidc.clients import Client
from idp.oidc.jose import sign
from idp.oidc.provider import Provider
from idp.oidc.storage import new_secret

log = logging.getLogger(__name__)
LOGOUT_TYP = "logout+jwt"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
TIMEOUT_SECONDS = 3.0


def logout_token(provider: Provider, client: Client, sub: str, sid: str | None) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": new_secret(16),
        "sub": sub,
        "events": {EVENT: {}},
    }
    if sid:
        claims["sid"] = sid
    alg = client.signing_alg
    return sign(claims, provider.keys.signing_key(alg), alg, LOGOUT_TYP)


def _post(uri: str, token: str) -> str:
    body = urlencode({"logout_token": token}).encode()
    if not uri.startswith(("https://", "http://")):
        return "failed: not an http(s) URI"
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        uri,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return "delivered" if response.status in (200, 204) else f"http {response.status}"
    except urllib.error.HTTPError as exc:
        return f"http {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"failed: {exc.__class__.__name__}"


def notify(
    provider: Provider, clients: Iterable[Client], sub: str, sid: str | None
) -> dict[str, str]:
    """Send logout tokens; return client_id -> outcome (for the audit log)."""
    targets = [c for c in clients if c.backchannel_logout_uri]
    if not targets:
        return {}
    tokens = {c.client_id: logout_token(provider, c, sub, sid) for c in targets}
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        futures = {
            c.client_id: pool.submit(_post, str(c.backchannel_logout_uri), tokens[c.client_id])
            for c in targets
        }
        outcomes = {client_id: future.result() for client_id, future in futures.items()}
    for client_id, outcome in outcomes.items():
        if outcome != "delivered":
            log.warning("back-channel logout to %s: %s", client_id, outcome)
    return outcomes
