"""Fixtures for the multi-node and fault tests: private PostgreSQL and Redis, a cluster.

The PostgreSQL cluster is made once per session (initdb takes about a second); each test
gets a database of its own in it. Redis is started per test. Both are private: a test may
stop and start them without disturbing the shared services on 5432 and 6379.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import migrate
from tests.conftest import service_missing
from tests.faults.cluster import Cluster, cluster
from tests.faults.services import PrivatePostgres, PrivateRedis, ServiceMissing


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
        server.start()
    except (ServiceMissing, OSError) as exc:
        service_missing("private PostgreSQL (initdb/pg_ctl)", str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres(private_postgres: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The private PostgreSQL, running again after the test whatever the test did."""
    if not private_postgres.running():
        private_postgres.start()
    yield private_postgres
    if not private_postgres.running():
        private_postgres.start()


@pytest.fixture
def database_url(postgres: PrivatePostgres) -> str:
    url = postgres.create_database(f"sts_faults_{uuid.uuid4().hex[:10]}")
    migrate.upgrade(url)
    return url


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis()
        server.start()
    except (ServiceMissing, OSError) as exc:
        service_missing("private Redis (redis-server)", str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def nodes(tmp_path: Path, database_url: str, private_redis: PrivateRedis) -> Iterator[Cluster]:
    """A seeded world; the test starts its nodes with ``nodes.start()``."""
    with cluster(tmp_path / "data", database_url, private_redis.url) as group:
        yield group


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, private_postgres: PrivatePostgres
) -> Iterator[Cluster]:
    """Two running nodes (one with two workers) shared by a module's tests, which must
    leave every service running."""
    try:
        redis_server = PrivateRedis()
        redis_server.start()
    except (ServiceMissing, OSError) as exc:
        service_missing("private Redis (redis-server)", str(exc))
    if not private_postgres.running():
        private_postgres.start()
    url = private_postgres.create_database(f"sts_faults_{uuid.uuid4().hex[:10]}")
    migrate.upgrade(url)
    try:
        with cluster(tmp_path_factory.mktemp("pair") / "data", url, redis_server.url) as group:
            group.start(workers=1)
            group.start(workers=2)
            yield group
    finally:
        redis_server.close()
