"""One logout for every protocol: end the SSO session and tell every fagsystem it served.

A logout starts at a SAML SP (``/saml/slo``), at an OIDC RP (``/oidc/logout``) or on the
IdP's own page (``/login/logout``). Wherever it starts, :func:`start` ends the SSO session
and walks a :class:`LogoutRun` through the protocols registered with
:func:`register_logout`, whichever protocol each system used:

1. back-channel: a protocol's ``backchannel`` tells its systems server to server (OIDC
   logout tokens, in parallel with a short timeout) and records an outcome for each;
2. front-channel: a protocol's ``frontchannel`` sends the browser to its next system
   (SAML LogoutRequests, one at a time); the answer comes back to that protocol's
   endpoint, which records it (:meth:`LogoutRun.record`) and calls :func:`proceed`;
3. the end (:func:`finish`): straight back to the system that asked, with its protocol's
   ``answer``, when every system confirmed; otherwise the result page, which lists the
   systems logged out and those that did not answer, with a link on to the system that
   asked. A logout from the IdP's own page always ends on the result page.

Systems of a protocol nobody registered (the IdP's own test page) live inside the SSO
session, so ending the session logs them out. The run is kept in the ephemeral store under
``logout-run:<id>`` (the id is the front-channel RelayState), so any node can continue it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers.response import Response

from idp.context import current_services
from idp.login.blueprint import blueprint
from idp.login.core import audit_login, fagsystem_names
from idp.login.services import login_services
from idp.sso import SsoSession, clear_session_cookie
from idp.web import PageError, render_page
from store.ephemeral import EphemeralState

RUN_SECONDS = 600.0  # a front-channel walk, and the result page's link on, must end by then

LOGGED_OUT = "logged_out"  # the system confirmed, or it asked for the logout itself
NO_ANSWER = "no_answer"  # timed out, unreachable, or the browser never came back
REFUSED = "refused"  # it answered, but not that it logged the person out
UNSUPPORTED = "unsupported"  # it has no logout endpoint registered, so it cannot be told
PENDING = "pending"


@dataclass
class SystemOutcome:
    """One fagsystem client of the session (SAML SP entityID or OIDC client_id)."""

    protocol: str
    fagsystem: str
    client: str | None
    status: str = PENDING
    detail: str = ""


@dataclass
class LogoutRun:
    """A logout in progress: whose session, who asked, and each system's outcome so far."""

    id: str
    user_id: str
    username: str
    cvr: str
    sid: str  # the session's public id: SAML SessionIndex, OIDC ``sid``
    # Who asked: protocol, client, fagsystem, "returns" (whether the browser goes back to
    # it afterwards) and whatever else its protocol's answer needs.
    initiator: dict[str, Any] | None
    systems: list[SystemOutcome] = field(default_factory=list)
    front: dict[str, Any] = field(default_factory=dict)  # front-channel state per protocol
    audit: dict[str, Any] = field(default_factory=dict)  # per-protocol details for the log
    finished: bool = False

    def outcome(self, protocol: str, client: str | None) -> SystemOutcome | None:
        for system in self.systems:
            if system.protocol == protocol and system.client == client:
                return system
        return None

    def of(self, protocol: str) -> list[SystemOutcome]:
        return [system for system in self.systems if system.protocol == protocol]

    def record(
        self, protocol: str, client: str | None, status: str, *, fagsystem: str, detail: str = ""
    ) -> None:
        """Set a system's outcome (adding the system if the session did not list it)."""
        system = self.outcome(protocol, client)
        if system is None:
            system = SystemOutcome(protocol, fagsystem, client)
            self.systems.append(system)
        system.status, system.detail = status, detail

    def initiated_by(self, protocol: str) -> str | None:
        """The client that asked for this logout, if it used ``protocol``."""
        if self.initiator is None or self.initiator.get("protocol") != protocol:
            return None
        client = self.initiator.get("client")
        return str(client) if client else None

    @property
    def all_confirmed(self) -> bool:
        return all(system.status == LOGGED_OUT for system in self.systems)

    def save(self, state: EphemeralState) -> None:
        state.set(_key(self.id), json.dumps(asdict(self)).encode(), ttl=RUN_SECONDS)

    @classmethod
    def load(
        cls, state: EphemeralState, run_id: str | None, *, take: bool = False
    ) -> LogoutRun | None:
        """The run under ``run_id``; None when it has expired or never was."""
        raw = None
        if run_id and len(run_id) <= 64:
            raw = state.pop(_key(run_id)) if take else state.get(_key(run_id))
        if raw is None:
            return None
        data = json.loads(raw)
        data["systems"] = [SystemOutcome(**system) for system in data["systems"]]
        return cls(**data)


def _key(run_id: str) -> str:
    return f"logout-run:{run_id}"


@dataclass(frozen=True)
class LogoutProtocol:
    """What a protocol contributes to a logout; each part is optional."""

    backchannel: Callable[[LogoutRun], None] | None = None
    frontchannel: Callable[[LogoutRun], Response | None] | None = None
    answer: Callable[[LogoutRun], Response | None] | None = None


# Code, registered once per process by protocol name, like the login's continuations.
PROTOCOLS: dict[str, LogoutProtocol] = {}


def register_logout(
    protocol: str,
    *,
    backchannel: Callable[[LogoutRun], None] | None = None,
    frontchannel: Callable[[LogoutRun], Response | None] | None = None,
    answer: Callable[[LogoutRun], Response | None] | None = None,
) -> None:
    """Name what ``protocol`` does at a logout; registering again replaces it."""
    PROTOCOLS[protocol] = LogoutProtocol(backchannel, frontchannel, answer)


def start(session: SsoSession, initiator: dict[str, Any] | None) -> Response:
    """End ``session`` and log out of every system it served; the response ends the logout
    or sends the browser on to the first front-channel system. Clears the SSO cookie."""
    services = login_services()
    served = services.sessions.end(session.id)
    run = LogoutRun(
        id=secrets.token_urlsafe(18),
        user_id=session.user_id,
        username=session.username,
        cvr=session.cvr,
        sid=session.public_id,
        initiator=initiator,
        systems=[SystemOutcome(s.protocol, s.fagsystem, s.client) for s in served],
    )
    for system in run.systems:
        if system.protocol not in PROTOCOLS:
            system.status = LOGGED_OUT  # the IdP's own pages: the session was all they had
    if initiator is not None:
        run.record(
            str(initiator["protocol"]),
            initiator.get("client"),
            LOGGED_OUT,
            fagsystem=str(initiator.get("fagsystem") or initiator.get("client") or ""),
            detail="asked for the logout",
        )
    for protocol in PROTOCOLS.values():
        if protocol.backchannel is not None:
            protocol.backchannel(run)
    response = proceed(run)
    clear_session_cookie(response, secure=services.secure_cookies)
    return response


def proceed(run: LogoutRun) -> Response:
    """The next front-channel step of ``run``, or its end."""
    state = current_services().state
    for protocol in PROTOCOLS.values():
        if protocol.frontchannel is not None:
            response = protocol.frontchannel(run)
            if response is not None:
                run.save(state)
                return response
    return finish(run)


def finish(run: LogoutRun) -> Response:
    """Audit the logout; answer the system that asked, or show the result page."""
    state = current_services().state
    for system in run.systems:
        if system.status == PENDING:
            system.status, system.detail = NO_ANSWER, system.detail or "no answer"
    run.finished = True
    audit_login(
        "logout",
        "success" if run.all_confirmed else "partial",
        actor=run.username,
        user_id=run.user_id,
        cvr=run.cvr,
        initiator={k: run.initiator.get(k) for k in ("protocol", "client")}
        if run.initiator
        else None,
        systems=[asdict(system) for system in run.systems],
        **run.audit,
    )
    answer = _answer_of(run)
    if answer is not None and run.all_confirmed:
        state.delete(_key(run.id))
        response = answer(run)
        if response is not None:
            return response
    if answer is not None:
        run.save(state)  # for the page's link on to the system that asked
    else:
        state.delete(_key(run.id))
    return result_page(run, with_continue=answer is not None)


def _answer_of(run: LogoutRun) -> Callable[[LogoutRun], Response | None] | None:
    """How to go back to the system that asked; None when there is nowhere to go."""
    if run.initiator is None or not run.initiator.get("returns"):
        return None
    protocol = PROTOCOLS.get(str(run.initiator.get("protocol")))
    return None if protocol is None else protocol.answer


_REASONS = {NO_ANSWER: "no_answer", REFUSED: "refused", UNSUPPORTED: "unsupported"}


def result_page(run: LogoutRun, *, with_continue: bool) -> Response:
    """Which systems logged out and which did not answer (by fagsystem display name)."""
    names = fagsystem_names(sorted({s.fagsystem for s in run.systems}))
    failed: dict[str, str] = {}
    for system in run.systems:
        if system.status != LOGGED_OUT:
            failed.setdefault(names[system.fagsystem], _REASONS.get(system.status, "no_answer"))
    done = sorted({names[s.fagsystem] for s in run.systems} - set(failed), key=str.lower)
    not_done = sorted(failed.items(), key=lambda item: item[0].lower())
    initiator = run.initiator or {}
    continue_to = None
    if with_continue:
        fagsystem = str(initiator.get("fagsystem") or "")
        continue_to = {
            "url": url_for("login.logout_continue", run=run.id),
            "name": fagsystem_names([fagsystem])[fagsystem] if fagsystem else "",
        }
    return render_page(
        "login/logged_out.html",
        systems=done,
        not_answered=not_done,
        continue_to=continue_to,
        was_logged_in=True,
    )


@blueprint.get("/logout/continue")
def logout_continue() -> ResponseReturnValue:
    """From the result page on to the system that asked for the logout (once)."""
    state = current_services().state
    run = LogoutRun.load(state, request.args.get("run"), take=True)
    answer = _answer_of(run) if run is not None and run.finished else None
    response = answer(run) if answer is not None and run is not None else None
    if response is None:
        raise PageError("logout_expired", 400, values={"minutes": int(RUN_SECONDS // 60)})
    return response
