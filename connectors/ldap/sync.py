"""``stsctl ad sync``: users, groups (with nesting and membership) and OUs into the store.

* Full sync: every OU, user and group under STS_LDAP_BASE_DN, with paged results
  (RFC 2696) and ranged retrieval (``member;range=0-1499``, then the next ranges) for
  groups over the server's value limit. AD users that are no longer in the directory
  are marked disabled; groups that are gone lose their members (their rows stay, so
  catalogue assignments that name them by objectGUID or DN keep resolving and grant
  nothing).
* Incremental sync: only objects with ``uSNChanged`` above the high-water mark of the
  last run on the same DC (its ``invocationId``); deletions are found by listing the
  objectGUIDs that still exist (tombstones need administrator rights to read). Another
  DC, or no earlier run, means a full sync.
* Users that become disabled (userAccountControl 0x2, expired, or deleted) lose their SSO
  sessions and refresh tokens (:mod:`connectors.revocation`).

Identifiers: users and org units get their objectGUID as their id/uuid; ``external_id``
holds the DN (used to resolve group members and OU parents). The municipality row for
STS_LDAP_CVR is created when missing (named "CVR <cvr> (from Active Directory)", domain
taken from the base DN) and the creation is audited, so a first sync on an empty
database works; the catalogue import can rename it later.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ldap3 import BASE, Connection
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from connectors import revocation
from connectors.base import DirectoryUnavailable
from connectors.ldap import accounts
from connectors.ldap.directory import (
    USER_CLASS_FILTER,
    LdapDirectory,
    integer,
    kle_codes,
    parent_dn,
    text,
    texts,
)
from connectors.ldap.escaping import guid_to_uuid
from store import audit, change_marker
from store.access import end_user_access
from store.db import Database
from store.ephemeral import EphemeralState
from store.models import (
    DirectorySyncState,
    Group,
    GroupMember,
    GroupNesting,
    Municipality,
    OrgUnit,
    User,
    utcnow,
)

log = logging.getLogger("sts.ldap.sync")

PAGE_SIZE = 1000
DISABLING_REASONS = frozenset({"disabled", "expired"})  # lockout is temporary: not here
_RANGE = re.compile(r"^member;range=(\d+)-(\*|\d+)$", re.IGNORECASE)

SYNC_USER_ATTRIBUTES = [
    "objectGUID",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "userAccountControl",
    "accountExpires",
    "uSNChanged",
]


class Progress(Protocol):
    """How the sync reports progress: a bar on a terminal, log lines otherwise."""

    def start(self, phase: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


class LogProgress:
    """Structured log lines every ``every`` items and at the end of each phase."""

    def __init__(self, every: int = 1000) -> None:
        self.every = every
        self.phase = ""
        self.total = 0
        self.done = 0

    def start(self, phase: str, total: int) -> None:
        self.phase, self.total, self.done = phase, total, 0
        log.info("sync phase started", extra={"phase": phase, "total": total})

    def advance(self, count: int) -> None:
        before = self.done
        self.done += count
        if self.done // self.every != before // self.every:
            log.info(
                "sync progress", extra={"phase": self.phase, "done": self.done, "total": self.total}
            )

    def finish(self) -> None:
        log.info("sync phase done", extra={"phase": self.phase, "done": self.done})


@dataclass
class SyncSummary:
    mode: str = "full"
    created: int = 0
    updated: int = 0
    disabled: int = 0
    enabled: int = 0
    unchanged: int = 0
    groups_created: int = 0
    groups_updated: int = 0
    org_units_created: int = 0
    org_units_updated: int = 0
    memberships: int = 0
    sessions_revoked: int = 0
    conflicts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    highest_usn: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["conflicts"] = list(self.conflicts)
        return data

    def line(self) -> str:
        return (
            f"{self.mode} sync: users created {self.created}, updated {self.updated}, "
            f"disabled {self.disabled}, re-enabled {self.enabled}; groups created "
            f"{self.groups_created}, updated {self.groups_updated}; org units created "
            f"{self.org_units_created}, updated {self.org_units_updated}; "
            f"{self.memberships} memberships; {self.sessions_revoked} sessions ended; "
            f"{len(self.conflicts)} conflicts; {self.seconds:.1f} s"
        )


@dataclass
class _Fetched:
    org_units: list[tuple[str, dict[str, Any]]]
    users: list[tuple[str, dict[str, Any]]]
    groups: list[tuple[str, dict[str, Any], list[str]]]  # dn, attrs, all member DNs
    present_users: set[str]  # objectGUIDs of every user in AD now
    present_groups: set[str]


def _guid(attrs: dict[str, Any]) -> str:
    return guid_to_uuid(attrs["objectguid"][0])


def _domain_of(base_dn: str) -> str:
    parts = [p.split("=", 1)[1] for p in base_dn.split(",") if p.strip().lower().startswith("dc=")]
    return ".".join(parts) or base_dn


def ensure_municipality(session: Session, cvr: str, base_dn: str, actor: str) -> None:
    """Create the municipality row for STS_LDAP_CVR when the catalogue has not (audited)."""
    if session.get(Municipality, cvr) is not None:
        return
    session.add(
        Municipality(cvr=cvr, name=f"CVR {cvr} (from Active Directory)", domain=_domain_of(base_dn))
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="municipality.created",
        object_type="municipality",
        object_id=cvr,
        cvr=cvr,
        details={"reason": "first Active Directory sync"},
    )
    log.warning("municipality %s did not exist; created it for the AD sync", cvr)


def user_row(
    *,
    dn: str,
    username: str,
    given_name: str | None,
    surname: str | None,
    display_name: str | None,
    email: str | None,
    upn: str | None,
    org_unit_uuid: str | None,
    kle: Iterable[str],
    disabled: bool,
) -> dict[str, Any]:
    """A ``users`` row's values for an AD account: the sync and the login write the same."""
    return {
        "username": username[:256],
        "name": (display_name or " ".join(p for p in (given_name, surname) if p))[:300],
        "given_name": given_name,
        "surname": surname,
        "email": email,
        "upn": upn,
        "org_unit_uuid": org_unit_uuid,
        "kle": list(kle),
        "external_id": dn[:200],
        "disabled": disabled,
    }


class DirectorySync:
    """One sync run per call of :meth:`run`; safe to repeat."""

    def __init__(
        self,
        directory: LdapDirectory,
        database: Database,
        state: EphemeralState | None = None,
        *,
        progress: Progress | None = None,
        actor: str = "stsctl ad sync",
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.directory = directory
        self.config = directory.config
        self.database = database
        self.state = state
        self.progress: Progress = progress or LogProgress()
        self.actor = actor
        self.page_size = page_size

    # -- reading the directory -----------------------------------------------------------

    def _server_position(self, connection: Connection) -> tuple[int, str]:
        root = self.directory.search(
            connection,
            "",
            "(objectClass=*)",
            ["highestCommittedUSN", "dsServiceName"],
            scope=BASE,
        )
        if not root:
            raise DirectoryUnavailable("the server did not return its root DSE")
        usn = integer(root[0][1], "highestCommittedUSN") or 0
        service = text(root[0][1], "dsServiceName")
        invocation = ""
        if service:
            found = self.directory.search(
                connection, service, "(objectClass=*)", ["invocationId"], scope=BASE
            )
            if found and found[0][1].get("invocationid"):
                invocation = str(uuid.UUID(bytes_le=bytes(found[0][1]["invocationid"][0])))
        return usn, invocation or f"server:{connection.server.host}"

    def _members(self, connection: Connection, dn: str, attrs: dict[str, Any]) -> list[str]:
        """Every member DN, following ranged retrieval past the server's value limit."""
        members = texts(attrs, "member")
        ranged = [(name, values) for name, values in attrs.items() if _RANGE.match(name)]
        while ranged:
            name, values = ranged[0]
            members.extend(v.decode() if isinstance(v, bytes) else str(v) for v in values)
            match = _RANGE.match(name)
            assert match is not None
            if match.group(2) == "*":
                break
            start = int(match.group(2)) + 1
            found = self.directory.search(
                connection, dn, "(objectClass=*)", [f"member;range={start}-*"], scope=BASE
            )
            if not found:
                break
            ranged = [(n, v) for n, v in found[0][1].items() if _RANGE.match(n)]
        return members

    def _fetch(self, connection: Connection, since: int | None) -> _Fetched:
        changed = f"(uSNChanged>={since + 1})" if since is not None else ""
        base = self.config.base_dn
        search = self.directory.search
        ous = search(
            connection,
            base,
            f"(&(objectClass=organizationalUnit){changed})",
            ["objectGUID", "ou", "name"],
            page_size=self.page_size,
        )
        user_attributes = SYNC_USER_ATTRIBUTES + (
            [self.config.kle_attribute] if self.config.kle_attribute else []
        )
        users = search(
            connection,
            base,
            f"(&{USER_CLASS_FILTER}{changed})",
            user_attributes,
            page_size=self.page_size,
        )
        raw_groups = search(
            connection,
            base,
            f"(&(objectClass=group){changed})",
            ["objectGUID", "cn", "member"],
            page_size=self.page_size,
        )
        groups = [(dn, attrs, self._members(connection, dn, attrs)) for dn, attrs in raw_groups]
        # Deletions: tombstones are readable only by administrators by default, so list
        # the GUIDs that still exist instead (one cheap paged search per kind).
        present_users = (
            {
                _guid(a)
                for _, a in search(
                    connection,
                    base,
                    f"(&{USER_CLASS_FILTER})",
                    ["objectGUID"],
                    page_size=self.page_size,
                )
            }
            if since is not None
            else {_guid(a) for _, a in users}
        )
        present_groups = (
            {
                _guid(a)
                for _, a in search(
                    connection,
                    base,
                    "(objectClass=group)",
                    ["objectGUID"],
                    page_size=self.page_size,
                )
            }
            if since is not None
            else {_guid(a) for _, a, _ in groups}
        )
        return _Fetched(ous, users, groups, present_users, present_groups)

    # -- the run -------------------------------------------------------------------------

    def run(self, full: bool = False) -> SyncSummary:
        started = time.perf_counter()
        cvr = self.config.cvr
        with self.database.session() as session:
            previous = session.get(DirectorySyncState, cvr)
        holder: dict[str, Any] = {}

        def read(connection: Connection) -> None:
            usn, invocation = self._server_position(connection)
            incremental = (
                not full
                and previous is not None
                and previous.invocation_id == invocation
                and previous.highest_usn <= usn
            )
            holder.update(
                usn=usn,
                invocation=invocation,
                incremental=incremental,
                url=f"ldap{'s' if connection.server.ssl else ''}://{connection.server.host}",
                fetched=self._fetch(
                    connection, previous.highest_usn if incremental and previous else None
                ),
            )

        self.directory.search_pool.run(read)
        fetched: _Fetched = holder["fetched"]
        summary = SyncSummary(
            mode="incremental" if holder["incremental"] else "full", highest_usn=holder["usn"]
        )
        newly_disabled: list[str] = []
        with self.database.session() as session:
            self._ensure_municipality(session)
            ou_ids = self._write_org_units(session, fetched.org_units, summary)
            newly_disabled = self._write_users(session, fetched, ou_ids, summary)
            self._write_groups(session, fetched, summary)
            sync_state = session.get(DirectorySyncState, cvr) or DirectorySyncState(cvr=cvr)
            sync_state.server_url = holder["url"]
            sync_state.invocation_id = holder["invocation"]
            sync_state.highest_usn = holder["usn"]
            sync_state.last_run_at = utcnow()
            if not holder["incremental"]:
                sync_state.last_full_at = sync_state.last_run_at
            session.add(sync_state)
            summary.seconds = time.perf_counter() - started
            audit.record(
                session,
                actor=self.actor,
                action="ad.sync",
                object_type="directory",
                object_id=self.config.base_dn,
                cvr=cvr,
                details={k: v for k, v in summary.as_dict().items() if k != "seconds"},
            )
            # Users disabled here lose every session and refresh token on every node (the
            # shared store's sessions are deleted below), and servers without Redis hear
            # of the sync through the change marker.
            end_user_access(session, None, newly_disabled, reason="ad.sync")
            change_marker.bump(session)
        if self.state is not None:
            for user_id in newly_disabled:
                summary.sessions_revoked += revocation.revoke_user(self.state, user_id)
        summary.seconds = time.perf_counter() - started
        log.info("sync finished", extra={"summary": summary.as_dict()})
        return summary

    def _ensure_municipality(self, session: Session) -> None:
        ensure_municipality(session, self.config.cvr, self.config.base_dn, self.actor)

    def _write_org_units(
        self, session: Session, rows: list[tuple[str, dict[str, Any]]], summary: SyncSummary
    ) -> dict[str, str]:
        cvr = self.config.cvr
        existing = {u.uuid: u for u in session.scalars(select(OrgUnit).where(OrgUnit.cvr == cvr))}
        by_dn = {u.external_id.lower(): u.uuid for u in existing.values() if u.external_id}
        for dn, attrs in rows:
            by_dn[dn.lower()] = _guid(attrs)
        self.progress.start("org units", len(rows))
        # Parents before children: fewer DN components first.
        for dn, attrs in sorted(rows, key=lambda r: r[0].count(",")):
            guid = _guid(attrs)
            values = {
                "name": (text(attrs, "ou") or text(attrs, "name") or dn)[:200],
                "external_id": dn,
                "parent_uuid": by_dn.get(parent_dn(dn).lower()),
            }
            unit = existing.get(guid)
            if unit is None:
                session.add(OrgUnit(uuid=guid, cvr=cvr, **values))
                session.flush()
                summary.org_units_created += 1
            elif any(getattr(unit, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(unit, key, value)
                summary.org_units_updated += 1
            self.progress.advance(1)
        self.progress.finish()
        return by_dn

    def _write_users(
        self,
        session: Session,
        fetched: _Fetched,
        ou_ids: dict[str, str],
        summary: SyncSummary,
    ) -> list[str]:
        cvr = self.config.cvr
        users = {u.id: u for u in session.scalars(select(User).where(User.cvr == cvr))}
        taken = {u.username.lower(): u.id for u in users.values()}
        seen: set[str] = set()
        newly_disabled: list[str] = []
        now = time.time()
        self.progress.start("users", len(fetched.users))
        for dn, attrs in fetched.users:
            guid = _guid(attrs)
            seen.add(guid)
            username = text(attrs, "sAMAccountName") or guid
            holder = taken.get(username.lower())
            if holder is not None and holder != guid:
                summary.conflicts.append(f"{username}: already used by another user")
                self.progress.advance(1)
                continue
            reason = accounts.refusal_reason(
                integer(attrs, "userAccountControl") or 0,
                None,
                integer(attrs, "accountExpires"),
                now=now,
            )
            values = user_row(
                dn=dn,
                username=username,
                given_name=text(attrs, "givenName"),
                surname=text(attrs, "sn"),
                display_name=text(attrs, "displayName"),
                email=text(attrs, "mail"),
                upn=text(attrs, "userPrincipalName"),
                org_unit_uuid=ou_ids.get(parent_dn(dn).lower()),
                kle=kle_codes(texts(attrs, self.config.kle_attribute))
                if self.config.kle_attribute
                else (),
                disabled=reason in DISABLING_REASONS,
            )
            user = users.get(guid)
            if user is None:
                user = User(id=guid, cvr=cvr, source="ad", **values)
                session.add(user)
                users[guid] = user
                taken[username.lower()] = guid
                summary.created += 1
            else:
                if user.source != "ad":
                    summary.conflicts.append(f"{username}: a local user has this id")
                    self.progress.advance(1)
                    continue
                changed = {k: v for k, v in values.items() if getattr(user, k) != v}
                if changed:
                    if changed.get("disabled") is True:
                        newly_disabled.append(guid)
                        summary.disabled += 1
                    elif changed.get("disabled") is False:
                        summary.enabled += 1
                    for key, value in changed.items():
                        setattr(user, key, value)
                    summary.updated += 1
                else:
                    summary.unchanged += 1
            self.progress.advance(1)
        self.progress.finish()
        gone = {
            guid
            for guid, u in users.items()
            if u.source == "ad" and guid not in fetched.present_users
        }
        for guid in gone:
            user = users.get(guid)
            if user is not None and user.source == "ad" and not user.disabled:
                user.disabled = True
                newly_disabled.append(guid)
                summary.disabled += 1
        session.flush()
        for guid in newly_disabled:
            audit.record(
                session,
                actor=self.actor,
                action="ad.user.disabled",
                object_type="user",
                object_id=guid,
                cvr=cvr,
                details={
                    "username": users[guid].username,
                    "reason": "deleted" if guid in gone else "disabled in AD",
                },
            )
        return newly_disabled

    def _write_groups(self, session: Session, fetched: _Fetched, summary: SyncSummary) -> None:
        cvr = self.config.cvr
        groups = {
            g.object_guid: g
            for g in session.scalars(select(Group).where(Group.cvr == cvr))
            if g.object_guid
        }
        self.progress.start("groups", len(fetched.groups))
        seen: set[str] = set()
        for dn, attrs, _members in fetched.groups:
            guid = _guid(attrs)
            seen.add(guid)
            values = {"dn": dn[:1000], "name": (text(attrs, "cn") or dn)[:300]}
            group = groups.get(guid)
            if group is None:
                group = Group(id=str(uuid.uuid4()), cvr=cvr, object_guid=guid, **values)
                session.add(group)
                groups[guid] = group
                summary.groups_created += 1
            elif any(getattr(group, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(group, key, value)
                summary.groups_updated += 1
        session.flush()
        user_by_dn = {
            (dn or "").lower(): uid
            for uid, dn in session.execute(
                select(User.id, User.external_id).where(User.cvr == cvr, User.source == "ad")
            )
        }
        group_by_dn = {g.dn.lower(): g.id for g in groups.values()}
        emptied = [g.id for guid, g in groups.items() if guid not in fetched.present_groups]
        changed_ids = [groups[_guid(a)].id for _, a, _ in fetched.groups] + emptied
        for chunk in _chunks(changed_ids, 500):
            session.execute(delete(GroupMember).where(GroupMember.group_id.in_(chunk)))
            session.execute(delete(GroupNesting).where(GroupNesting.parent_id.in_(chunk)))
        member_rows: list[dict[str, str]] = []
        nesting_rows: list[dict[str, str]] = []
        for _dn, attrs, members in fetched.groups:
            group_id = groups[_guid(attrs)].id
            for member in dict.fromkeys(m.lower() for m in members):
                if member in user_by_dn:
                    member_rows.append({"group_id": group_id, "member_user_id": user_by_dn[member]})
                elif member in group_by_dn and group_by_dn[member] != group_id:
                    nesting_rows.append({"parent_id": group_id, "child_id": group_by_dn[member]})
            self.progress.advance(1)
        if member_rows:
            session.execute(insert(GroupMember), member_rows)
        if nesting_rows:
            session.execute(insert(GroupNesting), nesting_rows)
        summary.memberships = len(member_rows) + len(nesting_rows)
        self.progress.finish()


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sync_directory(
    directory: LdapDirectory,
    database: Database,
    state: EphemeralState | None = None,
    *,
    full: bool = False,
    progress: Progress | None = None,
    on_summary: Callable[[SyncSummary], None] | None = None,
) -> SyncSummary:
    summary = DirectorySync(directory, database, state, progress=progress).run(full=full)
    if on_summary:
        on_summary(summary)
    return summary


__all__ = [
    "DISABLING_REASONS",
    "DirectorySync",
    "LogProgress",
    "Progress",
    "SyncSummary",
    "ensure_municipality",
    "sync_directory",
    "user_row",
]
