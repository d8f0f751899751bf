"""The store as the validator sees it: what is stored, overlaid with what the file declares.

References in a catalogue may point to objects that are already stored (another file
imported them, or the AD connector synchronised them), so checks run against this merged
view. With ``prune`` the view drops what an import would remove, so a reference to an
object about to be pruned is caught before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.catalogue_legacy.common import kind_list
from store.models import (
    ConstraintType,
    Fagsystem,
    Group,
    Jobfunktionsrolle,
    Municipality,
    OidcClient,
    OrgUnit,
    SamlServiceProvider,
    SystemRole,
    User,
)


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
class UserView:
    """A user's identity and placement."""

    uuid: str | None
    source: str
    org_unit: str | None


@dataclass
class Stored:
    """Who owns each identifier in the store, to catch a file that would move or steal it."""

    org_unit_cvr: dict[str, str] = field(default_factory=dict)
    user_uuid: dict[tuple[str, str], str] = field(default_factory=dict)
    uuid_user: dict[str, tuple[str, str]] = field(default_factory=dict)
    user_source: dict[tuple[str, str], str] = field(default_factory=dict)
    role_fagsystem: dict[str, str] = field(default_factory=dict)
    jfr_cvr: dict[str, str] = field(default_factory=dict)
    client_fagsystem: dict[str, str] = field(default_factory=dict)
    sp_fagsystem: dict[str, str] = field(default_factory=dict)
    entity_fagsystem: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """Store plus file, keyed by the catalogue's identifiers."""

    municipalities: set[str] = field(default_factory=set)
    org_units: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    users: dict[tuple[str, str], UserView] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    fagsystemer: dict[str, FagsystemView] = field(default_factory=dict)
    roles: dict[str, RoleView] = field(default_factory=dict)
    jfrs: dict[str, JfrView] = field(default_factory=dict)
    stored: Stored = field(default_factory=Stored)

    def units_of(self, cvr: str) -> set[str]:
        """UUIDs of the org units of municipality ``cvr``."""
        return {uuid for uuid, (owner, _parent) in self.org_units.items() if owner == cvr}

    def has_group(self, cvr: str, reference: str) -> bool:
        """Whether ``reference`` (objectGUID or DN) names a stored group of ``cvr``."""
        return reference.casefold() in self.groups.get(cvr, set())


def build_world(session: Session, data: dict[str, Any], *, prune: bool) -> World:
    """Snapshot the store, drop what a prune would remove, and overlay the file."""
    world = World()
    _load_store(session, world)
    named = {municipality["cvr"] for municipality in _objects(data, "municipalities")}
    if prune:
        _drop_prunable(session, world, named, data)
    _overlay_file(world, data)
    return world


def _objects(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """A top-level list of the (schema-valid) catalogue, empty when absent."""
    items: list[dict[str, Any]] = data.get(section, [])
    return items


def _load_store(session: Session, world: World) -> None:
    """Copy the identifiers and rules the checks need out of the store."""
    stored = world.stored
    world.municipalities.update(session.scalars(select(Municipality.cvr)))
    for unit in session.scalars(select(OrgUnit)):
        world.org_units[unit.uuid] = (unit.cvr, unit.parent_uuid)
        stored.org_unit_cvr[unit.uuid] = unit.cvr
    for user in session.scalars(select(User)):
        key = (user.cvr, user.username)
        world.users[key] = UserView(user.id, user.source, user.org_unit_uuid)
        stored.user_uuid[key] = user.id
        stored.uuid_user[user.id] = key
        stored.user_source[key] = user.source
    for group in session.scalars(select(Group)):
        names = world.groups.setdefault(group.cvr, set())
        names.add(group.dn.casefold())
        if group.object_guid:
            names.add(group.object_guid.casefold())
    _load_store_systems(session, world)
    for jfr in session.scalars(select(Jobfunktionsrolle)):
        grants = [(grant.role_id, dict(grant.constraints)) for grant in jfr.grants]
        world.jfrs[jfr.id] = JfrView(jfr.cvr, list(jfr.delegated_to), grants)
        stored.jfr_cvr[jfr.id] = jfr.cvr


def _load_store_systems(session: Session, world: World) -> None:
    """Fagsystemer with their constraint types, roles, clients and SAML SPs."""
    stored = world.stored
    for system in session.scalars(select(Fagsystem)):
        world.fagsystemer[system.id] = FagsystemView(list(system.kinds))
        if system.entity_id:
            stored.entity_fagsystem[system.entity_id] = system.id
    for ctype in session.scalars(select(ConstraintType)):
        view = ConstraintTypeView(ctype.kind, ctype.values, ctype.regex)
        world.fagsystemer[ctype.fagsystem_id].constraint_types[ctype.uri] = view
    for role in session.scalars(select(SystemRole)):
        world.roles[role.id] = RoleView(role.fagsystem_id, list(role.constraint_uris))
        stored.role_fagsystem[role.id] = role.fagsystem_id
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
        session.scalars(select(OrgUnit.uuid).where(OrgUnit.external_id.is_not(None)))
    )
    for uuid, (cvr, _parent) in list(world.org_units.items()):
        if cvr in named and uuid not in kept_units and uuid not in synced_units:
            del world.org_units[uuid]
    kept_users = {(user["cvr"], user["username"]) for user in _objects(data, "users")}
    for key, view in list(world.users.items()):
        if key[0] in named and view.source == "local" and key not in kept_users:
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
        uuid = user.get("uuid") or world.stored.user_uuid.get(key)
        world.users[key] = UserView(uuid, "local", user.get("org_unit"))
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
