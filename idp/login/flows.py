"""A login in progress, kept in the ephemeral store under ``login-flow:<random id>``.

The id travels in the login pages' URLs (``?flow=``); it is random, short-lived and
single-use when the result is delivered. The flow holds the neutral
:class:`LoginRequest`, so the protocol module that started it needs to keep nothing.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from idp.login.types import LoginRequest
from store.ephemeral import EphemeralState

Clock = Callable[[], float]
_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")


class Stage:
    START = "start"
    PASSWORD = "password"  # noqa: S105 - a stage name
    SECOND_FACTOR = "second_factor"
    ENROL = "enrol"
    DONE = "done"


@dataclass
class LoginFlow:
    id: str
    request: LoginRequest
    created_at: float
    stage: str = Stage.START
    user_id: str | None = None
    cvr: str | None = None
    username: str | None = None
    methods: list[str] = field(default_factory=list)
    step_up: bool = False
    enrol_secret: str | None = None  # proposed TOTP secret, stored only once confirmed
    outcome: str | None = None  # "success" or a FailureReason value
    session_id: str | None = None  # the session created at the end (secret id)
    browser: str | None = None  # binds the flow to one browser once a factor is proven
    stored: bool = field(default=False, compare=False)  # in the store (not serialised)

    def to_json(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        del data["stored"]
        data["request"] = self.request.to_json()
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> LoginFlow:
        data = json.loads(raw)
        data["request"] = LoginRequest.from_json(data["request"])
        return cls(**data, stored=True)


class FlowStore:
    def __init__(self, state: EphemeralState, *, ttl_seconds: float, clock: Clock = time.time):
        self.state = state
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def new(self, request: LoginRequest) -> LoginFlow:
        """A flow that exists only in this request until :meth:`save` stores it."""
        return LoginFlow(id=secrets.token_urlsafe(24), request=request, created_at=self.clock())

    def create(self, request: LoginRequest) -> LoginFlow:
        flow = self.new(request)
        self.save(flow)
        return flow

    def save(self, flow: LoginFlow) -> None:
        self.state.set(_key(flow.id), flow.to_json(), ttl=self.ttl_seconds)
        flow.stored = True

    def discard(self, flow: LoginFlow) -> None:
        """Remove a flow that ends now (single use); nothing to do if it was never stored."""
        if flow.stored:
            self.take(flow.id)

    def load(self, flow_id: str | None) -> LoginFlow | None:
        return self._alive(self.state.get(_key(flow_id)) if _valid(flow_id) else None)

    def take(self, flow_id: str) -> LoginFlow | None:
        """Load and remove: a flow's result is delivered once."""
        return self._alive(self.state.pop(_key(flow_id)) if _valid(flow_id) else None)

    def _alive(self, raw: bytes | None) -> LoginFlow | None:
        if raw is None:
            return None
        flow = LoginFlow.from_json(raw)
        return flow if self.clock() - flow.created_at <= self.ttl_seconds else None


def _valid(flow_id: str | None) -> bool:
    return bool(flow_id and _ID.match(flow_id))


def _key(flow_id: str | None) -> str:
    return f"login-flow:{flow_id}"
