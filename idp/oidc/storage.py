"""Every piece of OAuth state, in one place, on the ephemeral store (``store.ephemeral``).

Nothing here is needed to *verify* a token; it is needed to issue, rotate and revoke.
Secrets (codes, refresh tokens) are stored only as SHA-256 digests, so a dump of Redis
gives no usable credential.

Keys, all under ``oidc:``:

- ``code:<digest>``: an authorization code's grant (single use: taken with ``pop``);
  ``code-used:<digest>``: the grant id of a redeemed code, so a second redemption can
  revoke what the first one issued (RFC 6749 §4.1.2, RFC 9700 §4.5).
- ``grant:<id>``: a grant (one login at one client); ``grant-revoked:<id>``: its
  revocation, which ends every access and refresh token of the family.
- ``rt:<digest>`` / ``rt-used:<digest>``: a refresh token and, once rotated, the marker
  that turns a second use into reuse detection (RFC 9700 §4.14.2).
- ``at:<jti>``: the grant of a user access token; ``at-revoked:<jti>``: RFC 7009.
- ``assertion-jti:<client>:<jti>``: RFC 7523 replay cache.
- ``authreq:<ticket>``: an authorization request waiting for the login to finish.
- ``sid-grants:<sid>``: the grants made in one SSO session (ended with the session).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from store.ephemeral import EphemeralState

PREFIX = "oidc:"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret(size: int = 32) -> str:
    return secrets.token_urlsafe(size)


@dataclass(frozen=True)
class Login:
    """The login a grant rests on: who, for which municipality, how strongly, when."""

    user_id: str
    cvr: str
    loa: str
    auth_time: int
    amr: tuple[str, ...]
    sid: str | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["amr"] = list(self.amr)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Login:
        return cls(
            user_id=str(data["user_id"]),
            cvr=str(data["cvr"]),
            loa=str(data["loa"]),
            auth_time=int(data["auth_time"]),
            amr=tuple(data.get("amr") or ()),
            sid=data.get("sid"),
        )


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code stands for (RFC 6749 §4.1.2, OIDC Core §3.1.2.5)."""

    client_id: str
    redirect_uri: str | None
    scope: str
    login: Login
    grant_id: str
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    acr: str | None = None
    resource: str | None = None  # RFC 8707: the administration API; None: the fagsystem

    # authlib's AuthorizationCodeMixin / OpenID mixin interface
    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.login.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.login.amr)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["login"] = self.login.to_dict()
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CodeGrant:
        data = json.loads(raw)
        data["login"] = Login.from_dict(data["login"])
        return cls(**data)


@dataclass(frozen=True)
class RefreshGrant:
    """One refresh token of a family; every rotation keeps ``grant_id`` and ``expires_at``."""

    client_id: str
    scope: str
    login: Login
    grant_id: str
    expires_at: int  # end of the family: the login's refresh lifetime, never extended
    cnf: dict[str, str] | None = None
    acr: str | None = None
    resource: str | None = None  # kept by every rotation (RFC 8707 §2.2)

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def to_json(self) -> bytes:
        data = asdict(self)
        data["login"] = self.login.to_dict()
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> RefreshGrant:
        data = json.loads(raw)
        data["login"] = Login.from_dict(data["login"])
        return cls(**data)


@dataclass
class RefreshUse:
    """Outcome of presenting a refresh token: the grant, or why there is none."""

    grant: RefreshGrant | None
    reused_family: str | None = None  # set when a rotated token came back


@dataclass
class OAuthStore:
    """The storage callbacks of the provider, backed by one :class:`EphemeralState`."""

    state: EphemeralState
    family_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def _k(self, *parts: str) -> str:
        return PREFIX + ":".join(parts)

    # -- authorization codes --------------------------------------------------------

    def save_code(self, code: str, grant: CodeGrant, ttl: float) -> None:
        self.state.set(self._k("code", digest(code)), grant.to_json(), ttl=ttl)
        if grant.login.sid:
            self.state.sadd(
                self._k("sid-grants", grant.login.sid), grant.grant_id, ttl=self.family_seconds
            )

    def redeem_code(self, code: str) -> tuple[CodeGrant | None, str | None]:
        """Take a code (once). Returns (grant, None), or (None, grant id) on a second use."""
        key = digest(code)
        raw = self.state.pop(self._k("code", key))
        if raw is None:
            used = self.state.get(self._k("code-used", key))
            return None, used.decode() if used else None
        grant = CodeGrant.from_json(raw)
        self.state.set(self._k("code-used", key), grant.grant_id.encode(), ttl=self.family_seconds)
        return grant, None

    # -- grants (token families) ----------------------------------------------------

    def revoke_grant(self, grant_id: str) -> None:
        self.state.set(self._k("grant-revoked", grant_id), b"1", ttl=self.family_seconds)

    def grant_revoked(self, grant_id: str | None) -> bool:
        return (
            bool(grant_id) and self.state.get(self._k("grant-revoked", str(grant_id))) is not None
        )

    def revoke_session(self, sid: str) -> list[str]:
        """Revoke every grant made in SSO session ``sid``; return their ids."""
        grants = sorted(self.state.smembers(self._k("sid-grants", sid)))
        for grant_id in grants:
            self.revoke_grant(grant_id)
        self.state.delete(self._k("sid-grants", sid))
        return grants

    # -- access tokens ----------------------------------------------------------------

    def remember_access_token(self, jti: str, grant_id: str, ttl: float) -> None:
        self.state.set(self._k("at", jti), grant_id.encode(), ttl=ttl)

    def access_token_grant(self, jti: str) -> str | None:
        raw = self.state.get(self._k("at", jti))
        return raw.decode() if raw else None

    def revoke_access_token(self, jti: str, ttl: float) -> None:
        self.state.set(self._k("at-revoked", jti), b"1", ttl=max(1.0, ttl))

    def access_token_revoked(self, jti: str, grant_id: str | None = None) -> bool:
        if self.state.get(self._k("at-revoked", jti)) is not None:
            return True
        grant = grant_id or self.access_token_grant(jti)
        return self.grant_revoked(grant)

    # -- refresh tokens -----------------------------------------------------------------

    def save_refresh_token(self, token: str, grant: RefreshGrant) -> None:
        ttl = grant.expires_at - time.time()
        if ttl > 0:
            self.state.set(self._k("rt", digest(token)), grant.to_json(), ttl=ttl)

    def peek_refresh_token(self, token: str) -> RefreshGrant | None:
        raw = self.state.get(self._k("rt", digest(token)))
        return RefreshGrant.from_json(raw) if raw else None

    def use_refresh_token(self, token: str) -> RefreshUse:
        """Take a refresh token for rotation; a rotated one coming back is reuse."""
        key = digest(token)
        raw = self.state.pop(self._k("rt", key))
        if raw is None:
            used = self.state.get(self._k("rt-used", key))
            return RefreshUse(None, used.decode() if used else None)
        grant = RefreshGrant.from_json(raw)
        ttl = max(1.0, grant.expires_at - time.time())
        self.state.set(self._k("rt-used", key), grant.grant_id.encode(), ttl=ttl)
        return RefreshUse(grant)

    def revoke_refresh_token(self, token: str) -> RefreshGrant | None:
        """RFC 7009 for a refresh token: the whole family goes (§2.1 "SHOULD")."""
        grant = self.peek_refresh_token(token)
        if grant is not None:
            self.state.delete(self._k("rt", digest(token)))
            self.revoke_grant(grant.grant_id)
        return grant

    # -- RFC 7523 assertion replay ---------------------------------------------------------

    def first_use_of_assertion(self, client_id: str, jti: str, ttl: float) -> bool:
        key = self._k("assertion-jti", digest(client_id), digest(jti))
        return self.state.add(key, b"1", ttl=max(1.0, ttl))

    # -- authorization requests waiting for a login ------------------------------------------

    def park_request(self, params: dict[str, list[str]], ttl: float) -> str:
        ticket = new_secret(24)
        self.state.set(self._k("authreq", ticket), json.dumps(params).encode(), ttl=ttl)
        return ticket

    def take_request(self, ticket: str) -> dict[str, list[str]] | None:
        if not ticket or len(ticket) > 64:
            return None
        raw = self.state.pop(self._k("authreq", ticket))
        return None if raw is None else dict(json.loads(raw))
