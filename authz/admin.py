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

import casbin
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.engine import _session
from authz.errors import AuthzError, UnknownUser
from policies import policy_path
from store.db import Database
from store.models import AdminRoleAssignment, User

ROLES = (
    "administrator",
    "brugeradministrator",
    "jobfunktionsrolleadministrator",
    "godkender",
    "organisation_redaktoer",
    "operator",
)
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


class NotAllowed(AuthzError):
    """The administrator may not perform this action."""

    def __init__(self, user_id: str, action: str, obj: str, cvr: str | None) -> None:
        where = f"in CVR {cvr}" if cvr else "globally"
        super().__init__(f"user {user_id!r} may not {action} {obj} {where}")


@dataclass(frozen=True)
class AdminPrincipal:
    """A user's administrative roles: (role, CVR), with CVR None for the global operator."""

    user_id: str
    roles: tuple[tuple[str, str | None], ...]

    @property
    def is_operator(self) -> bool:
        return any(role == "operator" for role, _ in self.roles)

    def cvrs(self, role: str | None = None) -> set[str]:
        """Municipalities where the user holds ``role`` (any role when None)."""
        return {cvr for r, cvr in self.roles if cvr and (role is None or r == role)}


def load_admin(db_or_session: Database | Session, user_id: str) -> AdminPrincipal:
    """The user's administrative roles; a disabled user holds none. Unknown user: typed error."""
    with _session(db_or_session) as session:
        user = session.execute(select(User.disabled).where(User.id == user_id)).first()
        if user is None:
            raise UnknownUser(user_id)
        if user.disabled:
            return AdminPrincipal(user_id, ())
        rows = session.execute(
            select(AdminRoleAssignment.role, AdminRoleAssignment.cvr).where(
                AdminRoleAssignment.user_id == user_id
            )
        ).all()
    roles = sorted(
        {(row.role, None if row.role == "operator" else row.cvr) for row in rows},
        key=lambda item: (item[0], item[1] or ""),
    )
    return AdminPrincipal(user_id, tuple(roles))


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
    links = [[_ADMIN, role, cvr if cvr and role != "operator" else GLOBAL] for role, cvr in roles]
    if links:
        enforcer.model.add_policies("g", "g", links)
    enforcer.build_role_links()
    return enforcer


def can(admin: AdminPrincipal, action: str, obj: str, cvr: str | None) -> bool:
    """May ``admin`` do ``action`` on ``obj`` in municipality ``cvr`` (None: a global object)?

    Unknown actions or objects raise ValueError: a typo must not pass for "denied".
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if obj not in OBJECTS:
        raise ValueError(f"unknown object {obj!r}")
    if not admin.roles:
        return False
    return bool(_enforcer(admin.roles).enforce(_ADMIN, cvr or GLOBAL, obj, action))


def require(admin: AdminPrincipal, action: str, obj: str, cvr: str | None) -> None:
    """:func:`can`, raising :class:`NotAllowed` when not."""
    if not can(admin, action, obj, cvr):
        raise NotAllowed(admin.user_id, action, obj, cvr)


def may_grant(admin: AdminPrincipal, role: str, cvr: str | None) -> bool:
    """May ``admin`` give (or take) administrative ``role`` in ``cvr``?

    Administrators assign the municipal roles of their own municipality; only an operator
    assigns the operator role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown administrative role {role!r}")
    if role == "operator":
        return admin.is_operator
    return cvr is not None and can(admin, "assign", "admin_role", cvr)


def roles_with(action: str, obj: str) -> Iterable[str]:
    """The roles whose policy allows ``action`` on ``obj`` (for the admin UI's help text)."""
    for role in ROLES:
        if can(AdminPrincipal("-", ((role, "00000000"),)), action, obj, "00000000"):
            yield role
