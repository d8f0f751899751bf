"""The seam to the protocol-neutral login (``idp.login``): begin, continue, end.

The authorization endpoint turns an OpenID request into a :class:`LoginRequest` with
``protocol="oidc"``; the login decides whether the SSO session is good enough (LoA,
``max_age``, forced or passive login) and hands the outcome to the continuation
registered here. :class:`SharedLogin` is the real one; tests may pass another object
with the same three methods to :func:`idp.oidc.setup_oidc`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask

from idp.login.types import LoginFailure, LoginRequest, LoginResult

PROTOCOL = "oidc"
Continuation = Callable[[LoginRequest, LoginResult | LoginFailure], Any]


@dataclass(frozen=True)
class EndedSession:
    """An SSO session ended at our logout endpoint, and the OIDC clients it served."""

    sid: str
    user_id: str
    client_ids: tuple[str, ...]


class LoginBridge(Protocol):
    def register(self, app: Flask, continuation: Continuation) -> None: ...

    def begin(self, login_request: LoginRequest) -> Any: ...

    def end_session(self) -> EndedSession | None: ...


class SharedLogin:
    """The real login pages and SSO session of :mod:`idp.login`."""

    def register(self, app: Flask, continuation: Continuation) -> None:
        from idp.login import register_continuation

        register_continuation(PROTOCOL, continuation)

    def begin(self, login_request: LoginRequest) -> Any:
        from idp.login import begin_login

        return begin_login(login_request)

    def end_session(self) -> EndedSession | None:
        from idp.login import current_session, login_services

        session = current_session()
        if session is None:
            return None
        served = login_services().sessions.end(session.id)
        clients = tuple(sorted({s.client for s in served if s.protocol == PROTOCOL and s.client}))
        return EndedSession(session.public_id, session.user_id, clients)
