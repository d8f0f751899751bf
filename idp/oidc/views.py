"""The HTTP routes of the OpenID provider; each hands over to its specification's module."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, g, jsonify, request

from idp.oidc import authorization
from idp.oidc import userinfo as userinfo_module
from idp.oidc.bearer import protector
from idp.oidc.discovery import metadata
from idp.oidc.pages import error_page, logout_csrf_ok, logout_csrf_token, page
from idp.oidc.provider import current_provider
from idp.oidc.rp_logout import confirmed_by_hint, end_session
from idp.sso import clear_session_cookie
from store.ephemeral import StateUnavailable

blueprint = Blueprint("oidc", __name__)
require_token = protector()


@blueprint.errorhandler(StateUnavailable)
def state_unavailable(error: StateUnavailable) -> Any:
    """Fail closed with 503: no code, token or replay check without the ephemeral store."""
    if request.endpoint in ("oidc.authorize", "oidc.logout"):
        return error_page("temporarily_unavailable", "please try again in a moment", 503)
    response = jsonify(
        error="temporarily_unavailable", error_description="state store unavailable; retry"
    )
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


def _json(document: dict[str, Any], max_age: int) -> Any:
    response = jsonify(document)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


@blueprint.get("/.well-known/openid-configuration")
@blueprint.get("/.well-known/oauth-authorization-server")
def discovery() -> Any:
    return _json(metadata(current_provider()), 300)


@blueprint.get("/oidc/jwks")
def jwks() -> Any:
    return _json(current_provider().keys.document(), 60)


@blueprint.route("/oidc/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    return authorization.authorize()


@blueprint.post("/oidc/token")
def token() -> Any:
    provider = current_provider()
    with provider.transaction():
        return provider.server.create_token_response()


@blueprint.post("/oidc/introspect")
def introspect() -> Any:
    provider = current_provider()
    with provider.transaction():
        return provider.server.create_endpoint_response("introspection")


@blueprint.post("/oidc/revoke")
def revoke() -> Any:
    provider = current_provider()
    with provider.transaction():
        return provider.server.create_endpoint_response("revocation")


@blueprint.route("/oidc/userinfo", methods=["GET", "POST"])
@require_token("openid")
def userinfo() -> Any:
    return userinfo_module.userinfo()


@blueprint.route("/oidc/logout", methods=["GET", "POST"])
def logout() -> Any:
    provider = current_provider()
    with provider.transaction():
        try:
            end_request = provider.server.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            return error_page(str(error.error), error.description)
        if not confirmed_by_hint(provider, end_request) and not (
            request.method == "POST" and logout_csrf_ok(request.form.get("csrf"))
        ):
            names = (
                "id_token_hint",
                "client_id",
                "post_logout_redirect_uri",
                "state",
                "ui_locales",
            )
            fields = {
                name: value for name in names if isinstance(value := request.values.get(name), str)
            }
            fields["csrf"] = logout_csrf_token()
            form = {"action": request.path, "fields": fields, "button": "Log ud / Log out"}
            question = "Vil du logge ud? / Do you want to log out?"
            return page("Log ud? / Log out?", question, form=form)
        response = end_session(provider, end_request)
        if response is None:
            response = page("Logget ud / Logged out", "Du er logget ud. / You are logged out.")
    if g.get("oidc_session_ended"):
        clear_session_cookie(response, secure=provider.services.settings.uses_https)
    return response
