"""Disabling a user ends their access on every server within 1 s.

Two ``stsctl serve`` processes share PostgreSQL and Redis. anne signs in at one, uses her
SSO session at the other (so both have her cached as active) and holds a refresh token.
Then she is disabled, by a Brugeradministrator through the service layer the admin API
and UI call, or by a catalogue import in a process of its own: within a second her
session is refused at both servers and her refresh token is refused too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from admin.actor import Actor
from admin.service.context import ServiceContext
from admin.service.users import set_disabled
from authz.admin import AdminPrincipal
from settings import load_settings
from store.db import Database
from store.ephemeral import RedisState
from tests.admin.servers import Cluster, Server
from tests.conftest import _create_database, _drop_database, redis_url
from tests.integration.access_world import (
    CVR,
    anne_disabled,
    authorize,
    catalogue,
    code_of,
    environment,
    import_file,
    refresh,
    sign_in,
    start_servers,
    start_world,
    within_bound,
)

BRUGERADMINISTRATOR = Actor(
    "user", "bent", AdminPrincipal("user:bent", (("brugeradministrator", CVR),))
)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> Iterator[tuple[Cluster, list[Server]]]:
    try:
        RedisState(redis_url()).ping()
    except Exception as exc:
        from tests.conftest import service_missing

        service_missing("Redis", f"{redis_url()}: {exc}")
    database_url = _create_database(postgres_admin_url)
    cluster = start_world(tmp_path_factory.mktemp("disable"), database_url, redis_url())
    try:
        yield cluster, start_servers(cluster, 2)
    finally:
        cluster.stop()
        _drop_database(postgres_admin_url, database_url)


def session_alive(browser: requests.Session, server: Server) -> bool:
    """Whether the SSO session answers a ``prompt=none`` request at ``server``."""
    _verifier, location = authorize(browser, server, prompt="none")
    if "error=login_required" in location:
        return False
    assert code_of(location), location
    return True


def signed_in_at_both(cluster: Cluster, servers: list[Server]) -> tuple[requests.Session, str]:
    """anne enabled, signed in at the first server, her session used at the second."""
    import_file(cluster.env, catalogue(), Path(cluster.env["STS_DATA_DIR"]) / "enable.json")
    first, second = servers
    browser = requests.Session()
    tokens = sign_in(browser, first)
    assert session_alive(browser, second) and session_alive(browser, first)
    status, body = refresh(second, tokens["refresh_token"])
    assert status == 200, body
    return browser, body["refresh_token"]


def assert_access_ended(
    browser: requests.Session, servers: list[Server], refresh_token: str, since: float
) -> None:
    for server in servers:

        def ended(at: Server = server) -> bool:
            return not session_alive(browser, at)

        took = within_bound(ended, since, "session")
        print(f"session refused at {server.url} after {took:.3f} s")
    status, body = refresh(servers[0], refresh_token)
    assert time.monotonic() - since < 1.0, "the refresh token was not refused within 1 s"
    assert status == 400 and body["error"] == "invalid_grant", body


def test_disabled_by_a_brugeradministrator_loses_sessions_and_tokens_on_both_servers(
    world: tuple[Cluster, list[Server]],
) -> None:
    cluster, servers = world
    browser, refresh_token = signed_in_at_both(cluster, servers)
    with environment(cluster.env):
        settings = load_settings()
    database = Database(settings.effective_database_url)
    state = RedisState(redis_url())
    try:
        context = ServiceContext(database, state, settings)
        result = set_disabled(context, BRUGERADMINISTRATOR, CVR, "anne", True)
        disabled = time.monotonic()
        assert result["disabled"] is True
        assert_access_ended(browser, servers, refresh_token, disabled)
    finally:
        state.close()
        database.dispose()


def test_disabled_by_a_catalogue_import_loses_sessions_and_tokens_on_both_servers(
    world: tuple[Cluster, list[Server]], tmp_path: Path
) -> None:
    cluster, servers = world
    browser, refresh_token = signed_in_at_both(cluster, servers)
    untouched = requests.Session()  # a second login, not used while she is disabled
    untouched_refresh = sign_in(untouched, servers[1])["refresh_token"]
    import_file(cluster.env, anne_disabled(), tmp_path / "disable.json")
    assert_access_ended(browser, servers, refresh_token, time.monotonic())

    # Enabled again, she signs in afresh: what she had before the disable stays ended.
    import_file(cluster.env, catalogue(), tmp_path / "enable.json")
    assert not session_alive(untouched, servers[0])
    status, body = refresh(servers[1], untouched_refresh)
    assert status == 400 and body["error"] == "invalid_grant", body
    fresh = requests.Session()
    assert refresh(servers[0], sign_in(fresh, servers[1])["refresh_token"])[0] == 200
