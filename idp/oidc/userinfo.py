"""OIDC Core §5.3 userinfo: GET, POST with the token in the header, or in the body.

Only for user access tokens with the ``openid`` scope; claims follow the token's scopes
and the fagsystem's personal-data flag.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from flask import jsonify

from idp.oidc.claims import userinfo_claims
from idp.oidc.provider import current_provider
from store.models import User


def userinfo() -> Any:
    provider = current_provider()
    claims = current_token.claims
    scopes = current_token.get_scope().split()
    with provider.transaction() as session:
        user = session.get(User, str(claims["sub"]))
        client = provider.clients.get(session, current_token.client_id)
        if user is None or user.disabled or client is None:
            return _invalid("the token's user or client no longer exists")
        response = jsonify(userinfo_claims(user, scopes, client.personal_data))
    response.headers["Cache-Control"] = "no-store"
    return response


def _invalid(description: str) -> Any:
    response = jsonify(error="invalid_token", error_description=description)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="invalid_token", error_description="{description}"'
    )
    return response
