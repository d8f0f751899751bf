"""Catalogue validation: schema and semantic checks, each problem at its exact path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from policies import policy_path
from store.catalogue import (
    CatalogueInvalid,
    import_catalogue,
    load_file,
    metadata_entity_id,
    parse_text,
    validate,
)
from store.db import Database

FIXTURES = Path(__file__).parent.parent / "fixtures" / "catalogue"
KLE = "http://sts.kombit.dk/constraints/KLE/1"
ORGENHED = "http://sts.kombit.dk/constraints/orgenhed/1"
FOELSOMHED = "http://ky.demo.test/constraints/foelsomhed/1"
DEMO = "29189846"
NABO = "29189862"


@pytest.fixture
def demo() -> dict[str, Any]:
    return copy.deepcopy(load_file(policy_path("demo.yaml")))


def paths(database: Database, data: dict[str, Any]) -> list[str]:
    with database.session() as session:
        return [error.path for error in validate(session, data)]


def messages(database: Database, data: dict[str, Any]) -> list[str]:
    with database.session() as session:
        return [str(error) for error in validate(session, data)]


def test_demo_catalogue_is_valid(sqlite_database: Database, demo: dict[str, Any]) -> None:
    assert messages(sqlite_database, demo) == []


def test_missing_version_is_a_schema_error(sqlite_database: Database) -> None:
    assert messages(sqlite_database, {}) == ["(top): 'version' is a required property"]


def test_wrong_cvr_is_reported_at_its_path(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["municipalities"][1]["cvr"] = "2918986"
    assert paths(sqlite_database, demo) == ["municipalities[1].cvr"]


def test_unquoted_cvr_tells_to_quote_it(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["users"][4]["cvr"] = 29189862
    assert messages(sqlite_database, demo) == [
        "users[4].cvr: 29189862 is not a CVR number; write it as 8 digits in quotes"
    ]


def test_typo_in_a_key_is_caught(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["users"][0]["emial"] = demo["users"][0].pop("email")
    assert paths(sqlite_database, demo) == ["users[0]"]
    assert "'emial'" in messages(sqlite_database, demo)[0]


def test_unknown_dynamic_value_is_a_schema_error(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["jobfunktionsroller"][0]["grants"][0]["constraints"][KLE] = {"dynamic": "all_kle"}
    assert paths(sqlite_database, demo) == [
        f'jobfunktionsroller[0].grants[0].constraints["{KLE}"].dynamic'
    ]


def test_two_value_sources_for_one_constraint_are_refused(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["jobfunktionsroller"][1]["grants"][0]["constraints"][KLE]["postponed"] = True
    assert messages(sqlite_database, demo) == [
        f'jobfunktionsroller[1].grants[0].constraints["{KLE}"]: '
        "give exactly one of fixed, dynamic or postponed"
    ]


def test_jfr_of_unknown_municipality(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["jobfunktionsroller"][3]["cvr"] = "11111111"
    assert "jobfunktionsroller[3].cvr" in paths(sqlite_database, demo)


def test_unknown_role_reference(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["jobfunktionsroller"][2]["grants"][1]["role"] = "http://ksd.demo.test/roles/x/1"
    assert paths(sqlite_database, demo) == ["jobfunktionsroller[2].grants[1].role"]


def test_value_outside_value_list(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["jobfunktionsroller"][2]["grants"][0]["constraints"][FOELSOMHED] = {
        "fixed": ["Normal", "Hemmelig"]
    }
    assert paths(sqlite_database, demo) == [
        f'jobfunktionsroller[2].grants[0].constraints["{FOELSOMHED}"].fixed[1]'
    ]


def with_case_number_type(demo: dict[str, Any], value: str) -> dict[str, Any]:
    """Demo with a text constraint type (regex) on KY Udbetal, fixed to ``value``."""
    uri = "http://ky.demo.test/constraints/sagsnummer/1"
    ky = demo["fagsystemer"][0]
    ky["constraint_types"].append(
        {"id": uri, "name": "Sagsnummer", "kind": "text", "regex": r"\d{2}-\d{6}"}
    )
    ky["roles"][3]["constraints"].append(uri)
    demo["jobfunktionsroller"][1]["grants"][0]["constraints"][uri] = {"fixed": [value]}
    return demo


def test_text_matching_the_regex_is_accepted(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    assert paths(sqlite_database, with_case_number_type(demo, "26-004711")) == []


def test_text_not_matching_the_regex(sqlite_database: Database, demo: dict[str, Any]) -> None:
    data = with_case_number_type(demo, "26-004711x")
    assert paths(sqlite_database, data) == [
        'jobfunktionsroller[1].grants[0].constraints["http://ky.demo.test/constraints/sagsnummer/1"]'
        ".fixed[0]"
    ]


def test_cycle_in_the_org_tree(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["municipalities"][0]["org_units"][0]["parent"] = "6a1e5d2c-0000-4000-8000-000000000005"
    errors = messages(sqlite_database, demo)
    assert len(errors) == 1
    assert errors[0].startswith("municipalities[0].org_units[0].parent: cycle in the org tree")


def test_parent_in_another_municipality(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["municipalities"][1]["org_units"][1]["parent"] = "6a1e5d2c-0000-4000-8000-000000000001"
    assert paths(sqlite_database, demo) == ["municipalities[1].org_units[1].parent"]


@pytest.mark.parametrize(
    ("section", "make_duplicate", "path"),
    [
        (
            "cvr",
            lambda d: d["municipalities"].append(copy.deepcopy(d["municipalities"][1])),
            "municipalities[2]",
        ),
        (
            "org unit uuid",
            lambda d: d["municipalities"][1]["org_units"].append(
                {"uuid": "6a1e5d2c-0000-4000-8000-000000000003", "name": "Kopi"}
            ),
            "municipalities[1].org_units[2].uuid",
        ),
        (
            "fagsystem id",
            lambda d: d["fagsystemer"].append(
                {**d["fagsystemer"][1], "entity_id": "https://x.test"}
            ),
            "fagsystemer[3]",
        ),
        (
            "entity_id",
            lambda d: d["fagsystemer"][2].update(entity_id="https://ky.demo.test"),
            "fagsystemer[2].entity_id",
        ),
        (
            "constraint type",
            lambda d: d["fagsystemer"][2]["constraint_types"].append(
                {"id": KLE, "name": "KLE", "kind": "kle"}
            ),
            "fagsystemer[2].constraint_types[1]",
        ),
        (
            "role id",
            lambda d: d["fagsystemer"][1]["roles"].append(
                {"id": "http://ky.demo.test/roles/usersystemrole/udbetal/1", "name": "X"}
            ),
            "fagsystemer[1].roles[4].id",
        ),
        (
            "jfr id",
            lambda d: d["jobfunktionsroller"].append(copy.deepcopy(d["jobfunktionsroller"][1])),
            "jobfunktionsroller[4]",
        ),
        ("username", lambda d: d["users"].append({"username": "karen", "cvr": DEMO}), "users[5]"),
        (
            "client_id",
            lambda d: d["fagsystemer"][0].update(
                oidc_clients=[{"client_id": "sapa-web", "token_endpoint_auth_method": "none"}]
            ),
            "fagsystemer[2].oidc_clients[0].client_id",
        ),
        (
            "serviceaftale id",
            lambda d: d["serviceaftaler"].append(copy.deepcopy(d["serviceaftaler"][0])),
            "serviceaftaler[2]",
        ),
        (
            "assignment",
            lambda d: d["assignments"].append(copy.deepcopy(d["assignments"][2])),
            "assignments[5]",
        ),
    ],
)
def test_duplicate_ids_are_reported(
    sqlite_database: Database, demo: dict[str, Any], section: str, make_duplicate: Any, path: str
) -> None:
    make_duplicate(demo)
    assert path in paths(sqlite_database, demo), section


def test_assignment_with_another_case_number_is_not_a_duplicate(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["assignments"].append(
        {**copy.deepcopy(demo["assignments"][3]), "case_number": "26-000001"}
    )
    assert paths(sqlite_database, demo) == []


def test_grant_constraint_the_role_does_not_use(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["jobfunktionsroller"][2]["grants"][1]["constraints"][ORGENHED] = {
        "dynamic": "user_orgunit"
    }
    assert messages(sqlite_database, demo) == [
        "jobfunktionsroller[2].grants[1].constraints: unknown constraint type "
        f"{ORGENHED}: role http://ksd.demo.test/roles/usersystemrole/slet_sag/1 does not use it"
    ]


def test_grant_missing_a_required_constraint(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    del demo["jobfunktionsroller"][0]["grants"][0]["constraints"][ORGENHED]
    assert paths(sqlite_database, demo) == ["jobfunktionsroller[0].grants[0].constraints"]


def test_bad_kle_code_in_fixed_values(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["jobfunktionsroller"][1]["grants"][0]["constraints"][KLE] = {"fixed": ["32.01", "32.0"]}
    assert paths(sqlite_database, demo) == [
        f'jobfunktionsroller[1].grants[0].constraints["{KLE}"].fixed[1]'
    ]


def test_fixed_orgenhed_must_be_a_unit_of_the_jfrs_municipality(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["jobfunktionsroller"][3]["grants"][0]["constraints"][ORGENHED] = {
        "fixed": ["6a1e5d2c-0000-4000-8000-000000000006"]
    }
    assert paths(sqlite_database, demo) == [
        f'jobfunktionsroller[3].grants[0].constraints["{ORGENHED}"].fixed[0]'
    ]


def test_dynamic_must_fit_the_constraint_kind(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["jobfunktionsroller"][0]["grants"][0]["constraints"][ORGENHED] = {"dynamic": "user_kle"}
    assert paths(sqlite_database, demo) == [
        f'jobfunktionsroller[0].grants[0].constraints["{ORGENHED}"].dynamic'
    ]


def test_delegated_jfr_cannot_carry_dynamic_constraints(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["jobfunktionsroller"][3]["grants"][0]["constraints"][ORGENHED] = {
        "dynamic": "user_orgunit"
    }
    assert messages(sqlite_database, demo) == [
        f'jobfunktionsroller[3].grants[0].constraints["{ORGENHED}"].dynamic: '
        "a delegated jobfunktionsrolle cannot carry dynamic constraints"
    ]


def test_user_org_unit_must_be_in_the_users_municipality(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][4]["org_unit"] = "6a1e5d2c-0000-4000-8000-000000000002"
    assert paths(sqlite_database, demo) == ["users[4].org_unit"]


def test_assignment_needs_exactly_one_subject(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["assignments"][1]["org_unit"] = "6a1e5d2c-0000-4000-8000-000000000002"
    assert paths(sqlite_database, demo) == ["assignments[1]"]


def test_assignment_of_a_role_not_owned_or_delegated(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["assignments"].append(
        {
            "user": "nina",
            "cvr": NABO,
            "role": "http://demo.kommune.dk/roles/jobrole/teamleder_borgerservice/1",
        }
    )
    assert paths(sqlite_database, demo) == ["assignments[5].role"]


def test_unknown_group_is_an_error(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["assignments"][1] = {
        "group": "CN=Ledere,DC=demo",
        "cvr": DEMO,
        "role": demo["assignments"][1]["role"],
    }
    assert paths(sqlite_database, demo) == ["assignments[1].group"]


def test_postponed_constraint_needs_a_value(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    del demo["assignments"][3]["constraints"]
    assert paths(sqlite_database, demo) == ["assignments[3].constraints"]


def test_postponed_value_must_be_valid(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["assignments"][3]["constraints"][FOELSOMHED] = ["Normal", "Tophemmelig"]
    assert paths(sqlite_database, demo) == [f'assignments[3].constraints["{FOELSOMHED}"][1]']


def test_value_for_a_constraint_that_is_not_postponed(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["assignments"][2]["constraints"] = {KLE: ["32.*"]}
    assert paths(sqlite_database, demo) == ["assignments[2].constraints"]


def test_valid_from_after_valid_to(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["assignments"][3]["valid_from"] = "2028-01-01"
    assert paths(sqlite_database, demo) == ["assignments[3].valid_to"]


def test_impossible_date(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["assignments"][3]["valid_to"] = "2027-02-30"
    assert paths(sqlite_database, demo) == ["assignments[3].valid_to"]


def test_inherit_and_except_users_only_for_org_units(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["assignments"][2]["inherit"] = True
    demo["assignments"][2]["except_users"] = ["anne"]
    assert paths(sqlite_database, demo) == ["assignments[2].inherit", "assignments[2].except_users"]


def test_serviceaftale_service_must_be_a_service(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["serviceaftaler"][1]["service"] = "KSD"
    assert paths(sqlite_database, demo) == [
        "serviceaftaler[1].service",
        "serviceaftaler[1].roles[0]",
    ]


def test_serviceaftale_unknown_anvendersystem(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["serviceaftaler"][0]["anvendersystem"] = "FOO"
    assert paths(sqlite_database, demo) == ["serviceaftaler[0].anvendersystem"]


def test_all_problems_are_reported_at_once(sqlite_database: Database) -> None:
    data = load_file(FIXTURES / "three-problems.yaml")
    assert paths(sqlite_database, data) == [
        "municipalities[0].org_units[0].parent",
        "users[0].org_unit",
        "assignments[0].role",
    ]


def test_references_may_point_to_stored_objects(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    import_catalogue(sqlite_database, demo)
    jfr = {
        **copy.deepcopy(demo["jobfunktionsroller"][2]),
        "id": "http://demo.kommune.dk/roles/jobrole/ny/1",
    }
    assert paths(sqlite_database, {"version": 1, "jobfunktionsroller": [jfr]}) == []


def test_a_user_uuid_cannot_change(sqlite_database: Database, demo: dict[str, Any]) -> None:
    import_catalogue(sqlite_database, demo)
    demo["users"][1]["uuid"] = "3f1c0a4e-1111-4000-8000-0000000000aa"
    assert paths(sqlite_database, demo) == ["users[1].uuid"]


def test_saml_metadata_gives_the_entity_id() -> None:
    xml = (FIXTURES / "ky-sp.xml").read_text()
    assert metadata_entity_id(xml) == "https://ky.demo.test/saml"


def test_saml_metadata_with_a_dtd_is_refused() -> None:
    with pytest.raises(ValueError, match="DTD"):
        metadata_entity_id((FIXTURES / "dtd-sp.xml").read_text())


def test_metadata_file_is_read_relative_to_the_catalogue() -> None:
    data = load_file(FIXTURES / "with-saml.yaml")
    assert 'entityID="https://ky.demo.test/saml"' in data["fagsystemer"][0]["saml"][0]["metadata"]


def test_missing_metadata_file_is_reported_at_its_path(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text((FIXTURES / "with-saml.yaml").read_text())
    with pytest.raises(CatalogueInvalid) as caught:
        load_file(file)
    assert [e.path for e in caught.value.errors] == ["fagsystemer[0].saml[0].metadata_file"]


def test_json_is_read_as_well_as_yaml() -> None:
    assert parse_text('{"version": 1, "users": []}') == {"version": 1, "users": []}


def test_unquoted_yaml_dates_become_iso_strings() -> None:
    data = parse_text("version: 1\nassignments:\n  - valid_from: 2026-01-01\n")
    assert data["assignments"][0]["valid_from"] == "2026-01-01"
