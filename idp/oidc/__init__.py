"""OpenID Connect and OAuth 2.0 provider on authlib: one module per specification.

==========================  =============================================================
module                      specification
==========================  =============================================================
``discovery``               RFC 8414, OpenID Connect Discovery 1.0
``jwks``                    RFC 7517 (published keys, active + next + recently retired)
``jose``                    RFC 7515/7519 signing and verification, RFC 8725 (JWT BCP)
``authorization``           RFC 6749 §3.1 / OIDC Core §3.1.2 endpoint, RFC 9207 ``iss``
``authorization_code``      RFC 6749 §4.1 (single use, reuse revokes the grant)
``pkce``                    RFC 7636, S256 only
``id_token``                OIDC Core ID tokens
``access_token``            RFC 9068 JWT access tokens (``at+jwt``)
``refresh_rotation``        RFC 6749 §6 with RFC 9700 §4.14 rotation and reuse detection
``client_credentials``      RFC 6749 §4.4 system tokens gated by serviceaftaler
``token_exchange``          RFC 8693 on-behalf-of
``private_key_jwt``         RFC 7523 client authentication
``mtls``                    RFC 8705 ``tls_client_auth`` and certificate-bound tokens
``introspection``           RFC 7662
``revocation``              RFC 7009
``userinfo``, ``bearer``    OIDC Core §5.3, RFC 6750
``resource``                RFC 8707 resource indicators in a person's grants
``api_bearer``              RFC 6750 for the administration API (``/api/v1``)
``rp_logout``               OIDC RP-Initiated Logout 1.0
``backchannel_logout``      OIDC Back-Channel Logout 1.0
``storage``                 every piece of ephemeral OAuth state, in one place
``authz_port``              the questions asked of ``authz`` (privileges, agreements)
``login_bridge``            the seam to ``idp.login``
==========================  =============================================================

:func:`setup_oidc` wires it into an application; :func:`build_server` shows what the
authorization server is made of.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from authz.cache import CHANNEL as AUTHZ_CHANNEL
from authz.cache import on_fagsystem_changes
from idp.context import EXTENSION as CORE_EXTENSION
from idp.context import Services
from idp.oidc import rp_logout
from idp.oidc.access_token import AccessTokenIssuer
from idp.oidc.api_bearer import api_audience
from idp.oidc.authorization import Rfc9207Issuer, finish_authorization
from idp.oidc.authorization_code import AuthorizationCodeGrant
from idp.oidc.client_credentials import SystemTokenGrant
from idp.oidc.clients import ClientRegistry
from idp.oidc.id_token import IdToken
from idp.oidc.introspection import Introspection
from idp.oidc.jwks import SigningKeys
from idp.oidc.login_bridge import LoginBridge, SharedLogin
from idp.oidc.mtls import authenticate_tls_client
from idp.oidc.pkce import S256CodeChallenge
from idp.oidc.private_key_jwt import PrivateKeyJwt
from idp.oidc.provider import EXTENSION, Provider, current_provider
from idp.oidc.refresh_rotation import RotatingRefreshTokenGrant
from idp.oidc.revocation import Revocation
from idp.oidc.rp_logout import EndSession
from idp.oidc.server import OAuthServer
from idp.oidc.storage import OAuthStore
from idp.oidc.token_exchange import TokenExchangeGrant
from store.audit_batch import batcher_for

__all__ = ["EXTENSION", "Provider", "build_server", "current_provider", "setup_oidc"]

log = logging.getLogger(__name__)


def build_server(provider: Provider) -> OAuthServer:
    """The authorization server: grants, client authentication, endpoints, extensions."""
    settings = provider.services.settings
    server = OAuthServer(provider)
    server.register_token_generator(
        "default",
        AccessTokenIssuer(
            issuer=provider.issuer,
            keys=provider.keys,
            store=provider.store,
            user_seconds=settings.oidc_access_token_seconds,
            system_seconds=settings.oidc_system_token_seconds,
            api_audience=api_audience(settings),
        ),
    )
    private_key_jwt = PrivateKeyJwt(settings.oidc_jwt_leeway_seconds)
    server.register_client_auth_method("private_key_jwt", private_key_jwt)
    server.register_client_auth_method("tls_client_auth", authenticate_tls_client)
    id_token = IdToken(provider)
    server.register_grant(
        AuthorizationCodeGrant, [S256CodeChallenge(settings.oidc_require_pkce), id_token]
    )
    server.register_grant(RotatingRefreshTokenGrant, [id_token])
    server.register_grant(SystemTokenGrant)
    server.register_grant(TokenExchangeGrant)
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    server.register_endpoint(EndSession)
    issuer_parameter = Rfc9207Issuer(provider.issuer)
    server.register_extension(issuer_parameter)
    provider.extra["rfc9207"] = issuer_parameter
    return server


def setup_oidc(app: Flask, login: LoginBridge | None = None) -> Provider:
    """Wire the provider into ``app`` (after the core services and the login)."""
    from idp.oidc.views import blueprint

    services: Services = app.extensions[CORE_EXTENSION]
    settings = services.settings
    if not settings.uses_https:
        # authlib refuses plain-http requests; the issuer's scheme is what counts here
        # (production runs https behind a proxy), so development on http is allowed.
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    provider = Provider(
        services=services,
        keys=SigningKeys(services.database, services.keys),
        store=OAuthStore(services.state, family_seconds=settings.oidc_refresh_token_hours * 3600),
        clients=ClientRegistry(),
        login=login or SharedLogin(),
    )
    provider.audit_batcher = batcher_for(services.database)  # shared with SAML; None on SQLite
    provider.server = build_server(provider)
    # Changes announced to the authz caches (catalogue import, admin) empty the agreement
    # cache of this process too; without a message its entries expire within seconds.
    provider.extra["agreements_subscription"] = services.state.subscribe(
        AUTHZ_CHANNEL, provider.agreements.invalidate
    )
    # A changed client (redirect URIs, secret, its fagsystem) applies at once, not in 5 s.
    provider.extra["clients_subscription"] = on_fagsystem_changes(
        services.state, provider.clients.invalidate
    )
    app.extensions[EXTENSION] = provider
    app.register_blueprint(blueprint)
    provider.login.register(app, finish_authorization)
    provider.login.register_logout(rp_logout.session_ended, rp_logout.answer)
    return provider
