"""`stsctl serve` as a process: what the server itself must do for the app.

Workers die and come back, shutdown lets requests finish, proxy headers count only from
trusted peers, and /metrics sums every worker. A request is held in flight by holding
the audit chain's PostgreSQL advisory lock: a token is sent only after its audit event
is committed, so the request waits until the test lets go.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import psycopg
import pytest

from store.audit import _LOCK_KEY
from store.db import Database
from tests.admin.servers import children
from tests.e2e.browser import free_port
from tests.oidc_kit import (
    CLIENT_CERT_PEM,
    CVR,
    ISSUER,
    ORG,
    REDIRECT,
    SECRET,
    build_template,
    pkce,
    seed,
)

STSCTL = [sys.executable, "-c", "from cli import main; main()"]
TRUSTED, UNTRUSTED = "127.0.0.2", "127.0.0.3"
TOKEN_FORM = {"grant_type": "client_credentials", "resource": ORG, "cvr": CVR}


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        source: str = "127.0.0.1",
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=timeout, source_address=(source, 0)
        )
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = urlencode(body)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=data, headers=sent)
            answer = connection.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            connection.close()

    def token(self, client_id: str = "sapa-system", **kwargs: Any) -> tuple[int, Any]:
        credentials = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
        status, _headers, raw = self.request(
            "POST", "/oidc/token", body=TOKEN_FORM,
            headers={"Authorization": f"Basic {credentials}"}, **kwargs,
        )  # fmt: skip
        return status, json.loads(raw)

    def workers(self) -> list[int]:
        return children(self.process.pid)


@contextmanager
def serve(env: dict[str, str], *args: str) -> Iterator[Served]:
    port = free_port()
    process = subprocess.Popen(
        [*STSCTL, "serve", "--bind", f"0.0.0.0:{port}", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    served = Served(process, port)
    try:
        wait_ready(served)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_ready(served: Served, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert served.process.poll() is None, "stsctl serve exited"
        try:
            if served.request("GET", "/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become ready in time")


def wait_for(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STS_", "PROMETHEUS_"))}
    env.update(
        STS_DATA_DIR=str(data_dir),
        STS_BASE_URL=ISSUER,
        STS_LOG_LEVEL="WARNING",
        STS_ARGON2_MEMORY_KIB="19456",
        STS_ARGON2_TIME_COST="2",
        STS_ARGON2_PARALLELISM="1",
        **extra,
    )
    return env


@pytest.fixture
def postgres_env(tmp_path: Path, fresh_postgres_url: str) -> dict[str, str]:
    """A seeded PostgreSQL database (the token path then uses the audit group commit)."""
    env = base_env(tmp_path / "var", STS_DATABASE_URL=fresh_postgres_url)
    subprocess.run([*STSCTL, "init"], env=env, check=True, capture_output=True)
    database = Database(fresh_postgres_url)
    seed(database)
    database.dispose()
    return env


@pytest.fixture
def redis_env(postgres_env: dict[str, str]) -> dict[str, str]:
    import redis

    from tests.conftest import redis_url, service_missing

    try:
        redis.Redis.from_url(redis_url()).ping()
    except redis.RedisError as exc:
        service_missing("Redis", str(exc))
    return {**postgres_env, "STS_REDIS_URL": redis_url()}


@pytest.fixture
def proxy_env(tmp_path: Path) -> dict[str, str]:
    """SQLite world; 127.0.0.2 is the trusted proxy, passing certificates in a header."""
    build_template(tmp_path / "var")
    return base_env(
        tmp_path / "var",
        STS_TLS_TRUSTED_PROXIES=TRUSTED,
        STS_TLS_CLIENT_CERT_HEADER="X-SSL-Client-Cert",
    )


@contextmanager
def audit_chain_held(database_url: str) -> Iterator[Any]:
    """Hold the audit chain's lock; yields a function telling whether someone waits."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))

        def waiting() -> bool:
            row = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            return bool(row and row[0])

        try:
            yield waiting
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def in_background(call: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # the outcome is what the test checks
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


# -- workers --


def test_a_worker_killed_mid_request_is_replaced_and_the_next_requests_succeed(
    postgres_env: dict[str, str],
) -> None:
    with serve(postgres_env, "--workers", "1") as served:
        assert served.token()[0] == 200
        [worker] = served.workers()
        with audit_chain_held(postgres_env["STS_DATABASE_URL"]) as waiting:
            thread, outcome = in_background(served.token)
            wait_for(waiting)
            os.kill(worker, signal.SIGKILL)
            thread.join(timeout=30)
        assert isinstance(outcome[0], OSError)  # the connection died with its worker
        wait_for(lambda: bool(served.workers()) and served.workers() != [worker])
        wait_ready(served)
        assert [served.token()[0] for _ in range(5)] == [200] * 5
        assert served.process.poll() is None


def test_a_request_running_past_the_timeout_has_its_worker_replaced(
    postgres_env: dict[str, str],
) -> None:
    with serve(postgres_env, "--workers", "1", "--timeout", "2") as served:
        [worker] = served.workers()
        with audit_chain_held(postgres_env["STS_DATABASE_URL"]) as waiting:
            thread, outcome = in_background(served.token)
            wait_for(waiting)
            thread.join(timeout=30)
        assert isinstance(outcome[0], OSError)
        wait_for(lambda: bool(served.workers()) and served.workers() != [worker])
        wait_ready(served)
        assert served.token()[0] == 200


def test_graceful_shutdown_finishes_the_requests_in_flight(postgres_env: dict[str, str]) -> None:
    with serve(postgres_env, "--workers", "1") as served:
        with audit_chain_held(postgres_env["STS_DATABASE_URL"]) as waiting:
            thread, outcome = in_background(served.token)
            wait_for(waiting)
            served.process.send_signal(signal.SIGTERM)
            time.sleep(1)
            assert served.process.poll() is None  # still waiting for the request
        thread.join(timeout=30)
        status, body = outcome[0]
        assert status == 200 and body["access_token"]
        assert served.process.wait(timeout=30) == 0


def test_a_graceful_restart_replaces_every_worker_and_every_answer_is_a_success(
    redis_env: dict[str, str],
) -> None:
    # Connections a stopping worker had accepted but not read from may be closed unread
    # (granian; seen about once in a thousand here): those are not answers, and clients
    # retry them. Every request that is answered must succeed.
    with serve(redis_env, "--workers", "2") as served:
        before = set(served.workers())
        assert len(before) == 2
        served.process.send_signal(signal.SIGHUP)
        answers = []
        deadline = time.monotonic() + 60
        while not before.isdisjoint(served.workers()) and time.monotonic() < deadline:
            with contextlib.suppress(ConnectionError):
                answers.append(served.token()[0])
        assert before.isdisjoint(served.workers())
        assert answers and set(answers) == {200}
        assert [served.token()[0] for _ in range(5)] == [200] * 5


# -- proxy headers --


def failed_login_address(
    served: Served, database_url: str, source: str, headers: dict[str, str]
) -> str:
    """Fail a password login through the pages; the address its audit event recorded."""
    jar = SimpleCookie()
    _verifier, challenge = pkce()
    query = urlencode({
        "response_type": "code", "client_id": "ky-web", "redirect_uri": REDIRECT,
        "scope": "openid", "state": "s", "nonce": "n", "code_challenge": challenge,
        "code_challenge_method": "S256",
    })  # fmt: skip
    location = f"/oidc/authorize?{query}"
    page = b""
    for _ in range(5):  # follow redirects to the password page
        cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())
        status, answer, page = served.request(
            "GET", location, headers={**headers, "Cookie": cookie}, source=source
        )
        for name, value in answer.items():
            if name.lower() == "set-cookie":
                jar.load(value)
        if status not in (302, 303):
            break
        location = (
            urlsplit(answer.get("location") or answer["Location"])
            ._replace(scheme="", netloc="")
            .geturl()
        )
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert csrf, page[:500]
    cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())
    form = {"csrf_token": csrf.group(1).decode(), "username": "anne", "password": "wrong"}
    served.request(
        "POST", location, body=form, headers={**headers, "Cookie": cookie}, source=source
    )
    database = Database(database_url)
    try:
        with database.session() as session:
            from sqlalchemy import select

            from store.models import AuditEvent

            event = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "login.password")
                .order_by(AuditEvent.id.desc())
            ).first()
            assert event is not None
            return str(event.details["address"])
    finally:
        database.dispose()


def test_x_forwarded_for_is_honoured_only_from_a_trusted_proxy(
    proxy_env: dict[str, str],
) -> None:
    database_url = f"sqlite:///{proxy_env['STS_DATA_DIR']}/sts.db"
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    with serve(proxy_env) as served:
        assert (
            failed_login_address(served, database_url, source=TRUSTED, headers=forwarded)
            == "203.0.113.9"
        )
        assert (
            failed_login_address(served, database_url, source=UNTRUSTED, headers=forwarded)
            == UNTRUSTED
        )


def test_the_client_certificate_header_is_honoured_only_from_a_trusted_proxy(
    proxy_env: dict[str, str],
) -> None:
    form = {**TOKEN_FORM, "client_id": "sapa-mtls"}
    header = {"X-SSL-Client-Cert": quote(CLIENT_CERT_PEM)}
    with serve(proxy_env) as served:
        trusted = served.request("POST", "/oidc/token", body=form, headers=header, source=TRUSTED)
        untrusted = served.request(
            "POST", "/oidc/token", body=form, headers=header, source=UNTRUSTED
        )
    assert trusted[0] == 200 and json.loads(trusted[2])["access_token"]
    assert untrusted[0] == 401 and json.loads(untrusted[2])["error"] == "invalid_client"


# -- metrics --


def healthz_count(metrics: bytes) -> float:
    pattern = rb'sts_http_requests_total\{endpoint="health.healthz",method="GET",status="200"\}'
    match = re.search(pattern + rb" (\S+)", metrics)
    return float(match.group(1)) if match else 0.0


def workers_that_answered_healthz(metrics_dir: Path) -> set[str]:
    from prometheus_client.mmap_dict import MmapedDict

    return {
        path.name
        for path in metrics_dir.glob("counter_*.db")
        for key, value, *_rest in MmapedDict.read_all_values_from_file(str(path))
        if '"health.healthz"' in key and value > 0
    }


def test_metrics_sum_the_requests_of_every_worker(
    redis_env: dict[str, str], tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    env = {**redis_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with serve(env, "--workers", "2") as served:
        sent = 0
        deadline = time.monotonic() + 60
        # Until both workers have answered some (connections go to either worker).
        while len(workers_that_answered_healthz(metrics_dir)) < 2:
            assert time.monotonic() < deadline, "one worker answered everything"
            threads = [threading.Thread(target=served.request, args=("GET", "/healthz"))
                       for _ in range(8)]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent += len(threads)
        assert healthz_count(served.request("GET", "/metrics")[2]) == sent
