"""admin/service/roles.py: giving, listing and taking administrative roles (both databases)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from admin.actor import command_line
from admin.errors import AdminError, Conflict, Forbidden, Invalid, NotFound
from admin.service import roles
from authz.admin import CVR_ROLES, FAGSYSTEM_ROLE, OPERATOR, ROLES, load_admin
from store.catalogue.checks import ADMIN_CVR_ROLES, ADMIN_FAGSYSTEM_ROLE, ADMIN_OPERATOR
from store.db import Database
from store.models import AdminRoleAssignment, AuditEvent
from tests.integration.admin_roles_world import (
    UNKNOWN_CVR,
    A,
    B,
    integration,
    load,
    person,
    user_id,
)

OPS = command_line()


@pytest.fixture
def world(database: Database) -> Database:
    """The world, with anne as A's Administrator (given by the operator)."""
    load(database)
    roles.grant(database, OPS, role="administrator", cvr=A, username="anne")
    return database


def events(database: Database, action: str) -> list[AuditEvent]:
    with database.session() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def pointers(error: AdminError) -> list[str]:
    return [pointer for pointer, _ in error.errors]


# -- granting ------------------------------------------------------------------------------


def test_a_granted_municipal_role_is_listed_for_its_municipality(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    listed = roles.list_roles(world, OPS, cvr=A)
    assert grant in listed
    assert {(g.role, g.username) for g in listed} == {
        ("administrator", "anne"),
        ("godkender", "karen"),
    }


def test_a_user_grant_has_the_documented_json_shape(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    data = grant.as_dict()
    assert data == {
        "id": grant.id,
        "role": "godkender",
        "cvr": A,
        "user": {"username": "karen", "cvr": A},
        "granted_by": "stsctl",
        "granted_at": data["granted_at"],
    }
    at = dt.datetime.fromisoformat(data["granted_at"])
    assert at.tzinfo is not None and abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(minutes=1)


def test_a_client_grant_for_a_fagsystem_has_the_documented_json_shape(world: Database) -> None:
    grant = roles.grant(world, OPS, role=FAGSYSTEM_ROLE, fagsystem="SAPA", client_id="sapa-admin")
    data = grant.as_dict()
    assert {key: data[key] for key in ("role", "fagsystem", "client")} == {
        "role": "leverandoeradministrator",
        "fagsystem": "SAPA",
        "client": "sapa-admin",
    }
    assert "cvr" not in data and "user" not in data


def test_the_stored_row_carries_holder_and_scope(world: Database) -> None:
    roles.grant(world, OPS, role=FAGSYSTEM_ROLE, fagsystem="SAPA", client_id="sapa-admin")
    roles.grant(world, OPS, role=OPERATOR, username="karen", user_cvr=A)
    with world.session() as session:
        stored = {
            (row.holder, row.role, row.scope)
            for row in session.scalars(select(AdminRoleAssignment))
        }
    karen = user_id(world, "karen", A)
    assert (f"user:{karen}", "operator", "*") in stored
    assert ("client:sapa-admin", FAGSYSTEM_ROLE, "fagsystem:SAPA") in stored


def test_a_grant_is_audited_with_the_grant_as_after(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    [event] = [e for e in events(world, "admin.role.granted") if e.object_id == str(grant.id)]
    assert event.actor == "stsctl" and event.cvr == A and event.object_type == "admin_role"
    assert event.details["after"] == grant.as_dict()


def test_a_granted_role_is_held_at_the_next_load(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    assert ("godkender", A) in load_admin(world, user_id(world, "karen", A)).roles


def test_the_administrator_grants_roles_of_the_own_municipality(world: Database) -> None:
    anne = person(world, "anne", A)
    grant = roles.grant(world, anne, role="brugeradministrator", cvr=A, username="karen")
    assert grant.granted_by == "anne"


def test_the_administrator_may_grant_to_a_client(world: Database) -> None:
    anne = person(world, "anne", A)
    grant = roles.grant(world, anne, role="godkender", cvr=A, client_id="sapa-admin")
    assert grant.client_id == "sapa-admin" and grant.holder_kind == "client"


def test_another_municipality_stays_hidden_from_an_administrator(world: Database) -> None:
    with pytest.raises(NotFound):
        roles.grant(world, person(world, "anne", A), role="godkender", cvr=B, username="bo")


def test_a_role_without_admin_role_rights_sees_nothing(world: Database) -> None:
    roles.grant(world, OPS, role="brugeradministrator", cvr=A, username="karen")
    with pytest.raises(NotFound):
        roles.grant(world, person(world, "karen", A), role="godkender", cvr=A, username="sam")


def test_only_an_operator_grants_a_leverandoeradministrator(world: Database) -> None:
    with pytest.raises(Forbidden):
        roles.grant(
            world,
            person(world, "anne", A),
            role=FAGSYSTEM_ROLE,
            fagsystem="SAPA",
            username="karen",
            user_cvr=A,
        )


def test_only_an_operator_grants_the_operator_role(world: Database) -> None:
    with pytest.raises(Forbidden):
        roles.grant(world, person(world, "anne", A), role=OPERATOR, username="karen", user_cvr=A)


def test_nobody_grants_a_role_to_themselves(world: Database) -> None:
    with pytest.raises(Forbidden, match="themselves"):
        roles.grant(world, person(world, "anne", A), role="godkender", cvr=A, username="anne")


def test_a_client_cannot_grant_a_role_to_itself(world: Database) -> None:
    roles.grant(world, OPS, role="administrator", cvr=A, client_id="sapa-admin")
    client = integration(world, "sapa-admin")
    with pytest.raises(Forbidden, match="themselves"):
        roles.grant(world, client, role="godkender", cvr=A, client_id="sapa-admin")


def test_an_identical_grant_is_a_conflict(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    with pytest.raises(Conflict):
        roles.grant(world, OPS, role="godkender", cvr=A, username="karen")


def test_a_disabled_user_cannot_be_granted_a_role(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="godkender", cvr=A, username="dis")
    assert pointers(caught.value) == ["/user"]


def test_an_unknown_role_is_invalid_at_role(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="superuser", cvr=A, username="karen")
    assert pointers(caught.value) == ["/role"]


def test_an_unknown_user_is_invalid_at_user(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="godkender", cvr=A, username="nobody")
    assert pointers(caught.value) == ["/user"]


def test_an_unknown_client_is_invalid_at_client(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="godkender", cvr=A, client_id="nope")
    assert pointers(caught.value) == ["/client"]


def test_an_unknown_municipality_is_invalid_at_cvr(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="godkender", cvr=UNKNOWN_CVR, username="karen", user_cvr=A)
    assert pointers(caught.value) == ["/cvr"]


def test_an_unknown_fagsystem_is_invalid_at_fagsystem(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role=FAGSYSTEM_ROLE, fagsystem="NOPE", client_id="sapa-admin")
    assert pointers(caught.value) == ["/fagsystem"]


def test_a_municipal_role_needs_a_cvr_and_no_fagsystem(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="godkender", fagsystem="SAPA", username="karen", user_cvr=A)
    assert pointers(caught.value) == ["/cvr", "/fagsystem"]


def test_a_leverandoeradministrator_needs_a_fagsystem_and_no_cvr(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role=FAGSYSTEM_ROLE, cvr=A, username="karen")
    assert pointers(caught.value) == ["/cvr", "/fagsystem"]


def test_the_operator_role_takes_neither_cvr_nor_fagsystem(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role=OPERATOR, cvr=A, fagsystem="SAPA", username="karen")
    assert pointers(caught.value) == ["/cvr", "/fagsystem"]


def test_a_user_and_a_client_together_are_invalid(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="godkender", cvr=A, username="karen", client_id="sapa-admin")
    assert pointers(caught.value) == ["/client"]


def test_neither_user_nor_client_is_invalid(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role="godkender", cvr=A)
    assert pointers(caught.value) == ["/user"]


def test_user_cvr_picks_a_user_of_another_municipality(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, username="bo", user_cvr=B)
    assert (grant.cvr, grant.username, grant.user_cvr) == (A, "bo", B)


def test_an_ambiguous_username_asks_for_user_cvr(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(world, OPS, role=OPERATOR, username="sam")
    assert pointers(caught.value) == ["/user_cvr"]
    assert A in caught.value.errors[0][1] and B in caught.value.errors[0][1]


def test_a_unique_username_needs_no_user_cvr_for_a_global_role(world: Database) -> None:
    grant = roles.grant(world, OPS, role=OPERATOR, username="bo")
    assert (grant.username, grant.user_cvr, grant.cvr) == ("bo", B, None)


def test_an_administrator_cannot_reach_users_of_another_municipality(world: Database) -> None:
    with pytest.raises(Invalid) as caught:
        roles.grant(
            world, person(world, "anne", A), role="godkender", cvr=A, username="bo", user_cvr=B
        )
    assert pointers(caught.value) == ["/user"]
    assert "that you may see" in caught.value.errors[0][1]


def test_a_refused_grant_changes_nothing(world: Database) -> None:
    before = roles.list_roles(world, OPS)
    with pytest.raises(Forbidden):
        roles.grant(world, person(world, "anne", A), role="godkender", cvr=A, username="anne")
    assert roles.list_roles(world, OPS) == before
    assert len(events(world, "admin.role.granted")) == 1  # anne's, from the fixture


# -- listing -------------------------------------------------------------------------------


def test_an_unreadable_municipality_is_not_found(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=B, username="bo")
    with pytest.raises(NotFound):
        roles.list_roles(world, person(world, "anne", A), cvr=B)


def test_an_unknown_municipality_is_not_found_even_for_an_operator(world: Database) -> None:
    with pytest.raises(NotFound):
        roles.list_roles(world, OPS, cvr=UNKNOWN_CVR)


def test_without_a_scope_the_list_holds_only_what_the_actor_may_read(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=B, username="bo")
    roles.grant(world, OPS, role=FAGSYSTEM_ROLE, fagsystem="SAPA", client_id="sapa-admin")
    roles.grant(world, OPS, role=OPERATOR, username="karen", user_cvr=A)
    seen = roles.list_roles(world, person(world, "anne", A))
    assert [(g.role, g.cvr, g.username) for g in seen] == [("administrator", A, "anne")]


def test_an_operator_lists_every_role(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=B, username="bo")
    roles.grant(world, OPS, role=FAGSYSTEM_ROLE, fagsystem="SAPA", client_id="sapa-admin")
    roles.grant(world, OPS, role=OPERATOR, username="karen", user_cvr=A)
    assert {g.role for g in roles.list_roles(world, OPS)} == {
        "administrator",
        "godkender",
        FAGSYSTEM_ROLE,
        OPERATOR,
    }


def test_a_fagsystem_lists_its_leverandoeradministrators(world: Database) -> None:
    roles.grant(world, OPS, role=FAGSYSTEM_ROLE, fagsystem="SAPA", client_id="sapa-admin")
    listed = roles.list_roles(world, OPS, fagsystem="SAPA")
    assert [(g.role, g.client_id) for g in listed] == [(FAGSYSTEM_ROLE, "sapa-admin")]


def test_a_fagsystem_is_not_found_for_a_municipal_administrator(world: Database) -> None:
    with pytest.raises(NotFound):
        roles.list_roles(world, person(world, "anne", A), fagsystem="SAPA")


def test_the_list_narrows_to_one_holder(world: Database) -> None:
    roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    karen = f"user:{user_id(world, 'karen', A)}"
    assert [g.role for g in roles.list_roles(world, OPS, cvr=A, holder=karen)] == ["godkender"]


# -- revoking ------------------------------------------------------------------------------


def test_a_revoked_role_is_gone(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    roles.revoke(world, person(world, "anne", A), grant.id)
    assert grant.id not in {g.id for g in roles.list_roles(world, OPS)}


def test_a_revocation_is_audited_with_the_grant_as_before(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    roles.revoke(world, person(world, "anne", A), grant.id)
    [event] = events(world, "admin.role.revoked")
    assert event.actor == "anne" and event.object_id == str(grant.id)
    assert event.details["before"] == grant.as_dict()


def test_an_unknown_grant_is_not_found(world: Database) -> None:
    with pytest.raises(NotFound):
        roles.revoke(world, OPS, 999_999)


def test_a_grant_of_another_municipality_is_not_found(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=B, username="bo")
    with pytest.raises(NotFound):
        roles.revoke(world, person(world, "anne", A), grant.id)


def test_a_grant_outside_the_path_municipality_is_not_found(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=B, username="bo")
    with pytest.raises(NotFound):
        roles.revoke(world, OPS, grant.id, cvr=A)


def test_an_operator_grant_is_not_found_for_an_administrator(world: Database) -> None:
    grant = roles.grant(world, OPS, role=OPERATOR, username="karen", user_cvr=A)
    with pytest.raises(NotFound):
        roles.revoke(world, person(world, "anne", A), grant.id)


def test_a_grant_is_found_by_holder_role_and_scope(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, client_id="sapa-admin")
    found = roles.find_grant(world, OPS, role="godkender", cvr=A, client_id="sapa-admin")
    assert found == grant


def test_a_role_not_held_is_not_found_by_holder(world: Database) -> None:
    with pytest.raises(NotFound):
        roles.find_grant(world, OPS, role="godkender", cvr=A, username="karen")


def test_a_disabled_users_role_can_still_be_revoked(world: Database) -> None:
    grant = roles.grant(world, OPS, role="godkender", cvr=A, username="karen")
    with world.session() as session:
        karen = session.get_one(AdminRoleAssignment, grant.id)
        karen.user_id = user_id(world, "dis", A)
        karen.holder = f"user:{karen.user_id}"
    found = roles.find_grant(world, OPS, role="godkender", cvr=A, username="dis")
    assert roles.revoke(world, OPS, found.id).username == "dis"


# -- the catalogue's copy of the role names -----------------------------------------------


def test_the_catalogue_knows_the_same_roles_as_the_engine() -> None:
    assert ADMIN_CVR_ROLES == CVR_ROLES
    assert (ADMIN_FAGSYSTEM_ROLE, ADMIN_OPERATOR) == (FAGSYSTEM_ROLE, OPERATOR)
    assert set(ROLES) == {*ADMIN_CVR_ROLES, ADMIN_FAGSYSTEM_ROLE, ADMIN_OPERATOR}
