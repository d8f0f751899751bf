"""A world for the admin API tests: two municipalities, three fagsystemer, and an OIDC
client (an integration) for every administrative role, each with its access token.

Municipality A (29189846) has a client per municipal role (``a-administrator``,
``a-brugeradministrator``, ``a-jobfunktionsrolleadministrator``, ``a-godkender``,
``a-godkender2``, ``a-organisation_redaktoer``); B (11111111) has ``b-administrator`` and
``b-godkender``. ``sapa-lev`` is the Leverandøradministrator of SAPA, ``ky-lev`` of KY,
``ops`` an operator, ``nobody`` holds no role. The world is loaded through the real
catalogue importer; keys are made once per test session and copied.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from app import create_app, initialise, setup_keys, setup_store
from settings import Settings, load_settings
from store.catalogue import import_catalogue
from store.db import Database
from store.models import AdminRoleAssignment, OidcClient, User

ISSUER = "http://idp.test"
API = f"{ISSUER}/api/v1"
A = "29189846"
B = "11111111"
KY = "https://ky.test"
SAPA = "https://sapa.test"
KLE = "http://ky.test/constraints/kle/1"
KY_ROLE = "http://ky.test/roles/usersystemrole/laes/1"
KY_WRITE = "http://ky.test/roles/usersystemrole/skriv/1"
KY_SERVICE_ROLE = "http://ky.test/roles/servicesystemrole/laes_sager/1"
SAPA_ROLE = "http://sapa.test/roles/usersystemrole/overblik/1"
ORG = "https://org.test"
ORG_ROLE = "http://org.test/roles/servicesystemrole/udstil/1"
JFR_A = "http://a.test/roles/jobrole/sagsbehandler/1"
JFR_B = "http://b.test/roles/jobrole/sagsbehandler/1"
SECRET = "admin-api-test-secret"
SECRET_ENV = "STS_TEST_ADMIN_CLIENT_SECRET"
_CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(SECRET)

MUNICIPAL_ROLES = (
    "administrator",
    "brugeradministrator",
    "jobfunktionsrolleadministrator",
    "godkender",
    "organisation_redaktoer",
)
# client id → (role, scope) held; scope a CVR, "fagsystem:<id>" or None (operator)
CLIENT_ROLES: dict[str, tuple[str, str | None] | None] = {
    **{f"a-{role}": (role, A) for role in MUNICIPAL_ROLES},
    "a-godkender2": ("godkender", A),
    "b-administrator": ("administrator", B),
    "b-godkender": ("godkender", B),
    "sapa-lev": ("leverandoeradministrator", "fagsystem:SAPA"),
    "ky-lev": ("leverandoeradministrator", "fagsystem:KY"),
    "ops": ("operator", None),
    "nobody": None,
}


def _client(client_id: str, grants: list[str]) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "token_endpoint_auth_method": "client_secret_basic",
        "client_secret_env": SECRET_ENV,
        "grant_types": grants,
        "redirect_uris": ["https://rp.test/cb"],
    }


def catalogue() -> dict[str, Any]:
    unit_a = "aaaaaaaa-0000-4000-8000-000000000001"
    return {
        "version": 1,
        "municipalities": [
            {
                "cvr": A,
                "name": "Kommune A",
                "domain": "a.test",
                "org_units": [{"uuid": unit_a, "name": "Borgerservice", "kle": ["27.*"]}],
            },
            {"cvr": B, "name": "Kommune B", "domain": "b.test"},
        ],
        "fagsystemer": [
            {
                "id": "KY",
                "name": "Kommunernes Ydelsessystem",
                "entity_id": KY,
                "kind": ["brugervendt", "service"],
                "constraint_types": [{"id": KLE, "name": "KLE", "kind": "kle"}],
                "roles": [
                    {"id": KY_ROLE, "name": "Læs", "constraints": [KLE]},
                    {"id": KY_WRITE, "name": "Skriv"},
                    {"id": KY_SERVICE_ROLE, "name": "Læs sager (service)"},
                ],
            },
            {
                "id": "SAPA",
                "name": "SAPA",
                "entity_id": SAPA,
                "kind": ["brugervendt", "anvender"],
                "roles": [{"id": SAPA_ROLE, "name": "Overblik"}],
                "oidc_clients": [
                    _client("sapa-system", ["client_credentials"]),
                    _client("sapa-lev", ["client_credentials"]),
                ],
            },
            {
                "id": "ORG",
                "name": "Organisation",
                "entity_id": ORG,
                "kind": "service",
                "roles": [{"id": ORG_ROLE, "name": "Udstil organisation"}],
            },
            {
                "id": "ADMIN",
                "name": "Administrative integrations",
                "kind": "anvender",
                "oidc_clients": [
                    _client(client_id, ["client_credentials"])
                    for client_id in CLIENT_ROLES
                    if client_id != "sapa-lev"
                ],
            },
        ],
        "jobfunktionsroller": [
            {
                "id": JFR_A,
                "cvr": A,
                "name": "Sagsbehandler A",
                "grants": [{"role": KY_ROLE, "constraints": {KLE: {"fixed": ["27.*"]}}}],
            },
            {"id": JFR_B, "cvr": B, "name": "Sagsbehandler B", "grants": [{"role": KY_WRITE}]},
        ],
        "users": [
            {"username": "anne", "cvr": A, "name": "Anne Andersen", "org_unit": unit_a},
            {"username": "karen", "cvr": A, "name": "Karen Kristensen"},
            {"username": "bo", "cvr": B, "name": "Bo Bertelsen"},
        ],
        "assignments": [
            {"user": "anne", "cvr": A, "role": JFR_A, "case_number": "26-1"},
            {"user": "bo", "cvr": B, "role": JFR_B},
        ],
        "serviceaftaler": [
            {
                "id": f"sa-{status}-{name}",
                "cvr": cvr,
                "anvendersystem": "SAPA",
                "service": "KY",
                "roles": [KY_SERVICE_ROLE],
                "status": status,
            }
            for name, cvr in (("a", A), ("b", B))
            for status in ("approved", "requested")
        ],
    }


def seed(database: Database) -> None:
    """Load the catalogue, then cheap client secrets and the administrative roles."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, SECRET)
        import_catalogue(database, catalogue(), actor="test-setup")
    with database.session() as session:
        session.execute(update(OidcClient).values(client_secret_hash=_CHEAP_HASH))
        for client_id, held in CLIENT_ROLES.items():
            if held is None:
                continue
            role, scope = held
            cvr = scope if scope and not scope.startswith("fagsystem:") else None
            fagsystem = scope.removeprefix("fagsystem:") if scope and cvr is None else None
            session.add(
                AdminRoleAssignment(
                    client_id=client_id,
                    role=role,
                    cvr=cvr,
                    fagsystem_id=fagsystem,
                    holder=f"client:{client_id}",
                    scope=scope or "*",
                    granted_by="test-setup",
                )
            )


def settings_for(data_dir: Path, **extra: str) -> Settings:
    env = {
        "STS_DATA_DIR": str(data_dir),
        "STS_BASE_URL": ISSUER,
        "STS_LOG_LEVEL": "WARNING",
        "STS_ARGON2_MEMORY_KIB": "19456",
        "STS_ARGON2_TIME_COST": "2",
        "STS_ARGON2_PARALLELISM": "1",
        **extra,
    }
    return load_settings(env)


def build_template(data_dir: Path) -> None:
    settings = settings_for(data_dir)
    database = setup_store(settings)
    initialise(settings, database, setup_keys(settings))
    seed(database)
    database.dispose()


@dataclass
class ApiWorld:
    app: Flask
    client: FlaskClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def database(self) -> Database:
        database: Database = self.app.extensions["sts"].database
        return database

    def token(self, client_id: str) -> str:
        if client_id not in self.tokens:
            response = self.client.post(
                "/oidc/token",
                data={"grant_type": "client_credentials", "resource": API},
                auth=(client_id, SECRET),
            )
            assert response.status_code == 200, response.get_json()
            self.tokens[client_id] = response.get_json()["access_token"]
        return self.tokens[client_id]

    def call(
        self,
        method: str,
        path: str,
        as_: str | None,
        json: Any = None,
        **kwargs: Any,
    ) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.token(as_)}"
        return self.client.open(
            f"/api/v1{path}", method=method, json=json, headers=headers, **kwargs
        )

    def user_id(self, username: str, cvr: str = A) -> str:
        with self.database.session() as session:
            user = session.query(User).filter_by(username=username, cvr=cvr).one()
            return user.id


def make_world(
    template: Path, data_dir: Path, *, database_url: str | None = None, **extra: str
) -> ApiWorld:
    shutil.copytree(template, data_dir)
    if database_url:
        extra["STS_DATABASE_URL"] = database_url
    settings = settings_for(data_dir, **extra)
    if database_url:
        database = Database(database_url)
        seed(database)
        database.dispose()
    app = create_app(settings)
    return ApiWorld(app, app.test_client())


def problem(response: TestResponse) -> dict[str, Any]:
    """The problem+json body of an error response (asserting its media type)."""
    assert response.mimetype == "application/problem+json", (response.status, response.data)
    body: dict[str, Any] = response.get_json(force=True)
    return body


def pointers(response: TestResponse) -> set[str]:
    return {error["pointer"] for error in problem(response).get("errors", [])}
