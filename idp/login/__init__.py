"""Login, MFA and the SSO session: one protocol-neutral front door for SAML and OIDC.

A protocol module registers a continuation once, then starts logins and gets outcomes::

    from idp.login import LoginFailure, LoginRequest, LoginResult, begin_login
    from idp.login import register_continuation

    def finish(request: LoginRequest, outcome: LoginResult | LoginFailure) -> ResponseReturnValue:
        ...  # build the SAML Response / OIDC redirect from request.return_state

    register_continuation("saml", finish)            # once, at import or start-up
    return begin_login(LoginRequest(fagsystem="ky", protocol="saml",
                                    return_state={"request": key}, min_loa=LoA.SUBSTANTIAL))

The pending request lives in the ephemeral store under ``login-flow:<random id>`` until
the outcome is delivered (once) to the continuation registered under ``protocol``.
"""

from __future__ import annotations

from flask import Flask

from connectors.base import Directory
from idp.context import EXTENSION, Services
from idp.loa import LoA, Method
from idp.login import account, demo, logout, views  # noqa: F401 - the modules attach the routes
from idp.login.blueprint import blueprint
from idp.login.core import begin_login, current_session, result_for
from idp.login.services import (
    LOGIN_EXTENSION,
    Continuation,
    LoginServices,
    build_login_services,
    login_services,
    register_continuation,
)
from idp.login.types import FailureReason, LoginFailure, LoginRequest, LoginResult
from idp.sso import ServedSystem, SsoSession
from idp.web import install_web

__all__ = [
    "Continuation",
    "FailureReason",
    "LoA",
    "LoginFailure",
    "LoginRequest",
    "LoginResult",
    "LoginServices",
    "Method",
    "ServedSystem",
    "SsoSession",
    "begin_login",
    "current_session",
    "end_current_session",
    "login_services",
    "register_continuation",
    "result_for",
    "setup_login",
]


def setup_login(app: Flask, directory: Directory | None = None) -> LoginServices:
    """Wire the login pages, the SSO session and the web plumbing into ``app``.

    ``directory`` defaults to the local SQL directory; pass the AD connector to use AD.
    Call after the core services (``app.extensions["sts"]``) exist.
    """
    core: Services = app.extensions[EXTENSION]
    services = build_login_services(core, directory)
    app.extensions[LOGIN_EXTENSION] = services
    install_web(app)
    app.register_blueprint(blueprint)
    register_continuation(account.ACCOUNT_PROTOCOL, account.account_continuation)
    if core.settings.demo_login_page:
        app.register_blueprint(demo.blueprint)
        register_continuation(demo.TEST_PROTOCOL, demo.show_result)
    return services


def end_current_session() -> list[ServedSystem]:
    """End the browser's SSO session (for protocol logout endpoints); return what it served.

    The caller clears the cookie on its response with ``idp.sso.clear_session_cookie``.
    """
    session = current_session()
    return [] if session is None else login_services().sessions.end(session.id)
