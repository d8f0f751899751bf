"""The store as the validator sees it: what is stored, overlaid with what the file declares.

References in a catalogue may point to objects that are already stored (another file
imported them, or the AD connector synchronised them), so checks run against this merged
view. With ``prune`` the view drops what an import would remove, so a reference to an
object about to be pruned is caught before anything changes.

What is read from the store depends on the document's size. A small document (the admin
service validates one object at a time) is checked against only what it refers to: the
org units of the municipalities it names, the users, groups and jobfunktionsroller it
names, so its cost does not grow with the store. A large one (a whole catalogue) is
checked against whole tables, one query each. Either way the store is read set-wise:
never one query per object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, select, tuple_
from sqlalchemy.orm import Session

from store.catalogue.common import kind_list
from store.models import (
    ConstraintType,
    Fagsystem,
    Group,
    JfrGrant,
    Jobfunktionsrolle,
    Municipality,
    OidcClient,
    OrgUnit,
    SamlServiceProvider,
    SystemRole,
    User,
)

# A document naming at most this many objects is checked against what it refers to only.
SCOPED_LIMIT = 2_000
# Keys per IN list when reading a scoped world.
IN_CHUNK = 500

UserKey = tuple[str, str]


@dataclass
class ConstraintTypeView:
    """A constraint type's kind and the rule its values must follow."""

    kind: str
    values: list[str] | None = None
    regex: str | None = None


@dataclass
class FagsystemView:
    """A fagsystem's kinds and declared constraint types."""

    kinds: list[str]
    constraint_types: dict[str, ConstraintTypeView] = field(default_factory=dict)


@dataclass
class RoleView:
    """A system role: its fagsystem and the constraint types it requires."""

    fagsystem_id: str
    constraints: list[str]


@dataclass
class JfrView:
    """A jobfunktionsrolle: owner, delegations and grants (role id, constraint spec)."""

    cvr: str
    delegated_to: list[str]
    grants: list[tuple[str, dict[str, Any]]]


@dataclass
class Stored:
    """Who owns each identifier in the store, to catch a file that would move or steal it.

    ``user_id`` maps a stored user's (CVR, username) to its id, ``uuid_user`` the other
    way; ``user_source`` holds the source of users that are not local (AD) only.
    """

    org_unit_cvr: dict[str, str] = field(default_factory=dict)
    user_id: dict[UserKey, str] = field(default_factory=dict)
    uuid_user: dict[str, UserKey] = field(default_factory=dict)
    user_source: dict[UserKey, str] = field(default_factory=dict)
    role_fagsystem: dict[str, str] = field(default_factory=dict)
    jfr_cvr: dict[str, str] = field(default_factory=dict)
    client_fagsystem: dict[str, str] = field(default_factory=dict)
    sp_fagsystem: dict[str, str] = field(default_factory=dict)
    entity_fagsystem: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """Store plus file, keyed by the catalogue's identifiers.

    ``users`` maps (CVR, username) to the user's id (None for a file user without a uuid
    that is not stored yet); ``groups`` maps (CVR, casefolded objectGUID or DN) to the
    stored group's id.
    """

    municipalities: set[str] = field(default_factory=set)
    org_units: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    users: dict[UserKey, str | None] = field(default_factory=dict)
    groups: dict[tuple[str, str], str] = field(default_factory=dict)
    fagsystemer: dict[str, FagsystemView] = field(default_factory=dict)
    roles: dict[str, RoleView] = field(default_factory=dict)
    jfrs: dict[str, JfrView] = field(default_factory=dict)
    stored: Stored = field(default_factory=Stored)
    _units_by_cvr: dict[str, set[str]] | None = field(default=None, repr=False)

    def units_of(self, cvr: str) -> set[str]:
        """UUIDs of the org units of municipality ``cvr``."""
        if self._units_by_cvr is None:
            index: dict[str, set[str]] = {}
            for uuid, (owner, _parent) in self.org_units.items():
                index.setdefault(owner, set()).add(uuid)
            self._units_by_cvr = index
        return self._units_by_cvr.get(cvr, set())

    def has_group(self, cvr: str, reference: str) -> bool:
        """Whether ``reference`` (objectGUID or DN) names a stored group of ``cvr``."""
        return (cvr, reference.casefold()) in self.groups


def build_world(session: Session, data: dict[str, Any], *, prune: bool) -> World:
    """Snapshot the store (what the document refers to, or all of it), prune, overlay."""
    world = World()
    named = {municipality["cvr"] for municipality in _objects(data, "municipalities")}
    scope = None if _size(data) > SCOPED_LIMIT else _Scope.of(data, named if prune else set())
    _load_store(session, world, scope)
    if prune:
        _drop_prunable(session, world, named, data)
    _overlay_file(world, data)
    world._units_by_cvr = None
    return world


def _objects(data: dict[str, Any], section: str) -> Iterable[dict[str, Any]]:
    """A top-level list of the (schema-valid) catalogue, empty when absent."""
    items: Iterable[dict[str, Any]] = data.get(section, [])
    return items


def _size(data: dict[str, Any]) -> int:
    """How many objects the document names (org units counted with their municipality)."""
    size = 0
    for section in ("fagsystemer", "jobfunktionsroller", "users", "assignments", "serviceaftaler"):
        size += len(data.get(section, []))
    for municipality in _objects(data, "municipalities"):
        size += 1 + len(municipality.get("org_units", []))
    return size


@dataclass
class _Scope:
    """What a small document refers to; the store is read for these only."""

    cvrs: set[str]
    unit_uuids: set[str]
    user_keys: set[UserKey]
    user_uuids: set[str]
    group_cvrs: set[str]
    jfr_ids: set[str]
    pruned_cvrs: set[str]

    @classmethod
    def of(cls, data: dict[str, Any], pruned_cvrs: set[str]) -> _Scope:
        scope = cls(set(pruned_cvrs), set(), set(), set(), set(), set(), set(pruned_cvrs))
        for municipality in _objects(data, "municipalities"):
            cvr = municipality["cvr"]
            scope.cvrs.add(cvr)
            for unit in municipality.get("org_units", []):
                scope.unit_uuids.add(unit["uuid"])
                if unit.get("manager"):
                    scope.user_keys.add((cvr, unit["manager"]))
        for jfr in _objects(data, "jobfunktionsroller"):
            scope.jfr_ids.add(jfr["id"])
            scope.cvrs.update([jfr["cvr"], *jfr.get("delegated_to", [])])
        for user in _objects(data, "users"):
            scope.cvrs.add(user["cvr"])
            scope.user_keys.add((user["cvr"], user["username"]))
            if user.get("uuid"):
                scope.user_uuids.add(user["uuid"])
        for assignment in _objects(data, "assignments"):
            cvr = assignment["cvr"]
            scope.cvrs.add(cvr)
            scope.jfr_ids.add(assignment["role"])
            if "user" in assignment:
                scope.user_keys.add((cvr, assignment["user"]))
            if "group" in assignment:
                scope.group_cvrs.add(cvr)
            scope.user_keys.update((cvr, name) for name in assignment.get("except_users", []))
        for aftale in _objects(data, "serviceaftaler"):
            scope.cvrs.add(aftale["cvr"])
        return scope


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == IN_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load_store(session: Session, world: World, scope: _Scope | None) -> None:
    """Copy the identifiers and rules the checks need out of the store."""
    world.municipalities.update(session.scalars(select(Municipality.cvr)))
    _load_store_systems(session, world)
    _load_jfrs(session, world, scope)
    _load_units(session, world, scope)
    _load_users(session, world, scope)
    _load_groups(session, world, scope)


def _load_jfrs(session: Session, world: World, scope: _Scope | None) -> None:
    """Jobfunktionsroller with their grants: two queries (per chunk of ids when scoped)."""
    queries = []
    if scope is None:
        queries.append(select(Jobfunktionsrolle.id))
    else:
        queries += [
            select(Jobfunktionsrolle.id).where(Jobfunktionsrolle.id.in_(ids))
            for ids in _chunks(sorted(scope.jfr_ids))
        ]
        if scope.pruned_cvrs:
            queries.append(
                select(Jobfunktionsrolle.id).where(Jobfunktionsrolle.cvr.in_(scope.pruned_cvrs))
            )
    for ids in queries:
        # JSON read as text and decoded here: far cheaper than the driver's per-row loader.
        jfr_query = select(
            Jobfunktionsrolle.id, Jobfunktionsrolle.cvr, cast(Jobfunktionsrolle.delegated_to, Text)
        )
        grant_query = select(
            JfrGrant.jfr_id, JfrGrant.role_id, cast(JfrGrant.constraints, Text)
        ).order_by(JfrGrant.jfr_id, JfrGrant.position, JfrGrant.id)
        if scope is not None:
            jfr_query = jfr_query.where(Jobfunktionsrolle.id.in_(ids.scalar_subquery()))
            grant_query = grant_query.where(JfrGrant.jfr_id.in_(ids.scalar_subquery()))
        for jfr_id, cvr, delegated_to in session.execute(jfr_query):
            world.jfrs[jfr_id] = JfrView(cvr, list(json.loads(delegated_to)), [])
            world.stored.jfr_cvr[jfr_id] = cvr
        for jfr_id, role_id, constraints in session.execute(grant_query):
            world.jfrs[jfr_id].grants.append((role_id, dict(json.loads(constraints))))
    if scope is not None:  # the owners of named roles are referred to by their values
        for jfr in world.jfrs.values():
            scope.cvrs.add(jfr.cvr)


def _load_units(session: Session, world: World, scope: _Scope | None) -> None:
    query = select(OrgUnit.uuid, OrgUnit.cvr, OrgUnit.parent_uuid)
    queries = [query]
    if scope is not None:
        queries = [query.where(OrgUnit.cvr.in_(sorted(scope.cvrs)))]
        queries += [query.where(OrgUnit.uuid.in_(uuids)) for uuids in _chunks(scope.unit_uuids)]
    for statement in queries:
        for uuid, cvr, parent in session.execute(statement):
            world.org_units[uuid] = (cvr, parent)
            world.stored.org_unit_cvr[uuid] = cvr


def _load_users(session: Session, world: World, scope: _Scope | None) -> None:
    query = select(User.id, User.cvr, User.username, User.source)
    queries = [query]
    if scope is not None:
        queries = [
            query.where(tuple_(User.cvr, User.username).in_(keys))
            for keys in _chunks(sorted(scope.user_keys))
        ]
        queries += [query.where(User.id.in_(ids)) for ids in _chunks(sorted(scope.user_uuids))]
        if scope.pruned_cvrs:
            queries.append(query.where(User.cvr.in_(sorted(scope.pruned_cvrs))))
    stored = world.stored
    for statement in queries:
        for user_id, cvr, username, source in session.execute(statement):
            key = (cvr, username)
            world.users[key] = user_id
            stored.user_id[key] = user_id
            stored.uuid_user[user_id] = key
            if source != "local":
                stored.user_source[key] = source


def _load_groups(session: Session, world: World, scope: _Scope | None) -> None:
    if scope is not None and not scope.group_cvrs:
        return
    query = select(Group.id, Group.cvr, Group.dn, Group.object_guid)
    if scope is not None:
        query = query.where(Group.cvr.in_(sorted(scope.group_cvrs)))
    for group_id, cvr, dn, object_guid in session.execute(query.order_by(Group.id)):
        world.groups.setdefault((cvr, dn.casefold()), group_id)
        if object_guid:
            world.groups.setdefault((cvr, object_guid.casefold()), group_id)


def _load_store_systems(session: Session, world: World) -> None:
    """Fagsystemer with their constraint types, roles, clients and SAML SPs (all of them)."""
    stored = world.stored
    for system_id, kinds, entity_id in session.execute(
        select(Fagsystem.id, Fagsystem.kinds, Fagsystem.entity_id)
    ):
        world.fagsystemer[system_id] = FagsystemView(list(kinds))
        if entity_id:
            stored.entity_fagsystem[entity_id] = system_id
    for ctype in session.scalars(select(ConstraintType)):
        view = ConstraintTypeView(ctype.kind, ctype.values, ctype.regex)
        world.fagsystemer[ctype.fagsystem_id].constraint_types[ctype.uri] = view
    for role_id, system_id, uris in session.execute(
        select(SystemRole.id, SystemRole.fagsystem_id, SystemRole.constraint_uris)
    ):
        world.roles[role_id] = RoleView(system_id, list(uris))
        stored.role_fagsystem[role_id] = system_id
    for client_id, owner in session.execute(select(OidcClient.client_id, OidcClient.fagsystem_id)):
        stored.client_fagsystem[client_id] = owner
    for entity_id, owner in session.execute(
        select(SamlServiceProvider.entity_id, SamlServiceProvider.fagsystem_id)
    ):
        stored.sp_fagsystem[entity_id] = owner


def _drop_prunable(session: Session, world: World, named: set[str], data: dict[str, Any]) -> None:
    """Forget stored objects of the named municipalities that ``--prune`` would delete."""
    kept_units = {
        unit["uuid"]
        for municipality in _objects(data, "municipalities")
        for unit in municipality.get("org_units", [])
    }
    synced_units = set(
        session.scalars(
            select(OrgUnit.uuid).where(OrgUnit.external_id.is_not(None), OrgUnit.cvr.in_(named))
        )
    )
    for uuid, (cvr, _parent) in list(world.org_units.items()):
        if cvr in named and uuid not in kept_units and uuid not in synced_units:
            del world.org_units[uuid]
    kept_users = {(user["cvr"], user["username"]) for user in _objects(data, "users")}
    for key in list(world.users):
        if key[0] in named and key not in world.stored.user_source and key not in kept_users:
            del world.users[key]
    kept_jfrs = {jfr["id"] for jfr in _objects(data, "jobfunktionsroller")}
    for jfr_id, jfr in list(world.jfrs.items()):
        if jfr.cvr in named and jfr_id not in kept_jfrs:
            del world.jfrs[jfr_id]


def _overlay_file(world: World, data: dict[str, Any]) -> None:
    """Add or replace what the file declares; the file wins over the store."""
    for municipality in _objects(data, "municipalities"):
        world.municipalities.add(municipality["cvr"])
        for unit in municipality.get("org_units", []):
            world.org_units[unit["uuid"]] = (municipality["cvr"], unit.get("parent"))
    for user in _objects(data, "users"):
        key = (user["cvr"], user["username"])
        world.users[key] = user.get("uuid") or world.stored.user_id.get(key)
    for system in _objects(data, "fagsystemer"):
        _overlay_fagsystem(world, system)
    for jfr in _objects(data, "jobfunktionsroller"):
        grants = [(grant["role"], grant.get("constraints", {})) for grant in jfr.get("grants", [])]
        world.jfrs[jfr["id"]] = JfrView(jfr["cvr"], jfr.get("delegated_to", []), grants)


def _overlay_fagsystem(world: World, system: dict[str, Any]) -> None:
    """Merge one fagsystem entry: kinds replaced, constraint types and roles upserted."""
    view = world.fagsystemer.setdefault(system["id"], FagsystemView([]))
    view.kinds = kind_list(system["kind"])
    for ctype in system.get("constraint_types", []):
        view.constraint_types[ctype["id"]] = ConstraintTypeView(
            ctype["kind"], ctype.get("values"), ctype.get("regex")
        )
    for role in system.get("roles", []):
        world.roles[role["id"]] = RoleView(system["id"], role.get("constraints", []))
