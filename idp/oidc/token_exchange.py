"""RFC 8693 token exchange for on-behalf-of calls.

A fagsystem presents a user's access token that was issued *to it* (``subject_token``,
``aud`` = its own fagsystem) and names another service (``resource`` or ``audience``).
The exchange is allowed only when an approved service agreement (fagsystem → service,
the token's CVR) has ``on_behalf_of``. The new token is for the target service, carries
the *user's* privileges for that service, and names the fagsystem in ``act`` (nested
when the subject token was itself exchanged). It never outlives the subject token, and
it belongs to the same grant, so logging the user out revokes it too.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
    grants,
)

from authz.errors import AuthzError
from idp.oidc.access_token import ACCESS_TOKEN_TYP, TokenSubject
from idp.oidc.client_credentials import CONFIDENTIAL_METHODS
from idp.oidc.clients import TOKEN_EXCHANGE
from idp.oidc.errors import InvalidTargetError, oauth_error
from idp.oidc.jose import TokenRejected, verify
from idp.oidc.mtls import presented_confirmation
from idp.oidc.provider import Provider
from idp.oidc.storage import Login

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    @property
    def provider(self) -> Provider:
        return self.server.provider

    def _single(self, name: str, required: bool = False) -> str | None:
        values = self.request.payload.datalist.get(name, [])
        if len(values) > 1:
            raise InvalidRequestError(f"{name} given more than once")
        if required and not values:
            raise InvalidRequestError(f"{name} is required")
        return values[0] if values else None

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        self.request.client = client
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use token exchange")
        subject_token = self._single("subject_token", required=True)
        subject_type = self._single("subject_token_type", required=True)
        if subject_type not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequestError("subject_token_type must be an access token or a JWT")
        requested = self._single("requested_token_type")
        if requested not in (None, ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            raise InvalidRequestError("only access tokens can be requested")
        if self._single("actor_token"):
            raise InvalidRequestError("actor_token is not supported; the client is the actor")
        resources = [
            *self.request.payload.datalist.get("resource", []),
            *self.request.payload.datalist.get("audience", []),
        ]
        if len(set(resources)) != 1:
            raise oauth_error(InvalidTargetError, "name exactly one target service")
        settings = self.provider.services.settings
        try:
            verified = verify(
                str(subject_token),
                self.provider.keys.verification_keys(),
                typ=ACCESS_TOKEN_TYP,
                issuer=self.provider.issuer,
                audience=client.audience,
                leeway=settings.oidc_jwt_leeway_seconds,
                require=("exp", "iat", "sub", "jti", "cvr", "auth_time"),
            )
        except TokenRejected as exc:
            raise oauth_error(InvalidGrantError, f"subject_token rejected: {exc}") from exc
        claims = verified.claims
        store = self.provider.store
        if store.access_token_revoked(str(claims["jti"])):
            raise InvalidGrantError("subject_token has been revoked")
        presented = presented_confirmation(settings)
        if claims.get("cnf") and claims["cnf"] != presented:
            raise InvalidGrantError("subject_token is bound to another client certificate")
        cvr = str(claims["cvr"])
        details: dict[str, Any] = {
            "service": resources[0],
            "cvr": cvr,
            "on_behalf_of": claims["sub"],
        }
        self.request.audit_details = details
        session = self.provider.db()
        decision = self.provider.agreements.decide(
            session, client.fagsystem_id, resources[0], cvr, on_behalf_of=True
        )
        if decision is None:
            raise oauth_error(InvalidTargetError, f"unknown service {resources[0]}")
        service = decision.service
        details["agreement"] = decision.agreement_id
        if decision.groups is None:
            details["refusal"] = str(decision.refusal)
            raise oauth_error(
                UnauthorizedClientError,
                f"{decision.refusal} for {client.fagsystem_id} to call {service.id} for CVR {cvr}",
            )
        try:
            privileges = self.provider.privileges(session, str(claims["sub"]), cvr, service.id)
        except AuthzError as exc:
            raise oauth_error(InvalidGrantError, f"no token for this user: {exc}") from exc
        act: dict[str, Any] = {"sub": client.client_id}
        if isinstance(claims.get("act"), dict):
            act["act"] = claims["act"]
        grant_id = store.access_token_grant(str(claims["jti"]))
        self.request.user = TokenSubject(
            sub=str(claims["sub"]),
            audience=service.audience,
            cvr=cvr,
            privileges=privileges,
            login=Login(
                user_id=str(claims["sub"]),
                cvr=cvr,
                loa=str(claims.get("loa") or "Low"),
                auth_time=int(claims["auth_time"]),
                amr=(),
                sid=None,
            ),
            grant_id=grant_id,
            acr=claims.get("acr"),
            act=act,
            cnf=presented if client.auth_method == "tls_client_auth" else None,
        )
        remaining = int(float(claims["exp"]) - time.time())
        self.request.exchange_lifetime = max(1, min(remaining, settings.oidc_access_token_seconds))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(
            user=self.request.user,
            scope=None,
            expires_in=self.request.exchange_lifetime,
            include_refresh_token=False,
        )
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
