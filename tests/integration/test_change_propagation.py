"""A catalogue change made by another process reaches running servers within 1 s.

Without Redis (the embedded default: SQLite, in-process state) the server hears of a
``stsctl import`` through the change marker in the database; with Redis, two server
processes on one PostgreSQL database hear it through the announcement. In both, for a
role change (a user token at its next refresh) and for a serviceaftale revoked by an
import that names nothing else (a system token).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import delete

from authz.cache import invalidate_all, invalidate_fagsystem, invalidate_user, on_fagsystem_changes
from idp.oidc.clients import ClientRegistry
from idp.saml.metadata import SpRegistry
from store.catalogue import import_catalogue, load_file
from store.db import Database
from store.ephemeral import MemoryState
from store.models import OidcClient, SamlServiceProvider
from tests.admin.servers import Cluster, Server
from tests.conftest import redis_url
from tests.integration.access_world import (
    READ,
    WRITE,
    aftale_revoked,
    catalogue,
    import_file,
    refresh,
    roles_in,
    sign_in,
    start_servers,
    start_world,
    system_token,
    with_write_role,
    within_bound,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "catalogue"
SP = "https://ky.demo.test/saml"


@pytest.fixture
def redis_available(redis_state: object) -> str:
    """Redis is there (else skipped, or failed under STS_REQUIRE_SERVICES=1)."""
    return redis_url()


class RefreshingUser:
    """anne's refresh-token family: each refresh rotates it and shows today's roles."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.refresh_token = tokens["refresh_token"]

    def roles(self, server: Server) -> set[str]:
        status, body = refresh(server, self.refresh_token)
        assert status == 200, body
        self.refresh_token = body["refresh_token"]
        return roles_in(body["access_token"])


def _role_change_and_revocation(cluster: Cluster, tmp_path: Path, at: Server, via: Server) -> None:
    """Sign in at ``via``, warm ``at``'s caches, change from another process, watch ``at``."""
    user = RefreshingUser(sign_in(requests.Session(), via))
    assert user.roles(at) == {READ}  # cached now, at ``at``
    status, body = system_token(at)
    assert status == 200, body

    import_file(cluster.env, with_write_role(), tmp_path / "role.json")
    changed = time.monotonic()
    took = within_bound(lambda: user.roles(at) == {READ, WRITE}, changed, "role change")
    print(f"role change visible after {took:.3f} s")

    import_file(cluster.env, aftale_revoked(), tmp_path / "aftale.json")
    revoked = time.monotonic()
    took = within_bound(lambda: system_token(at)[0] != 200, revoked, "serviceaftale revoked")
    status, body = system_token(at)
    assert status in (400, 401, 403) and body["error"] in ("unauthorized_client", "access_denied")
    print(f"revocation visible after {took:.3f} s")


@pytest.fixture
def no_redis_world(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_world(tmp_path, database_url=None, redis_url=None)  # SQLite, in-process
    try:
        yield cluster
    finally:
        cluster.stop()


def test_without_redis_an_import_from_another_process_reaches_the_server_within_1s(
    no_redis_world: Cluster, tmp_path: Path
) -> None:
    (server,) = start_servers(no_redis_world, 1)
    _role_change_and_revocation(no_redis_world, tmp_path, at=server, via=server)


@pytest.fixture
def redis_world(tmp_path: Path, fresh_postgres_url: str, redis_available: str) -> Iterator[Cluster]:
    cluster = start_world(tmp_path, database_url=fresh_postgres_url, redis_url=redis_available)
    try:
        yield cluster
    finally:
        cluster.stop()


def test_with_redis_an_import_reaches_both_servers_within_1s(
    redis_world: Cluster, tmp_path: Path
) -> None:
    first, second = start_servers(redis_world, 2)
    _role_change_and_revocation(redis_world, tmp_path, at=second, via=first)


# -- the registries of SAML SPs and OIDC clients hear the same announcements ----------------


def test_the_sp_registry_is_emptied_by_an_announced_fagsystem_change(
    sqlite_database: Database,
) -> None:
    import_catalogue(sqlite_database, load_file(FIXTURES / "with-saml.yaml"))
    state = MemoryState()
    registry = SpRegistry(sqlite_database, state=state)
    assert registry.get(SP) is not None  # cached for 30 s
    with sqlite_database.session() as session:
        session.execute(delete(SamlServiceProvider))
    invalidate_user(state, "someone")  # a change that does not touch fagsystemer
    assert registry.get(SP) is not None
    invalidate_fagsystem(state, "KY")
    assert registry.get(SP) is None


def test_the_client_registry_is_emptied_by_an_announced_fagsystem_change(
    sqlite_database: Database,
) -> None:
    import_catalogue(sqlite_database, catalogue())
    state = MemoryState()
    registry = ClientRegistry()
    on_fagsystem_changes(state, registry.invalidate)
    with sqlite_database.session() as session:
        assert registry.get(session, "ky-web") is not None  # cached for 5 s
        session.execute(delete(OidcClient).where(OidcClient.client_id == "ky-web"))
        session.commit()
        invalidate_user(state, "someone")
        assert registry.get(session, "ky-web") is not None
        invalidate_all(state)
        assert registry.get(session, "ky-web") is None
