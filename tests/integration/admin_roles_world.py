"""A small world for administrative roles: two municipalities, users, a fagsystem, clients."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from admin.actor import Actor
from authz.admin import load_admin, load_admin_client
from store.catalogue import import_catalogue
from store.db import Database
from store.models import User

A = "29189846"
B = "29189862"
UNKNOWN_CVR = "11111111"


def _user(username: str, cvr: str, **extra: Any) -> dict[str, Any]:
    return {"username": username, "cvr": cvr, "name": username.title(), **extra}


def _client(client_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "token_endpoint_auth_method": "client_secret_basic",
        "client_secret_env": "ADMIN_ROLES_TEST_SECRET_UNSET",
        "grant_types": ["client_credentials"],
        **extra,
    }


def catalogue() -> dict[str, Any]:
    """anne administers A (given by the test), karen and dis(abled) in A, bo in B,
    sam in both; fagsystem SAPA with clients sapa-admin and sapa-web."""
    return {
        "version": 1,
        "municipalities": [
            {"cvr": A, "name": "Demo Kommune", "domain": "demo.kommune.dk"},
            {"cvr": B, "name": "Nabo Kommune", "domain": "nabo.kommune.dk"},
        ],
        "fagsystemer": [
            {
                "id": "SAPA",
                "name": "Sags- og Partsoverblik",
                "kind": "anvender",
                "oidc_clients": [_client("sapa-admin"), _client("sapa-web")],
            },
            {"id": "KY", "name": "Kommunernes Ydelsessystem", "kind": "brugervendt"},
        ],
        "users": [
            _user("anne", A),
            _user("karen", A),
            _user("dis", A, disabled=True),
            _user("sam", A),
            _user("bo", B),
            _user("sam", B),
        ],
    }


def load(database: Database, data: dict[str, Any] | None = None) -> None:
    import_catalogue(database, data or catalogue(), actor="test-setup")


def user_id(database: Database, username: str, cvr: str) -> str:
    with database.session() as session:
        found = session.scalar(select(User.id).where(User.username == username, User.cvr == cvr))
    assert found is not None
    return found


def person(database: Database, username: str, cvr: str) -> Actor:
    """A person signed in to the admin API, with the roles stored now."""
    uid = user_id(database, username, cvr)
    return Actor("user", username, load_admin(database, uid), user_id=uid, cvr=cvr)


def integration(database: Database, client_id: str) -> Actor:
    """An OIDC client calling the admin API, with the roles stored now."""
    return Actor("client", client_id, load_admin_client(database, client_id))
