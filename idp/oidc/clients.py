"""OAuth clients (RFC 6749 §2) as authlib sees them, read from ``oidc_clients``.

Clients are registered through the catalogue import and ``stsctl``; there is no dynamic
registration endpoint. A client belongs to a fagsystem: access tokens for its users are
audience-restricted to that fagsystem, and its system tokens are gated by the
fagsystem's service agreements.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp import metrics
from store.models import Fagsystem, OidcClient

AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
    "none",
)
SCOPES_SUPPORTED = ("openid", "profile", "email", "offline_access")
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE)


class SecretVerifier:
    """Argon2 verification of client secrets, with a bounded cache of recent successes.

    Argon2 is deliberately slow (tens of milliseconds and 64 MiB); a system client
    asking for a token every second would spend a core on it. A success is remembered
    for ``ttl`` seconds under a keyed digest of (stored hash, secret), so changing the
    stored hash invalidates it, and no secret is kept in memory.

    Two things keep a busy client from stalling when its entry ages out (the soak saw a
    one-second stall every five minutes, when every request in flight ran argon2 at
    once):

    - *refresh ahead*: in the last ``refresh`` seconds of an entry's life, one request
      verifies again and renews it while the others keep using the still-valid entry;
    - *single flight*: when there is no valid entry, one request verifies and those
      asking with the same (hash, secret) meanwhile wait for its answer instead of
      each running argon2. Failures are never cached and never shared with a later
      request: a wrong secret costs its sender a full verification every time.
    """

    def __init__(self, ttl: float = 300.0, size: int = 1024, refresh: float = 30.0) -> None:
        self.ttl = ttl
        self.size = size
        self.refresh = min(refresh, ttl / 2)
        self._hasher = PasswordHasher()
        self._pepper = hashlib.sha256(str(time.time_ns()).encode()).digest()
        self._recent: OrderedDict[bytes, float] = OrderedDict()
        self._flights: dict[bytes, _Flight] = {}
        self._lock = threading.Lock()

    def verify(self, stored_hash: str | None, secret: str) -> bool:
        if not stored_hash or not secret:
            return False
        digest = hmac.new(
            self._pepper, stored_hash.encode() + b"\0" + secret.encode(), "sha256"
        ).digest()
        now = time.monotonic()
        with self._lock:
            until = self._recent.get(digest)
            in_flight = self._flights.get(digest)
            fresh_or_renewing = until is not None and (
                until - now > self.refresh or (until > now and in_flight is not None)
            )
            if fresh_or_renewing:
                return True  # valid, and fresh or already being renewed
            if in_flight is None:  # this request verifies (or renews); others wait or reuse
                flight = self._flights[digest] = _Flight()
        if in_flight is not None:  # no valid entry: wait for the verification under way
            in_flight.done.wait()
            return in_flight.ok
        ok = False
        try:
            self._hasher.verify(stored_hash, secret)
            ok = True
        except (VerificationError, InvalidHashError):
            pass
        finally:
            with self._lock:
                if ok:
                    self._recent[digest] = time.monotonic() + self.ttl
                    self._recent.move_to_end(digest)
                    while len(self._recent) > self.size:
                        self._recent.popitem(last=False)
                else:
                    self._recent.pop(digest, None)
                del self._flights[digest]
            flight.ok = ok
            flight.done.set()
        return ok


class _Flight:
    """One argon2 verification in progress, awaited by concurrent identical requests."""

    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


@dataclass(frozen=True)
class Client(ClientMixin):
    """One registered client with the parts of its fagsystem that tokens need."""

    client_id: str
    fagsystem_id: str
    audience: str  # the fagsystem's entity ID (or its id when it has none)
    personal_data: bool
    min_loa: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    auth_method: str
    secret_hash: str | None
    grant_types: tuple[str, ...]
    jwks: dict[str, Any] | None
    tls_subject_dn: str | None
    backchannel_logout_uri: str | None
    signing_alg: str
    verifier: SecretVerifier = field(compare=False, repr=False, default_factory=SecretVerifier)

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"

    @property
    def client_metadata(self) -> dict[str, Any]:
        """What authlib's RP-initiated logout endpoint reads."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous single registration may stand in for a missing parameter.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The supported scopes among those requested, in the order requested.

        Unknown scopes are ignored, as OpenID Connect asks of providers.
        """
        if not scope:
            return ""
        allowed: list[str] = []
        for item in scope.split():
            if item in SCOPES_SUPPORTED and item not in allowed:
                allowed.append(item)
        return " ".join(allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 §4.1.3): no prefix, no normalisation.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.verifier.verify(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class ClientRegistry:
    """Looks clients up, keeping each for ``ttl`` seconds (catalogue changes apply then)."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self.verifier = SecretVerifier()
        self._cache: dict[str, tuple[float, Client | None]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def get(self, session: Session, client_id: str | None) -> Client | None:
        if not client_id or not isinstance(client_id, str) or len(client_id) > 200:
            return None
        now = time.monotonic()
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > now:
            metrics.CLIENT_HIT.inc()
            return cached[1]
        metrics.CLIENT_MISS.inc()
        client = self._load(session, client_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[client_id] = (now + self.ttl, client)
        return client

    def _load(self, session: Session, client_id: str) -> Client | None:
        row = session.execute(
            select(OidcClient, Fagsystem)
            .join(Fagsystem, Fagsystem.id == OidcClient.fagsystem_id)
            .where(OidcClient.client_id == client_id)
        ).first()
        if row is None:
            return None
        client, fagsystem = row
        return Client(
            client_id=client.client_id,
            fagsystem_id=fagsystem.id,
            audience=fagsystem.entity_id or fagsystem.id,
            personal_data=fagsystem.personal_data,
            min_loa=fagsystem.min_loa,
            redirect_uris=tuple(client.redirect_uris or ()),
            post_logout_redirect_uris=tuple(client.post_logout_redirect_uris or ()),
            auth_method=client.token_endpoint_auth_method,
            secret_hash=client.client_secret_hash,
            grant_types=tuple(client.grant_types or ()),
            jwks=client.jwks,
            tls_subject_dn=client.tls_client_auth_subject_dn,
            backchannel_logout_uri=client.backchannel_logout_uri,
            signing_alg=client.signing_alg or "RS256",
            verifier=self.verifier,
        )
