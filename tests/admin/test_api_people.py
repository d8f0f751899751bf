"""A person at the admin API: the code flow's API token, a two-factor login, their own roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from idp.loa import LoA
from store.db import Database
from store.models import AdminRoleAssignment, AuditEvent, Serviceaftale
from tests.oidc_kit import (
    ANNE,
    CVR,
    ISSUER,
    OidcWorld,
    build_template,
    logged_in_tokens,
    login_result,
    make_world,
    oidc_settings,
)

API = f"{ISSUER}/api/v1"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("admin-people") / "template"
    build_template(path)
    database = Database(oidc_settings(path).effective_database_url)
    with database.session() as session:
        session.add(
            AdminRoleAssignment(
                user_id=ANNE, role="godkender", cvr=CVR, holder=f"user:{ANNE}", scope=CVR
            )
        )
    database.dispose()
    return path


@pytest.fixture
def world(template: Path, tmp_path: Path) -> OidcWorld:
    return make_world(template, tmp_path / "var", STS_ADMIN_API_USER_CLIENTS="ky-web")


def _api_token(world: OidcWorld, loa: LoA = LoA.SUBSTANTIAL) -> str:
    world.login.session = login_result(loa)  # signed in already, at this level
    token: str = logged_in_tokens(world, "ky-web", resource=API)["access_token"]
    return token


def test_a_person_signs_in_with_the_code_flow_and_sees_their_roles(world: OidcWorld) -> None:
    token = _api_token(world)
    body = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["principal"]["kind"] == "user" and body["principal"]["id"] == "anne"
    assert body["principal"]["loa"] == "Substantial" and body["principal"]["cvr"] == CVR
    assert body["roles"] == [{"role": "godkender", "cvr": CVR}]


def test_a_password_only_login_does_not_administer(world: OidcWorld) -> None:
    token = _api_token(world, LoA.LOW)
    response = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="insufficient_user_authentication"' in response.headers["WWW-Authenticate"]
    assert "two factors" in response.get_json(force=True)["detail"]


def test_a_person_approves_and_the_audit_names_them_with_their_loa(world: OidcWorld) -> None:
    token = _api_token(world)
    response = world.client.post(
        "/api/v1/serviceaftaler/sa-ky-org-requested/approve",
        json={"comment": "set"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["decided_by"] == "anne"
    events = world.client.get(
        f"/api/v1/audit?cvr={CVR}&actor=anne", headers={"Authorization": f"Bearer {token}"}
    )
    # A Godkender does not read the audit trail; the store has the event all the same.
    assert events.status_code == 404
    with world.database.session() as session:
        aftale = session.get(Serviceaftale, "sa-ky-org-requested")
        assert aftale is not None and aftale.status == "approved"
    with world.database.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "serviceaftale.approved")
        ).one()
    assert event.actor == "anne" and event.details["loa"] == "Substantial"
    assert event.details["actor_kind"] == "user" and event.details["client_address"]
