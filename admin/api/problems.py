"""RFC 9457 problem details: every error the API answers, as ``application/problem+json``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Flask, Response, json, request
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from admin.errors import AdminError
from store.ephemeral import StateUnavailable

PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
log = logging.getLogger("sts.admin.api")

_DETAILS = {
    400: "The request could not be read; check its syntax.",
    401: "Sign in: send an access token for this API as Authorization: Bearer <token>.",
    404: "There is no such resource, or you may not see it.",
    405: "This method is not allowed here; see /api/v1/openapi.json for what is.",
    413: "The request body is too large (at most 1 MiB).",
    415: "Send the body as application/json (see /api/v1/openapi.json).",
    429: "Too many requests; wait a minute and try again.",
}


def problem(
    status: int,
    detail: str,
    errors: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
    title: str | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"pointer": pointer, "detail": text} for pointer, text in errors]
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _is_api() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def http_error(exc: HTTPException) -> Any:
    """An HTTP error as problem+json under /api/v1; unchanged elsewhere."""
    if not _is_api():
        return exc
    status = exc.code or 500
    detail = _DETAILS.get(status) or exc.description or HTTPStatus(status).description
    headers = {}
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and valid:
        headers["Allow"] = ", ".join(valid)
    return problem(status, detail, headers=headers)


def _admin_error(exc: AdminError) -> Response:
    return problem(exc.status, exc.detail, exc.errors, title=exc.title)


def _unavailable(exc: Exception) -> Response:
    log.warning("admin API: a dependency is unavailable: %s", exc)
    return problem(
        503,
        "The service is temporarily unavailable (a database or cache cannot be reached); "
        "try again shortly.",
        headers={"Retry-After": "5"},
    )


def _bad_value(exc: Exception) -> Response:
    log.info("admin API: value refused by the database: %s", exc)
    return problem(422, "A value is not allowed (too long or of the wrong kind).")


def _conflict(exc: Exception) -> Response:
    log.info("admin API: integrity conflict: %s", exc)
    return problem(409, "The change conflicts with existing data; reload and try again.")


def _unexpected(exc: Exception) -> Response:
    log.exception("admin API: unexpected error")
    return problem(500, "Something went wrong on our side; the details are in the log.")


def install_blueprint(blueprint: Blueprint) -> None:
    """Every error raised inside the API's views as problem+json (once, at import)."""
    blueprint.register_error_handler(HTTPException, http_error)  # before Exception below
    blueprint.register_error_handler(AdminError, _admin_error)
    blueprint.register_error_handler(StateUnavailable, _unavailable)
    blueprint.register_error_handler(OperationalError, _unavailable)
    blueprint.register_error_handler(DataError, _bad_value)
    blueprint.register_error_handler(IntegrityError, _conflict)
    blueprint.register_error_handler(Exception, _unexpected)


def install_app(app: Flask) -> None:
    """Routing errors (unknown path, wrong method) under /api/v1, raised before the
    blueprint is chosen: handled app-wide and passed through unchanged elsewhere."""
    app.register_error_handler(HTTPException, http_error)
