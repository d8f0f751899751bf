"""The login pages' blueprint: every POST needs this browser's CSRF token; no caching."""

from __future__ import annotations

from flask import Blueprint, Response, request

from idp.web import check_csrf

blueprint = Blueprint("login", __name__, url_prefix="/login")


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        check_csrf()


@blueprint.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
