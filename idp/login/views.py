"""The login pages: username and password, second factor, TOTP enrolment, cancel, resume."""

from __future__ import annotations

import logging
import math

from flask import Response, redirect, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from connectors.base import AuthenticationFailed, DirectoryUnavailable, DirectoryUser
from connectors.ldap.directory import LdapDirectoryUser
from connectors.ldap.provision import ProvisioningConflict, StoredUser
from idp import mfa
from idp.context import current_services
from idp.i18n import gettext
from idp.loa import Method
from idp.login.blueprint import blueprint
from idp.login.core import (
    SELF_SERVICE,
    audit_login,
    browser_binding,
    complete,
    fagsystem_names,
    fail,
    loa_after,
    require_flow,
    restart_at_password,
    resume_flow,
    second_factor_stage,
    stage_url,
    step_up_session_alive,
)
from idp.login.flows import LoginFlow, Stage
from idp.login.services import login_services
from idp.login.types import FailureReason
from idp.logs import current_request_id
from idp.throttle import canonical_account
from idp.web import PageError, error_page, render_page
from store.models import User

# Refusals about the account's state rather than the password.
ACCOUNT_STATE_REASONS = frozenset(
    {
        "disabled",
        "locked",
        "expired",
        "password_expired",
        "must_change_password",
        "logon_hours",
        "workstation",
    }
)
MAX_FIELD = 1024
log = logging.getLogger(__name__)


@blueprint.get("/resume")
def resume() -> ResponseReturnValue:
    """Where a login continues: after a cross-site POST, between pages, and at the end."""
    return resume_flow(require_flow())


@blueprint.route("/password", methods=["GET", "POST"])
def password() -> ResponseReturnValue:
    flow = require_flow(Stage.PASSWORD)
    if request.method == "GET":
        return _password_page(flow, flow.request.login_hint or "")
    username = request.form.get("username", "").strip()[:MAX_FIELD]
    secret = request.form.get("password", "")[:MAX_FIELD]
    if not username or not secret:
        return _password_page(flow, username, gettext("password.missing"))
    services, address = login_services(), request.remote_addr or "unknown"
    account = canonical_account(services.directory, username)
    _refuse_if_throttled(account, address, "login.password", flow, actor=username)
    try:
        person = services.directory.authenticate(username, secret)
    except AuthenticationFailed as failure:
        services.throttle.failure(account, address)
        audit_login(
            "login.password",
            "failure",
            actor=username,
            reason=failure.reason,
            detail=failure.detail,
            fagsystem=flow.request.fagsystem,
        )
        if services.provisioning is not None:
            # Disabled in AD since the last sync: the store learns it now (sessions end).
            services.provisioning.refused(failure.user_id, failure.reason)
        if failure.reason in ACCOUNT_STATE_REASONS and _states_after_password():
            return error_page("account_unusable", 403, log_details={"reason": failure.reason})
        return _password_page(flow, username, gettext("password.wrong"))
    except DirectoryUnavailable as exc:
        audit_login(
            "login.password",
            "error",
            actor=username,
            reason="directory_unavailable",
            detail=str(exc)[:500],
            fagsystem=flow.request.fagsystem,
        )
        return error_page("directory_unavailable", 503, log_details={"cause": str(exc)})
    try:
        user = _user_for(person)
    except ProvisioningConflict as conflict:
        log.warning("AD login refused: %s", conflict)
        user, reason = None, "conflict"
    else:
        reason = "not_synchronised" if user is None else "disabled"
    if user is None or user.disabled:
        audit_login(
            "login.password",
            "failure",
            actor=username,
            reason=reason,
            fagsystem=flow.request.fagsystem,
        )
        key = "account_unknown" if user is None else "account_unusable"
        return error_page(key, 403, log_details={"reason": reason})
    services.throttle.success(account, address)
    audit_login(
        "login.password",
        "success",
        actor=user.username,
        user_id=user.id,
        cvr=user.cvr,
        fagsystem=flow.request.fagsystem,
    )
    flow.user_id, flow.cvr, flow.username = user.id, user.cvr, user.username
    flow.methods = [Method.PASSWORD.value]
    flow.browser = browser_binding()
    if loa_after(flow):
        return complete(flow)
    flow.stage = second_factor_stage(user.id)
    services.flows.save(flow)
    return redirect(stage_url(flow), 303)


@blueprint.route("/second-factor", methods=["GET", "POST"])
def second_factor() -> ResponseReturnValue:
    flow = require_flow(Stage.SECOND_FACTOR)
    if request.method == "GET":
        return _second_factor_page(flow)
    assert flow.user_id and flow.username is not None
    code = request.form.get("code", "").strip()[:64]
    services, address = login_services(), request.remote_addr or "unknown"
    throttle_key = f"mfa:{flow.user_id}"
    _refuse_if_throttled(throttle_key, address, "login.second_factor", flow)
    recovery = mfa.is_recovery_code_shape(code)
    method = Method.RECOVERY_CODE if recovery else Method.TOTP
    with current_services().database.session() as db:
        if recovery:
            outcome = mfa.use_recovery_code(db, flow.user_id, code)
            left = mfa.remaining_recovery_codes(db, flow.user_id)
        else:
            outcome = mfa.verify_totp(db, flow.user_id, code, services.box, services.clock())
            left = None
    accepted = outcome is mfa.TotpOutcome.ACCEPTED
    audit_login(
        "login.second_factor",
        "success" if accepted else "failure",
        actor=flow.username,
        user_id=flow.user_id,
        cvr=flow.cvr,
        method=method.value,
        reason=outcome.value,
        step_up=flow.step_up,
        fagsystem=flow.request.fagsystem,
    )
    if outcome is mfa.TotpOutcome.NOT_ENROLLED:  # reset by an administrator meanwhile
        flow.stage = Stage.ENROL
        services.flows.save(flow)
        return redirect(stage_url(flow), 303)
    if not accepted:
        services.throttle.failure(throttle_key, address)
        prefix = "recovery" if recovery else "totp"
        suffix = "replayed" if outcome is mfa.TotpOutcome.REPLAYED else "wrong"
        return _second_factor_page(flow, gettext(f"{prefix}.{suffix}"))
    services.throttle.success(throttle_key, address)
    flow.methods = sorted({*flow.methods, method.value})
    notice = gettext("recovery.left", count=left) if recovery else None
    return complete(flow, notice=notice)


@blueprint.route("/mfa/enrol", methods=["GET", "POST"])
def enrol() -> ResponseReturnValue:
    flow = require_flow(Stage.ENROL)
    services = login_services()
    assert flow.user_id and flow.username is not None
    if flow.enrol_secret is None:
        flow.enrol_secret = mfa.new_secret()
        services.flows.save(flow)
    if request.method == "GET":
        return _enrol_page(flow)
    if not step_up_session_alive(flow):  # before anything is stored for the account
        return restart_at_password(flow)
    address = request.remote_addr or "unknown"
    throttle_key = f"mfa:{flow.user_id}"
    _refuse_if_throttled(throttle_key, address, "mfa.totp.enrol", flow)
    code = request.form.get("code", "")[:64]
    activation = request.form.get("activation_code", "")[:64] if _needs_activation() else None
    if activation is not None and not activation.strip():
        return _enrol_page(flow, activation_error=gettext("enrol.activation.missing"))
    step = mfa.matching_step(flow.enrol_secret, code, services.clock())
    if step is None:
        services.throttle.failure(throttle_key, address)
        audit_login(
            "mfa.totp.enrol",
            "failure",
            actor=flow.username,
            user_id=flow.user_id,
            cvr=flow.cvr,
            reason="wrong_code",
        )
        return _enrol_page(flow, gettext("enrol.wrong"))
    outcome = mfa.ActivationOutcome.ACCEPTED
    codes: list[str] = []
    with current_services().database.session() as db:
        if activation is not None:
            # Spent in the enrolment's transaction: used once, and only by an enrolment.
            outcome = mfa.use_activation_code(
                db,
                flow.user_id,
                activation,
                actor=flow.username,
                cvr=flow.cvr,
                request_id=current_request_id(),
            )
        if outcome is mfa.ActivationOutcome.ACCEPTED:
            codes = mfa.enrol(
                db,
                flow.user_id,
                flow.enrol_secret,
                step,
                services.box,
                actor=flow.username,
                request_id=current_request_id(),
            )
    if outcome is not mfa.ActivationOutcome.ACCEPTED:  # refused and audited
        services.throttle.failure(throttle_key, address)
        error = gettext(f"enrol.activation.{outcome.value}")
        return _enrol_page(flow, activation_error=error)
    services.throttle.success(throttle_key, address)
    flow.enrol_secret = None
    flow.methods = sorted({*flow.methods, Method.TOTP.value})
    return complete(flow, "login/recovery_codes.html", codes=codes)


@blueprint.post("/cancel")
def cancel() -> ResponseReturnValue:
    flow = require_flow()
    audit_login(
        "login.cancel",
        "failure",
        actor=flow.username or "anonymous",
        user_id=flow.user_id,
        cvr=flow.cvr,
        stage=flow.stage,
        fagsystem=flow.request.fagsystem,
    )
    return fail(flow, FailureReason.CANCELLED)


def _refuse_if_throttled(
    key: str, address: str, action: str, flow: LoginFlow, actor: str | None = None
) -> None:
    wait = login_services().throttle.retry_after(key, address)
    if wait <= 0:
        return
    audit_login(
        action,
        "throttled",
        actor=flow.username or actor or key,
        user_id=flow.user_id,
        cvr=flow.cvr,
        retry_after=round(wait),
        fagsystem=flow.request.fagsystem,
    )
    raise PageError(
        "too_many_attempts",
        429,
        values={"minutes": max(1, math.ceil(wait / 60))},
        log_details={"retry_after": round(wait)},
    )


def _user_for(person: DirectoryUser) -> User | StoredUser | None:
    """The stored user a directory answer is about (its id: ours, or AD's objectGUID).

    An AD answer is written to the store first (AD at login: the user, groups,
    memberships and nesting as AD has them now, privilege caches invalidated), so a
    person created in AD since the last sync can sign on and group changes count now.
    """
    provisioning = login_services().provisioning
    if provisioning is not None and isinstance(person, LdapDirectoryUser):
        return provisioning.store(person)
    with current_services().database.session() as db:
        return db.get(User, person.uuid)


def _states_after_password() -> bool:
    """Whether the directory names an account's state only to someone with its password.

    A directory that says "disabled" before checking the password (as AD searches do)
    would tell anyone which accounts exist, so its refusals all get the generic answer.
    """
    return bool(getattr(login_services().directory, "states_after_password", False))


def _fagsystem(flow: LoginFlow) -> str:
    if flow.request.fagsystem == SELF_SERVICE:
        return gettext("site.name")
    return fagsystem_names([flow.request.fagsystem])[flow.request.fagsystem]


def _password_page(flow: LoginFlow, username: str, error: str | None = None) -> Response:
    return render_page(
        "login/password.html",
        flow=flow,
        fagsystem=_fagsystem(flow),
        username=username,
        error=error,
    )


def _second_factor_page(flow: LoginFlow, error: str | None = None) -> Response:
    return render_page(
        "login/second_factor.html",
        flow=flow,
        fagsystem=_fagsystem(flow),
        loa=gettext(f"loa.{flow.request.min_loa.value}"),
        error=error,
    )


def _needs_activation() -> bool:
    """Whether enrolling TOTP takes an activation code (``STS_MFA_ENROLMENT``)."""
    return current_services().settings.mfa_enrolment == "activation_code"


def _enrol_page(
    flow: LoginFlow, error: str | None = None, activation_error: str | None = None
) -> Response:
    assert flow.enrol_secret is not None and flow.username is not None
    issuer = gettext("site.name")
    uri = mfa.provisioning_uri(flow.enrol_secret, flow.username, issuer)
    return render_page(
        "login/enrol.html",
        flow=flow,
        fagsystem=_fagsystem(flow),
        qr=Markup(mfa.qr_svg(uri, gettext("enrol.qr_title"))),  # noqa: S704 - our own SVG
        secret=mfa.grouped(flow.enrol_secret),
        error=error,
        needs_activation=_needs_activation(),
        activation_error=activation_error,
    )
