"""The OpenID provider's shared parts for one application, and its per-request transaction.

Grants and endpoints reach the database through :meth:`Provider.db`: one transaction per
request, so the lookups behind a token (client, agreement, privileges) and its audit
event commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app, g
from sqlalchemy.orm import Session

from idp.context import Services
from idp.logs import current_request_id
from idp.oidc.authz_port import AgreementCache, PrivilegeSource, user_privileges
from idp.oidc.clients import ClientRegistry
from idp.oidc.jwks import SigningKeys
from idp.oidc.storage import OAuthStore
from store import audit
from store.audit_batch import AuditBatcher

if TYPE_CHECKING:
    from idp.oidc.login_bridge import LoginBridge
    from idp.oidc.server import OAuthServer

EXTENSION = "sts.oidc"
_SESSION = "_oidc_db_session"

ENDPOINTS = {
    "authorization_endpoint": "/oidc/authorize",
    "token_endpoint": "/oidc/token",
    "userinfo_endpoint": "/oidc/userinfo",
    "jwks_uri": "/oidc/jwks",
    "introspection_endpoint": "/oidc/introspect",
    "revocation_endpoint": "/oidc/revoke",
    "end_session_endpoint": "/oidc/logout",
}


@dataclass
class Provider:
    services: Services
    keys: SigningKeys
    store: OAuthStore
    clients: ClientRegistry
    login: LoginBridge
    privileges: PrivilegeSource = user_privileges
    agreements: AgreementCache = field(default_factory=AgreementCache)
    # Token endpoint events on PostgreSQL: group commit (see store.audit_batch).
    audit_batcher: AuditBatcher | None = None
    server: OAuthServer = field(init=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.services.settings.base_url

    def url(self, name: str) -> str:
        return self.issuer + ENDPOINTS[name]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The request's transaction; nested calls share it, the outermost commits."""
        existing: Session | None = g.get(_SESSION)
        if existing is not None:
            yield existing
            return
        with self.services.database.session() as session:
            setattr(g, _SESSION, session)
            try:
                yield session
            finally:
                g.pop(_SESSION, None)

    def db(self) -> Session:
        session: Session | None = g.get(_SESSION)
        if session is None:
            raise RuntimeError("no OIDC transaction open; wrap the view in provider.transaction()")
        return session

    def audit(
        self,
        action: str,
        *,
        client_id: str | None,
        outcome: str = "success",
        cvr: str | None = None,
        object_id: str | None = None,
        details: dict[str, Any] | None = None,
        batched: bool = False,
    ) -> None:
        """Append an audit event; returns once it is in the request's transaction, or with
        ``batched`` (token endpoint only: its transaction writes nothing else) once it is
        committed by the process's :class:`AuditBatcher`, where there is one."""
        event: dict[str, Any] = {
            "actor": f"oidc-client:{client_id}" if client_id else "oidc",
            "action": action,
            "object_type": "oidc_token",
            "object_id": object_id,
            "cvr": cvr,
            "outcome": outcome,
            "request_id": current_request_id(),
            "details": details or {},
        }
        if batched and self.audit_batcher is not None:
            self.audit_batcher.record(**event)
        else:
            audit.record(self.db(), **event)


def current_provider() -> Provider:
    provider: Provider = current_app.extensions[EXTENSION]
    return provider
