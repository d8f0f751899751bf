"""System tokens: RFC 6749 §4.4 ``client_credentials``, gated by approved serviceaftaler.

An anvendersystem (the client's fagsystem) asks for a token to one service, acting for
one municipality. Two request forms name the target:

- standard: ``resource=<service entityID>`` (RFC 8707) and ``cvr=<8 digits>``;
- KOMBIT's: ``scope=entityid:<service entityID>,anvenderkontekst:<cvr>``
  (``entity_id:`` accepted too, as some KOMBIT documents spell it).

A token is issued only when an *approved* service agreement exists for (anvendersystem,
service, CVR); it carries the agreement's service-system roles and constraint values in
``priv``, ``aud`` = the service. Every issue and every refusal is audited (the refusal
by the server's error handler, with the details gathered here).

An integration calling the administration API asks with ``resource=<base>/api/v1``
alone: no ``cvr`` (the API serves no single municipality) and no KOMBIT scope. It gets
a token only when the client holds an administrative role (``admin_role_assignments``);
``aud`` = the API, ``sub`` = the client id, no ``cvr`` or ``priv`` (what it may do is
read from its roles at every API call), see :mod:`idp.oidc.api_bearer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    grants,
)

from authz.admin import load_admin_client
from idp.oidc.access_token import TokenSubject
from idp.oidc.api_bearer import api_audience
from idp.oidc.errors import InvalidTargetError, oauth_error
from idp.oidc.mtls import presented_confirmation
from idp.oidc.provider import Provider

CONFIDENTIAL_METHODS = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
]
_CVR = re.compile(r"^\d{8}$")
_KOMBIT_PART = re.compile(r"^(entityid|entity_id|anvenderkontekst):(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    service: str  # entity ID (or fagsystem id) of the service
    cvr: str
    form: str  # "resource" or "kombit"


def parse_kombit_scope(scope: str) -> Target | None:
    """``entityid:<id>,anvenderkontekst:<cvr>`` in either order; None if not that form."""
    parts = [part for part in re.split(r"[,\s]+", scope.strip()) if part]
    found: dict[str, str] = {}
    for part in parts:
        match = _KOMBIT_PART.match(part)
        if match is None:
            continue
        name = match.group(1).lower().replace("_", "")
        if name in found:
            raise InvalidScopeError(f"scope names {name} twice")
        found[name] = match.group(2)
    if not found:
        return None
    if set(found) != {"entityid", "anvenderkontekst"}:
        raise InvalidScopeError("scope must be entityid:<service>,anvenderkontekst:<cvr>")
    return Target(found["entityid"], found["anvenderkontekst"], "kombit")


def requested_target(oauth_request: Any) -> Target:
    """The service and CVR asked for, from either request form; both must agree."""
    data = oauth_request.payload.datalist
    resources = data.get("resource", [])
    cvrs = data.get("cvr", [])
    if len(resources) > 1 or len(cvrs) > 1:
        raise InvalidRequestError("ask for one service (resource) and one cvr at a time")
    kombit = parse_kombit_scope(oauth_request.payload.scope or "")
    standard = None
    if resources or cvrs:
        if not (resources and cvrs):
            raise InvalidRequestError("resource and cvr go together")
        standard = Target(resources[0], cvrs[0], "resource")
    if kombit and standard and (kombit.service, kombit.cvr) != (standard.service, standard.cvr):
        raise InvalidRequestError("scope and resource/cvr name different targets")
    target = standard or kombit
    if target is None:
        raise InvalidScopeError(
            "name the service: resource=<entityID> and cvr=<CVR>, "
            "or scope=entityid:<entityID>,anvenderkontekst:<CVR>"
        )
    if not _CVR.match(target.cvr):
        raise oauth_error(InvalidRequestError, "cvr must be 8 digits")
    return target


def asks_for_api(oauth_request: Any, audience: str) -> bool:
    """True for ``resource=<the API>``; then nothing else may name a target."""
    data = oauth_request.payload.datalist
    resources = data.get("resource", [])
    if audience not in resources:
        return False
    if len(resources) > 1:
        raise InvalidRequestError("ask for one service (resource) at a time")
    if data.get("cvr"):
        raise InvalidRequestError(
            "the administration API serves no single municipality: leave out cvr"
        )
    if parse_kombit_scope(oauth_request.payload.scope or ""):
        raise InvalidRequestError("scope and resource name different targets")
    return True


class SystemTokenGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    @property
    def provider(self) -> Provider:
        return self.server.provider

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        self.request.client = client
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use client_credentials")
        if asks_for_api(self.request, api_audience(self.provider.services.settings)):
            self._validate_api_request(client)
            return
        target = requested_target(self.request)
        details: dict[str, Any] = {"service": target.service, "cvr": target.cvr}
        details["form"] = target.form
        self.request.audit_details = details
        decision = self.provider.agreements.decide(
            self.provider.db(), client.fagsystem_id, target.service, target.cvr
        )
        if decision is None:
            cls = InvalidTargetError if target.form == "resource" else InvalidScopeError
            raise oauth_error(cls, f"unknown service {target.service}")
        service, granted = decision.service, decision.groups
        details["agreement"] = decision.agreement_id
        if granted is None:
            details["refusal"] = str(decision.refusal)
            raise oauth_error(
                UnauthorizedClientError,
                f"{decision.refusal} for {client.fagsystem_id} to call {service.id} "
                f"for CVR {target.cvr}",
            )
        self.request.user = TokenSubject(
            sub=client.client_id,
            audience=service.audience,
            cvr=target.cvr,
            privileges=granted,
            cnf=self._confirmation(client),
        )

    def _confirmation(self, client: Any) -> dict[str, str] | None:
        cnf = getattr(self.request, "certificate_confirmation", None)
        if cnf is None and client.auth_method == "tls_client_auth":
            cnf = presented_confirmation(self.provider.services.settings)
        return cnf

    def _validate_api_request(self, client: Any) -> None:
        """A token for the administration API, for a client holding an administrative role."""
        audience = api_audience(self.provider.services.settings)
        details: dict[str, Any] = {"service": audience, "form": "api"}
        self.request.audit_details = details
        admin = load_admin_client(self.provider.db(), client.client_id)
        if not admin.roles:
            details["refusal"] = "no administrative role"
            raise oauth_error(
                UnauthorizedClientError,
                f"client {client.client_id} holds no administrative role, so it gets no "
                "token for the administration API",
            )
        details["admin_roles"] = [f"{role}@{scope or '*'}" for role, scope in admin.roles]
        self.request.user = TokenSubject(
            sub=client.client_id,
            audience=audience,
            cvr=None,
            privileges=(),
            cnf=self._confirmation(client),
            api_principal="client",
        )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(user=self.request.user, scope=None, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
