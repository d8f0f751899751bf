"""The admin API on real server processes sharing PostgreSQL and Redis.

- A supplier requests an agreement, a Godkender approves it, and `client_credentials` for
  it succeeds on a second server within a second; a revocation stops it within a second.
- A server killed between a change and its response leaves the change and its audit
  event both present or both absent.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from store.db import Database
from store.models import AuditEvent, Jobfunktionsrolle
from tests.admin.servers import Cluster, Server, children, cluster, post_form
from tests.admin_kit import KY_WRITE, ORG, ORG_ROLE, SECRET, A
from tests.conftest import redis_url, service_missing

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def shared_redis() -> str:
    url = redis_url()
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as exc:
        service_missing("Redis", str(exc))
    return url


def _system_token(server: Server) -> int:
    status, _body = post_form(
        server,
        "/oidc/token",
        {"grant_type": "client_credentials", "resource": ORG, "cvr": A},
        auth=("sapa-system", SECRET),
    )
    return status


def _seconds_until(condition: object, server: Server, limit: float = 5.0) -> float:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if condition(_system_token(server)):  # type: ignore[operator]
            return time.monotonic() - began
        time.sleep(0.02)
    raise AssertionError(f"not within {limit} s")


def test_an_approval_and_a_revocation_reach_token_issuance_on_every_server_within_a_second(
    tmp_path: Path, fresh_postgres_url: str, shared_redis: str
) -> None:
    with cluster(tmp_path / "data", fresh_postgres_url, shared_redis) as group:
        one, two = group.start(), group.start()
        # Both servers have answered (and cached) a refusal before the agreement exists.
        assert _system_token(one) == _system_token(two) == 400
        body = {"id": "sa-org", "cvr": A, "anvendersystem": "SAPA", "service": "ORG",
                "roles": [ORG_ROLE]}  # fmt: skip
        status, requested = group.api(one, "POST", "/serviceaftaler", "sapa-lev", body)
        assert status == 201 and requested["status"] == "requested"
        assert _system_token(two) == 400  # requested is not approved
        status, _ = group.api(one, "POST", "/serviceaftaler/sa-org/approve", "a-godkender", {})
        assert status == 200
        assert _seconds_until(lambda code: code == 200, two) <= 1.0
        assert _system_token(one) == 200
        status, _ = group.api(two, "POST", "/serviceaftaler/sa-org/revoke", "a-godkender", {})
        assert status == 200
        assert _seconds_until(lambda code: code != 200, one) <= 1.0
        assert _system_token(two) != 200


def _create_jfrs(group: Cluster, server: Server, prefix: str, stop: threading.Event,
                 outcomes: list[str]) -> None:  # fmt: skip
    number = 0
    while not stop.is_set():
        number += 1
        body = {"id": f"{prefix}{number}", "name": "Krasj", "grants": [{"role": KY_WRITE}]}
        try:
            status, _ = group.api(
                server, "POST", f"/municipalities/{A}/jobfunktionsroller",
                "a-jobfunktionsrolleadministrator", body,
            )  # fmt: skip
            outcomes.append(str(status))
        except OSError:
            outcomes.append("interrupted")


def test_a_worker_killed_mid_change_leaves_change_and_audit_both_or_neither(
    tmp_path: Path, fresh_postgres_url: str, shared_redis: str
) -> None:
    with cluster(tmp_path / "data", fresh_postgres_url, shared_redis) as group:
        server = group.start(workers=2)
        group.token(server, "a-jobfunktionsrolleadministrator")
        stop = threading.Event()
        outcomes: list[str] = []
        threads = [
            threading.Thread(
                target=_create_jfrs,
                args=(group, server, f"urn:test:crash:{index}:", stop, outcomes),
            )
            for index in range(4)
        ]
        for thread in threads:
            thread.start()
        kills = 0
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            time.sleep(0.25)
            for pid in children(server.process.pid)[:1]:
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert kills >= 5
    assert "interrupted" in outcomes or any(code.startswith("5") for code in outcomes)
    assert "201" in outcomes
    database = Database(fresh_postgres_url)
    try:
        with database.session() as session:
            stored = set(
                session.scalars(
                    select(Jobfunktionsrolle.id).where(
                        Jobfunktionsrolle.id.like("urn:test:crash:%")
                    )
                )
            )
            audited = set(
                session.scalars(
                    select(AuditEvent.object_id).where(
                        AuditEvent.action == "jfr.created",
                        AuditEvent.object_id.like("urn:test:crash:%"),
                    )
                )
            )
    finally:
        database.dispose()
    assert stored and stored == audited
