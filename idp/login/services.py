"""What the login needs, built once per application: directory, sessions, throttle, flows.

Kept in ``app.extensions["sts.login"]``; :meth:`LoginServices.set_clock` lets tests move
time for the session timeouts, the throttle and the flows together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from flask import current_app
from flask.typing import ResponseReturnValue

from authz.cache import CHANNEL as AUTHZ_CHANNEL
from connectors.base import Directory
from connectors.local import LocalDirectory, PasswordHashing
from connectors.revocation import USER_DISABLED_CHANNEL
from idp.context import Services
from idp.login.active import ActiveUsers, access_allowed
from idp.login.flows import FlowStore
from idp.login.types import LoginFailure, LoginRequest, LoginResult
from idp.mfa import SecretBox
from idp.sso import SessionStore, SsoSession
from idp.throttle import Throttle, ThrottlePolicy
from settings import Settings
from store.ephemeral import Subscription

if TYPE_CHECKING:
    from connectors.ldap.provision import LoginProvisioning

LOGIN_EXTENSION = "sts.login"
Clock = Callable[[], float]
Continuation = Callable[[LoginRequest, LoginResult | LoginFailure], ResponseReturnValue]


@dataclass
class LoginServices:
    directory: Directory
    sessions: SessionStore
    throttle: Throttle
    flows: FlowStore
    box: SecretBox
    secure_cookies: bool
    flow_minutes: int
    password_min_length: int
    clock: Clock = time.time
    active_users: ActiveUsers = field(default_factory=ActiveUsers)
    subscriptions: list[Subscription] = field(default_factory=list)
    # AD at login (STS_LDAP_URLS set): stores the person AD answered for, see
    # connectors.ldap.provision; None without AD.
    provisioning: LoginProvisioning | None = None

    def set_clock(self, clock: Clock) -> None:
        self.clock = clock
        self.sessions.clock = clock
        self.throttle.clock = clock
        self.flows.clock = clock


# Continuations are code, registered once per process by protocol name ("saml", "oidc").
CONTINUATIONS: dict[str, Continuation] = {}


def register_continuation(protocol: str, continuation: Continuation) -> None:
    """Name the function that turns a login's outcome into ``protocol``'s response.

    Registering the same name again replaces the function (an app created twice in tests).
    """
    CONTINUATIONS[protocol] = continuation


def password_hashing(settings: Settings) -> PasswordHashing:
    return PasswordHashing(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def build_login_services(services: Services, directory: Directory | None = None) -> LoginServices:
    settings = services.settings
    policy = ThrottlePolicy(
        account_free=settings.throttle_account_free,
        address_free=settings.throttle_address_free,
        base_seconds=settings.throttle_base_seconds,
        max_seconds=settings.throttle_max_seconds,
        window_seconds=settings.throttle_window_minutes * 60,
    )
    login = LoginServices(
        directory=directory or LocalDirectory(services.database, password_hashing(settings)),
        sessions=SessionStore(
            services.state,
            idle_seconds=settings.session_idle_minutes * 60,
            absolute_seconds=settings.session_absolute_hours * 3600,
        ),
        throttle=Throttle(services.state, policy),
        flows=FlowStore(services.state, ttl_seconds=settings.login_flow_minutes * 60),
        box=SecretBox.from_file(settings.mfa_key_file or settings.data_dir / "mfa_key"),
        secure_cookies=settings.uses_https,
        flow_minutes=settings.login_flow_minutes,
        password_min_length=settings.password_min_length,
        provisioning=_provisioning(services),
    )
    # Every use of a session checks its user (``idp.login.active``). Ending a user's
    # access (``store.access``) or any change announced to the authz caches (catalogue
    # import, admin) empties the short cache of active users.
    login.sessions.access_check = partial(_session_allowed, login.active_users, services)
    login.subscriptions = [
        services.state.subscribe(channel, login.active_users.invalidate)
        for channel in (USER_DISABLED_CHANNEL, AUTHZ_CHANNEL)
    ]
    return login


def _provisioning(services: Services) -> LoginProvisioning | None:
    settings = services.settings
    if not (settings.ldap_urls and settings.ldap_cvr and settings.ldap_base_dn):
        return None
    from connectors.ldap.provision import LoginProvisioning  # ldap3 only when AD is on

    return LoginProvisioning(
        services.database, services.state, cvr=settings.ldap_cvr, base_dn=settings.ldap_base_dn
    )


def _session_allowed(active: ActiveUsers, services: Services, session: SsoSession) -> bool:
    return access_allowed(active, services.database, session.user_id, session.created_at)


def login_services() -> LoginServices:
    found: LoginServices = current_app.extensions[LOGIN_EXTENSION]
    return found
