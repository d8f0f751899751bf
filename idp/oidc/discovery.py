"""Provider metadata: RFC 8414 and OpenID Connect Discovery 1.0.

One document, served at ``/.well-known/openid-configuration`` and at
``/.well-known/oauth-authorization-server``. It advertises exactly what is implemented:
the tests fetch every endpoint it names and exercise every algorithm and method it lists.
"""

from __future__ import annotations

from typing import Any

from idp.oidc.claims import ACR_VALUES, CLAIMS_SUPPORTED
from idp.oidc.client_credentials import CONFIDENTIAL_METHODS
from idp.oidc.clients import AUTH_METHODS, GRANT_TYPES, SCOPES_SUPPORTED
from idp.oidc.jose import SIGNING_ALGORITHMS
from idp.oidc.provider import ENDPOINTS, Provider

UI_LOCALES = ("da", "en")


def metadata(provider: Provider) -> dict[str, Any]:
    algorithms = list(SIGNING_ALGORITHMS)
    document: dict[str, Any] = {"issuer": provider.issuer}
    document.update({name: provider.url(name) for name in ENDPOINTS})
    document.update(
        {
            "scopes_supported": list(SCOPES_SUPPORTED),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms,
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": algorithms,
            "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_METHODS),
            "introspection_endpoint_auth_signing_alg_values_supported": algorithms,
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "revocation_endpoint_auth_signing_alg_values_supported": algorithms,
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": list(CLAIMS_SUPPORTED),
            "claim_types_supported": ["normal"],
            "acr_values_supported": list(ACR_VALUES),
            "ui_locales_supported": list(UI_LOCALES),
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
            "tls_client_certificate_bound_access_tokens": True,
        }
    )
    return document
