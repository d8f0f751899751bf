"""RFC 6749 §4.1 authorization code grant: single-use codes, reuse revokes the grant.

A code is stored (as a digest) with the login it rests on and a fresh grant id. Redeeming
takes it atomically; a second redemption finds only the "used" marker and revokes the
grant, which ends every token issued from the first redemption (RFC 6749 §4.1.2,
RFC 9700 §4.5). Redirect URIs are compared as exact strings by the client model.

A grant whose resource is the administration API (:mod:`idp.oidc.resource`) gives the
person a token for the API (no ``priv``) instead of one for the client's fagsystem.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from authz.errors import AuthzError
from idp.oidc.access_token import TokenSubject
from idp.oidc.claims import acr_for
from idp.oidc.clients import AUTH_METHODS
from idp.oidc.errors import oauth_error
from idp.oidc.mtls import presented_confirmation
from idp.oidc.provider import Provider
from idp.oidc.resource import granted_resource, requested_resource, require_api_client
from idp.oidc.storage import CodeGrant, Login, new_secret
from store.models import User


def subject_for_login(
    provider: Provider,
    oauth_request: Any,
    client: Any,
    login: Login,
    grant_id: str,
    family_expires_at: int,
    resource: str | None = None,
) -> TokenSubject:
    """A user token's subject: the login, with privileges for the client's fagsystem, or,
    when the grant's ``resource`` is the administration API, for the API without any."""
    cnf = getattr(oauth_request, "certificate_confirmation", None)
    if cnf is None and client.auth_method == "tls_client_auth":
        cnf = presented_confirmation(provider.services.settings)
    common: dict[str, Any] = {
        "sub": login.user_id,
        "cvr": login.cvr,
        "login": login,
        "grant_id": grant_id,
        "family_expires_at": family_expires_at,
        "acr": acr_for(login.loa),
        "cnf": cnf,
    }
    if resource is not None:
        require_api_client(client, provider.services.settings)
        user = provider.db().get(User, login.user_id)
        if user is None or user.disabled:
            raise oauth_error(InvalidGrantError, "no token for this user: unknown or disabled")
        return TokenSubject(audience=resource, privileges=(), api_principal="user", **common)
    try:
        privileges = provider.privileges(
            provider.db(), login.user_id, login.cvr, client.fagsystem_id
        )
    except AuthzError as exc:
        raise oauth_error(InvalidGrantError, f"no token for this user: {exc}") from exc
    return TokenSubject(audience=client.audience, privileges=privileges, **common)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)
    AUTHORIZATION_CODE_LENGTH = 43

    @property
    def provider(self) -> Provider:
        return self.server.provider

    def save_authorization_code(self, code: str, request: Any) -> None:
        login: Login = request.user
        data = request.payload.data
        settings = self.provider.services.settings
        # Checked (with the client's right to it) by the authorization endpoint already.
        resource = requested_resource(request.payload.datalist, request.client, settings)
        grant = CodeGrant(
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            login=login,
            grant_id=new_secret(16),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            acr=acr_for(login.loa),
            resource=resource if resource != request.client.audience else None,
        )
        self.provider.store.save_code(code, grant, ttl=settings.oidc_code_seconds)

    def query_authorization_code(self, code: str, client: Any) -> CodeGrant | None:
        if not isinstance(code, str) or len(code) > 200:
            return None
        # An unusable resource is refused before the code is spent.
        self.request.requested_resource = requested_resource(
            self.request.payload.datalist, client, self.provider.services.settings
        )
        grant, reused_grant = self.provider.store.redeem_code(code)
        if grant is None:
            if reused_grant:
                self.provider.store.revoke_grant(reused_grant)
                self.request.audit_details = {"code_reuse": True, "revoked_grant": reused_grant}
                raise InvalidGrantError(
                    "authorization code already used; the tokens issued for it are revoked"
                )
            return None
        if grant.client_id != client.client_id:
            self.provider.store.revoke_grant(grant.grant_id)
            return None
        return grant

    def delete_authorization_code(self, authorization_code: CodeGrant) -> None:
        """Nothing to do: the code was taken from the store when it was redeemed."""

    def authenticate_user(self, authorization_code: CodeGrant) -> TokenSubject:
        family_seconds = self.provider.store.family_seconds
        client = self.request.client
        resource = granted_resource(
            getattr(self.request, "requested_resource", None),
            authorization_code.resource,
            client,
            may_widen=True,
        )
        return subject_for_login(
            self.provider,
            self.request,
            client,
            authorization_code.login,
            authorization_code.grant_id,
            int(time.time() + family_seconds),
            resource,
        )
