"""The person's own pages: log out (listing the systems signed out of) and change password."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers.response import Response

from connectors.base import AuthenticationFailed, Directory
from connectors.local import LocalDirectory
from idp.i18n import gettext
from idp.login.blueprint import blueprint
from idp.login.core import SELF_SERVICE, audit_login, begin_login, current_session, fagsystem_names
from idp.login.logout import start as logout_everywhere
from idp.login.services import login_services
from idp.login.types import LoginFailure, LoginRequest, LoginResult
from idp.sso import ServedSystem, SsoSession, clear_session_cookie
from idp.throttle import user_account
from idp.web import PageError, render_page

ACCOUNT_PROTOCOL = "account"


def account_continuation(_request: LoginRequest, outcome: LoginResult | LoginFailure) -> Response:
    """After logging in for the account pages, go to the password change page."""
    if isinstance(outcome, LoginFailure):
        raise PageError(outcome.reason.value, 400, values={"fagsystem": gettext("site.name")})
    return redirect(url_for("login.change_password"), 303)


@blueprint.get("/account")
def account() -> ResponseReturnValue:
    """Log in (if needed) for the person's own account pages."""
    if current_session() is not None:
        return redirect(url_for("login.change_password"), 303)
    return begin_login(
        LoginRequest(
            fagsystem=SELF_SERVICE,
            protocol=ACCOUNT_PROTOCOL,
            ui_locale=request.args.get("lang"),
        )
    )


@blueprint.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """GET lists what the logout will end; POST ends the session."""
    services = login_services()
    session = current_session()
    if request.method == "GET":
        served = services.sessions.served(session.id) if session else []
        return render_page("login/logout.html", session=session, systems=_named(served))
    if session is None:
        response = render_page("login/logged_out.html", systems=[], was_logged_in=False)
        clear_session_cookie(response, secure=services.secure_cookies)
        return response
    return logout_everywhere(session, None)  # every system of the session, any protocol


@blueprint.route("/password/change", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    services = login_services()
    session = current_session()
    if session is None:
        return redirect(url_for("login.account"), 303)
    directory = _local_directory(services.directory)
    if directory is None:
        raise PageError("password_change_unsupported", 400)
    if request.method == "GET":
        return _page(session)
    current = request.form.get("current", "")[:1024]
    new = request.form.get("new", "")[:1024]
    problem = _weak(session, current, new, request.form.get("repeat", "")[:1024])
    if problem:
        return _page(session, error=problem)
    address = request.remote_addr or "unknown"
    account = user_account(session.user_id)
    if services.throttle.retry_after(account, address) > 0:
        raise PageError("too_many_attempts", 429, values={"minutes": 15})
    try:
        directory.change_password(session.user_id, current, new)
    except AuthenticationFailed as failure:
        services.throttle.failure(account, address)
        audit_login(
            "password.change",
            "failure",
            actor=session.username,
            user_id=session.user_id,
            cvr=session.cvr,
            reason=failure.reason,
        )
        if failure.reason == "no_local_password":
            raise PageError("password_change_unsupported", 400) from failure
        return _page(session, error=gettext("pwchange.wrong_current"))
    ended = services.sessions.end_all(session.user_id, keep=session.id)
    audit_login(
        "password.change",
        "success",
        actor=session.username,
        user_id=session.user_id,
        cvr=session.cvr,
        other_sessions_ended=ended,
    )
    return _page(session, done=gettext("pwchange.done"))


def _local_directory(directory: Directory) -> LocalDirectory | None:
    """The local directory, alone or inside the AD-first chain; AD passwords change in AD."""
    if isinstance(directory, LocalDirectory):
        return directory
    for member in getattr(directory, "directories", ()):
        if isinstance(member, LocalDirectory):
            return member
    return None


def _weak(session: SsoSession, current: str, new: str, repeat: str) -> str | None:
    minimum = login_services().password_min_length
    if new != repeat:
        return gettext("pwchange.mismatch")
    if len(new) < minimum:
        return gettext("pwchange.too_short", min=minimum)
    if new == current:
        return gettext("pwchange.same")
    if session.username.lower() in new.lower():
        return gettext("pwchange.username")
    return None


def _page(session: SsoSession, *, error: str | None = None, done: str | None = None) -> Response:
    return render_page(
        "login/password_change.html",
        session=session,
        minimum=login_services().password_min_length,
        error=error,
        done=done,
    )


def _named(served: list[ServedSystem]) -> list[str]:
    names = fagsystem_names(sorted({s.fagsystem for s in served}))
    return sorted(names.values(), key=str.lower)
