"""``stsctl privileges``: the resolution with its explanation, and typed errors as exit 1."""

from __future__ import annotations

import base64
import json

from click.testing import CliRunner

from authz.bpp import decode_bpp
from cli import main
from store.db import Database
from tests.integration.authz_world import (
    CVR,
    KLE,
    add_jfr,
    add_user,
    assign,
    catalogue,
    fixed,
    load,
    role,
    user_id,
)


def run(db: Database, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["privileges", *args], env={"STS_DATABASE_URL": db.url})
    return result.exit_code, result.output


def make(db: Database) -> None:
    data = catalogue()
    j = add_jfr(data, "laeser", [(role("laes"), {KLE: fixed("32.01", "32.*")})])
    add_user(data, "karen")
    add_user(data, "bo")
    assign(data, j, user="karen", case_number="26-1")
    assign(data, j, user="bo", valid_to="2020-01-01")
    load(db, data)


def test_privileges(sqlite_database: Database) -> None:
    make(sqlite_database)
    code, output = run(sqlite_database, "karen", "--cvr", CVR, "--fagsystem", "KY")
    assert code == 0, output
    assert "1 privilege group(s)" in output and role("laes") in output and "32.*" in output
    code, output = run(sqlite_database, "karen", "--cvr", CVR, "--fagsystem", "KY", "--explain")
    assert code == 0 and "via direct assignment" in output and "26-1" in output
    code, output = run(
        sqlite_database, "karen", "--cvr", CVR, "--fagsystem", "KY", "--format", "json"
    )
    assert json.loads(output)["groups"][0]["constraints"] == [{"name": KLE, "values": ["32.*"]}]
    code, output = run(
        sqlite_database, "karen", "--cvr", CVR, "--fagsystem", "KY", "--format", "bpp"
    )
    assert decode_bpp(output)[0].privilege == role("laes")
    code, output = run(
        sqlite_database, "karen", "--cvr", CVR, "--fagsystem", "KY", "--format", "priv"
    )
    assert json.loads(base64.b64decode(output))["privilegegroups"][0]["privilege"] == role("laes")
    by_id = user_id(sqlite_database, "karen")
    assert run(sqlite_database, by_id, "--cvr", CVR, "--fagsystem", "KY")[0] == 0


def test_no_groups_is_said_plainly(sqlite_database: Database) -> None:
    make(sqlite_database)
    code, output = run(sqlite_database, "bo", "--cvr", CVR, "--fagsystem", "KY")
    assert code == 0 and "0 privilege group(s)" in output
    code, output = run(
        sqlite_database, "bo", "--cvr", CVR, "--fagsystem", "KY", "--date", "2019-06-01"
    )
    assert code == 0 and "1 privilege group(s)" in output


def test_errors_exit_non_zero(sqlite_database: Database) -> None:
    make(sqlite_database)
    for args, message in [
        (["nobody", "--cvr", CVR, "--fagsystem", "KY"], "unknown user"),
        (["karen", "--cvr", CVR, "--fagsystem", "NOPE"], "unknown fagsystem"),
        (["karen", "--cvr", "99999999", "--fagsystem", "KY"], "unknown municipality"),
    ]:
        code, output = run(sqlite_database, *args)
        assert code == 1 and message in output, output
