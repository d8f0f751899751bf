"""The front door: start a login, reuse or step up the SSO session, deliver the outcome.

``begin_login`` is what a protocol module calls; the outcome reaches the continuation the
protocol registered by name. Delivery always happens in a GET request that is not the
response to one of our forms, for two reasons:

- a cross-site POST (the SAML HTTP-POST binding) does not carry our SameSite=Lax cookie,
  but the top-level GET it is redirected to does, so the SSO session is visible there;
- browsers apply the login page's CSP ``form-action 'self'`` to the redirects that follow
  a form submission, which would block a protocol's redirect back to a fagsystem; so after
  the last form the browser gets a small "continue" page that navigates on by itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from typing import Any

from flask import g, make_response, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from idp.context import current_services
from idp.i18n import use_language
from idp.loa import HIGHEST_REACHABLE, loa_for
from idp.login.active import access_allowed
from idp.login.flows import LoginFlow, Stage
from idp.login.services import CONTINUATIONS, login_services
from idp.login.types import FailureReason, LoginFailure, LoginRequest, LoginResult
from idp.logs import current_request_id
from idp.mfa import has_totp
from idp.sso import ServedSystem, SsoSession, cookie_name, set_session_cookie
from idp.web import PageError, csrf_token, render_page
from store import audit
from store.models import Fagsystem

log = logging.getLogger(__name__)
SELF_SERVICE = "sts-account"  # the built-in "fagsystem" for the person's own account pages
SUCCESS = "success"


def begin_login(login_request: LoginRequest) -> Response:
    """Start a login for a protocol module; the outcome goes to its registered continuation.

    Returns a redirect to the login pages, or (on a GET, when the SSO session already
    satisfies the request, or when it is passive or asks for an unreachable level) the
    continuation's own response straight away.
    """
    services = login_services()
    if login_request.protocol not in CONTINUATIONS:
        raise LookupError(
            f"no login continuation registered for protocol {login_request.protocol!r}; "
            "call idp.login.register_continuation at start-up"
        )
    if request.method not in ("GET", "HEAD"):
        flow = services.flows.create(login_request)
        return redirect(url_for("login.resume", flow=flow.id), 303)
    # On a GET the flow is stored only if the login shows its pages (``_decide`` saves it
    # then); when the SSO session answers at once it never leaves this request.
    return resume_flow(services.flows.new(login_request))


def current_session() -> SsoSession | None:
    """The browser's live SSO session (idle timer restarted), or None."""
    if "sso_session" not in g:
        services = login_services()
        cookie = request.cookies.get(cookie_name(services.secure_cookies))
        g.sso_session = services.sessions.load(cookie)
    session: SsoSession | None = g.sso_session
    return session


def require_flow(stage: str | None = None) -> LoginFlow:
    """The flow named by ``?flow=``, at the expected stage, or an error page."""
    services = login_services()
    flow = services.flows.load(request.args.get("flow"))
    if flow is None or (stage is not None and flow.stage != stage):
        raise PageError(
            "flow_expired",
            400,
            values={"minutes": services.flow_minutes},
            log_details={"stage": None if flow is None else flow.stage, "expected": stage},
        )
    if flow.browser is not None and not hmac.compare_digest(flow.browser, browser_binding()):
        # Past the password, the flow's URL alone must not let another browser finish it.
        raise PageError(
            "flow_expired",
            400,
            values={"minutes": services.flow_minutes},
            log_details={"reason": "login flow used from another browser"},
        )
    use_language(flow.request.ui_locale)
    return flow


def browser_binding() -> str:
    """A value only this browser can present: a digest of its CSRF token."""
    return hashlib.sha256(csrf_token().encode()).hexdigest()[:32]


def resume_flow(flow: LoginFlow) -> Response:
    """Decide what a flow needs next, or deliver its outcome."""
    use_language(flow.request.ui_locale)
    if flow.outcome is not None:
        return _deliver(flow)
    if flow.stage != Stage.START:
        return redirect(stage_url(flow), 303)
    return _decide(flow)


def stage_url(flow: LoginFlow) -> str:
    endpoint = {
        Stage.PASSWORD: "login.password",
        Stage.SECOND_FACTOR: "login.second_factor",
        Stage.ENROL: "login.enrol",
    }.get(flow.stage, "login.resume")
    return url_for(endpoint, flow=flow.id)


def _decide(flow: LoginFlow) -> Response:
    services, wanted = login_services(), flow.request
    if not HIGHEST_REACHABLE.satisfies(wanted.min_loa):
        return _finish_now(flow, LoginFailure(FailureReason.LOA_UNAVAILABLE, wanted.min_loa))
    session = _reusable_session(wanted)
    if session is not None and session.loa.satisfies(wanted.min_loa):
        return _reuse(flow, session)
    if wanted.passive:
        return _finish_now(flow, LoginFailure(FailureReason.NO_PASSIVE))
    if session is not None:
        flow.user_id, flow.cvr, flow.username = session.user_id, session.cvr, session.username
        flow.methods, flow.step_up = list(session.methods), True
        flow.browser = browser_binding()
        flow.stage = second_factor_stage(session.user_id)
    else:
        flow.stage = Stage.PASSWORD
    services.flows.save(flow)
    return redirect(stage_url(flow), 303)


def _reusable_session(wanted: LoginRequest) -> SsoSession | None:
    session = current_session()
    if session is None or wanted.force_authn:
        return None
    age = login_services().clock() - session.auth_instant
    if wanted.max_age is not None and age > wanted.max_age:
        return None
    if not user_is_active(session.user_id, session.created_at):  # disabled since the login
        login_services().sessions.end(session.id)
        return None
    return session


def second_factor_stage(user_id: str) -> str:
    with current_services().database.session() as db:
        return Stage.SECOND_FACTOR if has_totp(db, user_id) else Stage.ENROL


def user_is_active(user_id: str, since: float | None = None) -> bool:
    """Whether the user exists, is not disabled, and (given ``since``) a session started
    then is not older than their ``access_not_before``; a yes is cached briefly per process.

    See :class:`idp.login.active.ActiveUsers` for the bound and its invalidation.
    """
    services = login_services()
    return access_allowed(services.active_users, current_services().database, user_id, since)


def _reuse(flow: LoginFlow, session: SsoSession) -> Response:
    login_services().flows.discard(flow)
    _record_served(session, flow.request)
    audit_login(
        "login.sso",
        "success",
        actor=session.username,
        user_id=session.user_id,
        cvr=session.cvr,
        fagsystem=flow.request.fagsystem,
        loa=session.loa.value,
    )
    return _call(flow.request, result_for(session))


def _finish_now(flow: LoginFlow, failure: LoginFailure) -> Response:
    login_services().flows.discard(flow)
    log.info("login ended without result: %s", failure.reason, extra={"reason": failure.reason})
    return _call(flow.request, failure)


def complete(flow: LoginFlow, template: str = "login/continue.html", **context: Any) -> Response:
    """All factors done: start a fresh session, then show a page that moves on to delivery."""
    services = login_services()
    assert flow.user_id and flow.cvr and flow.username is not None
    if not step_up_session_alive(flow):
        return restart_at_password(flow)
    session = services.sessions.create(
        user_id=flow.user_id,
        cvr=flow.cvr,
        username=flow.username,
        methods=flow.methods,
        replacing=request.cookies.get(cookie_name(services.secure_cookies)),
        step_up=flow.step_up,
    )
    _record_served(session, flow.request)
    flow.outcome, flow.session_id, flow.stage = SUCCESS, session.id, Stage.DONE
    services.flows.save(flow)
    g.sso_session = session
    response = continue_page(flow, template, **context)
    set_session_cookie(response, session.id, secure=services.secure_cookies)
    return response


def step_up_session_alive(flow: LoginFlow) -> bool:
    """False when a step-up's session has ended (logout, timeout) or is another person's.

    A step-up builds on the password proven in that session, so it may only finish while
    the session is still live; otherwise its factors would make a new session without one.
    """
    if not flow.step_up:
        return True
    services = login_services()
    live = services.sessions.load(request.cookies.get(cookie_name(services.secure_cookies)))
    return live is not None and live.user_id == flow.user_id


def restart_at_password(flow: LoginFlow) -> Response:
    """Send a step-up whose session has ended back to the password page, as a new login."""
    audit_login(
        "login.step_up",
        "failure",
        actor=flow.username or "anonymous",
        user_id=flow.user_id,
        cvr=flow.cvr,
        reason="session_ended",
        fagsystem=flow.request.fagsystem,
    )
    flow.user_id = flow.cvr = flow.username = flow.enrol_secret = None
    flow.methods, flow.step_up, flow.stage = [], False, Stage.PASSWORD
    login_services().flows.save(flow)
    return redirect(stage_url(flow), 303)


def fail(flow: LoginFlow, reason: FailureReason) -> Response:
    flow.outcome, flow.stage = reason.value, Stage.DONE
    login_services().flows.save(flow)
    return continue_page(flow)


def continue_page(
    flow: LoginFlow, template: str = "login/continue.html", **context: Any
) -> Response:
    return render_page(template, next_url=url_for("login.resume", flow=flow.id), **context)


def _deliver(flow: LoginFlow) -> Response:
    services = login_services()
    taken = services.flows.take(flow.id)
    if taken is None:
        raise PageError("flow_expired", 400, values={"minutes": services.flow_minutes})
    if taken.outcome != SUCCESS:
        return _call(taken.request, LoginFailure(FailureReason(str(taken.outcome))))
    session = current_session()
    if session is None or session.id != taken.session_id:
        # The result belongs to the browser that logged in; any other gets nothing.
        raise PageError(
            "flow_expired",
            400,
            values={"minutes": services.flow_minutes},
            log_details={"reason": "session cookie does not match the completed flow"},
        )
    return _call(taken.request, result_for(session))


def _call(login_request: LoginRequest, outcome: LoginResult | LoginFailure) -> Response:
    continuation = CONTINUATIONS[login_request.protocol]
    return make_response(continuation(login_request, outcome))


def _record_served(session: SsoSession, wanted: LoginRequest) -> None:
    if wanted.fagsystem != SELF_SERVICE:
        login_services().sessions.add_served(
            session, ServedSystem(wanted.protocol, wanted.fagsystem, wanted.client)
        )


def result_for(session: SsoSession) -> LoginResult:
    return LoginResult(
        user_id=session.user_id,
        cvr=session.cvr,
        username=session.username,
        loa=session.loa,
        auth_instant=dt.datetime.fromtimestamp(session.auth_instant, dt.UTC),
        methods=session.methods,
        session_id=session.public_id,
    )


def fagsystem_names(ids: list[str]) -> dict[str, str]:
    """Display names of fagsystemer (their id when the catalogue does not know them)."""
    if not ids:
        return {}
    with current_services().database.session() as db:
        rows = db.execute(select(Fagsystem.id, Fagsystem.name).where(Fagsystem.id.in_(ids)))
        known = {row.id: row.name for row in rows}
    return {i: known.get(i, i) for i in ids}


def audit_login(
    action: str,
    outcome: str,
    *,
    actor: str,
    user_id: str | None = None,
    cvr: str | None = None,
    **details: Any,
) -> None:
    """One audit event per attempt; the precise reason goes here, never to the page."""
    details["address"] = request.remote_addr
    event: dict[str, Any] = {
        "actor": actor[:256] or "anonymous",
        "action": action,
        "object_type": "user" if user_id else None,
        "object_id": user_id,
        "cvr": cvr,
        "outcome": outcome,
        "request_id": current_request_id(),
        "details": details,
    }
    if audit.holds(action):  # held for the caller's next event: no transaction needed here
        audit.record_held(**event)
        return
    with current_services().database.session() as db:
        audit.record(db, **event)


def loa_after(flow: LoginFlow) -> bool:
    """True when the flow's methods reach the requested level."""
    return loa_for(tuple(flow.methods)).satisfies(flow.request.min_loa)
