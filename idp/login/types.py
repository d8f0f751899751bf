"""The protocol-neutral login request and result that SAML and OIDC both speak.

No protocol types cross this line: a protocol module turns its request (AuthnRequest,
authorization request) into a :class:`LoginRequest` and its response from a
:class:`LoginResult` or :class:`LoginFailure`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idp.loa import LoA


@dataclass(frozen=True)
class LoginRequest:
    """What a fagsystem asks of the person at the keyboard.

    ``protocol`` names the continuation registered with :func:`register_continuation`
    that gets the outcome; ``return_state`` is opaque to the login and handed back to
    it unchanged (JSON-serialisable strings only: it is stored in the ephemeral state).
    ``client`` is the protocol-level identity of the caller (SP entityID, OIDC
    client_id), recorded in the session so logout can reach it.
    """

    fagsystem: str
    protocol: str
    return_state: Mapping[str, str] = field(default_factory=dict)
    client: str | None = None
    min_loa: LoA = LoA.LOW
    force_authn: bool = False
    passive: bool = False
    login_hint: str | None = None
    ui_locale: str | None = None
    max_age: int | None = None  # seconds; an older authentication must be repeated

    def to_json(self) -> dict[str, Any]:
        return {
            "fagsystem": self.fagsystem,
            "protocol": self.protocol,
            "return_state": dict(self.return_state),
            "client": self.client,
            "min_loa": self.min_loa.value,
            "force_authn": self.force_authn,
            "passive": self.passive,
            "login_hint": self.login_hint,
            "ui_locale": self.ui_locale,
            "max_age": self.max_age,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoginRequest:
        return cls(
            fagsystem=str(data["fagsystem"]),
            protocol=str(data["protocol"]),
            return_state={str(k): str(v) for k, v in data.get("return_state", {}).items()},
            client=data.get("client"),
            min_loa=LoA(data.get("min_loa", LoA.LOW.value)),
            force_authn=bool(data.get("force_authn")),
            passive=bool(data.get("passive")),
            login_hint=data.get("login_hint"),
            ui_locale=data.get("ui_locale"),
            max_age=data.get("max_age"),
        )


@dataclass(frozen=True)
class LoginResult:
    """Who logged in and how strongly.

    ``session_id`` is the session's *public* reference (SAML SessionIndex, OIDC ``sid``);
    the secret value in the browser's cookie never leaves the identity provider.
    """

    user_id: str
    cvr: str
    username: str
    loa: LoA
    auth_instant: dt.datetime
    methods: tuple[str, ...]
    session_id: str


class FailureReason(enum.StrEnum):
    """Why no result: each protocol maps these to its own error codes."""

    NO_PASSIVE = "no_passive"  # passive request and no session good enough
    CANCELLED = "cancelled"  # the person cancelled (for example the second factor)
    LOA_UNAVAILABLE = "loa_unavailable"  # a level this server cannot reach (High)


@dataclass(frozen=True)
class LoginFailure:
    """The login ended without a result; ``reason`` tells the protocol what to answer."""

    reason: FailureReason
    detail: str = ""
