"""Answers while a dependency is down: a clean 503 with ``Retry-After``, never a bare 500.

When PostgreSQL cannot be reached (connection refused, dropped mid-request, pool timed
out, the audit writer not committing in time), or Redis fails outside the ephemeral
store's own wrapping, the request ends here: the person or client gets a 503 saying the
service is temporarily unavailable and to try again shortly; the details (which
dependency, the driver's message) go to the log with the request id.

This fails closed by construction: the handler runs instead of the rest of the view, so
a token or an assertion whose agreement, user or audit event could not be checked or
written is never sent.

The answer's form follows the caller: OAuth endpoints (``/oidc/token``, introspection,
revocation, userinfo, JWKS, discovery) answer RFC 6749 JSON
(``temporarily_unavailable``), the admin API and clients asking for JSON an RFC 9457
problem document, and browsers an HTML page with the request id as reference. Every
503 (also those of the ephemeral store and the directory) carries ``Retry-After``.

See docs/operations-faults.md for what each outage does to each flow.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc

from idp.logs import current_request_id

log = logging.getLogger("sts.outage")

Page = Callable[[str, int], Response]
RETRY_AFTER_SECONDS = 5
PROBLEM = "application/problem+json"

# Database errors that mean "not reachable now", not "your request is wrong".
DATABASE_DOWN: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,  # connection refused or lost, server shutting down
    sa_exc.InterfaceError,  # the driver's connection is closed
    sa_exc.TimeoutError,  # no pooled connection within the pool timeout
    sa_exc.PendingRollbackError,  # a connection that died under a session's feet
    # The driver's own errors, where a raw connection is used (the audit writer's commit).
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
STATE_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
# Browser flows: an HTML page, not JSON.
_BROWSER_ENDPOINTS = {"oidc.authorize", "oidc.logout"}
_OAUTH_PREFIXES = ("/oidc/", "/.well-known/")


def _wants_html() -> bool:
    if request.path.startswith("/api/"):
        return False
    if request.path.startswith(_OAUTH_PREFIXES):
        return request.endpoint in _BROWSER_ENDPOINTS
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM])
    return best in (None, "text/html")


def unavailable(dependency: str, error: BaseException, page: Page) -> Response:
    """The 503 for ``dependency`` (``database``, ``state``, ``timeout``) failing with
    ``error``."""
    log.error(
        "%s unavailable: request refused with 503",
        dependency,
        extra={
            "dependency": dependency,
            "error_type": error.__class__.__name__,
            "cause": str(error).splitlines()[0][:300] if str(error) else "",
            "endpoint": request.endpoint,
        },
    )
    message = "The service is temporarily unavailable. Please try again in a few seconds."
    response: Response
    if request.path.startswith(_OAUTH_PREFIXES) and not _wants_html():
        response = jsonify(error="temporarily_unavailable", error_description=message)
        response.status_code = 503
    elif not _wants_html():
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": message,
        }
        reference = current_request_id()
        if reference:
            body["instance"] = f"urn:request:{reference}"
        response = Response(json.dumps(body), status=503, mimetype=PROBLEM)
    else:
        response = page("service_unavailable", 503)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _retry_after(response: Response) -> Response:
    if response.status_code == 503:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return response


def install_outages(app: Flask, page: Page) -> None:
    """Register the 503 answers on ``app`` (every blueprint without its own handler);
    ``page(key, status)`` renders the HTML error page for browsers."""

    def database_down(error: Exception) -> ResponseReturnValue:
        return unavailable("database", error, page)

    def state_down(error: Exception) -> ResponseReturnValue:
        return unavailable("state", error, page)

    for error in DATABASE_DOWN:
        app.register_error_handler(error, database_down)
    for error in STATE_DOWN:
        app.register_error_handler(error, state_down)

    def timed_out(error: Exception) -> ResponseReturnValue:
        # The audit writer did not commit within its timeout (nothing is sent without it),
        # or a socket timed out: the log says which.
        return unavailable("timeout", error, page)

    app.register_error_handler(TimeoutError, timed_out)
    app.after_request(_retry_after)
