"""AD at login: the store learns the person the DC has just answered for, as a sync would.

A user created in AD this morning can sign on before the next ``stsctl ad sync``, and a
change of groups in AD counts at the next login. After a successful AD login,
:meth:`LoginProvisioning.store` writes, in one transaction:

* the municipality row, when missing (as the sync does);
* the user's org unit, when the sync has not seen it yet (objectGUID, name, parent);
* the user row, keyed by objectGUID with the DN in ``external_id`` and the values of
  :func:`connectors.ldap.sync.user_row` (so the next sync finds the same row and has
  nothing to change); a local user or another AD account holding the username is a
  conflict, as in the sync, and the login is refused. A row that is disabled stays
  disabled (whoever disabled it): re-enabling is the sync's, so a login can take access
  away before the sync, never give it back;
* the user's transitive groups (rows created when new, renamed or moved as in AD), the
  user's direct memberships (``memberOf``; like the sync, not the primary group), and
  the nesting above them as AD reports it now (each group's ``memberOf``; groups whose
  parents came from a cache, i.e. the primary group's chain, keep the stored nesting).

If anything changed, the privilege caches of the affected users are invalidated once the
transaction commits (:func:`authz.cache.invalidate_on_commit`): the user; for a changed
nesting, every member of the group whose parents changed; for a new org unit, the
municipality (and the change marker is bumped, :mod:`store.change_marker`, for servers
that share no Redis). Privileges for this login are therefore resolved from what AD said now.

:meth:`LoginProvisioning.refused` is for a login AD refused because the account is
disabled or expired: the row is marked disabled (audited ``ad.user.disabled``), and the
user's sessions and refresh tokens end (:func:`store.access.end_user_access`), as the
sync would do later. A locked account is refused but not marked: a lockout ends by
itself, and marking would let anyone who types three wrong passwords end another
person's sessions.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authz.cache import Change, invalidate_on_commit
from connectors.ldap.directory import LdapDirectoryUser, parent_dn
from connectors.ldap.sync import DISABLING_REASONS, ensure_municipality, user_row
from store import audit, change_marker
from store.access import end_user_access
from store.db import Database
from store.ephemeral import EphemeralState
from store.models import Group, GroupMember, GroupNesting, OrgUnit, User

log = logging.getLogger("sts.ldap.login")

ACTOR = "AD at login"
NOBODY = "00000000-0000-0000-0000-000000000000"  # read when AD knows no such account


@dataclass(frozen=True)
class StoredUser:
    """The store's row for the person, after the login's write."""

    id: str
    cvr: str
    username: str
    disabled: bool
    created: bool = False
    changed: bool = False


class ProvisioningConflict(Exception):
    """The account cannot be stored: its username or id belongs to someone else."""


class LoginProvisioning:
    """Writes what AD said at login into the store; one instance per application."""

    def __init__(
        self,
        database: Database,
        state: EphemeralState | None,
        *,
        cvr: str,
        base_dn: str,
        actor: str = ACTOR,
    ) -> None:
        self.database = database
        self.state = state
        self.cvr = cvr
        self.base_dn = base_dn
        self.actor = actor
        # Rows that, once seen, this process need not look for at every login.
        self._municipality_known = False
        self._known_units: set[str] = set()

    # -- a successful login ---------------------------------------------------------------

    def store(self, person: LdapDirectoryUser) -> StoredUser:
        """Upsert the person, their org unit, groups, memberships and nesting; invalidate.

        Raises :class:`ProvisioningConflict` when the username or id is someone else's.
        Two first logins of one person at once: the loser's transaction is retried once.
        """
        try:
            return self._store_once(person)
        except IntegrityError:
            log.info("concurrent write while storing %s at login; retrying", person.uuid)
            self._municipality_known = False
            self._known_units.clear()
            return self._store_once(person)

    def _store_once(self, person: LdapDirectoryUser) -> StoredUser:
        with self.database.session() as session:
            if not self._municipality_known:
                ensure_municipality(session, self.cvr, self.base_dn, self.actor)
            change = Change(users={person.uuid})
            new_unit = self._org_unit(session, person)
            if new_unit:
                change.org_trees.add(self.cvr)
            stored = self._user(session, person)
            groups_changed, nested = self._groups(session, person)
            change.groups.update(nested)
            if stored.changed or new_unit or groups_changed:
                if self.state is not None:
                    invalidate_on_commit(session, self.state, change)
                change_marker.bump(session)  # servers sharing no Redis hear of it too
        self._municipality_known = True
        if person.org_unit:
            if len(self._known_units) > 100_000:
                self._known_units.clear()
            self._known_units.add(person.org_unit)
        return replace(stored, changed=True) if groups_changed else stored

    def _org_unit(self, session: Session, person: LdapDirectoryUser) -> bool:
        """Create the person's OU when the sync has not; True if created."""
        if not person.org_unit or person.org_unit in self._known_units:
            return False
        if session.get(OrgUnit, person.org_unit) is not None:
            return False
        parent = session.scalar(
            select(OrgUnit.uuid).where(
                OrgUnit.cvr == self.cvr,
                func.lower(OrgUnit.external_id) == parent_dn(person.org_unit_dn).lower()[:200],
            )
        )
        session.add(
            OrgUnit(
                uuid=person.org_unit,
                cvr=self.cvr,
                name=(person.org_unit_name or person.org_unit_dn)[:200],
                external_id=person.org_unit_dn[:200],
                parent_uuid=parent,
            )
        )
        session.flush()
        return True

    def _user(self, session: Session, person: LdapDirectoryUser) -> StoredUser:
        values = user_row(
            dn=person.dn,
            username=person.username or person.uuid,
            given_name=person.given_name,
            surname=person.surname,
            display_name=person.name,
            email=person.email,
            upn=person.upn,
            org_unit_uuid=person.org_unit,
            kle=person.kle,
            disabled=False,  # AD has just let the person log in
        )
        # One query: the row of this objectGUID and any row holding the username.
        found = session.scalars(
            select(User).where(
                or_(
                    User.id == person.uuid,
                    and_(
                        User.cvr == self.cvr,
                        func.lower(User.username) == values["username"].lower(),
                    ),
                )
            )
        ).all()
        if any(row.id != person.uuid for row in found):
            raise ProvisioningConflict(f"{values['username']}: already used by another user")
        user = found[0] if found else None
        if user is None:
            user = User(id=person.uuid, cvr=self.cvr, source="ad", **values)
            session.add(user)
            session.flush()
            audit.record(
                session,
                actor=self.actor,
                action="ad.user.created",
                object_type="user",
                object_id=user.id,
                cvr=self.cvr,
                details={"username": user.username, "dn": person.dn[:500], "via": "login"},
            )
            return StoredUser(user.id, user.cvr, user.username, False, created=True, changed=True)
        if user.source != "ad" or user.cvr != self.cvr:
            raise ProvisioningConflict(f"{values['username']}: a local user has this id")
        # A login never re-enables a disabled row (whoever disabled it): that is for the
        # sync, which an administrator runs; the login is then refused after the password.
        del values["disabled"]
        changed = {k: v for k, v in values.items() if getattr(user, k) != v}
        for key, value in changed.items():
            setattr(user, key, value)
        return StoredUser(user.id, user.cvr, user.username, user.disabled, changed=bool(changed))

    def _groups(self, session: Session, person: LdapDirectoryUser) -> tuple[bool, set[str]]:
        """Groups, direct memberships and nesting as read; (anything changed, ids of groups
        whose parents changed)."""
        refs = {ref.guid: ref for ref in person.group_refs}
        rows = {
            g.object_guid: g
            for g in session.scalars(select(Group).where(Group.object_guid.in_(list(refs))))
            if g.object_guid
        }
        changed = False
        for guid, ref in refs.items():
            values = {"dn": ref.dn[:1000], "name": (ref.name or ref.dn)[:300]}
            group = rows.get(guid)
            if group is None:
                taken = session.scalar(
                    select(Group.id).where(Group.cvr == self.cvr, Group.dn == values["dn"])
                )
                if taken is not None:  # an older group of that DN: the sync sorts it out
                    log.warning("group %s: DN held by another objectGUID; skipped", ref.dn)
                    continue
                group = Group(id=str(uuid.uuid4()), cvr=self.cvr, object_guid=guid, **values)
                session.add(group)
                rows[guid] = group
                changed = True
            elif group.cvr == self.cvr and any(getattr(group, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(group, key, value)
                changed = True
        session.flush()
        by_dn = {g.dn.lower(): g.id for g in rows.values() if g.cvr == self.cvr}
        # The user's direct memberships: exactly memberOf (within the base DN).
        wanted = {by_dn[dn.lower()] for dn in person.member_of if dn.lower() in by_dn}
        current = set(
            session.scalars(
                select(GroupMember.group_id).where(GroupMember.member_user_id == person.uuid)
            )
        )
        if current - wanted:
            session.execute(
                delete(GroupMember).where(
                    GroupMember.member_user_id == person.uuid,
                    GroupMember.group_id.in_(list(current - wanted)),
                )
            )
        for group_id in sorted(wanted - current):
            session.add(GroupMember(group_id=group_id, member_user_id=person.uuid))
        changed = changed or current != wanted
        # The nesting above: each group's parents as AD reports them now.
        nested: set[str] = set()
        children = {
            rows[guid].id: ref
            for guid, ref in refs.items()
            if guid in rows and rows[guid].cvr == self.cvr
        }
        edges: dict[str, set[str]] = {child: set() for child in children}
        for parent_id, child_id in session.execute(
            select(GroupNesting.parent_id, GroupNesting.child_id).where(
                GroupNesting.child_id.in_(list(children))
            )
        ):
            edges[child_id].add(parent_id)
        for child_id, ref in children.items():
            if not ref.fresh:  # from a cache: the store may already know better
                continue
            parents = {by_dn[p.lower()] for p in ref.parents if p.lower() in by_dn}
            parents.discard(child_id)
            old = edges[child_id]
            if parents == old:
                continue
            nested.add(child_id)
            if old - parents:
                session.execute(
                    delete(GroupNesting).where(
                        GroupNesting.child_id == child_id,
                        GroupNesting.parent_id.in_(list(old - parents)),
                    )
                )
            for parent_id in sorted(parents - old):
                session.add(GroupNesting(parent_id=parent_id, child_id=child_id))
        session.flush()
        return changed or bool(nested), nested

    # -- a login refused for the account's state --------------------------------------------

    def refused(self, user_id: str | None, reason: str) -> bool:
        """AD refused a login (``user_id``: the account's objectGUID, None if unknown).

        For :data:`DISABLING_REASONS` (disabled, expired) a stored AD user is marked
        disabled; returns True when the row changed (then the sessions and refresh tokens
        have ended too). Every refusal reads the row, so the refusals cost alike.
        """
        with self.database.session() as session:
            user = session.get(User, user_id or NOBODY)
            if (
                reason not in DISABLING_REASONS
                or user is None
                or user.source != "ad"
                or user.disabled
            ):
                return False
            user.disabled = True
            audit.record(
                session,
                actor=self.actor,
                action="ad.user.disabled",
                object_type="user",
                object_id=user.id,
                cvr=user.cvr,
                details={"username": user.username, "reason": f"{reason} in AD", "via": "login"},
            )
            if self.state is not None:
                invalidate_on_commit(session, self.state, Change(users={user.id}))
            # Every session and refresh-token family ends, on every node (as in the sync).
            end_user_access(session, self.state, [user.id], reason="ad.login")
        log.info("AD user %s disabled at login (%s in AD)", user.id, reason)
        return True


__all__ = ["LoginProvisioning", "ProvisioningConflict", "StoredUser"]
