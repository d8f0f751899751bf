"""The authorization matrix: each role × each object × own / other municipality (or fagsystem).

Expected: the action succeeds where the rights policy allows it; 403 where the caller may
see the object but not do this; 404 where it may not see it at all (another
municipality's objects are never revealed). Each case runs in a fresh world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import delete, select

from store.models import AdminRoleAssignment, Assignment
from tests.admin_kit import API, JFR_A, JFR_B, KY_SERVICE_ROLE, KY_WRITE, SECRET, A, ApiWorld, B

ROLES = (
    "administrator",
    "brugeradministrator",
    "jobfunktionsrolleadministrator",
    "godkender",
    "organisation_redaktoer",
)
OWN_USER = {A: "karen", B: "bo"}
JFR = {A: JFR_A, B: JFR_B}
SUFFIX = {A: "a", B: "b"}


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: Callable[[str], str]
    allowed: frozenset[str]  # roles for which it succeeds
    visible: frozenset[str]  # roles that may see the object (403 instead of 404)
    body: Callable[[str], Any] | None = None


def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


READ_JFR = _roles("administrator", "brugeradministrator", "jobfunktionsrolleadministrator")
READ_ASSIGNMENT = READ_JFR
READ_USER = _roles("administrator", "brugeradministrator", "organisation_redaktoer")
READ_AGREEMENT = _roles("administrator", "godkender")
ASSIGNMENT = "/municipalities/{cvr}/assignments/{assignment}"

OPERATIONS = [
    Operation(
        "list admin roles", "GET", lambda c: f"/municipalities/{c}/admin-roles",
        _roles("administrator"), _roles("administrator"),
    ),
    Operation(
        "grant admin role", "POST", lambda c: f"/municipalities/{c}/admin-roles",
        _roles("administrator"), _roles("administrator"),
        lambda c: {"role": "organisation_redaktoer", "user": OWN_USER[c]},
    ),
    Operation(
        "list jobfunktionsroller", "GET", lambda c: f"/municipalities/{c}/jobfunktionsroller",
        READ_JFR, READ_JFR,
    ),
    Operation(
        "read jobfunktionsrolle", "GET",
        lambda c: f"/municipalities/{c}/jobfunktionsroller/{quote(JFR[c], safe='')}",
        READ_JFR, READ_JFR,
    ),
    Operation(
        "create jobfunktionsrolle", "POST", lambda c: f"/municipalities/{c}/jobfunktionsroller",
        _roles("jobfunktionsrolleadministrator"), READ_JFR,
        lambda c: {"name": "Ny", "grants": [{"role": KY_WRITE}]},
    ),
    Operation(
        "delete jobfunktionsrolle", "DELETE",
        lambda c: f"/municipalities/{c}/jobfunktionsroller/{quote(JFR[c], safe='')}",
        frozenset(), READ_JFR,  # JFR_A is assigned: 409 for those allowed; see below
    ),
    Operation(
        "list assignments", "GET", lambda c: f"/municipalities/{c}/assignments",
        READ_ASSIGNMENT, READ_ASSIGNMENT,
    ),
    Operation(
        "create assignment", "POST", lambda c: f"/municipalities/{c}/assignments",
        _roles("brugeradministrator"), READ_ASSIGNMENT,
        lambda c: {"user": OWN_USER[c], "role": JFR[c], "case_number": "ny-1"},
    ),
    Operation(
        "read assignment", "GET", lambda c: ASSIGNMENT.replace("{cvr}", c),
        READ_ASSIGNMENT, READ_ASSIGNMENT,
    ),
    Operation(
        "change assignment", "PATCH", lambda c: ASSIGNMENT.replace("{cvr}", c),
        _roles("brugeradministrator"), READ_ASSIGNMENT, lambda c: {"valid_to": "2030-01-01"},
    ),
    Operation(
        "delete assignment", "DELETE", lambda c: ASSIGNMENT.replace("{cvr}", c),
        _roles("brugeradministrator"), READ_ASSIGNMENT,
    ),
    Operation(
        "replace jobfunktionsrolle", "PUT",
        lambda c: f"/municipalities/{c}/jobfunktionsroller/{quote(JFR[c], safe='')}",
        _roles("jobfunktionsrolleadministrator"), READ_JFR,
        lambda c: {"name": "Omdøbt", "grants": [{"role": KY_WRITE}]},
    ),
    Operation(
        "revoke admin role", "DELETE", lambda c: f"/municipalities/{c}/admin-roles/{{grant}}",
        _roles("administrator"), _roles("administrator"),
    ),
    Operation(
        "search users", "GET", lambda c: f"/municipalities/{c}/users?q=a",
        READ_USER, READ_USER,
    ),
    Operation(
        "explain privileges", "GET",
        lambda c: f"/municipalities/{c}/users/{OWN_USER[c]}/privileges?fagsystem=KY&explain=true",
        READ_ASSIGNMENT, READ_ASSIGNMENT,
    ),
    Operation(
        "disable user", "PUT", lambda c: f"/municipalities/{c}/users/{OWN_USER[c]}/disabled",
        _roles("brugeradministrator"), READ_USER, lambda c: {"disabled": True},
    ),
    Operation(
        "issue mfa activation code", "POST",
        lambda c: f"/municipalities/{c}/users/{OWN_USER[c]}/mfa-activation-code",
        _roles("brugeradministrator"), READ_USER, lambda c: {},
    ),
    Operation(
        "reset totp", "POST",
        lambda c: f"/municipalities/{c}/users/{OWN_USER[c]}/mfa-activation-code",
        _roles("brugeradministrator"), READ_USER, lambda c: {"reset": True},
    ),
    Operation(
        "search audit", "GET", lambda c: f"/audit?cvr={c}",
        _roles("administrator"), _roles("administrator"),
    ),
    Operation(
        "export catalogue", "GET", lambda c: f"/catalogue?cvr={c}",
        _roles("administrator"), _roles("administrator"),
    ),
    Operation(
        "read serviceaftale", "GET", lambda c: f"/serviceaftaler/sa-requested-{SUFFIX[c]}",
        READ_AGREEMENT, READ_AGREEMENT,
    ),
    Operation(
        "approve serviceaftale", "POST",
        lambda c: f"/serviceaftaler/sa-requested-{SUFFIX[c]}/approve",
        _roles("godkender"), READ_AGREEMENT, lambda c: {"comment": "ok"},
    ),
    Operation(
        "reject serviceaftale", "POST",
        lambda c: f"/serviceaftaler/sa-requested-{SUFFIX[c]}/reject",
        _roles("godkender"), READ_AGREEMENT, lambda c: {},
    ),
    Operation(
        "revoke serviceaftale", "POST",
        lambda c: f"/serviceaftaler/sa-approved-{SUFFIX[c]}/revoke",
        _roles("godkender", "administrator"), READ_AGREEMENT, lambda c: {},
    ),
]  # fmt: skip


def _path(api: ApiWorld, operation: Operation, cvr: str) -> str:
    """The operation's path with the ids of this world's objects filled in."""
    path = operation.path(cvr)
    with api.database.session() as session:
        if "{assignment}" in path:
            found = session.scalars(select(Assignment.id).where(Assignment.cvr == cvr)).first()
            path = path.replace("{assignment}", str(found))
        if "{grant}" in path:
            grant = session.scalars(
                select(AdminRoleAssignment.id).where(
                    AdminRoleAssignment.cvr == cvr, AdminRoleAssignment.role == "godkender"
                )
            ).first()
            path = path.replace("{grant}", str(grant))
    return path


def _expected(operation: Operation, role: str, own: bool) -> set[int]:
    if not own:
        return {404}
    if role in operation.allowed:
        return {200, 201, 204}
    if operation.name == "delete jobfunktionsrolle" and role == "jobfunktionsrolleadministrator":
        return {409}  # allowed, but the role is assigned
    if role in operation.visible:
        return {403}
    return {404}


CASES = [
    pytest.param(operation, role, own, id=f"{operation.name}-{role}-{'own' if own else 'other'}")
    for operation in OPERATIONS
    for role in ROLES
    for own in (True, False)
]


@pytest.mark.parametrize(("operation", "role", "own"), CASES)
def test_municipal_rights(api: ApiWorld, operation: Operation, role: str, own: bool) -> None:
    cvr = A if own else B
    body = operation.body(cvr) if operation.body else None
    response = api.call(operation.method, _path(api, operation, cvr), f"a-{role}", json=body)
    assert response.status_code in _expected(operation, role, own), response.get_json()
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
def test_the_operator_may_do_everything_everywhere_but_decide_agreements(
    api: ApiWorld, operation: Operation
) -> None:
    for cvr in (A, B):
        body = operation.body(cvr) if operation.body else None
        response = api.call(operation.method, _path(api, operation, cvr), "ops", json=body)
        expected = {200, 201, 204}
        if operation.name == "delete jobfunktionsrolle":
            expected = {409}  # the role is assigned
        if operation.name in ("approve serviceaftale", "reject serviceaftale"):
            expected = {403}  # only a Godkender of the CVR decides, not the operator
        assert response.status_code in expected, (cvr, response.get_json())


def test_a_client_without_roles_gets_no_token_for_the_api(api: ApiWorld) -> None:
    response = api.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": API},
        auth=("nobody", SECRET),
    )
    assert response.status_code in (400, 401) and "administrative role" in response.get_data(
        as_text=True
    )


def _strip_roles(api: ApiWorld, client_id: str) -> None:
    """Take every role of ``client_id`` away after it got its token."""
    api.token(client_id)
    with api.database.session() as session:
        session.execute(
            delete(AdminRoleAssignment).where(AdminRoleAssignment.client_id == client_id)
        )


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
def test_a_client_whose_roles_were_taken_sees_nothing(api: ApiWorld, operation: Operation) -> None:
    _strip_roles(api, "a-administrator")
    body = operation.body(A) if operation.body else None
    response = api.call(operation.method, _path(api, operation, A), "a-administrator", json=body)
    assert response.status_code in (403, 404)
    assert api.call("GET", "/fagsystemer", "a-administrator").status_code == 403


# A supplier does see the agreements its own system is party to (the fagsystem cases).
MUNICIPAL = [operation for operation in OPERATIONS if operation.name != "read serviceaftale"]


@pytest.mark.parametrize("operation", MUNICIPAL, ids=lambda o: o.name)
def test_a_supplier_sees_no_municipal_objects(api: ApiWorld, operation: Operation) -> None:
    body = operation.body(A) if operation.body else None
    response = api.call(operation.method, _path(api, operation, A), "ky-lev", json=body)
    assert response.status_code in (403, 404)


SAPA_BODY = {
    "name": "SAPA",
    "kind": ["brugervendt", "anvender"],
    "entity_id": "https://sapa.test",
    "roles": [{"id": "http://sapa.test/roles/usersystemrole/overblik/1", "name": "Overblik"}],
}
MINIMAL = {"name": "SAPA", "kind": "anvender"}
CLIENT = {"grant_types": ["client_credentials"]}
REQUEST = {"cvr": A, "anvendersystem": "SAPA", "service": "KY", "roles": [KY_SERVICE_ROLE]}
FAGSYSTEM_CASES = [
    # (who, method, path, body, expected)
    ("sapa-lev", "PUT", "/fagsystemer/SAPA", SAPA_BODY, 200),
    ("ky-lev", "PUT", "/fagsystemer/SAPA", MINIMAL, 403),
    ("a-administrator", "PUT", "/fagsystemer/SAPA", MINIMAL, 403),
    ("sapa-lev", "POST", "/fagsystemer/SAPA/oidc-clients", CLIENT, 201),
    ("ky-lev", "POST", "/fagsystemer/SAPA/oidc-clients", CLIENT, 403),
    ("a-godkender", "POST", "/fagsystemer/SAPA/oidc-clients", {}, 403),
    ("sapa-lev", "POST", "/serviceaftaler", REQUEST, 201),
    ("ky-lev", "POST", "/serviceaftaler", REQUEST, 403),
    ("a-godkender", "POST", "/serviceaftaler", REQUEST, 403),
    ("sapa-lev", "GET", "/serviceaftaler/sa-requested-b", None, 200),
    ("sapa-lev", "POST", "/serviceaftaler/sa-requested-a/approve", {}, 403),
    ("ky-lev", "GET", "/serviceaftaler/sa-requested-a", None, 200),  # KY is its service
    ("a-organisation_redaktoer", "GET", "/fagsystemer/KY", None, 200),
]


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "expected"),
    FAGSYSTEM_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in FAGSYSTEM_CASES],
)
def test_fagsystem_rights(
    api: ApiWorld, who: str, method: str, path: str, body: Any, expected: int
) -> None:
    response = api.call(method, path, who, json=body)
    assert response.status_code == expected, response.get_json()
