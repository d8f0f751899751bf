"""Property: the privileges granted are never wider than what the user's valid assignments grant.

Hypothesis draws random small worlds (org unit, KLE, nested groups, JFRs with fixed,
dynamic and postponed values, assignments to the user, to groups and to org units with
inheritance, exceptions and dates). An independent, deliberately naive model computes
what each valid assignment grants, as "boxes" (role, scope, a value set per constraint
type). Then:

* every point of every granted group lies inside one box with the same constraint types
  (never wider; KLE coverage counts ``27.*`` as covering ``27.35.04``), and
* every point of every box lies inside a granted group (nothing is lost either).
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authz import kle
from authz.engine import resolve
from authz.model import PrivilegeGroup
from store.db import Database
from tests.integration.authz_world import (
    CVR,
    KLE,
    ORG,
    SENS,
    TREE,
    add_jfr,
    add_user,
    assign,
    catalogue,
    load,
    role,
    unit,
    user_id,
)

ON = dt.date(2026, 6, 15)
KLE_POOL = ["32.*", "32.01", "32.01.05", "15.*", "15.02", "27.35.04", "27.35"]
UNITS = [n for n, *_ in TREE]
PARENT = {n: p for n, p, *_ in TREE}
UNIT_KLE = {n: k for n, _, _, k in TREE}
ROLE_TYPES = {"laes": [KLE], "opret": [KLE, ORG], "org": [ORG], "udbetal": [], "sens": [SENS]}
GROUPS = ["CN=G1,DC=p", "CN=G2,DC=p", "CN=G3,DC=p"]
DATES = [None, "2026-01-01", "2026-06-15", "2026-06-16", "2026-06-14", "2027-01-01"]


def ancestors(n: int) -> list[int]:
    chain = [n]
    while PARENT[chain[-1]] is not None:
        chain.append(PARENT[chain[-1]])  # type: ignore[arg-type]
    return chain


def below(n: int) -> set[int]:
    return {m for m in UNITS if n in ancestors(m)}


# -- strategies --------------------------------------------------------------------------

kle_values = st.lists(st.sampled_from(KLE_POOL), min_size=1, max_size=3, unique=True)
unit_values = st.lists(st.sampled_from(UNITS), min_size=1, max_size=3, unique=True)
sens_values = st.lists(
    st.sampled_from(["Normal", "Fortrolig", "Følsom"]), min_size=1, max_size=2, unique=True
)


def spec(uri: str) -> st.SearchStrategy[dict[str, Any]]:
    if uri == KLE:
        return st.one_of(kle_values.map(lambda v: {"fixed": v}), st.just({"dynamic": "user_kle"}))
    if uri == ORG:
        return st.one_of(
            unit_values.map(lambda v: {"fixed": [unit(n) for n in v]}),
            st.sampled_from(
                [
                    {"dynamic": "user_orgunit"},
                    {"dynamic": "user_orgunit_and_below"},
                    {"dynamic": "orgunit_level_2_and_below"},
                    {"dynamic": "orgunit_level_3_and_below"},
                ]
            ),
        )
    return st.one_of(sens_values.map(lambda v: {"fixed": v}), st.just({"postponed": True}))


@st.composite
def grant(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(ROLE_TYPES)))
    return name, {uri: draw(spec(uri)) for uri in ROLE_TYPES[name]}


@dataclass
class World:
    unit: int
    kle: list[str]
    member_of: list[int]
    nesting: list[tuple[int, int]]  # (child, parent) indexes into GROUPS
    jfrs: list[list[tuple[str, dict[str, Any]]]]
    assignments: list[dict[str, Any]]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    jfrs = draw(st.lists(st.lists(grant(), min_size=1, max_size=3), min_size=1, max_size=3))
    assignments = []
    for _ in range(draw(st.integers(1, 5))):
        subject = draw(st.sampled_from(["user", "other", "group", "org_unit"]))
        item: dict[str, Any] = {
            "jfr": draw(st.integers(0, len(jfrs) - 1)),
            "subject": subject,
            "from": draw(st.sampled_from(DATES[:3])),
            "to": draw(st.sampled_from([None, *DATES[2:]])),
            "sens": draw(sens_values),
        }
        if item["from"] and item["to"] and item["from"] > item["to"]:
            item["from"], item["to"] = item["to"], item["from"]
        if subject == "group":
            item["group"] = draw(st.integers(0, 2))
        if subject == "org_unit":
            item["unit"] = draw(st.sampled_from(UNITS))
            item["inherit"] = draw(st.booleans())
            item["except"] = draw(st.booleans())
        assignments.append(item)
    return World(
        unit=draw(st.sampled_from(UNITS)),
        kle=draw(st.lists(st.sampled_from(KLE_POOL), max_size=2, unique=True)),
        member_of=draw(st.lists(st.integers(0, 2), max_size=2, unique=True)),
        nesting=draw(
            st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=3, unique=True).map(
                lambda edges: [e for e in edges if e[0] != e[1]]
            )
        ),
        jfrs=jfrs,
        assignments=assignments,
    )


# -- the world in the store ----------------------------------------------------------------


def build(db: Database, world: World) -> None:
    data = catalogue()
    ids = [
        add_jfr(data, f"jfr{i}", [(role(name), constraints) for name, constraints in grants])
        for i, grants in enumerate(world.jfrs)
    ]
    add_user(data, "karen", org_unit=world.unit, kle=world.kle)
    add_user(data, "other", org_unit=1)
    for item in world.assignments:
        jfr_grants = world.jfrs[item["jfr"]]
        postponed = any(c.get("postponed") for _, cs in jfr_grants for c in cs.values())
        extra: dict[str, Any] = {}
        if item["from"]:
            extra["valid_from"] = item["from"]
        if item["to"]:
            extra["valid_to"] = item["to"]
        if postponed:
            extra["constraints"] = {SENS: item["sens"]}
        subject = item["subject"]
        if subject in ("user", "other"):
            extra["user"] = "karen" if subject == "user" else "other"
        elif subject == "group":
            extra["group"] = GROUPS[item["group"]]
        else:
            extra["org_unit"] = unit(item["unit"])
            extra["inherit"] = item["inherit"]
            if item["except"]:
                extra["except_users"] = ["karen"]
        extra["case_number"] = f"case-{len(data['assignments'])}"  # keep assignments distinct
        assign(data, ids[item["jfr"]], **extra)
    groups = []
    for index, dn in enumerate(GROUPS):
        members = ["karen"] if index in world.member_of else []
        parents = [GROUPS[p] for c, p in world.nesting if c == index]
        groups.append((dn, members, parents))
    load(db, data, groups)


# -- the naive model ---------------------------------------------------------------------------

Box = tuple[str, dict[str, set[str]]]  # (role uri, {constraint uri: raw values})


def reachable_groups(world: World) -> set[int]:
    found = set(world.member_of)
    frontier = list(found)
    while frontier:
        child = frontier.pop()
        for c, p in world.nesting:
            if c == child and p not in found:
                found.add(p)
                frontier.append(p)
    return found


def holds(world: World, item: dict[str, Any]) -> bool:
    if item["from"] and dt.date.fromisoformat(item["from"]) > ON:
        return False
    if item["to"] and dt.date.fromisoformat(item["to"]) < ON:
        return False
    subject = item["subject"]
    if subject == "user":
        return True
    if subject == "other":
        return False
    if subject == "group":
        return item["group"] in reachable_groups(world)
    if item["except"]:
        return False
    if item["unit"] == world.unit:
        return True
    return item["inherit"] and item["unit"] in ancestors(world.unit)


def values(world: World, item: dict[str, Any], uri: str, how: dict[str, Any]) -> set[str]:
    if "fixed" in how:
        return set(how["fixed"])
    if how.get("postponed"):
        return set(item["sens"])
    name = how["dynamic"]
    if name == "user_kle":
        return set(world.kle) | set(UNIT_KLE[world.unit])
    if name == "user_orgunit":
        return {unit(world.unit)}
    if name == "user_orgunit_and_below":
        return {unit(n) for n in below(world.unit)}
    level = int(name.split("_")[2])
    chain = list(reversed(ancestors(world.unit)))  # root first: level 1
    if level > len(chain):
        return set()
    return {unit(n) for n in below(chain[level - 1])}


def boxes(world: World) -> list[Box]:
    result = []
    for item in world.assignments:
        if not holds(world, item):
            continue
        for name, constraints in world.jfrs[item["jfr"]]:
            box = {uri: values(world, item, uri, how) for uri, how in constraints.items()}
            if any(not v and uri != KLE for uri, v in box.items()):
                continue  # an empty org unit set grants nothing
            result.append((role(name), box))
    return result


def inside(point: dict[str, str], box: Box, privilege: str) -> bool:
    name, constraints = box
    if name != privilege or set(constraints) != set(point):
        return False
    for uri, value in point.items():
        if uri == KLE:
            if value == kle.NO_KLE:
                continue  # grants nothing, so it cannot be wider
            if not kle.covers(constraints[uri], value):
                return False
        elif value not in constraints[uri]:
            return False
    return True


def points(group: PrivilegeGroup) -> Iterator[dict[str, str]]:
    names = [c.name for c in group.constraints]
    for combo in itertools.product(*(c.values for c in group.constraints)):
        yield dict(zip(names, combo, strict=True))


def box_points(box: Box) -> Iterator[dict[str, str]]:
    _, constraints = box
    names = list(constraints)
    normalised = [
        kle.normalise(constraints[n]) if n == KLE else sorted(constraints[n]) for n in names
    ]
    for combo in itertools.product(*normalised):
        yield dict(zip(names, combo, strict=True))


@pytest.fixture(scope="module")
def fresh_db(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("authz-props")
    opened: list[Database] = []

    def make() -> Database:
        path = base / f"{uuid.uuid4().hex}.db"
        shutil.copy(sqlite_template, path)
        db = Database(f"sqlite:///{path}")
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.dispose()


@given(world=worlds())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_granted_never_wider_than_valid_assignments(fresh_db: Any, world: World) -> None:
    db = fresh_db()
    build(db, world)
    result = resolve(db, user_id(db, "karen"), CVR, "KY", on=ON)
    expected = boxes(world)
    for group in result.groups:
        assert group.cvr == CVR
        for point in points(group):
            assert any(inside(point, box, group.privilege) for box in expected), (
                f"{group.privilege} {point} is granted but no valid assignment grants it\n"
                + result.explain()
            )
    for box in expected:  # and nothing a valid assignment grants is lost
        for point in box_points(box):
            assert any(
                point.keys() == {c.name for c in g.constraints}
                and g.privilege == box[0]
                and inside(
                    point, (g.privilege, {c.name: set(c.values) for c in g.constraints}), box[0]
                )
                for g in result.groups
            ), f"{box[0]} {point} is lost\n" + result.explain()
