"""The seam to the protocol-neutral login (``idp.login``).

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
from idp.sso import SessionStore, SsoSession

PROTOCOL = "saml"

__all__ = ["PROTOCOL", "begin", "current_session", "register", "session_store"]


def register(function: Continuation) -> None:
    register_continuation(PROTOCOL, function)


def begin(login_request: LoginRequest) -> Any:
    return begin_login(login_request)


def session_store() -> SessionStore:
    return login_services().sessions


def browser_session() -> SsoSession | None:
    return current_session()
