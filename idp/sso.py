"""The SSO session: one per browser login, kept in the ephemeral store, shared by SAML and OIDC.

Keys (named in :mod:`store.access`, which ends a user's sessions from anywhere):

- ``session:<id>``: the session as JSON; ``<id>`` is the secret in the browser's cookie.
- ``user-sessions:<user_id>``: the set of a user's session ids, so all of them can be
  ended at once (user disabled, password changed, TOTP reset).
- ``session-served:<id>``: the set of systems the session has logged in to, for logout.

Timeouts are checked against timestamps stored in the session (and an injectable clock),
so they hold on Redis and in-process alike; key expiry only collects the garbage.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from werkzeug.wrappers.response import Response

from idp.loa import LoA, loa_for
from store.access import served_key, session_key, user_sessions_key
from store.ephemeral import EphemeralState

Clock = Callable[[], float]
COOKIE_NAME = "sts_sso"
SECURE_COOKIE_NAME = "__Host-sts_sso"  # the prefix makes browsers insist on Secure, Path=/
SERVED_REFRESH_SECONDS = 600.0  # a served system re-recorded by this process at most this often
SERVED_SEEN_SIZE = 20_000
_ID = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass(frozen=True)
class ServedSystem:
    """A fagsystem the session has logged in to, with the protocol and client used."""

    protocol: str
    fagsystem: str
    client: str | None = None

    def encode(self) -> str:
        # The set member's exact text: keys sorted (as ``json.dumps(asdict(self), ...)``).
        return json.dumps(
            {"client": self.client, "fagsystem": self.fagsystem, "protocol": self.protocol},
            sort_keys=True,
        )

    @classmethod
    def decode(cls, raw: str) -> ServedSystem:
        data = json.loads(raw)
        return cls(str(data["protocol"]), str(data["fagsystem"]), data.get("client"))


@dataclass(frozen=True)
class SsoSession:
    """A logged-in browser. ``id`` is secret (the cookie); ``public_id`` may be shown to SPs."""

    id: str
    public_id: str
    user_id: str
    cvr: str
    username: str
    methods: tuple[str, ...]
    auth_instant: float  # when the person last proved who they are (any factor)
    created_at: float  # start of the session; the absolute timeout counts from here
    last_seen: float

    @property
    def loa(self) -> LoA:
        return loa_for(self.methods)

    def to_json(self) -> bytes:
        # Written at every touch: a plain dict, not the (recursive, copying) ``asdict``.
        return json.dumps(
            {
                "id": self.id,
                "public_id": self.public_id,
                "user_id": self.user_id,
                "cvr": self.cvr,
                "username": self.username,
                "methods": list(self.methods),
                "auth_instant": self.auth_instant,
                "created_at": self.created_at,
                "last_seen": self.last_seen,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SsoSession:
        data = json.loads(raw)
        data["methods"] = tuple(data["methods"])
        return cls(**data)


class SessionStore:
    """Create, find, extend and end SSO sessions in the ephemeral store.

    ``access_check`` (set by the login) is asked at every :meth:`load` whether the
    session's user may still use it (not disabled, access not ended since it started).
    """

    def __init__(
        self,
        state: EphemeralState,
        *,
        idle_seconds: float,
        absolute_seconds: float,
        clock: Clock = time.time,
    ) -> None:
        self.state = state
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self.clock = clock
        self.access_check: Callable[[SsoSession], bool] | None = None
        self._served_seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._served_lock = threading.Lock()

    def create(
        self,
        *,
        user_id: str,
        cvr: str,
        username: str,
        methods: Iterable[str],
        replacing: str | None = None,
        step_up: bool = False,
    ) -> SsoSession:
        """Start a session under a fresh id; the session the browser had is always ended.

        A new id at every login or step-up means an id planted before login (fixation)
        never becomes a logged-in session. When the replaced session was the same
        person's, the systems it served carry over; on a step-up its start time does too,
        so stepping up cannot stretch the absolute timeout.
        """
        now = self.clock()
        previous = self._read(replacing) if replacing else None
        same_person = previous is not None and previous.user_id == user_id
        carried = self.served(previous.id) if previous is not None and same_person else []
        started = previous.created_at if previous is not None and same_person and step_up else now
        all_methods = set(methods)
        if previous is not None and same_person and step_up:
            all_methods |= set(previous.methods)
        if replacing:
            self.end(replacing)
        session = SsoSession(
            id=secrets.token_urlsafe(32),
            public_id=secrets.token_urlsafe(16),
            user_id=user_id,
            cvr=cvr,
            username=username,
            methods=tuple(sorted(all_methods)),
            auth_instant=now,
            created_at=started,
            last_seen=now,
        )
        self._write(session)
        self.state.sadd(user_sessions_key(user_id), session.id, ttl=self.absolute_seconds)
        if carried:
            self.add_served(session, *carried)
        return session

    def load(self, session_id: str | None) -> SsoSession | None:
        """The live session for a cookie value, its idle timer restarted; None if none."""
        session = self._read(session_id)
        if session is None:
            return None
        now = self.clock()
        if (
            now - session.last_seen >= self.idle_seconds
            or now - session.created_at >= self.absolute_seconds
        ):
            self.end(session.id)
            return None
        if self.access_check is not None and not self.access_check(session):
            self.end(session.id)
            return None
        session = replace(session, last_seen=now)
        self._write(session)
        return session

    def add_served(self, session: SsoSession, *systems: ServedSystem) -> None:
        """Record systems the session logged in to; a repeat this process made is skipped.

        Skipping is safe: the set's expiry moves with the session's at every touch, and the
        set is deleted only when the session ends (a session id is never reused); so a
        member this process added less than :data:`SERVED_REFRESH_SECONDS` ago is there.
        """
        now = time.monotonic()
        members = [
            member
            for member in (system.encode() for system in systems)
            if now - self._served_seen.get((session.id, member), -SERVED_REFRESH_SECONDS)
            >= SERVED_REFRESH_SECONDS
        ]
        if not members:
            return
        self.state.sadd(served_key(session.id), *members, ttl=self._remaining(session))
        with self._served_lock:
            for member in members:
                self._served_seen[(session.id, member)] = now
                self._served_seen.move_to_end((session.id, member))
            while len(self._served_seen) > SERVED_SEEN_SIZE:
                self._served_seen.popitem(last=False)

    def served(self, session_id: str) -> list[ServedSystem]:
        members = self.state.smembers(served_key(session_id))
        return sorted(
            (ServedSystem.decode(raw) for raw in members),
            key=lambda s: (s.fagsystem, s.protocol, s.client or ""),
        )

    def end(self, session_id: str) -> list[ServedSystem]:
        """End one session; return the systems it had served (to sign out of them)."""
        session = self._read(session_id)
        served = self.served(session_id) if _ID.match(session_id) else []
        self.state.delete(session_key(session_id), served_key(session_id))
        if session is not None:
            self.state.srem(user_sessions_key(session.user_id), session_id)
        return served

    def end_all(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of a user (except ``keep``); return how many were ended."""
        ended = 0
        for session_id in self.state.smembers(user_sessions_key(user_id)):
            if session_id == keep:
                continue
            ended += self.state.delete(session_key(session_id), served_key(session_id)) > 0
            self.state.srem(user_sessions_key(user_id), session_id)
        return ended

    def _read(self, session_id: str | None) -> SsoSession | None:
        if not session_id or not _ID.match(session_id):
            return None
        raw = self.state.get(session_key(session_id))
        return None if raw is None else SsoSession.from_json(raw)

    def _remaining(self, session: SsoSession) -> float:
        left_absolute = session.created_at + self.absolute_seconds - self.clock()
        return max(1.0, min(self.idle_seconds, left_absolute))

    def _write(self, session: SsoSession) -> None:
        self.state.set_and_expire(
            session_key(session.id),
            session.to_json(),
            self._remaining(session),
            served_key(session.id),
        )


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE_NAME if secure else COOKIE_NAME


def set_session_cookie(response: Response, session_id: str, *, secure: bool) -> None:
    """HttpOnly, SameSite=Lax (sent on top-level navigations from other sites), Secure on https.

    No Max-Age: the cookie ends with the browser; the server enforces the real timeouts.
    """
    response.set_cookie(
        cookie_name(secure),
        session_id,
        httponly=True,
        samesite="Lax",
        secure=secure,
        path="/",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        cookie_name(secure), path="/", secure=secure, httponly=True, samesite="Lax"
    )
