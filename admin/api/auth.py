"""Who is calling: the API's bearer token, the roles its subject holds now, and a rate limit.

The token is verified by the OIDC provider (:mod:`idp.oidc.api_bearer`: our issuer and
keys, audience ``<base>/api/v1``, not revoked, certificate binding); the subject's
administrative roles are read from the store on every request, so a revoked role stops
working at once.
"""

from __future__ import annotations

import logging
import time

from flask import g, request
from sqlalchemy import select

from admin.actor import Actor
from admin.errors import AdminError
from admin.service.context import ServiceContext
from authz.admin import load_admin, load_admin_client
from idp.logs import current_request_id
from idp.oidc.api_bearer import ApiTokenError, authenticate_api_request
from idp.proxy import peer_address
from store.ephemeral import StateUnavailable
from store.models import User

log = logging.getLogger("sts.admin.api")
# A person administers only after a two-factor login (as the admin UI will require).
_ADMIN_LOA = ("Substantial", "High")


class Unauthenticated(AdminError):
    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str, error: str = "invalid_token") -> None:
        super().__init__(detail)
        self.error = error


class TooManyRequests(AdminError):
    status = 429
    title = "Too Many Requests"


def authenticate(ctx: ServiceContext) -> Actor:
    """The actor behind this request's bearer token; Unauthenticated if there is none."""
    try:
        bearer = authenticate_api_request(request.headers.get("Authorization"))
    except ApiTokenError as exc:
        raise Unauthenticated(exc.description, exc.error) from exc
    address = peer_address()
    if bearer.kind == "client":
        admin = load_admin_client(ctx.database, bearer.client_id)
        return Actor(
            "client",
            bearer.client_id,
            admin,
            client_address=address,
            request_id=current_request_id(),
        )
    if bearer.loa not in _ADMIN_LOA:
        raise Unauthenticated(
            "administration needs a login with two factors (NSIS Substantial); "
            "sign in again with your authenticator code",
            "insufficient_user_authentication",
        )
    with ctx.database.session() as session:
        user = session.execute(
            select(User.id, User.username, User.cvr).where(User.id == bearer.user_id)
        ).first()
        if user is None:
            raise Unauthenticated("the token's user no longer exists; sign in again")
        admin = load_admin(session, user.id)
    return Actor(
        "user",
        user.username,
        admin,
        user_id=user.id,
        cvr=user.cvr,
        loa=bearer.loa,
        client_address=address,
        request_id=current_request_id(),
    )


def rate_limit(ctx: ServiceContext, actor: Actor) -> None:
    """At most ``admin_api_rate_limit`` requests a minute per caller (0: no limit)."""
    limit = ctx.settings.admin_api_rate_limit
    if limit <= 0:
        return
    window = int(time.time() // 60)
    try:
        count = ctx.state.incr(f"admin-api:rate:{actor.holder}:{window}", 61)
    except StateUnavailable:
        log.warning("admin API rate limit not applied: shared state unavailable")
        return
    if count > limit:
        g.retry_after = str(60 - int(time.time()) % 60)
        raise TooManyRequests(
            f"more than {limit} requests in a minute from {actor.id}; "
            f"wait {g.retry_after} seconds and try again"
        )
