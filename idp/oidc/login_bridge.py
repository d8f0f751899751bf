"""The seam to the protocol-neutral login (``idp.login``): begin, continue, look, end.

The authorization endpoint turns an OpenID request into a :class:`LoginRequest` with
``protocol="oidc"``; the login decides whether the SSO session is good enough (LoA,
``max_age``, forced or passive login) and hands the outcome to the continuation
registered here. A logout at ``/oidc/logout`` is one :mod:`idp.login.logout` run, which
ends the session for every protocol and calls back the OIDC part registered here (logout
tokens, then the redirect to the RP). :class:`SharedLogin` is the real one; tests may
pass another object with the same methods to :func:`idp.oidc.setup_oidc`.
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
class LogoutInitiator:
    """The RP asking for a logout, and where to send the browser afterwards (verified)."""

    client_id: str | None
    fagsystem: str | None
    redirect_uri: str | None


@dataclass(frozen=True)
class LiveSession:
    """The browser's live SSO session: its public id (``sid``) and its user (``sub``)."""

    sid: str
    user_id: str


class LoginBridge(Protocol):
    def register(self, app: Flask, continuation: Continuation) -> None: ...

    def begin(self, login_request: LoginRequest) -> Any: ...

    def current(self) -> LiveSession | None: ...

    def register_logout(
        self, backchannel: Callable[[Any], None], answer: Callable[[Any], Any]
    ) -> None:
        """Name the OIDC part of every logout (whichever protocol started it)."""

    def logout(self, initiator: LogoutInitiator) -> Any:
        """End the browser's session everywhere; the response to send, None if no session."""


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

    def register_logout(
        self, backchannel: Callable[[Any], None], answer: Callable[[Any], Any]
    ) -> None:
        from idp.login.logout import register_logout

        register_logout(PROTOCOL, backchannel=backchannel, answer=answer)

    def logout(self, initiator: LogoutInitiator) -> Any:
        from idp.login import current_session
        from idp.login.logout import start

        session = current_session()
        if session is None:
            return None
        return start(
            session,
            {
                "protocol": PROTOCOL,
                "client": initiator.client_id,
                "fagsystem": initiator.fagsystem,
                "redirect_uri": initiator.redirect_uri,
                "returns": bool(initiator.redirect_uri),
            },
        )
