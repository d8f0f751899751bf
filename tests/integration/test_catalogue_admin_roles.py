"""Catalogue ``admin_roles``: import sets, replaces or leaves alone; export round-trips."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from admin.actor import command_line
from admin.service import roles
from store.catalogue import export_catalogue, import_catalogue, normalise
from store.db import Database
from store.models import AdminRoleAssignment, AuditEvent
from tests.integration.admin_roles_world import A, B, catalogue, load, user_id

OPS = command_line()


def held(database: Database) -> set[tuple[str, str, str]]:
    """(holder name, role, scope) of every stored role; users as ``username@cvr``."""
    return {
        (g.holder_name, g.role, g.cvr or g.fagsystem or "*")
        for g in roles.list_roles(database, OPS)
    }


def with_roles(
    data: dict[str, Any], *, user: str | None = None, client: str | None = None, roles_: Any
) -> dict[str, Any]:
    """``data`` with ``admin_roles`` on user ``user`` (of A) or client ``client``."""
    if user is not None:
        [item] = [u for u in data["users"] if u["username"] == user and u["cvr"] == A]
        item["admin_roles"] = roles_
    for system in data["fagsystemer"]:
        for item in system.get("oidc_clients", []):
            if item["client_id"] == client:
                item["admin_roles"] = roles_
    return data


def export(database: Database, cvr: str | None = None) -> dict[str, Any]:
    with database.session() as session:
        return export_catalogue(session, cvr)


@pytest.fixture
def world(database: Database) -> Database:
    load(database)
    return database


def test_import_gives_a_user_the_roles_it_names(world: Database) -> None:
    data = with_roles(catalogue(), user="karen", roles_=[{"role": "godkender", "cvr": A}])
    report = import_catalogue(world, data)
    assert held(world) == {(f"karen ({A})", "godkender", A)}
    assert report.created["admin_role"] == 1


def test_import_gives_a_client_the_roles_it_names(world: Database) -> None:
    data = with_roles(
        catalogue(),
        client="sapa-admin",
        roles_=[
            {"role": "leverandoeradministrator", "fagsystem": "SAPA"},
            {"role": "godkender", "cvr": B},
        ],
    )
    import_catalogue(world, data)
    assert held(world) == {
        ("client:sapa-admin", "leverandoeradministrator", "SAPA"),
        ("client:sapa-admin", "godkender", B),
    }


def test_import_replaces_the_roles_with_exactly_those_named(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    roles.grant(world, OPS, role="administrator", cvr=A, username="karen")
    data = with_roles(
        catalogue(),
        user="karen",
        roles_=[{"role": "administrator", "cvr": A}, {"role": "brugeradministrator", "cvr": A}],
    )
    report = import_catalogue(world, data)
    assert held(world) == {
        (f"karen ({A})", "administrator", A),
        (f"karen ({A})", "brugeradministrator", A),
    }
    assert (report.created["admin_role"], report.deleted["admin_role"]) == (1, 1)


def test_an_empty_list_removes_the_holders_roles(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, client_id="sapa-admin")
    import_catalogue(world, with_roles(catalogue(), client="sapa-admin", roles_=[]))
    assert held(world) == set()


def test_a_holder_named_without_the_key_keeps_its_roles(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    roles.grant(world, OPS, role="godkender", cvr=A, client_id="sapa-admin")
    report = import_catalogue(world, catalogue())
    assert held(world) == {(f"karen ({A})", "godkender", A), ("client:sapa-admin", "godkender", A)}
    assert not report.changed


def test_a_holder_named_without_the_key_keeps_its_roles_under_prune(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    import_catalogue(world, catalogue(), prune=True)
    assert held(world) == {(f"karen ({A})", "godkender", A)}


def test_an_import_never_touches_the_operator_role(world: Database) -> None:
    roles.grant(world, OPS, role="operator", username="karen", user_cvr=A)
    import_catalogue(world, with_roles(catalogue(), user="karen", roles_=[]))
    import_catalogue(
        world, with_roles(catalogue(), user="karen", roles_=[{"role": "godkender", "cvr": A}])
    )
    assert held(world) == {(f"karen ({A})", "operator", "*"), (f"karen ({A})", "godkender", A)}


def test_importing_the_same_roles_twice_changes_nothing(world: Database) -> None:
    data = with_roles(catalogue(), user="karen", roles_=[{"role": "godkender", "cvr": A}])
    import_catalogue(world, data)
    assert not import_catalogue(world, data).changed


def test_the_import_is_audited_with_the_role_counts(world: Database) -> None:
    data = with_roles(catalogue(), user="karen", roles_=[{"role": "godkender", "cvr": A}])
    import_catalogue(world, data, actor="ops-anne")
    with world.session() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "catalogue.import")
            .order_by(AuditEvent.id.desc())
        ).first()
    assert event is not None and event.details["created"] == {"admin_role": 1}
    with world.session() as session:
        granted_by = session.scalars(select(AdminRoleAssignment.granted_by)).all()
    assert granted_by == ["ops-anne"]


def test_a_pruned_user_takes_its_roles_with_it(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    data = catalogue()
    data["users"] = [u for u in data["users"] if u["username"] != "karen"]
    import_catalogue(world, data, prune=True)
    assert held(world) == set()


def test_export_writes_roles_sorted_without_the_operator(world: Database) -> None:
    roles.grant(world, OPS, role="operator", username="karen", user_cvr=A)
    roles.grant(world, OPS, role="godkender", cvr=B, username="karen", user_cvr=A)
    roles.grant(world, OPS, role="administrator", cvr=A, username="karen")
    roles.grant(
        world, OPS, role="leverandoeradministrator", fagsystem="SAPA", username="karen", user_cvr=A
    )
    exported = export(world)
    [karen] = [u for u in exported["users"] if u["username"] == "karen"]
    assert karen["admin_roles"] == [
        {"role": "administrator", "cvr": A},
        {"role": "godkender", "cvr": B},
        {"role": "leverandoeradministrator", "fagsystem": "SAPA"},
    ]
    assert all("admin_roles" not in u for u in exported["users"] if u["username"] != "karen")


def test_an_export_imported_again_changes_nothing(world: Database) -> None:
    roles.grant(world, OPS, role="operator", username="anne", user_cvr=A)
    roles.grant(world, OPS, role="administrator", cvr=A, username="anne")
    roles.grant(world, OPS, role="godkender", cvr=B, username="bo")
    roles.grant(
        world, OPS, role="leverandoeradministrator", fagsystem="SAPA", client_id="sapa-admin"
    )
    roles.grant(world, OPS, role="brugeradministrator", cvr=A, client_id="sapa-admin")
    before = held(world)
    exported = export(world)
    report = import_catalogue(world, exported)
    assert not report.changed, report.summary()
    assert held(world) == before
    assert normalise(export(world)) == normalise(exported)


def test_a_municipality_export_shows_no_other_municipalitys_roles(world: Database) -> None:
    roles.grant(world, OPS, role="administrator", cvr=A, username="karen")
    roles.grant(world, OPS, role="godkender", cvr=A, client_id="sapa-admin")
    roles.grant(world, OPS, role="godkender", cvr=B, client_id="sapa-admin")
    roles.grant(world, OPS, role="leverandoeradministrator", fagsystem="SAPA", client_id="sapa-web")
    exported = export(world, A)
    [karen] = [u for u in exported["users"] if u["username"] == "karen"]
    assert karen["admin_roles"] == [{"role": "administrator", "cvr": A}]
    clients = {
        c["client_id"]: c for s in exported["fagsystemer"] for c in s.get("oidc_clients", [])
    }
    assert "admin_roles" not in clients["sapa-admin"]  # it holds a role in B too
    assert clients["sapa-web"]["admin_roles"] == [
        {"role": "leverandoeradministrator", "fagsystem": "SAPA"}
    ]
    before = held(world)
    assert not import_catalogue(world, exported).changed
    assert held(world) == before


def test_an_exported_user_roles_follow_the_user_id(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="sam")
    exported = export(world)
    [sam_a] = [u for u in exported["users"] if u["username"] == "sam" and u["cvr"] == A]
    [sam_b] = [u for u in exported["users"] if u["username"] == "sam" and u["cvr"] == B]
    assert sam_a["uuid"] == user_id(world, "sam", A)
    assert sam_a["admin_roles"] == [{"role": "godkender", "cvr": A}]
    assert "admin_roles" not in sam_b
