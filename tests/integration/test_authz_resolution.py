"""Privilege resolution, table-driven: each case is a small catalogue and the exact groups.

Every case runs on SQLite and PostgreSQL (the ``database`` fixture). A case builds its
world with the real catalogue importer (groups, which come from AD, are written
directly), resolves one user for one fagsystem on one day, and compares the full list of
privilege groups: role, scope CVR and every constraint value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.engine import resolve
from authz.errors import (
    AuthzError,
    UnknownFagsystem,
    UnknownMunicipality,
    UnknownUser,
    UserDisabled,
    WrongMunicipality,
)
from store.db import Database
from store.models import Assignment, JfrGrant, Jobfunktionsrolle, User
from tests.integration.authz_world import (
    CASE,
    CVR,
    CVR_B,
    KLE,
    ORG,
    POSTPONED,
    SENS,
    Expected,
    GroupSpec,
    add_jfr,
    add_user,
    assign,
    catalogue,
    dynamic,
    fixed,
    jfr_id,
    load,
    role,
    set_manager,
    shape,
    unit,
    user_id,
)

TODAY = "2026-03-15"


def units(*numbers: int) -> str:
    return ",".join(sorted(unit(n) for n in numbers))


@dataclass
class Case:
    id: str
    build: Callable[[dict[str, Any]], None]
    expected: list[Expected]
    user: str = "karen"
    fagsystem: str = "KY"
    on: str = TODAY
    groups: list[GroupSpec] = field(default_factory=list)
    notes: tuple[str, ...] = ()  # substrings that must appear in the result's notes
    # Rows the importer would refuse (it validates), written after the import: the
    # engine must fail closed on whatever the store holds.
    after: Callable[[Session], None] | None = None


def world_fixed_kle(data: dict[str, Any]) -> None:
    j = add_jfr(data, "laeser", [(role("laes"), {KLE: fixed("27.35.04", "27.*", "15.02", "15")})])
    add_user(data, "karen")
    assign(data, j, user="karen")


def world_only_requested_fagsystem(data: dict[str, Any]) -> None:
    j = add_jfr(
        data,
        "borgerservice",
        [
            (role("laes"), {KLE: fixed("32.*")}),
            (role("laes", "ksd"), {KLE: fixed("15.*")}),
            (role("udbetal"), {}),
        ],
    )
    add_user(data, "karen")
    assign(data, j, user="karen")


def world_user_kle(data: dict[str, Any]) -> None:
    j = add_jfr(data, "egen_kle", [(role("laes"), {KLE: dynamic("user_kle")})])
    # own KLE 27.35.04; own unit (4, Team Nord) has 32.01; the parent unit's 32.* is not used
    add_user(data, "karen", org_unit=4, kle=["27.35.04", "32.01.05"])
    assign(data, j, user="karen")


def world_user_without_kle(data: dict[str, Any]) -> None:
    j = add_jfr(data, "egen_kle", [(role("laes"), {KLE: dynamic("user_kle")})])
    add_user(data, "karen", org_unit=5, kle=[])  # Team Syd has no KLE either
    assign(data, j, user="karen")


def world_user_without_unit(data: dict[str, Any]) -> None:
    j = add_jfr(
        data,
        "egen",
        [
            (role("laes"), {KLE: dynamic("user_kle")}),
            (role("org"), {ORG: dynamic("user_orgunit")}),
        ],
    )
    add_user(data, "karen", org_unit=None, kle=[])
    assign(data, j, user="karen")


def world_org_dynamic(dynamic_value: str, org_unit: int) -> Callable[[dict[str, Any]], None]:
    def build(data: dict[str, Any]) -> None:
        j = add_jfr(data, "org", [(role("org"), {ORG: dynamic(dynamic_value)})])
        add_user(data, "karen", org_unit=org_unit)
        assign(data, j, user="karen")

    return build


def world_managed(data: dict[str, Any]) -> None:
    j = add_jfr(data, "leder", [(role("org"), {ORG: dynamic("managed_orgunits")})])
    add_user(data, "karen", org_unit=3)
    set_manager(data, 3, "karen")
    set_manager(data, 9, "karen")
    assign(data, j, user="karen")


def world_postponed(data: dict[str, Any]) -> None:
    j = add_jfr(data, "udsat", [(role("sens"), {SENS: POSTPONED})])
    add_user(data, "karen")
    assign(data, j, user="karen", constraints={SENS: ["Normal", "Fortrolig"]})


def world_postponed_missing(data: dict[str, Any]) -> None:
    j = add_jfr(data, "udsat", [(role("sens"), {SENS: POSTPONED}), (role("udbetal"), {})])
    add_user(data, "karen")
    assign(data, j, user="karen", constraints={SENS: ["Normal"]})


def drop_postponed_values(session: Session) -> None:
    for assignment in session.scalars(select(Assignment)):
        assignment.constraints = {}


def set_grant(jfr: str, role_id: str, constraints: dict[str, Any]) -> Callable[[Session], None]:
    def change(session: Session) -> None:
        grant = session.scalars(
            select(JfrGrant).where(JfrGrant.jfr_id == jfr, JfrGrant.role_id == role_id)
        ).one()
        grant.constraints = constraints

    return change


def world_two_types_differ(data: dict[str, Any]) -> None:
    a = add_jfr(data, "nord", [(role("opret"), {KLE: fixed("32.*"), ORG: fixed(unit(4))})])
    b = add_jfr(data, "syd", [(role("opret"), {KLE: fixed("15.*"), ORG: fixed(unit(5))})])
    add_user(data, "karen")
    assign(data, a, user="karen")
    assign(data, b, user="karen")


def world_one_type_differs(data: dict[str, Any]) -> None:
    a = add_jfr(data, "nord", [(role("opret"), {KLE: fixed("32.*"), ORG: fixed(unit(4))})])
    b = add_jfr(data, "syd", [(role("opret"), {KLE: fixed("15.*"), ORG: fixed(unit(4))})])
    c = add_jfr(data, "vest", [(role("opret"), {KLE: fixed("32.01"), ORG: fixed(unit(5))})])
    add_user(data, "karen")
    for jfr in (a, b, c):
        assign(data, jfr, user="karen")


def world_identical(data: dict[str, Any]) -> None:
    a = add_jfr(data, "a", [(role("laes"), {KLE: fixed("32.*")})])
    b = add_jfr(data, "b", [(role("laes"), {KLE: fixed("32.01", "32.*")})])
    add_user(data, "karen")
    assign(data, a, user="karen")
    assign(data, b, user="karen")


def world_dates(data: dict[str, Any]) -> None:
    ends = add_jfr(data, "slutter", [(role("laes"), {KLE: fixed("32.*")})])
    starts = add_jfr(data, "starter", [(role("udbetal"), {})])
    add_user(data, "karen")
    assign(data, ends, user="karen", valid_from="2026-01-01", valid_to="2026-03-31")
    assign(data, starts, user="karen", valid_from="2026-04-01")


def world_group_nesting(data: dict[str, Any]) -> None:
    j = add_jfr(data, "gruppe", [(role("laes"), {KLE: fixed("32.*")})])
    other = add_jfr(data, "andet", [(role("udbetal"), {})])
    add_user(data, "karen")
    add_user(data, "bo")
    assign(data, j, group="CN=G3,OU=Grupper,DC=demo")
    assign(data, other, group="CN=Andre,OU=Grupper,DC=demo")


NESTED_GROUPS: list[GroupSpec] = [
    ("CN=G1,OU=Grupper,DC=demo", ["karen"], ["CN=G2,OU=Grupper,DC=demo"]),
    ("CN=G2,OU=Grupper,DC=demo", [], ["CN=G3,OU=Grupper,DC=demo"]),
    ("CN=G3,OU=Grupper,DC=demo", [], []),
    ("CN=Andre,OU=Grupper,DC=demo", ["bo"], []),
]


def world_org_assignments(data: dict[str, Any]) -> None:
    inherited = add_jfr(data, "jobcenter", [(role("laes"), {KLE: fixed("32.*")})])
    local = add_jfr(data, "kun_jobcenter", [(role("udbetal"), {})])
    add_user(data, "karen", org_unit=3)  # in the unit itself
    add_user(data, "bo", org_unit=7)  # three levels below
    add_user(data, "eva", org_unit=4)  # excepted
    add_user(data, "ole", org_unit=8)  # a sibling sub-tree
    assign(data, inherited, org_unit=unit(3), inherit=True, except_users=["eva"])
    assign(data, local, org_unit=unit(3), inherit=False)


def world_delegated(data: dict[str, Any]) -> None:
    j = add_jfr(
        data,
        "faelles",
        [(role("laes"), {KLE: fixed("32.*")}), (role("udbetal"), {})],
        cvr=CVR_B,
        delegated_to=[CVR],
    )
    own = add_jfr(data, "egen", [(role("laes"), {KLE: fixed("15.*")})])
    add_user(data, "karen")
    assign(data, j, user="karen")
    assign(data, own, user="karen")


def world_delegated_dynamic(data: dict[str, Any]) -> None:
    j = add_jfr(
        data,
        "faelles",
        [(role("laes"), {KLE: fixed("32.*")}), (role("udbetal"), {})],
        cvr=CVR_B,
        delegated_to=[CVR],
    )
    add_user(data, "karen", kle=["32.01"])
    assign(data, j, user="karen")


def world_value_checks(data: dict[str, Any]) -> None:
    j = add_jfr(
        data,
        "vaerdier",
        [
            (role("sens"), {SENS: fixed("Normal")}),
            (role("sag"), {CASE: fixed("AB12", "CD34")}),
        ],
    )
    add_user(data, "karen")
    assign(data, j, user="karen")


def fix_values(session: Session) -> None:
    set_grant(jfr_id("vaerdier"), role("sens"), {SENS: fixed("Normal", "Hemmelig")})(session)
    set_grant(jfr_id("vaerdier"), role("sag"), {CASE: fixed("AB12", "bad", "CD34")})(session)


def world_required_missing(data: dict[str, Any]) -> None:
    j = add_jfr(
        data,
        "mangler",
        [(role("opret"), {KLE: fixed("32.*"), ORG: fixed(unit(4))}), (role("udbetal"), {})],
    )
    add_user(data, "karen")
    assign(data, j, user="karen")


def world_other_municipality(data: dict[str, Any]) -> None:
    j = add_jfr(data, "b_rolle", [(role("udbetal"), {})], cvr=CVR_B)
    add_user(data, "karen")
    add_user(data, "bent", org_unit=None, cvr=CVR_B)
    assign(data, j, CVR_B, user="bent")


CASES = [
    Case(
        "fixed KLE is normalised: .* for groups, covered codes dropped, sorted",
        world_fixed_kle,
        [(role("laes"), CVR, {KLE: "15.*,27.*"})],
    ),
    Case(
        "only roles of the requesting fagsystem",
        world_only_requested_fagsystem,
        [(role("laes"), CVR, {KLE: "32.*"}), (role("udbetal"), CVR, {})],
    ),
    Case(
        "the same JFR seen from the other fagsystem",
        world_only_requested_fagsystem,
        [(role("laes", "ksd"), CVR, {KLE: "15.*"})],
        fagsystem="KSD",
    ),
    Case(
        "fagsystem asked by entity id",
        world_only_requested_fagsystem,
        [(role("laes", "ksd"), CVR, {KLE: "15.*"})],
        fagsystem="https://ksd.test",
    ),
    Case(
        "dynamic user_kle: the user's KLE and the own unit's, not the parent unit's",
        world_user_kle,
        [(role("laes"), CVR, {KLE: "27.35.04,32.01.*"})],
    ),
    Case(
        "a user with no KLE gets 99.99.99",
        world_user_without_kle,
        [(role("laes"), CVR, {KLE: "99.99.99"})],
    ),
    Case(
        "a user without org unit: KLE 99.99.99, org constraint dropped",
        world_user_without_unit,
        [(role("laes"), CVR, {KLE: "99.99.99"})],
        notes=("no valid value",),
    ),
    Case(
        "dynamic user_orgunit",
        world_org_dynamic("user_orgunit", 4),
        [(role("org"), CVR, {ORG: units(4)})],
    ),
    Case(
        "dynamic user_orgunit_and_below",
        world_org_dynamic("user_orgunit_and_below", 4),
        [(role("org"), CVR, {ORG: units(4, 6, 7)})],
    ),
    Case(
        "dynamic orgunit_level_2_and_below from level 6",
        world_org_dynamic("orgunit_level_2_and_below", 7),
        [(role("org"), CVR, {ORG: units(2, 3, 4, 5, 6, 7, 8)})],
    ),
    Case(
        "dynamic orgunit_level_1_and_below is the whole tree",
        world_org_dynamic("orgunit_level_1_and_below", 5),
        [(role("org"), CVR, {ORG: units(*range(1, 10))})],
    ),
    Case(
        "dynamic orgunit_level_N_and_below, user above level N: nothing",
        world_org_dynamic("orgunit_level_6_and_below", 4),
        [],
        notes=("no valid value",),
    ),
    Case(
        "dynamic managed_orgunits",
        world_managed,
        [(role("org"), CVR, {ORG: units(3, 9)})],
    ),
    Case(
        "postponed values come from the assignment",
        world_postponed,
        [(role("sens"), CVR, {SENS: "Fortrolig,Normal"})],
    ),
    Case(
        "postponed without a value on the assignment: that group is dropped",
        world_postponed_missing,
        [(role("udbetal"), CVR, {})],
        notes=("postponed",),
        after=drop_postponed_values,
    ),
    Case(
        "never merge groups that differ in two constraint types",
        world_two_types_differ,
        [
            (role("opret"), CVR, {KLE: "15.*", ORG: units(5)}),
            (role("opret"), CVR, {KLE: "32.*", ORG: units(4)}),
        ],
    ),
    Case(
        "merge groups that differ in exactly one constraint type",
        world_one_type_differs,
        [
            (role("opret"), CVR, {KLE: "15.*,32.*", ORG: units(4)}),
            (role("opret"), CVR, {KLE: "32.01.*", ORG: units(5)}),
        ],
    ),
    Case(
        "identical groups appear once",
        world_identical,
        [(role("laes"), CVR, {KLE: "32.*"})],
    ),
    Case(
        "assignment on its last day (inclusive)",
        world_dates,
        [(role("laes"), CVR, {KLE: "32.*"})],
        on="2026-03-31",
    ),
    Case(
        "after midnight the expired assignment is gone and the next one starts",
        world_dates,
        [(role("udbetal"), CVR, {})],
        on="2026-04-01",
    ),
    Case(
        "group nesting three deep",
        world_group_nesting,
        [(role("laes"), CVR, {KLE: "32.*"})],
        groups=NESTED_GROUPS,
    ),
    Case(
        "another user's group gives nothing",
        world_group_nesting,
        [(role("udbetal"), CVR, {})],
        user="bo",
        groups=NESTED_GROUPS,
    ),
    Case(
        "org-unit assignment: a user of the unit gets both",
        world_org_assignments,
        [(role("laes"), CVR, {KLE: "32.*"}), (role("udbetal"), CVR, {})],
    ),
    Case(
        "org-unit assignment: inherited three levels down, the non-inherited one not",
        world_org_assignments,
        [(role("laes"), CVR, {KLE: "32.*"})],
        user="bo",
    ),
    Case(
        "org-unit assignment: the excepted user gets nothing",
        world_org_assignments,
        [],
        user="eva",
    ),
    Case(
        "org-unit assignment: a sibling sub-tree gets nothing",
        world_org_assignments,
        [],
        user="ole",
    ),
    Case(
        "a delegated role is scoped to the delegating municipality",
        world_delegated,
        [
            (role("laes"), CVR, {KLE: "15.*"}),
            (role("laes"), CVR_B, {KLE: "32.*"}),
            (role("udbetal"), CVR_B, {}),
        ],
    ),
    Case(
        "a delegated role cannot carry dynamic values",
        world_delegated_dynamic,
        [(role("udbetal"), CVR_B, {})],
        notes=("delegated",),
        after=set_grant(jfr_id("faelles", CVR_B), role("laes"), {KLE: {"dynamic": "user_kle"}}),
    ),
    Case(
        "values outside the value list or the regex are dropped",
        world_value_checks,
        [(role("sag"), CVR, {CASE: "AB12,CD34"}), (role("sens"), CVR, {SENS: "Normal"})],
        after=fix_values,
    ),
    Case(
        "a required constraint without a value drops the group",
        world_required_missing,
        [(role("udbetal"), CVR, {})],
        notes=("required",),
        after=set_grant(jfr_id("mangler"), role("opret"), {KLE: fixed("32.*")}),
    ),
    Case(
        "assignments of another municipality do not count",
        world_other_municipality,
        [],
    ),
]


def run_case(database: Database, case: Case) -> Any:
    data = catalogue()
    case.build(data)
    load(database, data, case.groups)
    if case.after is not None:
        with database.session() as session:
            case.after(session)
    return resolve(
        database,
        user_id(database, case.user),
        CVR,
        case.fagsystem,
        on=dt.date.fromisoformat(case.on),
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_resolution(database: Database, case: Case) -> None:
    result = run_case(database, case)
    assert shape(result.groups) == sorted(case.expected, key=repr), result.explain()
    for needle in case.notes:
        assert any(needle in note for note in result.notes), result.notes


def test_every_group_explains_its_sources(database: Database) -> None:
    data = catalogue()
    world_group_nesting(data)
    direct = add_jfr(data, "direkte", [(role("laes"), {KLE: fixed("32.*")})])
    assign(data, direct, user="karen", case_number="26-004711", valid_to="2026-12-31")
    load(database, data, NESTED_GROUPS)
    result = resolve(database, user_id(database, "karen"), CVR, "KY", on=dt.date(2026, 3, 15))
    [group] = result.groups
    vias = sorted(source.via for source in group.sources)
    assert vias == ["direct assignment", "group G1 > G2 > G3"]
    assert {source.jfr_id for source in group.sources} == {
        direct,
        data["jobfunktionsroller"][0]["id"],
    }
    text = result.explain()
    assert "26-004711" in text and "G1 > G2 > G3" in text and "2026-12-31" in text


def test_org_unit_source_says_inherited(database: Database) -> None:
    data = catalogue()
    world_org_assignments(data)
    load(database, data)
    result = resolve(database, user_id(database, "bo"), CVR, "KY", on=dt.date(2026, 3, 15))
    [group] = result.groups
    [source] = group.sources
    assert source.subject_type == "org_unit" and "Jobcenter (inherited" in source.via


def test_cycle_in_group_nesting_terminates(database: Database) -> None:
    data = catalogue()
    j = add_jfr(data, "ring", [(role("udbetal"), {})])
    add_user(data, "karen")
    assign(data, j, group="CN=R3,DC=demo")
    cycle: list[GroupSpec] = [
        ("CN=R1,DC=demo", ["karen"], ["CN=R2,DC=demo"]),
        ("CN=R2,DC=demo", [], ["CN=R3,DC=demo"]),
        ("CN=R3,DC=demo", [], ["CN=R1,DC=demo"]),
    ]
    load(database, data, cycle)
    result = resolve(database, user_id(database, "karen"), CVR, "KY", on=dt.date(2026, 3, 15))
    assert shape(result.groups) == [(role("udbetal"), CVR, {})]


def test_jfr_of_another_municipality_not_delegated_grants_nothing(database: Database) -> None:
    data = catalogue()
    world_delegated(data)
    load(database, data)
    with database.session() as session:  # the owner withdraws the delegation
        jfr = session.get(Jobfunktionsrolle, data["jobfunktionsroller"][0]["id"])
        assert jfr is not None
        jfr.delegated_to = []
    result = resolve(database, user_id(database, "karen"), CVR, "KY", on=dt.date(2026, 3, 15))
    assert shape(result.groups) == [(role("laes"), CVR, {KLE: "15.*"})]
    assert any("not delegated" in note for note in result.notes)


def test_unknown_constraint_type_fails_closed(database: Database) -> None:
    data = catalogue()
    j = add_jfr(data, "ukendt", [(role("udbetal"), {})])
    add_user(data, "karen")
    assign(data, j, user="karen")
    load(database, data)
    with database.session() as session:
        grant = session.query(JfrGrant).filter_by(jfr_id=j).one()
        grant.constraints = {"http://elsewhere.test/constraints/x/1": {"fixed": ["1"]}}
    result = resolve(database, user_id(database, "karen"), CVR, "KY", on=dt.date(2026, 3, 15))
    assert result.groups == ()
    assert any("not a constraint type" in note for note in result.notes)


# -- bad input: typed errors, never an empty answer ------------------------------------------


@pytest.fixture
def small_world(database: Database) -> Database:
    data = catalogue()
    world_other_municipality(data)
    load(database, data)
    return database


def test_unknown_user(small_world: Database) -> None:
    with pytest.raises(UnknownUser):
        resolve(small_world, "00000000-0000-4000-8000-000000000000", CVR, "KY")


def test_unknown_fagsystem(small_world: Database) -> None:
    with pytest.raises(UnknownFagsystem):
        resolve(small_world, user_id(small_world, "karen"), CVR, "NOPE")


def test_unknown_municipality(small_world: Database) -> None:
    with pytest.raises(UnknownMunicipality):
        resolve(small_world, user_id(small_world, "karen"), "99999999", "KY")


def test_user_of_another_municipality(small_world: Database) -> None:
    with pytest.raises(WrongMunicipality):
        resolve(small_world, user_id(small_world, "karen"), CVR_B, "KY")


def test_disabled_user(small_world: Database) -> None:
    karen = user_id(small_world, "karen")
    with small_world.session() as session:
        user = session.get(User, karen)
        assert user is not None
        user.disabled = True
    with pytest.raises(UserDisabled):
        resolve(small_world, karen, CVR, "KY")


def test_all_errors_share_one_base(small_world: Database) -> None:
    for args in (("nobody", CVR, "KY"), (user_id(small_world, "karen"), CVR, "NOPE")):
        with pytest.raises(AuthzError):
            resolve(small_world, *args)


def test_assignment_rows_outside_dates_are_not_even_candidates(database: Database) -> None:
    """Dates are checked in SQL, in the Copenhagen date: an expired row is never loaded."""
    data = catalogue()
    world_dates(data)
    load(database, data)
    with database.session() as session:
        assert session.query(Assignment).count() == 2
    result = resolve(database, user_id(database, "karen"), CVR, "KY", on=dt.date(2025, 12, 31))
    assert result.groups == ()
    assert result.notes == ()
