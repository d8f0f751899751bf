"""Catalogue ``admin_roles`` on users and OIDC clients: each problem at its exact path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies import policy_path
from store.catalogue import load_file, normalise, validate
from store.db import Database

DEMO = "29189846"
NABO = "29189862"
SAPA = 2  # fagsystemer[2] of the demo catalogue; its oidc_clients[0] is sapa-web


@pytest.fixture
def demo() -> dict[str, Any]:
    return copy.deepcopy(load_file(policy_path("demo.yaml")))


def messages(database: Database, data: dict[str, Any]) -> list[str]:
    with database.session() as session:
        return [str(error) for error in validate(session, data)]


def paths(database: Database, data: dict[str, Any]) -> list[str]:
    with database.session() as session:
        return [error.path for error in validate(session, data)]


def client(demo: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = demo["fagsystemer"][SAPA]["oidc_clients"][0]
    return found


def test_valid_roles_on_users_and_clients_pass(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][3]["admin_roles"] = [
        {"role": "administrator", "cvr": DEMO},
        {"role": "godkender", "cvr": NABO},
    ]
    client(demo)["admin_roles"] = [
        {"role": "leverandoeradministrator", "fagsystem": "SAPA"},
        {"role": "brugeradministrator", "cvr": DEMO},
    ]
    assert messages(sqlite_database, demo) == []


def test_an_empty_list_is_valid(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["users"][0]["admin_roles"] = []
    assert messages(sqlite_database, demo) == []


def test_an_unknown_role_is_reported_at_role(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][3]["admin_roles"] = [{"role": "superbruger", "cvr": DEMO}]
    [message] = messages(sqlite_database, demo)
    assert message.startswith("users[3].admin_roles[0].role: unknown administrative role")
    assert "godkender" in message


def test_the_operator_role_is_refused_with_the_command_that_gives_it(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][3]["admin_roles"] = [{"role": "godkender", "cvr": DEMO}, {"role": "operator"}]
    [message] = messages(sqlite_database, demo)
    assert message.startswith("users[3].admin_roles[1].role: the operator role is never given")
    assert "stsctl admin grant" in message


def test_a_municipal_role_without_cvr_is_reported_at_cvr(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][3]["admin_roles"] = [{"role": "godkender"}]
    assert paths(sqlite_database, demo) == ["users[3].admin_roles[0].cvr"]


def test_a_municipal_role_with_a_fagsystem_is_reported_at_fagsystem(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][3]["admin_roles"] = [{"role": "godkender", "cvr": DEMO, "fagsystem": "SAPA"}]
    assert paths(sqlite_database, demo) == ["users[3].admin_roles[0].fagsystem"]


def test_a_leverandoeradministrator_without_fagsystem_is_reported_at_fagsystem(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    client(demo)["admin_roles"] = [{"role": "leverandoeradministrator"}]
    assert paths(sqlite_database, demo) == [
        f"fagsystemer[{SAPA}].oidc_clients[0].admin_roles[0].fagsystem"
    ]


def test_a_leverandoeradministrator_with_a_cvr_is_reported_at_cvr(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    client(demo)["admin_roles"] = [
        {"role": "leverandoeradministrator", "fagsystem": "SAPA", "cvr": DEMO}
    ]
    assert paths(sqlite_database, demo) == [
        f"fagsystemer[{SAPA}].oidc_clients[0].admin_roles[0].cvr"
    ]


def test_an_unknown_cvr_is_reported_at_cvr(sqlite_database: Database, demo: dict[str, Any]) -> None:
    demo["users"][3]["admin_roles"] = [{"role": "godkender", "cvr": "11111111"}]
    assert messages(sqlite_database, demo) == [
        "users[3].admin_roles[0].cvr: unknown municipality 11111111; add it under municipalities"
    ]


def test_an_unknown_fagsystem_is_reported_at_fagsystem(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    client(demo)["admin_roles"] = [{"role": "leverandoeradministrator", "fagsystem": "NOPE"}]
    assert messages(sqlite_database, demo) == [
        f"fagsystemer[{SAPA}].oidc_clients[0].admin_roles[0].fagsystem: "
        "unknown fagsystem NOPE; add it under fagsystemer"
    ]


def test_a_fagsystem_only_in_the_store_is_known(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    from store.catalogue import import_catalogue

    import_catalogue(sqlite_database, {"version": 1, "fagsystemer": [demo["fagsystemer"][0]]})
    data = {
        "version": 1,
        "municipalities": [{"cvr": DEMO, "name": "Demo Kommune", "domain": "demo.kommune.dk"}],
        "users": [
            {
                "username": "ida",
                "cvr": DEMO,
                "admin_roles": [{"role": "leverandoeradministrator", "fagsystem": "KY"}],
            }
        ],
    }
    assert messages(sqlite_database, data) == []


def test_a_duplicate_role_is_reported_at_the_second(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][4]["admin_roles"] = [
        {"role": "godkender", "cvr": NABO},
        {"role": "administrator", "cvr": NABO},
        {"role": "godkender", "cvr": NABO},
    ]
    assert messages(sqlite_database, demo) == [
        f"users[4].admin_roles[2]: duplicate administrative role godkender for {NABO} "
        "(first at [0])"
    ]


def test_an_unknown_key_in_a_role_is_a_schema_error(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][3]["admin_roles"] = [{"role": "godkender", "cvr": DEMO, "scope": "x"}]
    assert paths(sqlite_database, demo) == ["users[3].admin_roles[0]"]


def test_an_unquoted_cvr_in_a_role_tells_to_quote_it(
    sqlite_database: Database, demo: dict[str, Any]
) -> None:
    demo["users"][3]["admin_roles"] = [{"role": "godkender", "cvr": 29189846}]
    assert messages(sqlite_database, demo) == [
        "users[3].admin_roles[0].cvr: 29189846 is not a CVR number; write it as 8 digits in quotes"
    ]


def test_normalise_sorts_admin_roles_and_keeps_an_empty_list(demo: dict[str, Any]) -> None:
    demo["users"][3]["admin_roles"] = [
        {"role": "godkender", "cvr": NABO},
        {"role": "administrator", "cvr": DEMO},
    ]
    demo["users"][0]["admin_roles"] = []
    users = {user["username"]: user for user in normalise(demo)["users"]}
    assert users["lise"]["admin_roles"] == [
        {"cvr": DEMO, "role": "administrator"},
        {"cvr": NABO, "role": "godkender"},
    ]
    assert users["anne"]["admin_roles"] == []
    assert "admin_roles" not in users["karen"]
