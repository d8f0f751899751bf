"""The admin UI's own session: who signed in, at which level, and their form token.

A person reaches ``/admin/`` through the IdP's login at NSIS Substantial; the login's
continuation starts an admin session under a fresh random id (so an id planted before the
login never becomes a signed-in session) kept in the ephemeral store. The session:

- belongs to one SSO session: when that ends (logout, its own timeout) this one ends too;
- ends after :data:`IDLE_SECONDS` without a request (the SSO session's clock, so tests can
  move time), and then the next sign-in asks for both factors again;
- holds the CSRF token every form must post back.

The cookie is ``HttpOnly``, ``SameSite=Lax`` and, over https, ``Secure`` with the
``__Host-`` prefix.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, replace

from werkzeug.wrappers.response import Response

from idp.login.services import login_services
from store.ephemeral import EphemeralState

IDLE_SECONDS = 15 * 60
COOKIE_NAME = "sts_admin"
SECURE_COOKIE_NAME = "__Host-sts_admin"
COOKIE_PATH = "/admin"
_ID = re.compile(r"^[A-Za-z0-9_-]{40,64}$")


def _key(session_id: str) -> str:
    return f"admin-ui:session:{session_id}"


@dataclass(frozen=True)
class AdminSession:
    id: str  # secret: the cookie's value
    user_id: str
    username: str
    cvr: str
    loa: str
    sso_public_id: str  # the SSO session it belongs to
    csrf: str
    last_seen: float


class AdminSessions:
    """Create, find (restarting the idle timer) and end admin sessions."""

    def __init__(self, state: EphemeralState) -> None:
        self.state = state

    def _clock(self) -> float:
        return login_services().clock()

    def create(
        self, *, user_id: str, username: str, cvr: str, loa: str, sso_public_id: str
    ) -> AdminSession:
        session = AdminSession(
            id=secrets.token_urlsafe(32),
            user_id=user_id,
            username=username,
            cvr=cvr,
            loa=loa,
            sso_public_id=sso_public_id,
            csrf=secrets.token_urlsafe(32),
            last_seen=self._clock(),
        )
        self._write(session)
        return session

    def load(self, session_id: str | None) -> AdminSession | None:
        """The live session for a cookie value, idle timer restarted; None if none."""
        if not session_id or not _ID.match(session_id):
            return None
        raw = self.state.get(_key(session_id))
        if raw is None:
            return None
        session = AdminSession(**json.loads(raw))
        now = self._clock()
        if now - session.last_seen >= IDLE_SECONDS:
            self.end(session_id)
            return None
        session = replace(session, last_seen=now)
        self._write(session)
        return session

    def end(self, session_id: str | None) -> None:
        if session_id and _ID.match(session_id):
            self.state.delete(_key(session_id))

    def _write(self, session: AdminSession) -> None:
        # Key expiry only collects garbage; the idle check above uses the stored time.
        self.state.set(_key(session.id), json.dumps(asdict(session)).encode(), IDLE_SECONDS + 60)


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE_NAME if secure else COOKIE_NAME


def _cookie_path(secure: bool) -> str:
    return "/" if secure else COOKIE_PATH  # the __Host- prefix requires Path=/


def set_cookie(response: Response, session_id: str, *, secure: bool) -> None:
    response.set_cookie(
        cookie_name(secure),
        session_id,
        httponly=True,
        samesite="Lax",
        secure=secure,
        path=_cookie_path(secure),
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        cookie_name(secure), path=_cookie_path(secure), secure=secure, httponly=True, samesite="Lax"
    )
