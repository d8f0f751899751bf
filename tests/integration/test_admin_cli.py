"""``stsctl admin grant|revoke|list``: roles from the command line, errors as exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli import main
from store.db import Database
from store.models import AuditEvent
from tests.integration.admin_roles_world import A, B, load


@pytest.fixture
def world(sqlite_database: Database) -> Database:
    load(sqlite_database)
    return sqlite_database


def run(database: Database, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["admin", *args], env={"STS_DATABASE_URL": database.url})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def listed(database: Database, *args: str) -> list[dict[str, object]]:
    code, output = run(database, "list", "--format", "json", *args)
    assert code == 0, output
    grants: list[dict[str, object]] = json.loads(output)
    return grants


def test_grant_prints_the_grant(world: Database) -> None:
    code, output = run(world, "grant", "karen", "--role", "godkender", "--cvr", A)
    assert code == 0, output
    assert f"granted godkender for municipality {A} to karen ({A})" in output


def test_a_granted_role_is_listed_in_the_api_shape(world: Database) -> None:
    run(world, "grant", "karen", "--role", "godkender", "--cvr", A)
    [grant] = listed(world, "--cvr", A)
    assert {key: grant[key] for key in ("role", "cvr", "user", "granted_by")} == {
        "role": "godkender",
        "cvr": A,
        "user": {"username": "karen", "cvr": A},
        "granted_by": "stsctl",
    }


def test_the_text_list_shows_holder_scope_and_count(world: Database) -> None:
    run(world, "grant", "karen", "--role", "godkender", "--cvr", A)
    run(
        world,
        "grant",
        "client:sapa-admin",
        "--role",
        "leverandoeradministrator",
        "--fagsystem",
        "SAPA",
    )
    code, output = run(world, "list")
    assert code == 0
    assert "client:sapa-admin" in output and "fagsystem SAPA" in output
    assert f"karen ({A})" in output and f"municipality {A}" in output
    assert "2 administrative role(s)" in output


def test_a_client_is_named_with_the_client_prefix(world: Database) -> None:
    code, output = run(
        world,
        "grant",
        "client:sapa-admin",
        "--role",
        "leverandoeradministrator",
        "--fagsystem",
        "SAPA",
    )
    assert code == 0, output
    [grant] = listed(world, "--fagsystem", "SAPA")
    assert grant["client"] == "sapa-admin" and grant["fagsystem"] == "SAPA"


def test_the_operator_role_is_given_from_the_command_line(world: Database) -> None:
    code, output = run(world, "grant", "karen", "--role", "operator", "--user-cvr", A)
    assert code == 0, output
    assert "granted operator for everything" in output


def test_an_ambiguous_username_asks_for_user_cvr(world: Database) -> None:
    code, output = run(world, "grant", "sam", "--role", "operator")
    assert code == 1
    assert f"--user-cvr: sam is a user in municipalities {A}, {B}" in output
    assert "Add --user-cvr CVR" in output


def test_user_cvr_says_which_user_is_meant(world: Database) -> None:
    code, output = run(world, "grant", "sam", "--role", "operator", "--user-cvr", B)
    assert code == 0, output
    assert f"sam ({B})" in output


def test_an_unknown_user_hints_at_the_client_prefix(world: Database) -> None:
    code, output = run(world, "grant", "sapa-admin", "--role", "godkender", "--cvr", A)
    assert code == 1
    assert "USER_OR_CLIENT: no user sapa-admin" in output
    assert "client:CLIENT_ID" in output


def test_an_unknown_role_names_the_option(world: Database) -> None:
    code, output = run(world, "grant", "karen", "--role", "superuser", "--cvr", A)
    assert code == 1
    assert "--role: must be one of" in output


def test_a_municipal_role_without_cvr_names_the_option(world: Database) -> None:
    code, output = run(world, "grant", "karen", "--role", "godkender", "--user-cvr", A)
    assert code == 1
    assert "--cvr: godkender is held for a municipality" in output


def test_an_identical_grant_exits_1_and_changes_nothing(world: Database) -> None:
    run(world, "grant", "karen", "--role", "godkender", "--cvr", A)
    code, output = run(world, "grant", "karen", "--role", "godkender", "--cvr", A)
    assert code == 1
    assert "already holds godkender" in output and "Nothing was changed" in output
    assert len(listed(world)) == 1


def test_revoke_by_holder_role_and_scope(world: Database) -> None:
    run(world, "grant", "karen", "--role", "godkender", "--cvr", A)
    code, output = run(world, "revoke", "karen", "--role", "godkender", "--cvr", A)
    assert code == 0, output
    assert f"revoked godkender for municipality {A} from karen ({A})" in output
    assert listed(world) == []


def test_revoke_by_id(world: Database) -> None:
    run(world, "grant", "client:sapa-admin", "--role", "godkender", "--cvr", A)
    [grant] = listed(world)
    code, output = run(world, "revoke", "--id", str(grant["id"]))
    assert code == 0, output
    assert listed(world) == []


def test_revoking_a_role_not_held_exits_1(world: Database) -> None:
    code, output = run(world, "revoke", "karen", "--role", "godkender", "--cvr", A)
    assert code == 1
    assert "does not hold godkender" in output and "stsctl admin list" in output


def test_revoking_an_unknown_id_exits_1(world: Database) -> None:
    code, output = run(world, "revoke", "--id", "4711")
    assert code == 1
    assert "no administrative role grant 4711" in output


def test_revoke_with_both_id_and_holder_is_a_usage_error(world: Database) -> None:
    code, output = run(world, "revoke", "karen", "--id", "1")
    assert code == 2
    assert "either --id or USER_OR_CLIENT" in output


def test_listing_an_unknown_municipality_exits_1(world: Database) -> None:
    code, output = run(world, "list", "--cvr", "11111111")
    assert code == 1
    assert "no administrative roles of municipality 11111111" in output


def test_command_line_changes_are_audited_as_stsctl(world: Database) -> None:
    run(world, "grant", "karen", "--role", "godkender", "--cvr", A)
    run(world, "revoke", "karen", "--role", "godkender", "--cvr", A)
    with world.session() as session:
        actions = [
            (event.action, event.actor)
            for event in session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("admin.role.%"))
            )
        ]
    assert actions == [("admin.role.granted", "stsctl"), ("admin.role.revoked", "stsctl")]


def test_a_database_without_tables_says_to_run_init(tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    code, output = run(empty, "list")
    empty.dispose()
    assert code == 1
    assert "stsctl init" in output
