"""Catalogue import and export against a real schema (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from cli import main
from policies import policy_path
from store.catalogue import (
    CatalogueInvalid,
    export_catalogue,
    import_catalogue,
    load_file,
    normalise,
)
from store.db import Database
from store.models import AuditEvent, OidcClient, SamlServiceProvider, User

FIXTURES = Path(__file__).parent.parent / "fixtures" / "catalogue"
FOELSOMHED = "http://ky.demo.test/constraints/foelsomhed/1"
DEMO = "29189846"
NABO = "29189862"


@pytest.fixture
def demo() -> dict[str, Any]:
    return copy.deepcopy(load_file(policy_path("demo.yaml")))


def export(database: Database, cvr: str | None = None) -> dict[str, Any]:
    with database.session() as session:
        return export_catalogue(session, cvr)


def _wrong_cvr(d: dict[str, Any]) -> None:
    d["municipalities"][1]["cvr"] = "2918986"


def _unknown_role(d: dict[str, Any]) -> None:
    d["jobfunktionsroller"][2]["grants"][1]["role"] = "http://ksd.demo.test/roles/nope/1"


def _outside_value_list(d: dict[str, Any]) -> None:
    d["jobfunktionsroller"][2]["grants"][0]["constraints"][FOELSOMHED] = {"fixed": ["Hemmelig"]}


def _regex_mismatch(d: dict[str, Any]) -> None:
    uri = "http://ky.demo.test/constraints/sagsnummer/1"
    ky = d["fagsystemer"][0]
    ky["constraint_types"].append(
        {"id": uri, "name": "Sag", "kind": "text", "regex": r"\d{2}-\d{6}"}
    )
    ky["roles"][3]["constraints"].append(uri)
    d["jobfunktionsroller"][1]["grants"][0]["constraints"][uri] = {"fixed": ["sag 12"]}


def _cycle(d: dict[str, Any]) -> None:
    d["municipalities"][0]["org_units"][0]["parent"] = "6a1e5d2c-0000-4000-8000-000000000007"


def _duplicate_jfr(d: dict[str, Any]) -> None:
    d["jobfunktionsroller"].append(copy.deepcopy(d["jobfunktionsroller"][0]))


INVALID = [
    ("wrong CVR", _wrong_cvr, "municipalities[1].cvr"),
    ("unknown role", _unknown_role, "jobfunktionsroller[2].grants[1].role"),
    (
        "value outside value list",
        _outside_value_list,
        f'jobfunktionsroller[2].grants[0].constraints["{FOELSOMHED}"].fixed[0]',
    ),
    (
        "text not matching regex",
        _regex_mismatch,
        'jobfunktionsroller[1].grants[0].constraints["http://ky.demo.test/constraints/sagsnummer/1"]'
        ".fixed[0]",
    ),
    ("cycle in org tree", _cycle, "municipalities[0].org_units[0].parent"),
    ("duplicate id", _duplicate_jfr, "jobfunktionsroller[4]"),
]


@pytest.mark.parametrize(("kind", "spoil", "path"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_catalogue_is_refused_at_its_path_and_changes_nothing(
    database: Database, demo: dict[str, Any], kind: str, spoil: Any, path: str
) -> None:
    import_catalogue(database, copy.deepcopy(demo))
    demo["municipalities"][0]["name"] = "Omdøbt Kommune"  # a valid change that must not land
    spoil(demo)
    before = export(database)
    with pytest.raises(CatalogueInvalid) as caught:
        import_catalogue(database, demo)
    assert [error.path for error in caught.value.errors] == [path], kind
    assert export(database) == before


def test_importing_the_demo_twice_changes_nothing_the_second_time(
    database: Database, demo: dict[str, Any]
) -> None:
    first = import_catalogue(database, copy.deepcopy(demo))
    exported = export(database)
    second = import_catalogue(database, copy.deepcopy(demo))
    assert first.changed
    assert (second.total("created"), second.total("updated"), second.total("deleted")) == (0, 0, 0)
    assert export(database) == exported


def test_round_trip_export_equals_the_demo_file(database: Database, demo: dict[str, Any]) -> None:
    import_catalogue(database, copy.deepcopy(demo))
    assert normalise(export(database)) == normalise(demo)


def test_exported_catalogue_imports_to_the_same_store(
    database: Database, demo: dict[str, Any]
) -> None:
    import_catalogue(database, demo)
    exported = export(database)
    report = import_catalogue(database, copy.deepcopy(exported))
    assert not report.changed


def test_a_changed_value_is_one_update(database: Database, demo: dict[str, Any]) -> None:
    import_catalogue(database, copy.deepcopy(demo))
    demo["users"][1]["name"] = "Karen Hansen"
    report = import_catalogue(database, demo)
    assert report.as_dict() == {"created": {}, "updated": {"user": 1}, "deleted": {}}


def test_without_prune_objects_missing_from_the_file_stay(
    database: Database, demo: dict[str, Any]
) -> None:
    import_catalogue(database, copy.deepcopy(demo))
    demo["users"] = [u for u in demo["users"] if u["username"] != "lise"]
    demo["assignments"] = [a for a in demo["assignments"] if a.get("user") != "lise"]
    report = import_catalogue(database, demo)
    assert not report.changed
    assert "lise" in [u["username"] for u in export(database)["users"]]


def test_prune_removes_what_the_file_no_longer_names_for_that_municipality_only(
    database: Database, demo: dict[str, Any]
) -> None:
    import_catalogue(database, copy.deepcopy(demo))
    nabo_before = export(database, NABO)
    smaller = copy.deepcopy(demo)
    smaller["municipalities"] = [smaller["municipalities"][0]]  # names Demo Kommune only
    smaller["municipalities"][0]["org_units"].pop()  # Team Unge
    smaller["users"] = [u for u in smaller["users"] if u["username"] not in ("lise", "nina")]
    smaller["jobfunktionsroller"] = smaller["jobfunktionsroller"][:3]  # Nabo's stays unnamed
    smaller["assignments"] = [
        a for a in smaller["assignments"] if a.get("user") not in ("lise", "peter")
    ]
    smaller["serviceaftaler"] = []

    report = import_catalogue(database, smaller, prune=True)

    assert report.as_dict()["deleted"] == {
        "assignment": 2,
        "org_unit": 1,
        "serviceaftale": 1,
        "user": 1,
    }
    demo_after = export(database, DEMO)
    assert "lise" not in [u["username"] for u in demo_after["users"]]
    assert export(database, NABO) == nabo_before
    assert normalise(export(database)) == normalise(
        {
            **smaller,
            "municipalities": [*smaller["municipalities"], demo["municipalities"][1]],
            "users": [*smaller["users"], demo["users"][4]],
            "jobfunktionsroller": demo["jobfunktionsroller"],
            "serviceaftaler": [demo["serviceaftaler"][1]],
        }
    )


def test_prune_refuses_a_file_that_refers_to_what_it_would_remove(
    database: Database, demo: dict[str, Any]
) -> None:
    import_catalogue(database, copy.deepcopy(demo))
    demo["users"] = [u for u in demo["users"] if u["username"] != "lise"]
    with pytest.raises(CatalogueInvalid) as caught:
        import_catalogue(database, demo, prune=True)
    assert [error.path for error in caught.value.errors] == ["assignments[2].user"]


def test_import_writes_one_audit_event(database: Database, demo: dict[str, Any]) -> None:
    import_catalogue(database, demo, actor="tester")
    with database.session() as session:
        events = session.scalars(select(AuditEvent)).all()
        assert [(e.action, e.actor) for e in events] == [("catalogue.import", "tester")]
        assert events[0].details["created"]["jobfunktionsrolle"] == 4
        assert events[0].details["municipalities"] == [DEMO, NABO]


def test_password_is_hashed_from_the_environment_and_never_exported(
    database: Database, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_PASSWORD_KAREN", "korrekt hest batteri")
    monkeypatch.delenv("DEMO_PASSWORD_ANNE", raising=False)
    import_catalogue(database, copy.deepcopy(demo))
    with database.session() as session:
        hashes = {u.username: u.password_hash for u in session.scalars(select(User))}
    assert hashes["karen"] is not None and hashes["karen"].startswith("$argon2")
    assert hashes["anne"] is None
    text = json.dumps(export(database))
    assert "$argon2" not in text and "korrekt hest" not in text
    assert "DEMO_PASSWORD_KAREN" in text
    assert not import_catalogue(database, copy.deepcopy(demo)).changed


def test_client_secret_is_hashed_and_kept_across_imports(
    database: Database, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAPA_WEB_SECRET", "s3cret")
    import_catalogue(database, copy.deepcopy(demo))
    monkeypatch.delenv("SAPA_WEB_SECRET")
    assert not import_catalogue(database, copy.deepcopy(demo)).changed
    with database.session() as session:
        client = session.get_one(OidcClient, "sapa-web")
        assert client.client_secret_hash and client.client_secret_env == "SAPA_WEB_SECRET"


def test_saml_sp_is_registered_under_the_metadata_entity_id(database: Database) -> None:
    import_catalogue(database, load_file(FIXTURES / "with-saml.yaml"))
    with database.session() as session:
        sp = session.get_one(SamlServiceProvider, "https://ky.demo.test/saml")
        assert sp.fagsystem_id == "KY" and sp.encrypt_assertion is True
    assert not import_catalogue(database, load_file(FIXTURES / "with-saml.yaml")).changed


def cli(database: Database, *args: str) -> Any:
    env = {"STS_DATABASE_URL": database.url}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_cli_import_prints_path_precise_errors_and_exits_1(database: Database) -> None:
    result = cli(database, "import", str(FIXTURES / "three-problems.yaml"))
    assert result.exit_code == 1
    assert "municipalities[0].org_units[0].parent: parent " in result.output
    assert "users[0].org_unit: " in result.output
    assert "assignments[0].role: unknown jobfunktionsrolle" in result.output
    assert "nothing was changed" in result.output
    assert export(database)["municipalities"] == []


def test_cli_import_prints_the_summary(database: Database) -> None:
    result = cli(database, "import", str(policy_path("demo.yaml")))
    assert result.exit_code == 0
    assert "created: 48" in result.output
    again = cli(database, "import", "--prune", str(policy_path("demo.yaml")))
    assert "nothing changed" in again.output


@pytest.mark.parametrize("output_format", ["yaml", "json"])
def test_cli_export_writes_the_catalogue(
    database: Database, demo: dict[str, Any], output_format: str
) -> None:
    import_catalogue(database, copy.deepcopy(demo))
    result = cli(database, "export", "--format", output_format)
    assert result.exit_code == 0
    assert normalise(yaml.safe_load(result.output)) == normalise(demo)


def test_cli_export_of_one_municipality(database: Database, demo: dict[str, Any]) -> None:
    import_catalogue(database, demo)
    exported = yaml.safe_load(cli(database, "export", "--cvr", NABO).output)
    assert [m["cvr"] for m in exported["municipalities"]] == [NABO]
    assert [u["username"] for u in exported["users"]] == ["nina"]
