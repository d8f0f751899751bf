"""Semantic checks of a catalogue against itself and the store: references, duplicates, values.

:func:`validate` reports every problem it finds. When the JSON Schema already fails it
returns only the schema errors: the semantic checks assume a well-formed document, and
checking references of a malformed file would mostly repeat the same mistake.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from store.catalogue.common import (
    KLE_DYNAMIC,
    ORGENHED_DYNAMIC,
    CatalogueError,
    is_kle_code,
    join_path,
    parse_date,
)
from store.catalogue.loading import metadata_entity_id
from store.catalogue.schema import schema_errors
from store.catalogue.world import ConstraintTypeView, World, build_world

Item = dict[str, Any]


def validate(session: Session, data: Any, *, prune: bool = False) -> list[CatalogueError]:
    """Every problem in ``data``: schema errors first; if none, the semantic checks."""
    errors = schema_errors(data)
    if errors:
        return errors
    checker = _Checker(build_world(session, data, prune=prune))
    checker.check(data)
    return sorted(set(checker.errors), key=checker.errors.index)


class _Checker:
    """Collects semantic errors; one method per section of the catalogue."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.errors: list[CatalogueError] = []

    def error(self, message: str, *path: str | int) -> None:
        self.errors.append(CatalogueError(join_path(*path), message))

    def check(self, data: Item) -> None:
        self.check_municipalities(data.get("municipalities", []))
        self.check_fagsystemer(data.get("fagsystemer", []))
        self.check_jfrs(data.get("jobfunktionsroller", []))
        self.check_users(data.get("users", []))
        self.check_assignments(data.get("assignments", []))
        self.check_serviceaftaler(data.get("serviceaftaler", []))

    def duplicates(self, keys: list[Any], message: str, *path: str | int) -> None:
        """Report each repeated key at its second and later positions."""
        seen: dict[Any, int] = {}
        for index, key in enumerate(keys):
            if key in seen:
                self.error(message.format(key=key, first=seen[key]), *path, index)
            else:
                seen[key] = index

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

    # -- jobfunktionsroller --------------------------------------------------------------

    def check_jfrs(self, jfrs: list[Item]) -> None:
        self.duplicates(
            [j["id"] for j in jfrs],
            "duplicate jobfunktionsrolle id {key} (first at [{first}])",
            "jobfunktionsroller",
        )
        for index, jfr in enumerate(jfrs):
            path = ("jobfunktionsroller", index)
            cvr = jfr["cvr"]
            self.known_cvr(cvr, *path, "cvr")
            owner = self.world.stored.jfr_cvr.get(jfr["id"], cvr)
            if owner != cvr:
                self.error(
                    f"jobfunktionsrolle {jfr['id']} belongs to municipality {owner}", *path, "cvr"
                )
            for d_index, delegate in enumerate(jfr.get("delegated_to", [])):
                self.known_cvr(delegate, *path, "delegated_to", d_index)
                if delegate == cvr:
                    self.error(
                        "a municipality cannot delegate to itself", *path, "delegated_to", d_index
                    )
            delegated = bool(jfr.get("delegated_to"))
            for g_index, grant in enumerate(jfr.get("grants", [])):
                self.check_grant(cvr, delegated, grant, (*path, "grants", g_index))

    def known_cvr(self, cvr: str, *path: str | int) -> None:
        if cvr not in self.world.municipalities:
            self.error(f"unknown municipality {cvr}; add it under municipalities", *path)

    def check_grant(
        self, cvr: str, delegated: bool, grant: Item, path: tuple[str | int, ...]
    ) -> None:
        role = self.world.roles.get(grant["role"])
        if role is None:
            self.error(
                f"unknown role {grant['role']}; it must be a role of a fagsystem", *path, "role"
            )
            return
        given = grant.get("constraints", {})
        required = set(role.constraints)
        for uri in sorted(required - set(given)):
            self.error(
                f"missing constraint type {uri}, which role {grant['role']} requires",
                *path,
                "constraints",
            )
        declared = self.world.fagsystemer[role.fagsystem_id].constraint_types
        for uri, spec in given.items():
            where = (*path, "constraints")
            if uri not in required:
                self.error(
                    f"unknown constraint type {uri}: role {grant['role']} does not use it", *where
                )
            elif uri not in declared:
                self.error(
                    f"unknown constraint type {uri}: {role.fagsystem_id} does not declare it",
                    *where,
                )
            else:
                self.check_spec(cvr, delegated, declared[uri], spec, (*where, uri))

    def check_spec(
        self,
        cvr: str,
        delegated: bool,
        ctype: ConstraintTypeView,
        spec: Item,
        path: tuple[str | int, ...],
    ) -> None:
        if "fixed" in spec:
            for index, value in enumerate(spec["fixed"]):
                problem = self.value_problem(ctype, value, cvr)
                if problem:
                    self.error(problem, *path, "fixed", index)
        if "dynamic" in spec:
            dynamic = spec["dynamic"]
            allowed = {"kle": KLE_DYNAMIC, "orgenhed": ORGENHED_DYNAMIC}.get(
                ctype.kind, frozenset()
            )
            if dynamic not in allowed:
                self.error(
                    f"dynamic {dynamic} does not fit a constraint type of kind {ctype.kind}",
                    *path,
                    "dynamic",
                )
            if delegated:
                self.error(
                    "a delegated jobfunktionsrolle cannot carry dynamic constraints",
                    *path,
                    "dynamic",
                )

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

    # -- users -------------------------------------------------------------------------

    def check_users(self, users: list[Item]) -> None:
        self.duplicates(
            [(u["cvr"], u["username"]) for u in users],
            "duplicate user (CVR, username) {key} (first at users[{first}])",
            "users",
        )
        self.duplicates(
            [u.get("uuid") or index for index, u in enumerate(users)],
            "duplicate user uuid {key} (first at users[{first}])",
            "users",
        )
        stored = self.world.stored
        for index, user in enumerate(users):
            key = (user["cvr"], user["username"])
            self.known_cvr(user["cvr"], "users", index, "cvr")
            if stored.user_source.get(key) == "ad":
                self.error(
                    f"{user['username']} is synchronised from AD; remove it from the file",
                    "users",
                    index,
                )
            uuid = user.get("uuid")
            if uuid and stored.user_uuid.get(key, uuid) != uuid:
                self.error(
                    f"stored with uuid {stored.user_uuid[key]}; a user's uuid cannot change",
                    "users",
                    index,
                    "uuid",
                )
            if uuid and stored.uuid_user.get(uuid, key) != key:
                self.error(f"uuid {uuid} belongs to another user", "users", index, "uuid")
            org_unit = user.get("org_unit")
            if org_unit is not None and org_unit not in self.world.units_of(user["cvr"]):
                self.error(
                    f"{org_unit} is not an org unit of municipality {user['cvr']}",
                    "users",
                    index,
                    "org_unit",
                )

    # -- assignments -------------------------------------------------------------------

    def check_assignments(self, assignments: list[Item]) -> None:
        self.duplicates(
            [assignment_key(a) for a in assignments],
            "duplicate assignment of this role to this subject (first at assignments[{first}]); "
            "give one of them a different case_number",
            "assignments",
        )
        for index, assignment in enumerate(assignments):
            self.check_assignment(assignment, ("assignments", index))

    def check_assignment(self, assignment: Item, path: tuple[str | int, ...]) -> None:
        cvr = assignment["cvr"]
        self.known_cvr(cvr, *path, "cvr")
        self.check_subject(assignment, path)
        self.check_dates(assignment, path)
        jfr = self.world.jfrs.get(assignment["role"])
        if jfr is None:
            self.error(f"unknown jobfunktionsrolle {assignment['role']}", *path, "role")
            return
        if cvr != jfr.cvr and cvr not in jfr.delegated_to:
            self.error(
                f"municipality {cvr} may not assign {assignment['role']}: it belongs to {jfr.cvr} "
                "and is not delegated to it",
                *path,
                "role",
            )
        postponed = self.postponed_types(assignment["role"])
        given = assignment.get("constraints", {})
        for uri in sorted(set(postponed) - set(given)):
            self.error(f"missing value for postponed constraint type {uri}", *path, "constraints")
        for uri, values in given.items():
            if uri not in postponed:
                self.error(
                    f"constraint type {uri} is not postponed in this jobfunktionsrolle",
                    *path,
                    "constraints",
                )
                continue
            for v_index, value in enumerate(values):
                for ctype in postponed[uri]:
                    problem = self.value_problem(ctype, value, jfr.cvr)
                    if problem:
                        self.error(problem, *path, "constraints", uri, v_index)
                        break

    def check_subject(self, assignment: Item, path: tuple[str | int, ...]) -> None:
        cvr = assignment["cvr"]
        subjects = [key for key in ("user", "group", "org_unit") if key in assignment]
        if len(subjects) != 1:
            self.error("give exactly one of user, group or org_unit", *path)
            return
        subject = subjects[0]
        value = assignment[subject]
        if subject == "user" and (cvr, value) not in self.world.users:
            self.error(f"unknown user {value!r} in municipality {cvr}", *path, "user")
        if subject == "group" and not self.world.has_group(cvr, value):
            self.error(
                f"unknown group {value!r} in municipality {cvr}; groups come from AD "
                "(match by objectGUID or DN), so synchronise first",
                *path,
                "group",
            )
        if subject == "org_unit" and value not in self.world.units_of(cvr):
            self.error(f"{value} is not an org unit of municipality {cvr}", *path, "org_unit")
        for key in ("inherit", "except_users"):
            if key in assignment and subject != "org_unit":
                self.error(f"{key} is only for org_unit assignments", *path, key)
        for index, username in enumerate(assignment.get("except_users", [])):
            if (cvr, username) not in self.world.users:
                self.error(
                    f"unknown user {username!r} in municipality {cvr}", *path, "except_users", index
                )

    def check_dates(self, assignment: Item, path: tuple[str | int, ...]) -> None:
        dates = {}
        for key in ("valid_from", "valid_to"):
            try:
                dates[key] = parse_date(assignment.get(key))
            except ValueError:
                self.error(f"{assignment[key]!r} is not a real date (YYYY-MM-DD)", *path, key)
        start, end = dates.get("valid_from"), dates.get("valid_to")
        if start and end and start > end:
            self.error("valid_from is after valid_to", *path, "valid_to")

    def postponed_types(self, jfr_id: str) -> dict[str, list[ConstraintTypeView]]:
        """Postponed constraint-type URIs of a JFR, with each fagsystem's definition of it."""
        postponed: dict[str, list[ConstraintTypeView]] = {}
        for role_id, constraints in self.world.jfrs[jfr_id].grants:
            role = self.world.roles.get(role_id)
            declared = self.world.fagsystemer[role.fagsystem_id].constraint_types if role else {}
            for uri, spec in constraints.items():
                if spec.get("postponed") and uri in declared:
                    postponed.setdefault(uri, []).append(declared[uri])
        return postponed

    # -- serviceaftaler ----------------------------------------------------------------

    def check_serviceaftaler(self, aftaler: list[Item]) -> None:
        self.duplicates(
            [a["id"] for a in aftaler],
            "duplicate serviceaftale id {key} (first at [{first}])",
            "serviceaftaler",
        )
        for index, aftale in enumerate(aftaler):
            self.check_serviceaftale(aftale, ("serviceaftaler", index))

    def check_serviceaftale(self, aftale: Item, path: tuple[str | int, ...]) -> None:
        self.known_cvr(aftale["cvr"], *path, "cvr")
        if aftale["anvendersystem"] not in self.world.fagsystemer:
            self.error(f"unknown fagsystem {aftale['anvendersystem']}", *path, "anvendersystem")
        service = self.world.fagsystemer.get(aftale["service"])
        if service is None:
            self.error(f"unknown fagsystem {aftale['service']}", *path, "service")
            return
        if "service" not in service.kinds:
            self.error(
                f"fagsystem {aftale['service']} is not a service (kind: service)", *path, "service"
            )
        required: set[str] = set()
        for index, role_id in enumerate(aftale.get("roles", [])):
            role = self.world.roles.get(role_id)
            if role is None or role.fagsystem_id != aftale["service"]:
                self.error(
                    f"{role_id} is not a role of service {aftale['service']}", *path, "roles", index
                )
            else:
                required.update(role.constraints)
        given = aftale.get("constraints", {})
        if aftale.get("status") == "approved":
            for uri in sorted(required - set(given)):
                self.error(
                    f"missing value for constraint type {uri} required by its roles",
                    *path,
                    "constraints",
                )
        for uri, values in given.items():
            ctype = service.constraint_types.get(uri)
            if uri not in required or ctype is None:
                self.error(
                    f"unknown constraint type {uri}: none of the roles uses it",
                    *path,
                    "constraints",
                )
                continue
            for v_index, value in enumerate(values):
                problem = self.value_problem(ctype, value, aftale["cvr"])
                if problem:
                    self.error(problem, *path, "constraints", uri, v_index)


def assignment_key(assignment: Item) -> tuple[str, str, str, str, str | None]:
    """The natural key of an assignment: subject (kind, name), CVR, role, case number."""
    kind = next((key for key in ("user", "group", "org_unit") if key in assignment), "")
    subject = str(assignment.get(kind, "")) if kind else ""
    if kind == "group":
        subject = subject.casefold()
    return (kind, subject, assignment["cvr"], assignment["role"], assignment.get("case_number"))
