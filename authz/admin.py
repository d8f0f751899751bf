"""Administrative rights as Casbin policy: who may do what in which municipality.

The roles are those of DOMAIN.md (Administrator, Brugeradministrator,
Jobfunktionsrolleadministrator, Godkender, Organisation-redaktør), each held for one
CVR, plus the global ``operator``. What each role may do is the policy file
``policies/admin_rights.csv`` over the model ``policies/admin_rights.conf``; who holds
which role is the ``admin_role_assignments`` table.

The admin module loads an :class:`AdminPrincipal` once per request (one small query)
and asks :func:`can`. A Casbin enforcer is built per distinct set of held roles and
cached, so a decision is a few microseconds and nothing global is loaded at start-up.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import casbin
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.engine import _session
from authz.errors import AuthzError, UnknownUser
from policies import policy_path
from store.db import Database
from store.models import AdminRoleAssignment, User

CVR_ROLES = (
    "administrator",
    "brugeradministrator",
    "jobfunktionsrolleadministrator",
    "godkender",
    "organisation_redaktoer",
)
FAGSYSTEM_ROLE = "leverandoeradministrator"  # held for one fagsystem, not a municipality
OPERATOR = "operator"
ROLES = (*CVR_ROLES, FAGSYSTEM_ROLE, OPERATOR)
OBJECTS = (
    "admin_role",
    "municipality",
    "audit",
    "user",
    "assignment",
    "jfr",
    "org_unit",
    "serviceaftale",
    "fagsystem",
    "attestation",
    "keys",
    "settings",
)
ACTIONS = (
    "read",
    "create",
    "update",
    "delete",
    "disable",
    "assign",
    "revoke",
    "approve",
    "reject",
    "delegate",
)
GLOBAL = "*"  # the domain of objects that belong to no municipality (fagsystemer, keys)
_ADMIN = "admin"
_FAGSYSTEM_PREFIX = "fagsystem:"


def fagsystem_scope(fagsystem_id: str) -> str:
    """The Casbin domain of one fagsystem, where a Leverandøradministrator holds its role."""
    return f"{_FAGSYSTEM_PREFIX}{fagsystem_id}"


def scope_of(role: str, cvr: str | None, fagsystem_id: str | None) -> str | None:
    """The scope a stored role is held in: the CVR, ``fagsystem:<id>``, or None (operator)."""
    if role == OPERATOR:
        return None
    if role == FAGSYSTEM_ROLE:
        return fagsystem_scope(fagsystem_id or "")
    return cvr


class NotAllowed(AuthzError):
    """The administrator may not perform this action."""

    def __init__(self, holder: str, action: str, obj: str, scope: str | None) -> None:
        if scope is None:
            where = "globally"
        elif scope.startswith(_FAGSYSTEM_PREFIX):
            where = f"for fagsystem {scope.removeprefix(_FAGSYSTEM_PREFIX)}"
        else:
            where = f"in CVR {scope}"
        super().__init__(f"{holder} may not {action} {obj} {where}")


@dataclass(frozen=True)
class AdminPrincipal:
    """Administrative roles of one holder (``user:<id>`` or ``client:<id>``).

    Each role is (role, scope): the CVR for municipal roles, ``fagsystem:<id>`` for the
    Leverandøradministrator, None for the global operator.
    """

    holder: str
    roles: tuple[tuple[str, str | None], ...]

    @property
    def is_operator(self) -> bool:
        return any(role == OPERATOR for role, _ in self.roles)

    def cvrs(self, role: str | None = None) -> set[str]:
        """Municipalities where the holder has ``role`` (any municipal role when None)."""
        return {
            scope
            for r, scope in self.roles
            if scope and not scope.startswith(_FAGSYSTEM_PREFIX) and (role is None or r == role)
        }

    def fagsystemer(self) -> set[str]:
        """Fagsystemer the holder maintains as Leverandøradministrator."""
        return {
            scope.removeprefix(_FAGSYSTEM_PREFIX)
            for role, scope in self.roles
            if role == FAGSYSTEM_ROLE and scope
        }

    def scopes(self) -> set[str | None]:
        return {scope for _, scope in self.roles}


def _principal(holder: str, rows: Iterable[Any]) -> AdminPrincipal:
    roles = sorted(
        {(row.role, scope_of(row.role, row.cvr, row.fagsystem_id)) for row in rows},
        key=lambda item: (item[0], item[1] or ""),
    )
    return AdminPrincipal(holder, tuple(roles))


_ROLE_COLUMNS = (
    AdminRoleAssignment.role,
    AdminRoleAssignment.cvr,
    AdminRoleAssignment.fagsystem_id,
)


def load_admin(db_or_session: Database | Session, user_id: str) -> AdminPrincipal:
    """The user's administrative roles; a disabled user holds none. Unknown user: typed error."""
    with _session(db_or_session) as session:
        user = session.execute(select(User.disabled).where(User.id == user_id)).first()
        if user is None:
            raise UnknownUser(user_id)
        holder = f"user:{user_id}"
        if user.disabled:
            return AdminPrincipal(holder, ())
        rows = session.execute(
            select(*_ROLE_COLUMNS).where(AdminRoleAssignment.user_id == user_id)
        ).all()
    return _principal(holder, rows)


def load_admin_client(db_or_session: Database | Session, client_id: str) -> AdminPrincipal:
    """The administrative roles of an OIDC client (an integration calling the admin API)."""
    with _session(db_or_session) as session:
        rows = session.execute(
            select(*_ROLE_COLUMNS).where(AdminRoleAssignment.client_id == client_id)
        ).all()
    return _principal(f"client:{client_id}", rows)


@lru_cache(maxsize=1)
def _policy() -> tuple[tuple[str, str, str], ...]:
    rules = []
    with policy_path("admin_rights.csv").open(encoding="utf-8") as handle:
        for row in csv.reader(line for line in handle if line.strip() and not line.startswith("#")):
            kind, *fields = (item.strip() for item in row)
            if kind != "p" or len(fields) != 3:
                raise ValueError(f"admin_rights.csv: bad line {row!r}")
            role, obj, act = fields
            rules.append((role, obj, act))
    return tuple(rules)


@lru_cache(maxsize=4096)
def _enforcer(roles: tuple[tuple[str, str | None], ...]) -> casbin.Enforcer:
    model = casbin.Enforcer.new_model(path=str(policy_path("admin_rights.conf")))
    enforcer = casbin.Enforcer(model)
    enforcer.model.add_policies("p", "p", [list(rule) for rule in _policy()])
    links = [
        [_ADMIN, role, scope if scope and role != OPERATOR else GLOBAL] for role, scope in roles
    ]
    if links:
        enforcer.model.add_policies("g", "g", links)
    enforcer.build_role_links()
    return enforcer


def can(admin: AdminPrincipal, action: str, obj: str, scope: str | None) -> bool:
    """May ``admin`` do ``action`` on ``obj`` in ``scope``?

    ``scope`` is a municipality's CVR, :func:`fagsystem_scope` of a fagsystem, or None for
    a global object. Unknown actions or objects raise ValueError: a typo must not pass for
    "denied".
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if obj not in OBJECTS:
        raise ValueError(f"unknown object {obj!r}")
    if not admin.roles:
        return False
    return bool(_enforcer(admin.roles).enforce(_ADMIN, scope or GLOBAL, obj, action))


def can_somewhere(admin: AdminPrincipal, action: str, obj: str) -> bool:
    """Whether any scope the holder has a role in allows ``action`` on ``obj``."""
    return any(can(admin, action, obj, scope) for scope in admin.scopes())


def require(admin: AdminPrincipal, action: str, obj: str, scope: str | None) -> None:
    """:func:`can`, raising :class:`NotAllowed` when not."""
    if not can(admin, action, obj, scope):
        raise NotAllowed(admin.holder, action, obj, scope)


def may_grant(admin: AdminPrincipal, role: str, scope: str | None) -> bool:
    """May ``admin`` give (or take) administrative ``role`` in ``scope``?

    Administrators assign the municipal roles of their own municipality; only an operator
    assigns the operator role and the Leverandøradministrator role of a fagsystem.
    """
    if role not in ROLES:
        raise ValueError(f"unknown administrative role {role!r}")
    if role in (OPERATOR, FAGSYSTEM_ROLE):
        return admin.is_operator
    return scope is not None and can(admin, "assign", "admin_role", scope)


def roles_with(action: str, obj: str) -> Iterable[str]:
    """The municipal roles whose policy allows ``action`` on ``obj`` (for help texts)."""
    for role in ROLES:
        if can(AdminPrincipal("-", ((role, "00000000"),)), action, obj, "00000000"):
            yield role
