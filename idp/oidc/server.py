"""The authorization server, assembled from one module per specification.

Reading :func:`build_server` tells which grants, client-authentication methods and
endpoints exist. Storage callbacks (``query_client``, ``save_token``) live here and in
:mod:`idp.oidc.storage`; no grant touches the store directly except through them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from flask import request as flask_request

from idp.oidc.errors import safe_description
from idp.oidc.provider import Provider


class _ListPayload(OAuth2Payload):
    """A payload from a parked request: parameter name -> values, as received."""

    def __init__(self, params: dict[str, list[str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, values in params.items():
            self._datalist[name].extend(values)
        self._data = {name: values[0] for name, values in params.items() if values}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class ParkedRequest(OAuth2Request):
    """An authorization request replayed after the login finished (from the store)."""

    def __init__(self, uri: str, params: dict[str, list[str]]) -> None:
        super().__init__("GET", uri, headers={})
        self.payload = _ListPayload(params)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return {}


class OAuthServer(AuthorizationServer):
    """authlib's Flask server with our callbacks, audit and error hygiene."""

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def query_client(self, client_id: Any) -> Any:
        if not isinstance(client_id, str):
            return None
        return self.provider.clients.get(self.provider.db(), client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Tokens live in the JWT and the ephemeral store; the database keeps the audit."""
        subject = request.user
        client = request.client
        details: dict[str, Any] = {
            "grant_type": request.payload.grant_type,
            "aud": getattr(subject, "audience", None),
            "sub": getattr(subject, "sub", None),
            "refresh_token": "refresh_token" in token,
        }
        details.update(getattr(request, "audit_details", {}))
        self.provider.audit(
            "oidc.token.issue",
            client_id=client.client_id if client else None,
            cvr=getattr(subject, "cvr", None),
            details=details,
            batched=True,
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Any:
        if error.description:
            error.description = safe_description(str(error.description))
        if flask_request and flask_request.endpoint == "oidc.token":
            self._audit_refusal(request, error)
        return super().handle_error_response(request, error)

    def _audit_refusal(self, request: Any, error: OAuth2Error) -> None:
        payload = getattr(request, "payload", None)
        client = getattr(request, "client", None)
        client_id = client.client_id if client else (payload.client_id if payload else None)
        details: dict[str, Any] = {
            "grant_type": payload.grant_type if payload else None,
            "error": error.error,
            "error_description": error.description,
        }
        details.update(getattr(request, "audit_details", {}) or {})
        self.provider.audit(
            "oidc.token.refuse",
            client_id=client_id if isinstance(client_id, str) else None,
            outcome="refused",
            cvr=details.get("cvr"),
            details=details,
            batched=True,
        )
