"""The seam to the protocol-neutral login (``idp.login``) and logout (``idp.login.logout``).

SAML maps an AuthnRequest onto a :class:`~idp.login.types.LoginRequest` with
``protocol="saml"`` and the pending-request key in ``return_state``; ``begin_login``
answers at once from a good-enough SSO session (the hot path), or walks the person
through the login pages, and then calls the continuation registered here with a
:class:`LoginResult` or a :class:`LoginFailure`.
"""

from __future__ import annotations

from typing import Any

from idp.login import (
    Continuation,
    LoginRequest,
    begin_login,
    current_session,
    login_services,
    register_continuation,
)
from idp.login.logout import (
    LOGGED_OUT,
    NO_ANSWER,
    PENDING,
    REFUSED,
    UNSUPPORTED,
    LogoutRun,
    register_logout,
)
from idp.login.logout import proceed as proceed_logout
from idp.login.logout import start as start_logout
from idp.sso import SessionStore, SsoSession

PROTOCOL = "saml"

__all__ = [
    "LOGGED_OUT",
    "NO_ANSWER",
    "PENDING",
    "PROTOCOL",
    "REFUSED",
    "UNSUPPORTED",
    "LogoutRun",
    "begin",
    "current_session",
    "proceed_logout",
    "register",
    "register_logout",
    "session_store",
    "start_logout",
]


def register(function: Continuation) -> None:
    register_continuation(PROTOCOL, function)


def begin(login_request: LoginRequest) -> Any:
    return begin_login(login_request)


def session_store() -> SessionStore:
    return login_services().sessions


def browser_session() -> SsoSession | None:
    return current_session()
