"""Semantic checks of a catalogue against itself and the store: references, duplicates, values.

:func:`validate` reports every problem it finds. When the JSON Schema already fails it
returns only the schema errors: the semantic checks assume a well-formed document, and
checking references of a malformed file would mostly repeat the same mistake.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from store.catalogue.certificates import certificate_errors
from store.catalogue.checks import StructureChecks
from store.catalogue.common import KLE_DYNAMIC, ORGENHED_DYNAMIC, CatalogueError, parse_date
from store.catalogue.schema import schema_errors
from store.catalogue.world import ConstraintTypeView, World, build_world

Item = dict[str, Any]


def validate(session: Session, data: Any, *, prune: bool = False) -> list[CatalogueError]:
    """Every problem in ``data``: schema errors first; if none, the semantic checks."""
    return check(session, data, prune=prune)[0]


def check(
    session: Session, data: Any, *, prune: bool = False
) -> tuple[list[CatalogueError], World]:
    """:func:`validate`, also returning the world it checked against (empty on schema errors).

    The importer resolves references (users, groups) through that world's maps.
    """
    errors = schema_errors(data)
    if errors:
        return errors, World()
    checker = _Checker(build_world(session, data, prune=prune))
    checker.check(data)
    checker.errors += certificate_errors(session, data)  # KOMBIT STS certificates
    return list(dict.fromkeys(checker.errors)), checker.world


class _Checker(StructureChecks):
    """Adds the checks of jobfunktionsroller, users, assignments and serviceaftaler."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.postponed: dict[str, dict[str, list[ConstraintTypeView]]] = {}

    @contextlib.contextmanager
    def collecting(self) -> Iterator[list[CatalogueError]]:
        """Errors reported inside the block go to the list it yields, not to ``errors``."""
        errors, self.errors = self.errors, []
        try:
            yield self.errors
        finally:
            self.errors = errors

    def check(self, data: Item) -> None:
        self.check_municipalities(data.get("municipalities", []))
        self.check_fagsystemer(data.get("fagsystemer", []))
        self.check_jfrs(data.get("jobfunktionsroller", []))
        self.check_users(data.get("users", []))
        self.check_assignments(data.get("assignments", []))
        self.check_serviceaftaler(data.get("serviceaftaler", []))

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

    # -- users -------------------------------------------------------------------------

    def check_users(self, users: Iterable[Item]) -> None:
        by_key = _Repeats(lambda u, _index: (u["cvr"], u["username"]))
        by_uuid = _Repeats(lambda u, index: u.get("uuid") or index)
        with self.collecting() as item_errors:
            for index, user in enumerate(users):
                by_key.add(user, index)
                by_uuid.add(user, index)
                self.check_user(user, index)
        by_key.report(
            self, users, "duplicate user (CVR, username) {key} (first at users[{first}])", "users"
        )
        by_uuid.report(self, users, "duplicate user uuid {key} (first at users[{first}])", "users")
        self.errors += item_errors

    def check_user(self, user: Item, index: int) -> None:
        stored = self.world.stored
        key = (user["cvr"], user["username"])
        self.known_cvr(user["cvr"], "users", index, "cvr")
        if stored.user_source.get(key) == "ad":
            self.error(
                f"{user['username']} is synchronised from AD; remove it from the file",
                "users",
                index,
            )
        uuid = user.get("uuid")
        if uuid and stored.user_id.get(key, uuid) != uuid:
            self.error(
                f"stored with uuid {stored.user_id[key]}; a user's uuid cannot change",
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
        if "admin_roles" in user:
            self.check_admin_roles(user["admin_roles"], "users", index, "admin_roles")

    # -- assignments -------------------------------------------------------------------

    def check_assignments(self, assignments: Iterable[Item]) -> None:
        repeats = _Repeats(lambda a, _index: assignment_key(a))
        seen, suspects = repeats.seen, repeats.suspects
        fine = self.fine_assignment
        with self.collecting() as item_errors:
            for index, assignment in enumerate(assignments):
                digest = hash(assignment_key(assignment))  # _Repeats.add, inlined
                if digest in seen:
                    suspects.add(digest)
                else:
                    seen.add(digest)
                if not fine(assignment):
                    self.check_assignment(assignment, ("assignments", index))
        repeats.report(
            self,
            assignments,
            "duplicate assignment of this role to this subject (first at assignments[{first}]); "
            "give one of them a different case_number",
            "assignments",
        )
        self.errors += item_errors

    def fine_assignment(self, assignment: Item) -> bool:
        """True when :meth:`check_assignment` would certainly find nothing (the common case).

        A quick look for the ordinary assignment: known municipality, one known subject,
        dates in order, a role the municipality may assign, and no postponed constraint
        types. Anything else (including every problem) goes through the full check.
        """
        world = self.world
        cvr = assignment["cvr"]
        if cvr not in world.municipalities:
            return False
        if "user" in assignment:
            if "group" in assignment or "org_unit" in assignment:
                return False
            if "inherit" in assignment or "except_users" in assignment:
                return False
            if (cvr, assignment["user"]) not in world.users:
                return False
        elif "group" in assignment:
            if "org_unit" in assignment or "inherit" in assignment or "except_users" in assignment:
                return False
            if (cvr, assignment["group"].casefold()) not in world.groups:
                return False
        elif "org_unit" in assignment:
            if assignment["org_unit"] not in world.units_of(cvr):
                return False
            users = world.users
            for username in assignment.get("except_users", ()):
                if (cvr, username) not in users:
                    return False
        else:
            return False
        start = assignment.get("valid_from")
        end = assignment.get("valid_to")
        if start is not None or end is not None:
            try:
                first, last = parse_date(start), parse_date(end)
            except ValueError:
                return False
            if first and last and first > last:
                return False
        role = assignment["role"]
        jfr = world.jfrs.get(role)
        if jfr is None or (cvr != jfr.cvr and cvr not in jfr.delegated_to):
            return False
        return not assignment.get("constraints") and not self.postponed_types(role)

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
        cached = self.postponed.get(jfr_id)
        if cached is not None:
            return cached
        postponed: dict[str, list[ConstraintTypeView]] = {}
        for role_id, constraints in self.world.jfrs[jfr_id].grants:
            role = self.world.roles.get(role_id)
            declared = self.world.fagsystemer[role.fagsystem_id].constraint_types if role else {}
            for uri, spec in constraints.items():
                if spec.get("postponed") and uri in declared:
                    postponed.setdefault(uri, []).append(declared[uri])
        self.postponed[jfr_id] = postponed
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


class _Repeats:
    """Finds repeated keys of a (possibly streamed) section without holding every key.

    A first pass keeps only the keys' hashes; the items whose hash was seen twice are
    read again and compared exactly, which reports the same errors, in the same order,
    as comparing every key.
    """

    def __init__(self, key: Callable[[Item, int], Hashable]) -> None:
        self.key = key
        self.seen: set[int] = set()
        self.suspects: set[int] = set()

    def add(self, item: Item, index: int) -> None:
        digest = hash(self.key(item, index))
        if digest in self.seen:
            self.suspects.add(digest)
        else:
            self.seen.add(digest)

    def report(
        self, checker: StructureChecks, items: Iterable[Item], message: str, *path: str | int
    ) -> None:
        self.seen = set()
        if not self.suspects:
            return
        first: dict[Hashable, int] = {}
        for index, item in enumerate(items):
            key = self.key(item, index)
            if hash(key) not in self.suspects:
                continue
            if key in first:
                checker.error(message.format(key=key, first=first[key]), *path, index)
            else:
                first[key] = index


def assignment_key(assignment: Item) -> tuple[str, str, str, str, str | None]:
    """The natural key of an assignment: subject (kind, name), CVR, role, case number."""
    if "user" in assignment:
        kind, subject = "user", str(assignment["user"])
    elif "group" in assignment:
        kind, subject = "group", str(assignment["group"]).casefold()
    elif "org_unit" in assignment:
        kind, subject = "org_unit", str(assignment["org_unit"])
    else:
        kind, subject = "", ""
    return (kind, subject, assignment["cvr"], assignment["role"], assignment.get("case_number"))
