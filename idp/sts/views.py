"""The KOMBIT STS JSON and OAuth front doors at KOMBIT's own paths (clients swap the host
only). The SOAP WS-Trust door (``/runtime/services/kombittrust/…``) registers its own
routes on this blueprint's application."""

from __future__ import annotations

from flask import Blueprint, Response

from idp.sts import oauth, rest

blueprint = Blueprint("kombit_sts", __name__)


@blueprint.post("/runtime/api/rest/wstrust/v1/issue")
def wstrust_json_issue() -> Response:
    return rest.issue()


@blueprint.post("/runtime/api/rest/oauth/v1/issue")
def oauth_issue() -> Response:
    return oauth.issue()


@blueprint.get("/runtime/oauth2/certs.idp")
def certificates() -> Response:
    return oauth.certs()
