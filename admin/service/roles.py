"""Administrative roles: who holds Administrator, Godkender, ... in which municipality.

A role is held by a user (a person signing in to the Administrationsmodul) or by an OIDC
client (an integration calling the admin API). Municipal roles are held for one CVR, the
Leverandøradministrator for one fagsystem, the operator globally. Who may give or take a
role is :func:`authz.admin.may_grant`: a municipality's Administrator (or an operator)
for its municipal roles, only an operator for the operator and Leverandøradministrator
roles. Nobody gives a role to themselves.

Rights failures answer as the API must: :class:`~admin.errors.NotFound` where the actor
may not see the municipality's roles at all (another municipality is never revealed),
:class:`~admin.errors.Forbidden` where it may see them but not change them. Every grant
and revocation is audited (``admin.role.granted`` / ``admin.role.revoked``) in the
transaction that makes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admin.actor import Actor
from admin.errors import Conflict, Forbidden, Invalid, NotFound
from admin.service.changes import record_change
from authz.admin import (
    CVR_ROLES,
    FAGSYSTEM_ROLE,
    OPERATOR,
    ROLES,
    can,
    fagsystem_scope,
    may_grant,
    scope_of,
)
from store.db import Database
from store.models import AdminRoleAssignment, Fagsystem, Municipality, OidcClient, User, utcnow

HolderKind = Literal["user", "client"]
_ANY = "*"  # the stored ``scope`` of the operator role


@dataclass(frozen=True)
class RoleGrant:
    """One administrative role held by one user or client."""

    id: int
    role: str
    cvr: str | None  # municipal roles
    fagsystem: str | None  # the Leverandøradministrator
    holder_kind: HolderKind
    username: str | None  # a user's username and municipality
    user_cvr: str | None
    client_id: str | None  # a client's id
    granted_by: str | None
    granted_at: dt.datetime | None
    holder: str  # ``user:<users.id>`` or ``client:<client_id>``

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API, the CLI's ``--format json`` and the audit trail."""
        item: dict[str, Any] = {"id": self.id, "role": self.role}
        if self.cvr is not None:
            item["cvr"] = self.cvr
        elif self.fagsystem is not None:
            item["fagsystem"] = self.fagsystem
        if self.holder_kind == "user":
            item["user"] = {"username": self.username, "cvr": self.user_cvr}
        else:
            item["client"] = self.client_id
        item["granted_by"] = self.granted_by
        item["granted_at"] = self.granted_at.isoformat() if self.granted_at else None
        return item

    @property
    def holder_name(self) -> str:
        """How a person names the holder: ``karen (29189846)`` or ``client:sapa-web``."""
        if self.holder_kind == "user":
            return f"{self.username} ({self.user_cvr})"
        return f"client:{self.client_id}"

    @property
    def scope_name(self) -> str:
        """``municipality 29189846``, ``fagsystem SAPA`` or ``everything`` (operator)."""
        return _scope_name(self.role, self.cvr, self.fagsystem)


def _scope_name(role: str, cvr: str | None, fagsystem: str | None) -> str:
    if role == OPERATOR:
        return "everything"
    if role == FAGSYSTEM_ROLE:
        return f"fagsystem {fagsystem}"
    return f"municipality {cvr}"


def _stored_scope(role: str, cvr: str | None, fagsystem: str | None) -> str:
    """The ``scope`` column: the CVR, ``fagsystem:<id>`` or ``*``."""
    return scope_of(role, cvr, fagsystem) or _ANY


def _utc(at: dt.datetime | None) -> dt.datetime | None:
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=dt.UTC)  # SQLite returns naive UTC


def _fetch(session: Session, *criteria: Any, ordered: bool = False) -> list[RoleGrant]:
    """The grants matching ``criteria``, with each user's username and municipality."""
    statement = (
        select(AdminRoleAssignment, User.username, User.cvr)
        .outerjoin(User, User.id == AdminRoleAssignment.user_id)
        .where(*criteria)
    )
    if ordered:
        statement = statement.order_by(
            AdminRoleAssignment.scope, AdminRoleAssignment.role, AdminRoleAssignment.id
        )
    return [_grant(row, username, cvr) for row, username, cvr in session.execute(statement)]


def _grant(row: AdminRoleAssignment, username: str | None, user_cvr: str | None) -> RoleGrant:
    return RoleGrant(
        id=row.id,
        role=row.role,
        cvr=row.cvr,
        fagsystem=row.fagsystem_id,
        holder_kind="user" if row.user_id else "client",
        username=username,
        user_cvr=user_cvr,
        client_id=row.client_id,
        granted_by=row.granted_by,
        granted_at=_utc(row.granted_at),
        holder=row.holder,
    )


def _missing(scope: str | None) -> str:
    if scope is None:
        return "no such administrative roles that you may see"
    if scope.startswith("fagsystem:"):
        return f"no administrative roles of {scope.replace(':', ' ')} that you may see"
    return f"no administrative roles of municipality {scope} that you may see"


# -- reading -------------------------------------------------------------------------------


def list_roles(
    db: Database,
    actor: Actor,
    *,
    cvr: str | None = None,
    fagsystem: str | None = None,
    holder: str | None = None,
) -> list[RoleGrant]:
    """The roles held for ``cvr`` or ``fagsystem`` (or all the actor may read).

    ``holder`` (``user:<id>`` or ``client:<client_id>``) narrows the list to one holder.
    A CVR or fagsystem whose roles the actor may not read, or that does not exist, is
    :class:`NotFound`; without either, the list holds only the scopes the actor may read
    (an operator reads all).
    """
    if cvr is not None and fagsystem is not None:
        raise Invalid(
            "give a municipality or a fagsystem, not both",
            [("/fagsystem", "leave this out when a CVR is given")],
        )
    criteria: list[Any] = []
    with db.session() as session:
        if cvr is not None or fagsystem is not None:
            scope = cvr if cvr is not None else fagsystem_scope(fagsystem or "")
            if not can(actor.admin, "read", "admin_role", scope) or not _exists(
                session, cvr, fagsystem
            ):
                raise NotFound(_missing(scope))
            criteria.append(AdminRoleAssignment.scope == scope)
        elif not can(actor.admin, "read", "admin_role", None):  # not an operator
            readable = sorted(
                scope
                for scope in actor.admin.scopes()
                if scope is not None and can(actor.admin, "read", "admin_role", scope)
            )
            criteria.append(AdminRoleAssignment.scope.in_(readable))
        if holder is not None:
            criteria.append(AdminRoleAssignment.holder == holder)
        return _fetch(session, *criteria, ordered=True)


def _exists(session: Session, cvr: str | None, fagsystem: str | None) -> bool:
    if cvr is not None:
        return session.get(Municipality, cvr) is not None
    return session.get(Fagsystem, fagsystem) is not None


def find_grant(
    db: Database,
    actor: Actor,
    *,
    role: str,
    cvr: str | None = None,
    fagsystem: str | None = None,
    username: str | None = None,
    user_cvr: str | None = None,
    client_id: str | None = None,
) -> RoleGrant:
    """The grant of ``role`` in that scope to that user or client (for revoking by name).

    The arguments are those of :func:`grant`; a holder who does not hold the role is
    :class:`NotFound`.
    """
    _check_request(role, cvr, fagsystem, username, user_cvr, client_id)
    scope = scope_of(role, cvr, fagsystem)
    if not can(actor.admin, "read", "admin_role", scope):
        raise NotFound(_missing(scope))
    with db.session() as session:
        target = _target(session, actor, role, cvr, username, user_cvr, client_id)
        found = _fetch(
            session,
            AdminRoleAssignment.holder == target.holder,
            AdminRoleAssignment.role == role,
            AdminRoleAssignment.scope == _stored_scope(role, cvr, fagsystem),
        )
        if not found:
            raise NotFound(
                f"{target.name} does not hold {role} for {_scope_name(role, cvr, fagsystem)}"
            )
        return found[0]


# -- changing ------------------------------------------------------------------------------


def grant(
    db: Database,
    actor: Actor,
    *,
    role: str,
    cvr: str | None = None,
    fagsystem: str | None = None,
    username: str | None = None,
    user_cvr: str | None = None,
    client_id: str | None = None,
) -> RoleGrant:
    """Give ``role`` (for ``cvr`` or ``fagsystem``) to a user or an OIDC client.

    The user is found by ``username`` in ``user_cvr`` (default: ``cvr``); for the operator
    and Leverandøradministrator roles without ``user_cvr``, in whichever municipality has
    a user of that name (several: :class:`Invalid`, asking for ``user_cvr``).
    """
    _check_request(role, cvr, fagsystem, username, user_cvr, client_id)
    scope = scope_of(role, cvr, fagsystem)
    _require_grant(actor, role, scope, "give")
    with db.session() as session:
        _check_scope_exists(session, cvr, fagsystem)
        target = _target(session, actor, role, cvr, username, user_cvr, client_id)
        if target.disabled:
            raise Invalid(
                f"{target.name} is disabled and cannot be given a role",
                [("/user", "enable the user first, or choose another")],
            )
        if target.holder == actor.holder:
            raise Forbidden("nobody gives a role to themselves; ask another administrator to do it")
        stored_scope = _stored_scope(role, cvr, fagsystem)
        existing = session.scalar(
            select(AdminRoleAssignment.id).where(
                AdminRoleAssignment.holder == target.holder,
                AdminRoleAssignment.role == role,
                AdminRoleAssignment.scope == stored_scope,
            )
        )
        if existing is not None:
            raise Conflict(
                f"{target.name} already holds {role} for {_scope_name(role, cvr, fagsystem)} "
                f"(grant {existing}); nothing to do"
            )
        row = AdminRoleAssignment(
            user_id=target.user_id,
            client_id=target.client_id,
            role=role,
            cvr=cvr if role in CVR_ROLES else None,
            fagsystem_id=fagsystem if role == FAGSYSTEM_ROLE else None,
            holder=target.holder,
            scope=stored_scope,
            granted_by=actor.id,
            granted_at=utcnow(),
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:  # the same grant, made at the same moment elsewhere
            raise Conflict(
                f"{target.name} already holds {role} for {_scope_name(role, cvr, fagsystem)}"
            ) from exc
        result = _grant(row, target.username, target.user_cvr)
        record_change(
            session,
            actor,
            "admin.role.granted",
            object_type="admin_role",
            object_id=str(row.id),
            cvr=row.cvr,
            after=result.as_dict(),
        )
    return result


def revoke(db: Database, actor: Actor, grant_id: int, *, cvr: str | None = None) -> RoleGrant:
    """Take back grant ``grant_id``; the same rights as giving that role in that scope.

    With ``cvr`` (the municipality in the API's path) a grant held for another scope is
    :class:`NotFound`, as is one the actor may not see.
    """
    with db.session() as session:
        row = session.get(AdminRoleAssignment, grant_id)
        missing = f"no administrative role grant {grant_id} that you may see"
        if row is None:
            raise NotFound(missing)
        scope = scope_of(row.role, row.cvr, row.fagsystem_id)
        if (cvr is not None and row.cvr != cvr) or not can(
            actor.admin, "read", "admin_role", scope
        ):
            raise NotFound(missing)
        _require_grant(actor, row.role, scope, "take")
        [result] = _fetch(session, AdminRoleAssignment.id == grant_id)
        session.delete(row)
        session.flush()
        record_change(
            session,
            actor,
            "admin.role.revoked",
            object_type="admin_role",
            object_id=str(grant_id),
            cvr=row.cvr,
            before=result.as_dict(),
        )
    return result


# -- checks --------------------------------------------------------------------------------


def _check_request(
    role: str,
    cvr: str | None,
    fagsystem: str | None,
    username: str | None,
    user_cvr: str | None,
    client_id: str | None,
) -> None:
    """The request's shape, before anything is looked up (it reveals nothing)."""
    if role not in ROLES:
        raise Invalid(
            f"unknown administrative role {role!r}",
            [("/role", f"must be one of {', '.join(ROLES)}")],
        )
    errors: list[tuple[str, str]] = []
    if role in CVR_ROLES:
        if not cvr:
            errors.append(("/cvr", f"{role} is held for a municipality: give its CVR"))
        if fagsystem is not None:
            errors.append(("/fagsystem", f"{role} is held for a municipality, not a fagsystem"))
    elif role == FAGSYSTEM_ROLE:
        if cvr is not None:
            errors.append(("/cvr", f"{role} is held for a fagsystem, not a municipality"))
        if not fagsystem:
            errors.append(("/fagsystem", f"{role} is held for a fagsystem: give its id"))
    else:
        if cvr is not None:
            errors.append(("/cvr", "the operator role is global: leave the CVR out"))
        if fagsystem is not None:
            errors.append(("/fagsystem", "the operator role is global: leave the fagsystem out"))
    if username is not None and client_id is not None:
        errors.append(("/client", "give a user or a client, not both"))
    elif not username and not client_id:
        errors.append(("/user", "give the user (or the client) who holds the role"))
    if user_cvr is not None and username is None:
        errors.append(("/user_cvr", "only with a user"))
    if errors:
        raise Invalid("the administrative role is not valid", errors)


def _require_grant(actor: Actor, role: str, scope: str | None, verb: str) -> None:
    """Allow giving (or taking) ``role`` in ``scope``: 404 if unseen, else 403."""
    if may_grant(actor.admin, role, scope):
        return
    if role in (OPERATOR, FAGSYSTEM_ROLE):
        raise Forbidden(f"only an operator may {verb} the {role} role")
    if not can(actor.admin, "read", "admin_role", scope):
        raise NotFound(_missing(scope))
    raise Forbidden(
        f"you may not {verb} administrative roles in municipality {scope}; "
        "this needs the municipality's Administrator"
    )


def _check_scope_exists(session: Session, cvr: str | None, fagsystem: str | None) -> None:
    if cvr is not None and session.get(Municipality, cvr) is None:
        raise Invalid("unknown municipality", [("/cvr", f"no municipality with CVR {cvr}")])
    if fagsystem is not None and session.get(Fagsystem, fagsystem) is None:
        raise Invalid("unknown fagsystem", [("/fagsystem", f"no fagsystem {fagsystem}")])


@dataclass(frozen=True)
class _Target:
    holder: str
    name: str
    user_id: str | None = None
    client_id: str | None = None
    username: str | None = None
    user_cvr: str | None = None
    disabled: bool = False


def _target(
    session: Session,
    actor: Actor,
    role: str,
    cvr: str | None,
    username: str | None,
    user_cvr: str | None,
    client_id: str | None,
) -> _Target:
    """The user or client named, as far as the actor may see it."""
    if client_id is not None:
        client = session.get(OidcClient, client_id)
        if client is None:
            raise Invalid("unknown client", [("/client", f"no OIDC client {client_id}")])
        if client.fagsystem_id in actor.admin.fagsystemer() and not actor.admin.is_operator:
            # A supplier registers its fagsystem's clients: giving one a role would be
            # giving it to itself (and would let it approve its own requests).
            raise Forbidden(
                f"client {client_id} belongs to {client.fagsystem_id}, which you maintain; "
                "ask an operator to give it a role"
            )
        return _Target(f"client:{client_id}", f"client {client_id}", client_id=client_id)
    assert username is not None  # _check_request
    where = user_cvr or (cvr if role in CVR_ROLES else None)
    statement = select(User).where(User.username == username)
    if where is not None:
        statement = statement.where(User.cvr == where)
    users = [
        user
        for user in session.scalars(statement.order_by(User.cvr))
        if can(actor.admin, "read", "user", user.cvr)
    ]
    if not users:
        inside = f" in municipality {where}" if where else ""
        seen = "" if actor.admin.is_operator else " that you may see"
        raise Invalid("unknown user", [("/user", f"no user {username}{inside}{seen}")])
    if len(users) > 1:
        cvrs = ", ".join(user.cvr for user in users)
        raise Invalid(
            "the username is ambiguous",
            [("/user_cvr", f"{username} is a user in municipalities {cvrs}: say which")],
        )
    user = users[0]
    return _Target(
        f"user:{user.id}",
        f"user {user.username} of municipality {user.cvr}",
        user_id=user.id,
        username=user.username,
        user_cvr=user.cvr,
        disabled=user.disabled,
    )
