"""Administrative rights (Casbin policy) and service-agreement decisions."""

from __future__ import annotations

from typing import Any

import pytest

from authz.admin import (
    ACTIONS,
    OBJECTS,
    AdminPrincipal,
    NotAllowed,
    can,
    load_admin,
    may_grant,
    require,
)
from authz.agreements import decide_service_access
from authz.errors import UnknownAnvendersystem, UnknownFagsystem, UnknownMunicipality, UnknownUser
from store.db import Database
from store.models import AdminRoleAssignment, Serviceaftale, User
from tests.integration.authz_world import CVR, CVR_B, KLE, add_user, catalogue, load, user_id

A, B = CVR, CVR_B


def principal(*roles: tuple[str, str | None]) -> AdminPrincipal:
    return AdminPrincipal("u", tuple(roles))


@pytest.mark.parametrize(
    ("roles", "action", "obj", "cvr", "allowed"),
    [
        ([("brugeradministrator", A)], "create", "assignment", A, True),
        ([("brugeradministrator", A)], "create", "assignment", B, False),  # other municipality
        ([("brugeradministrator", A)], "create", "jfr", A, False),
        ([("brugeradministrator", A)], "approve", "serviceaftale", A, False),
        ([("jobfunktionsrolleadministrator", A)], "create", "jfr", A, True),
        ([("jobfunktionsrolleadministrator", A)], "delegate", "jfr", A, True),
        ([("jobfunktionsrolleadministrator", A)], "create", "assignment", A, False),
        ([("godkender", A)], "approve", "serviceaftale", A, True),
        ([("godkender", A)], "approve", "serviceaftale", B, False),
        ([("godkender", A)], "update", "user", A, False),
        ([("organisation_redaktoer", A)], "update", "org_unit", A, True),
        ([("organisation_redaktoer", A)], "create", "assignment", A, False),
        ([("administrator", A)], "assign", "admin_role", A, True),
        ([("administrator", A)], "read", "audit", A, True),
        ([("administrator", A)], "create", "assignment", A, False),
        ([("administrator", A)], "update", "fagsystem", None, False),  # global object
        ([("godkender", A), ("brugeradministrator", B)], "approve", "serviceaftale", A, True),
        ([("godkender", A), ("brugeradministrator", B)], "approve", "serviceaftale", B, False),
        ([("godkender", A), ("brugeradministrator", B)], "create", "assignment", B, True),
        ([("operator", None)], "create", "assignment", A, True),
        ([("operator", None)], "update", "fagsystem", None, True),
        ([("operator", None)], "approve", "serviceaftale", B, True),
        ([], "read", "user", A, False),
    ],
)
def test_can(
    roles: list[tuple[str, str | None]], action: str, obj: str, cvr: str | None, allowed: bool
) -> None:
    assert can(principal(*roles), action, obj, cvr) is allowed


def test_every_role_can_read_something_and_typos_are_errors() -> None:
    for role in (
        "administrator",
        "brugeradministrator",
        "jobfunktionsrolleadministrator",
        "godkender",
        "organisation_redaktoer",
    ):
        assert any(can(principal((role, A)), "read", obj, A) for obj in OBJECTS)
    with pytest.raises(ValueError):
        can(principal(("administrator", A)), "raed", "user", A)
    with pytest.raises(ValueError):
        can(principal(("administrator", A)), "read", "usr", A)
    assert "read" in ACTIONS


def test_require_and_may_grant() -> None:
    admin = principal(("administrator", A))
    require(admin, "assign", "admin_role", A)
    with pytest.raises(NotAllowed):
        require(admin, "assign", "admin_role", B)
    assert may_grant(admin, "godkender", A)
    assert not may_grant(admin, "godkender", B)
    assert not may_grant(admin, "operator", None)
    assert may_grant(principal(("operator", None)), "operator", None)


@pytest.fixture
def store(sqlite_database: Database) -> dict[str, Any]:
    data = catalogue()
    add_user(data, "anna")
    add_user(data, "sys", org_unit=None)
    data["fagsystemer"].append(
        {
            "id": "SAPA",
            "name": "Sags- og partsoverblik",
            "entity_id": "https://sapa.test",
            "kind": ["anvender", "brugervendt"],
        }
    )
    data["fagsystemer"][1]["kind"] = ["brugervendt", "service"]
    data["fagsystemer"][1]["roles"].append(
        {
            "id": "http://ksd.test/roles/servicesystemrole/laes_sager/1",
            "name": "Læs sager",
            "constraints": [KLE],
        }
    )
    data["serviceaftaler"] = [
        {
            "id": "sa-sapa-ksd-a",
            "cvr": A,
            "anvendersystem": "SAPA",
            "service": "KSD",
            "roles": ["http://ksd.test/roles/servicesystemrole/laes_sager/1"],
            "constraints": {KLE: ["32.01", "32.*"]},
            "on_behalf_of": False,
            "status": "approved",
        },
        {
            "id": "sa-sapa-ksd-b",
            "cvr": B,
            "anvendersystem": "SAPA",
            "service": "KSD",
            "roles": ["http://ksd.test/roles/servicesystemrole/laes_sager/1"],
            "constraints": {KLE: ["15.*"]},
            "on_behalf_of": True,
            "status": "requested",
        },
    ]
    load(sqlite_database, data)
    return {"db": sqlite_database, "anna": user_id(sqlite_database, "anna")}


def test_load_admin(store: dict[str, Any]) -> None:
    db: Database = store["db"]
    with db.session() as session:
        holder = f"user:{store['anna']}"
        session.add(
            AdminRoleAssignment(
                user_id=store["anna"], role="godkender", cvr=A, holder=holder, scope=A
            )
        )
        session.add(
            AdminRoleAssignment(
                user_id=store["anna"], role="operator", cvr=None, holder=holder, scope="*"
            )
        )
    admin = load_admin(db, store["anna"])
    assert admin.roles == (("godkender", A), ("operator", None))
    assert admin.is_operator and admin.cvrs() == {A}
    with db.session() as session:
        user = session.get(User, store["anna"])
        assert user is not None
        user.disabled = True
    assert load_admin(db, store["anna"]).roles == ()
    with pytest.raises(UnknownUser):
        load_admin(db, "nobody")


def test_approved_agreement(store: dict[str, Any]) -> None:
    decision = decide_service_access(store["db"], "SAPA", "https://ksd.test", A)
    assert decision.allowed and decision.agreement_ids == ("sa-sapa-ksd-a",)
    assert decision.service_id == "KSD" and decision.service_entity_id == "https://ksd.test"
    [group] = decision.groups
    assert group.privilege == "http://ksd.test/roles/servicesystemrole/laes_sager/1"
    assert group.cvr == A and group.constraints[0].values == ("32.*",)
    assert decision.roles == (group.privilege,)


def test_no_on_behalf_of_without_permission(store: dict[str, Any]) -> None:
    decision = decide_service_access(store["db"], "SAPA", "KSD", A, on_behalf_of=True)
    assert not decision.allowed and "on-behalf-of" in decision.reason


def test_requested_agreement_is_not_enough(store: dict[str, Any]) -> None:
    decision = decide_service_access(store["db"], "SAPA", "KSD", B)
    assert not decision.allowed and "requested" in decision.reason and decision.groups == ()


def test_revoked_and_foreign_roles(store: dict[str, Any]) -> None:
    db: Database = store["db"]
    with db.session() as session:
        aftale = session.get(Serviceaftale, "sa-sapa-ksd-b")
        assert aftale is not None
        aftale.status = "approved"
        aftale.roles = [*aftale.roles, "http://ky.test/roles/usersystemrole/udbetal/1"]
    decision = decide_service_access(db, "SAPA", "KSD", B, on_behalf_of=True)
    assert decision.allowed and decision.on_behalf_of
    assert decision.roles == ("http://ksd.test/roles/servicesystemrole/laes_sager/1",)
    assert any("not a role of KSD" in note for note in decision.notes)
    with db.session() as session:
        aftale = session.get(Serviceaftale, "sa-sapa-ksd-b")
        assert aftale is not None
        aftale.status = "revoked"
    assert not decide_service_access(db, "SAPA", "KSD", B).allowed


def test_agreement_in_another_direction_does_not_count(store: dict[str, Any]) -> None:
    assert not decide_service_access(store["db"], "KSD", "SAPA", A).allowed


def test_unknowns_are_typed_errors(store: dict[str, Any]) -> None:
    with pytest.raises(UnknownAnvendersystem):
        decide_service_access(store["db"], "NOPE", "KSD", A)
    with pytest.raises(UnknownFagsystem):
        decide_service_access(store["db"], "SAPA", "NOPE", A)
    with pytest.raises(UnknownMunicipality):
        decide_service_access(store["db"], "SAPA", "KSD", "99999999")
