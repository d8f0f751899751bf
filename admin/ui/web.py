"""The admin UI's blueprint: sign-in through the IdP's login, the actor, CSRF, error pages.

Every page needs an admin session (:mod:`admin.ui.session`), which only a login at NSIS
Substantial starts; a session at Low is sent to the second-factor page by the login
itself. The actor is built as the API builds a person (:mod:`admin.api.auth`), with the
roles read from the store at every request, so a revoked role stops working at once.
Rights, validation, four-eyes and audit are the service layer's; the UI translates forms
into service calls and errors into pages.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Flask, Response, g, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.wrappers.response import Response as BaseResponse

from admin.actor import Actor
from admin.errors import AdminError, Conflict, Forbidden, Invalid, NotFound
from admin.service import municipalities
from admin.service.context import ServiceContext
from admin.ui import messages
from admin.ui.session import AdminSession, AdminSessions, clear_cookie, cookie_name, set_cookie
from admin.ui.texts import t
from authz.admin import can, can_somewhere, load_admin
from authz.errors import UnknownUser
from idp.context import current_services
from idp.i18n import current_language
from idp.loa import LoA
from idp.login import LoginFailure, LoginRequest, LoginResult, begin_login, current_session
from idp.login.services import login_services, register_continuation
from idp.logs import current_request_id
from idp.proxy import peer_address
from idp.web import CSRF_FIELD, PageError

log = logging.getLogger("sts.admin.ui")
PROTOCOL = "admin-ui"
FAGSYSTEM = "Administrationsmodul"  # how the login pages and the logout page name us
_OPEN = {"admin_ui.login", "admin_ui.static"}

blueprint = Blueprint(
    "admin_ui",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


# -- request context -----------------------------------------------------------------------


def sessions() -> AdminSessions:
    return AdminSessions(current_services().state)


def ctx() -> ServiceContext:
    services = current_services()
    return ServiceContext(services.database, services.state, services.settings)


def actor() -> Actor:
    found: Actor = g.admin_actor
    return found


def admin_session() -> AdminSession:
    found: AdminSession = g.admin_session
    return found


def secure() -> bool:
    return login_services().secure_cookies


# -- sign-in -------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """Only an address inside the admin UI: never another site (open redirect)."""
    default = "/admin/"
    if not value or "\\" in value or len(value) > 2000:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin/"):
        return default
    return value


def _to_login(*, force: bool = False) -> BaseResponse:
    target = request.full_path if request.method == "GET" else "/admin/"
    query = {"next": target.rstrip("?")}
    if force:
        query["force"] = "1"
    return redirect(f"/admin/login?{urlencode(query)}", 303)


@blueprint.before_request
def _sign_in() -> ResponseReturnValue | None:
    if request.endpoint in _OPEN:
        return None
    cookie = request.cookies.get(cookie_name(secure()))
    session = sessions().load(cookie)
    if session is None:
        # A cookie without a live session: it timed out; prove both factors again.
        return _to_login(force=cookie is not None)
    sso = current_session()
    if sso is None or sso.public_id != session.sso_public_id:
        sessions().end(session.id)
        return _to_login()
    try:
        admin = load_admin(ctx().database, session.user_id)
    except UnknownUser:
        sessions().end(session.id)
        return _to_login()
    g.admin_session = session
    g.admin_actor = Actor(
        "user",
        session.username,
        admin,
        user_id=session.user_id,
        cvr=session.cvr,
        loa=session.loa,
        client_address=peer_address(),
        request_id=current_request_id(),
    )
    if request.method == "POST":
        given = request.form.get(CSRF_FIELD, "")
        if not hmac.compare_digest(session.csrf, given):
            log.warning("admin UI: form refused, CSRF token missing or wrong")
            return error_page(400, "error.csrf")
    return None


@blueprint.get("/login")
def login() -> ResponseReturnValue:
    """Start (or reuse) the IdP login at NSIS Substantial; come back to ``next``."""
    return begin_login(
        LoginRequest(
            fagsystem=FAGSYSTEM,
            protocol=PROTOCOL,
            return_state={"next": _safe_next(request.args.get("next"))},
            min_loa=LoA.SUBSTANTIAL,
            force_authn=request.args.get("force") == "1",
            ui_locale=current_language(),
        )
    )


def _continuation(login_request: LoginRequest, outcome: LoginResult | LoginFailure) -> BaseResponse:
    if isinstance(outcome, LoginFailure):
        raise PageError(outcome.reason.value, 400, values={"fagsystem": FAGSYSTEM})
    if not outcome.loa.satisfies(LoA.SUBSTANTIAL):  # the login guarantees it; fail closed
        raise PageError("loa_unavailable", 400, values={"fagsystem": FAGSYSTEM})
    store = sessions()
    store.end(request.cookies.get(cookie_name(secure())))
    session = store.create(
        user_id=outcome.user_id,
        username=outcome.username,
        cvr=outcome.cvr,
        loa=outcome.loa.value,
        sso_public_id=outcome.session_id,
    )
    response = redirect(_safe_next(login_request.return_state.get("next")), 303)
    set_cookie(response, session.id, secure=secure())
    return response


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """End the admin session, then offer the IdP's logout (which ends the SSO session)."""
    sessions().end(admin_session().id)
    response = redirect("/login/logout", 303)
    clear_cookie(response, secure=secure())
    return response


# -- pages and errors ----------------------------------------------------------------------


def page(template: str, code: int = 200, **context: Any) -> Response:
    """``template`` rendered with ``context``, answered with HTTP status ``code``."""
    return make_response(render_template(template, **context), code)


def error_page(status: int, key: str, details: list[str] | None = None) -> Response:
    """A refusal that says what to do and nothing about the object asked for."""
    signed_in = "admin_actor" in g
    return page(
        "admin/error.html",
        status,
        title=t(f"{key}.title"),
        text=t(f"{key}.text"),
        details=details or [],
        reference=current_request_id() or "",
        signed_in=signed_in,
    )


@blueprint.errorhandler(NotFound)
def _not_found(_exc: NotFound) -> Response:
    return error_page(404, "error.not_found")


@blueprint.errorhandler(Forbidden)
def _forbidden(_exc: Forbidden) -> Response:
    return error_page(403, "error.forbidden")


@blueprint.errorhandler(Invalid)
def _invalid(exc: Invalid) -> Response:
    return error_page(400, "error.invalid", messages.all_messages(exc))


@blueprint.errorhandler(Conflict)
def _conflict(exc: Conflict) -> Response:
    return error_page(409, "error.conflict", [messages.translate(exc.detail)])


@blueprint.errorhandler(AdminError)
def _admin_error(_exc: AdminError) -> Response:
    return error_page(400, "error.invalid")


@blueprint.errorhandler(DataError)
@blueprint.errorhandler(IntegrityError)
def _database_refused(exc: Exception) -> Response:
    log.info("admin UI: value refused by the database: %s", exc)
    return error_page(409, "error.conflict")


@blueprint.route("/<path:_rest>", methods=["GET", "POST"])
def unknown(_rest: str) -> ResponseReturnValue:
    raise NotFound("no such page")


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if secure():
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


# -- what templates need -------------------------------------------------------------------


def visible_municipalities() -> list[dict[str, Any]]:
    if "municipalities" not in g:
        g.municipalities = municipalities.list_municipalities(ctx(), actor())
    found: list[dict[str, Any]] = g.municipalities
    return found


def home_cvr() -> str | None:
    """The municipality the navigation points at: the one in the address, else the
    person's own if they administer it, else the first they administer."""
    cvr = (request.view_args or {}).get("cvr")
    if isinstance(cvr, str):
        return cvr
    held = actor().admin.cvrs()
    if actor().cvr in held or (actor().admin.is_operator and actor().cvr):
        return actor().cvr
    return min(held) if held else None


def with_args(**changes: str | None) -> str:
    """This page's address with some query arguments changed (None removes one)."""
    args = {key: value for key, value in request.args.items() if key not in changes}
    args.update({key: value for key, value in changes.items() if value is not None})
    return f"{request.path}?{urlencode(args)}" if args else request.path


@blueprint.context_processor
def _template_globals() -> dict[str, Any]:
    if "admin_actor" not in g:
        return {"t": t, "signed_in": False, "with_args": with_args}
    who = actor()
    return {
        "t": t,
        "with_args": with_args,
        "signed_in": True,
        "me": who,
        "csrf_value": admin_session().csrf,
        "home_cvr": home_cvr(),
        "may": lambda action, obj, scope: can(who.admin, action, obj, scope),
        "may_somewhere": lambda action, obj: can_somewhere(who.admin, action, obj),
    }


def setup(app: Flask) -> None:
    """Register the admin UI at /admin/ and its login continuation."""
    register_continuation(PROTOCOL, _continuation)
    app.register_blueprint(blueprint)
