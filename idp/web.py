"""Web plumbing shared by the login pages (and later the admin UI): security headers,
CSRF tokens, error pages with a reference id, templates and static files.

Every HTML response gets a Content-Security-Policy without ``'unsafe-inline'``: pages
use only the stylesheet (and any script) under ``/static``. A page that must post a form
to another site (the SAML HTTP-POST binding) widens ``form-action`` for that response
only, with :func:`allow_form_action`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, make_response, render_template, request, session
from flask.typing import ResponseReturnValue

from connectors.base import DirectoryUnavailable
from idp.i18n import LANGUAGE_COOKIE, LANGUAGES, current_language, gettext
from idp.logs import current_request_id
from idp.outages import install_outages
from store.ephemeral import StateUnavailable

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
CSRF_FIELD = "csrf_token"
_CSRF_SESSION_KEY = "csrf"

assets = Blueprint(
    "assets",
    __name__,
    static_folder=str(HERE / "static"),
    static_url_path="/static",
    template_folder=str(HERE / "templates"),
)


def content_security_policy(form_action: Iterable[str] = ()) -> str:
    """The policy: only our own origin; ``form_action`` adds targets a form may post to."""
    targets = " ".join(["'self'", *form_action])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        f"form-action {targets}"
    )


def allow_form_action(response: Response, *targets: str) -> Response:
    """Let this response's page post a form to ``targets`` (e.g. a SAML SP's ACS URL)."""
    response.headers["Content-Security-Policy"] = content_security_policy(targets)
    return response


class PageError(Exception):
    """Raised by a view to show an error page; ``log_details`` go to the log only."""

    def __init__(
        self,
        key: str,
        status: int,
        *,
        values: dict[str, Any] | None = None,
        log_details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.values = values or {}
        self.log_details = log_details or {}


def error_page(
    key: str,
    status: int,
    *,
    values: dict[str, Any] | None = None,
    log_details: dict[str, Any] | None = None,
) -> Response:
    """An error page saying what happened and what to do, with the request id as reference.

    The same id is on every log line of the request, so support can find the details.
    """
    reference = current_request_id() or ""
    log.warning(
        "error page %s shown",
        key,
        extra={"error": key, "status": status, **(log_details or {})},
    )
    response = make_response(
        render_template(
            "error.html",
            title=gettext(f"error.{key}.title"),
            text=gettext(f"error.{key}.text", **(values or {})),
            reference=reference,
            key=key,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def csrf_token() -> str:
    """The form token of this browser (kept in Flask's signed session cookie)."""
    token = session.get(_CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF_SESSION_KEY] = token
    return token


def check_csrf() -> None:
    """Refuse a POST whose form token is missing or not this browser's."""
    expected = session.get(_CSRF_SESSION_KEY)
    given = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, given):
        raise PageError("form_expired", 400, log_details={"reason": "csrf token mismatch"})


def language_switch_url() -> str:
    """This page in the other language."""
    other = gettext("lang.other.code")
    args = {k: v for k, v in request.args.items() if k != "lang"}
    args["lang"] = other
    return f"{request.path}?{urlencode(args)}"


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response


def _page_error(error: PageError) -> ResponseReturnValue:
    return error_page(error.key, error.status, values=error.values, log_details=error.log_details)


def _state_unavailable(error: StateUnavailable) -> ResponseReturnValue:
    # Fail closed: without the ephemeral store there is no session and no replay check.
    return error_page("state_unavailable", 503, log_details={"cause": str(error)})


def _directory_unavailable(error: DirectoryUnavailable) -> ResponseReturnValue:
    return error_page("directory_unavailable", 503, log_details={"cause": str(error)})


def install_web(app: Flask) -> None:
    """Security headers on every response, error pages, template helpers, /static."""
    app.after_request(_security_headers)
    app.register_error_handler(PageError, _page_error)
    app.register_error_handler(StateUnavailable, _state_unavailable)
    app.register_error_handler(DirectoryUnavailable, _directory_unavailable)
    install_outages(app, error_page)  # database or Redis down: 503, never a bare 500
    app.jinja_env.globals.update(
        _=gettext,
        csrf_token=csrf_token,
        csrf_field=CSRF_FIELD,
        current_language=current_language,
        language_switch_url=language_switch_url,
    )
    app.register_blueprint(assets)
