"""Semantic checks of the catalogue's structure: org trees and fagsystemer.

:class:`StructureChecks` is the base of the validator in :mod:`store.catalogue.validation`;
it holds the error list, the helpers shared by every check and the checks of the parts
the rest of the catalogue refers to.
"""

from __future__ import annotations

import re
from typing import Any

from bench.catalogue_legacy.common import CatalogueError, is_kle_code, join_path
from bench.catalogue_legacy.loading import metadata_entity_id
from bench.catalogue_legacy.world import ConstraintTypeView, World

Item = dict[str, Any]

# Administrative roles (the same as authz.admin's; the store does not import the engine).
ADMIN_CVR_ROLES = (
    "administrator",
    "brugeradministrator",
    "jobfunktionsrolleadministrator",
    "godkender",
    "organisation_redaktoer",
)
ADMIN_FAGSYSTEM_ROLE = "leverandoeradministrator"
ADMIN_OPERATOR = "operator"


class StructureChecks:
    """Collects semantic errors; checks municipalities with org units, and fagsystemer."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.errors: list[CatalogueError] = []

    def error(self, message: str, *path: str | int) -> None:
        self.errors.append(CatalogueError(join_path(*path), message))

    def duplicates(self, keys: list[Any], message: str, *path: str | int) -> None:
        """Report each repeated key at its second and later positions."""
        seen: dict[Any, int] = {}
        for index, key in enumerate(keys):
            if key in seen:
                self.error(message.format(key=key, first=seen[key]), *path, index)
            else:
                seen[key] = index

    def known_cvr(self, cvr: str, *path: str | int) -> None:
        if cvr not in self.world.municipalities:
            self.error(f"unknown municipality {cvr}; add it under municipalities", *path)

    def value_problem(self, ctype: ConstraintTypeView, value: str, cvr: str) -> str | None:
        """Why ``value`` is not valid for ``ctype`` in municipality ``cvr``, or None."""
        if ctype.kind == "kle" and not is_kle_code(value):
            return f"{value!r} is not a KLE code (like 27, 27.35, 27.35.04, 27.* or 27.35.*)"
        if ctype.kind == "orgenhed" and value not in self.world.units_of(cvr):
            return f"{value!r} is not an org unit of municipality {cvr}"
        if ctype.kind == "values" and value not in (ctype.values or []):
            return f"{value!r} is not one of the allowed values {', '.join(ctype.values or [])}"
        if ctype.kind == "text" and ctype.regex and not re.fullmatch(ctype.regex, value):
            return f"{value!r} does not match the pattern {ctype.regex}"
        return None

    # -- municipalities and org units ----------------------------------------------------

    def check_municipalities(self, municipalities: list[Item]) -> None:
        self.duplicates(
            [m["cvr"] for m in municipalities],
            "duplicate CVR {key} (first at municipalities[{first}]); merge the two entries",
            "municipalities",
        )
        seen_units: dict[str, str] = {}
        for m_index, municipality in enumerate(municipalities):
            for u_index, unit in enumerate(municipality.get("org_units", [])):
                path = ("municipalities", m_index, "org_units", u_index)
                self.check_org_unit(municipality["cvr"], unit, seen_units, path)
        self.check_cycles(municipalities)

    def check_org_unit(
        self, cvr: str, unit: Item, seen: dict[str, str], path: tuple[str | int, ...]
    ) -> None:
        uuid = unit["uuid"]
        if uuid in seen:
            self.error(f"duplicate org unit uuid {uuid} (first at {seen[uuid]})", *path, "uuid")
        seen.setdefault(uuid, join_path(*path))
        owner = self.world.stored.org_unit_cvr.get(uuid, cvr)
        if owner != cvr:
            self.error(f"org unit {uuid} already belongs to municipality {owner}", *path, "uuid")
        parent = unit.get("parent")
        if parent is not None and parent not in self.world.units_of(cvr):
            self.error(
                f"parent {parent} is not an org unit of municipality {cvr}; "
                "add it to org_units or fix the uuid",
                *path,
                "parent",
            )
        manager = unit.get("manager")
        if manager is not None and (cvr, manager) not in self.world.users:
            self.error(f"manager {manager!r} is not a user of municipality {cvr}", *path, "manager")

    def check_cycles(self, municipalities: list[Item]) -> None:
        """Report each cycle of the merged org tree once, at the first file unit on it."""
        reported: set[str] = set()
        for m_index, municipality in enumerate(municipalities):
            for u_index, unit in enumerate(municipality.get("org_units", [])):
                cycle = self.cycle_through(unit["uuid"])
                if cycle and not reported & set(cycle):
                    reported.update(cycle)
                    shown = " → ".join([*cycle, cycle[0]])
                    self.error(
                        f"cycle in the org tree: {shown}; one unit must have another parent",
                        "municipalities",
                        m_index,
                        "org_units",
                        u_index,
                        "parent",
                    )

    def cycle_through(self, start: str) -> list[str]:
        """The units on a parent cycle that contains ``start``, or [] if there is none."""
        chain = [start]
        current = self.world.org_units.get(start, ("", None))[1]
        while current is not None and current not in chain:
            chain.append(current)
            current = self.world.org_units.get(current, ("", None))[1]
        return chain if current == start else []

    # -- fagsystemer -------------------------------------------------------------------

    def check_fagsystemer(self, systems: list[Item]) -> None:
        self.duplicates(
            [s["id"] for s in systems],
            "duplicate fagsystem id {key} (first at [{first}])",
            "fagsystemer",
        )
        entity_ids: dict[str, int] = {}
        client_ids: dict[str, str] = {}
        sp_ids: dict[str, str] = {}
        role_ids: dict[str, str] = {}
        for index, system in enumerate(systems):
            path = ("fagsystemer", index)
            self.check_entity_id(system, entity_ids, index)
            for s_index, sp in enumerate(system.get("saml", [])):
                self.check_saml(system["id"], sp, sp_ids, (*path, "saml", s_index))
            for c_index, client in enumerate(system.get("oidc_clients", [])):
                self.check_client(
                    system["id"], client, client_ids, (*path, "oidc_clients", c_index)
                )
            self.check_constraint_types(system, path)
            for r_index, role in enumerate(system.get("roles", [])):
                self.check_role(system["id"], role, role_ids, (*path, "roles", r_index))

    def check_entity_id(self, system: Item, seen: dict[str, int], index: int) -> None:
        entity_id = system.get("entity_id")
        path = ("fagsystemer", index, "entity_id")
        if entity_id is None:
            if "service" in self.world.fagsystemer[system["id"]].kinds:
                self.error("a service needs an entity_id (the audience of its tokens)", *path[:2])
            return
        if entity_id in seen:
            self.error(
                f"duplicate entity_id {entity_id} (first at fagsystemer[{seen[entity_id]}])", *path
            )
        seen.setdefault(entity_id, index)
        owner = self.world.stored.entity_fagsystem.get(entity_id, system["id"])
        if owner != system["id"]:
            self.error(f"entity_id {entity_id} already belongs to fagsystem {owner}", *path)

    def check_saml(
        self, system_id: str, sp: Item, seen: dict[str, str], path: tuple[str | int, ...]
    ) -> None:
        if "metadata" not in sp:
            self.error("the metadata was not read; import the file with stsctl import", *path)
            return
        try:
            entity_id = metadata_entity_id(sp["metadata"])
        except ValueError as exc:
            self.error(str(exc), *path, "metadata")
            return
        if entity_id in seen:
            self.error(
                f"duplicate SAML entityID {entity_id} (first at {seen[entity_id]})",
                *path,
                "metadata",
            )
        seen.setdefault(entity_id, join_path(*path))
        owner = self.world.stored.sp_fagsystem.get(entity_id, system_id)
        if owner != system_id:
            self.error(
                f"SAML entityID {entity_id} already belongs to fagsystem {owner}", *path, "metadata"
            )

    def check_client(
        self, system_id: str, client: Item, seen: dict[str, str], path: tuple[str | int, ...]
    ) -> None:
        client_id = client["client_id"]
        if client_id in seen:
            self.error(
                f"duplicate client_id {client_id} (first at {seen[client_id]})", *path, "client_id"
            )
        seen.setdefault(client_id, join_path(*path))
        owner = self.world.stored.client_fagsystem.get(client_id, system_id)
        if owner != system_id:
            self.error(
                f"client_id {client_id} already belongs to fagsystem {owner}", *path, "client_id"
            )
        method = client.get("token_endpoint_auth_method", "client_secret_basic")
        if method.startswith("client_secret") and "client_secret_env" not in client:
            self.error(f"{method} needs client_secret_env: the variable holding the secret", *path)
        self.check_admin_roles(client.get("admin_roles", []), *path, "admin_roles")

    # -- administrative roles (users and OIDC clients) -------------------------------------

    def check_admin_roles(self, roles: list[Item], *path: str | int) -> None:
        """``admin_roles`` of one user or client: known roles, each in a scope that exists."""
        self.duplicates(
            [admin_role_key(held) for held in roles],
            "duplicate administrative role {key} (first at [{first}])",
            *path,
        )
        for index, held in enumerate(roles):
            where = (*path, index)
            role = held["role"]
            if role == ADMIN_OPERATOR:
                self.error(
                    "the operator role is never given in a catalogue; give it with "
                    "`stsctl admin grant NAME --role operator`",
                    *where,
                    "role",
                )
            elif role in ADMIN_CVR_ROLES:
                if "cvr" in held:
                    self.known_cvr(held["cvr"], *where, "cvr")
                else:
                    self.error(f"{role} is held for a municipality: add its cvr", *where, "cvr")
                if "fagsystem" in held:
                    self.error(
                        f"{role} is held for a municipality, not a fagsystem; remove fagsystem",
                        *where,
                        "fagsystem",
                    )
            elif role == ADMIN_FAGSYSTEM_ROLE:
                fagsystem = held.get("fagsystem")
                if fagsystem is None:
                    self.error(f"{role} is held for a fagsystem: add its id", *where, "fagsystem")
                elif fagsystem not in self.world.fagsystemer:
                    self.error(
                        f"unknown fagsystem {fagsystem}; add it under fagsystemer",
                        *where,
                        "fagsystem",
                    )
                if "cvr" in held:
                    self.error(
                        f"{role} is held for a fagsystem, not a municipality; remove cvr",
                        *where,
                        "cvr",
                    )
            else:
                known = ", ".join((*ADMIN_CVR_ROLES, ADMIN_FAGSYSTEM_ROLE))
                self.error(
                    f"unknown administrative role {role!r}; it must be one of {known}",
                    *where,
                    "role",
                )

    def check_constraint_types(self, system: Item, path: tuple[str | int, ...]) -> None:
        types = system.get("constraint_types", [])
        self.duplicates(
            [t["id"] for t in types],
            "duplicate constraint type {key} in this fagsystem (first at [{first}])",
            *path,
            "constraint_types",
        )
        for index, ctype in enumerate(types):
            where = (*path, "constraint_types", index)
            kind = ctype["kind"]
            if kind == "values" and "values" not in ctype:
                self.error("a constraint type of kind values needs a values list", *where)
            if kind != "values" and "values" in ctype:
                self.error(f"values is only for kind values, not {kind}", *where, "values")
            if kind != "text" and "regex" in ctype:
                self.error(f"regex is only for kind text, not {kind}", *where, "regex")
            if "regex" in ctype:
                try:
                    re.compile(ctype["regex"])
                except re.error as exc:
                    self.error(f"not a valid regular expression: {exc}", *where, "regex")

    def check_role(
        self, system_id: str, role: Item, seen: dict[str, str], path: tuple[str | int, ...]
    ) -> None:
        role_id = role["id"]
        if role_id in seen:
            self.error(f"duplicate role id {role_id} (first at {seen[role_id]})", *path, "id")
        seen.setdefault(role_id, join_path(*path))
        owner = self.world.stored.role_fagsystem.get(role_id, system_id)
        if owner != system_id:
            self.error(f"role {role_id} already belongs to fagsystem {owner}", *path, "id")
        declared = self.world.fagsystemer[system_id].constraint_types
        for index, uri in enumerate(role.get("constraints", [])):
            if uri not in declared:
                self.error(
                    f"unknown constraint type {uri}; declare it in constraint_types",
                    *path,
                    "constraints",
                    index,
                )


def admin_role_key(held: Item) -> str:
    """An administrative role as a reader names it: ``godkender for 29189846``."""
    scope = held.get("cvr") or held.get("fagsystem")
    return f"{held['role']} for {scope}" if scope else str(held["role"])
