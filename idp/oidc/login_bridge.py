"""The seam to the protocol-neutral login (``idp.login``): begin, continue, look, end.

The authorization endpoint turns an OpenID request into a :class:`LoginRequest` with
``protocol="oidc"``; the login decides whether the SSO session is good enough (LoA,
``max_age``, forced or passive login) and hands the outcome to the continuation
registered here. :class:`SharedLogin` is the real one; tests may pass another object
with the same four methods to :func:`idp.oidc.setup_oidc`.
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


@dataclass(frozen=True)
class LiveSession:
    """The browser's live SSO session: its public id (``sid``) and its user (``sub``)."""

    sid: str
    user_id: str


class LoginBridge(Protocol):
    def register(self, app: Flask, continuation: Continuation) -> None: ...

    def begin(self, login_request: LoginRequest) -> Any: ...

    def current(self) -> LiveSession | None: ...

    def end_session(self) -> EndedSession | None: ...


class SharedLogin:
    """The real login pages and SSO session of :mod:`idp.login`."""

    def register(self, app: Flask, continuation: Continuation) -> None:
        from idp.login import register_continuation

        register_continuation(PROTOCOL, continuation)

    def begin(self, login_request: LoginRequest) -> Any:
        from idp.login import begin_login

        return begin_login(login_request)

    def current(self) -> LiveSession | None:
        from idp.login import current_session

        session = current_session()
        return None if session is None else LiveSession(session.public_id, session.user_id)

    def end_session(self) -> EndedSession | None:
        from idp.login import current_session, login_services

        session = current_session()
        if session is None:
            return None
        served = login_services().sessions.end(session.id)
        clients = tuple(sorted({s.client for s in served if s.protocol == PROTOCOL and s.client}))
        return EndedSession(session.public_id, session.user_id, clients)
