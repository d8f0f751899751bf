"""RFC 7523 §2.2 client authentication with a signed JWT (``private_key_jwt``).

The assertion is verified by :func:`idp.oidc.jose.verify` against the keys registered
for the client (``oidc_clients.jwks``) and nothing else: no ``jku``/``x5u`` fetching, no
embedded ``jwk``, no HMAC. ``iss`` = ``sub`` = client_id, ``aud`` = our issuer or the
endpoint, a short ``exp``, and a ``jti`` seen only once (replay cache in the ephemeral
store until the assertion expires).
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from idp.oidc.errors import oauth_error
from idp.oidc.jose import Key, TokenRejected, unverified_claims, unverified_header, verify
from idp.oidc.provider import ENDPOINTS, current_provider

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 600  # seconds; bounds the replay cache and a stolen assertion's use
ASSERTION_TYPS = (None, "jwt", "client-authentication+jwt")


def client_keys(jwks: Any) -> list[Key]:
    """The client's registered public keys (RSA and EC only)."""
    if not isinstance(jwks, dict):
        return []
    keys: list[Key] = []
    for entry in jwks.get("keys", []):
        if not isinstance(entry, dict) or "d" in entry:
            continue
        try:
            key = KeySet.import_key_set({"keys": [entry]}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        if isinstance(key, RSAKey | ECKey) and key.kid:
            keys.append(key)
    return keys


class PrivateKeyJwt(JWTBearerClientAssertion):
    """authlib's RFC 7523 client assertion, verified by our strict JWT verifier."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, leeway: int = 60) -> None:
        super().__init__(validate_jti=True, leeway=leeway)

    def get_audiences(self) -> list[str]:
        provider = current_provider()
        return [provider.issuer, *(provider.url(name) for name in ENDPOINTS)]

    def __call__(self, query_client: Any, request: Any) -> Any:
        form = request.form
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return None
        assertion = form.get("client_assertion")
        if not assertion:
            raise oauth_error(InvalidClientError, "client_assertion missing")
        try:
            header = unverified_header(assertion)
            if (header.get("typ") or None) and str(header["typ"]).lower() not in ASSERTION_TYPS:
                raise TokenRejected(f"typ {header.get('typ')} is not a client assertion")
            claimed = unverified_claims(assertion).get("sub")
        except TokenRejected as exc:
            raise oauth_error(InvalidClientError, f"client assertion rejected: {exc}") from exc
        if not isinstance(claimed, str) or (form.get("client_id") not in (None, claimed)):
            raise oauth_error(InvalidClientError, "client assertion sub is not the client_id")
        client = query_client(claimed)
        if client is None or client.auth_method != self.CLIENT_AUTH_METHOD:
            raise oauth_error(InvalidClientError, "client unknown or not using private_key_jwt")
        provider = current_provider()
        try:
            verified = verify(
                assertion,
                client_keys(client.jwks),
                typ=None,
                issuer=client.client_id,
                audience=self.get_audiences(),
                leeway=self.leeway,
                require=("exp", "jti", "sub", "iss", "aud"),
            )
        except TokenRejected as exc:
            raise oauth_error(InvalidClientError, f"client assertion rejected: {exc}") from exc
        claims = verified.claims
        now = time.time()
        if claims["sub"] != claims["iss"]:
            raise oauth_error(InvalidClientError, "client assertion iss and sub differ")
        if float(claims["exp"]) - now > MAX_LIFETIME:
            raise oauth_error(InvalidClientError, "client assertion lives longer than 10 minutes")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > 200:
            raise oauth_error(InvalidClientError, "client assertion jti missing or invalid")
        ttl = float(claims["exp"]) - now + self.leeway
        if not provider.store.first_use_of_assertion(client.client_id, jti, ttl):
            raise oauth_error(InvalidClientError, "client assertion replayed (jti seen before)")
        request.client = client
        return client
