"""Operations tests: real `stsctl serve` processes, private Redis/Sentinel, PgBouncer, nginx.

Everything runs on loopback ports picked at run time; every process a test starts is
stopped by the same test. The seeded world is ``tests.oidc_kit``'s (municipality, KY,
SAPA, ORG, agreements, OIDC clients) plus a password for ``anne`` and a SAML SP for KY,
so one server answers client_credentials, SAML SSO with a real password login, and OIDC.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from connectors.local import PasswordHashing
from settings import load_settings
from store.db import Database
from store.models import SamlServiceProvider, User
from tests.conftest import _create_database, _drop_database, service_missing
from tests.e2e.browser import free_port
from tests.oidc_kit import ANNE, ISSUER, SECRET, seed
from tests.saml_kit import SpKeys, authn_request, redirect_query, sp_metadata

STSCTL = [sys.executable, "-c", "from cli import main; main()"]
PASSWORD = "korrekt hest batteri hæfteklamme"
SP = "https://ky.sp.test/sp"
SP_ACS = "https://ky.sp.test/acs"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
FAST_ARGON2 = {
    "STS_ARGON2_MEMORY_KIB": "19456",
    "STS_ARGON2_TIME_COST": "2",
    "STS_ARGON2_PARALLELISM": "1",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_RESUME = re.compile(r'href="(/login/resume\?flow=[^"]+)"')
_SAML_RESPONSE = re.compile(r'name="SAMLResponse" value="([^"]+)"')


def require_binary(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        service_missing(name, f"{name} is not installed")
    assert path is not None
    return path


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STS_", "PROMETHEUS_"))}
    env.update(
        STS_DATA_DIR=str(data_dir), STS_BASE_URL=ISSUER, STS_LOG_LEVEL="WARNING", **FAST_ARGON2
    )
    env.update(extra)
    return env


def stsctl(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*STSCTL, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"stsctl {' '.join(args)}: {result.stderr[-2000:]}"
    return result


def seed_world(database_url: str, env: dict[str, str]) -> None:
    """oidc_kit's world, anne's password and a SAML SP for KY (no signed requests)."""
    database = Database(database_url)
    try:
        seed(database)
        settings = load_settings(env)
        hashing = PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        with database.session() as session:
            user = session.get(User, ANNE)
            assert user is not None
            user.password_hash = hashing.hash(PASSWORD)
            session.add(
                SamlServiceProvider(
                    entity_id=SP,
                    fagsystem_id="KY",
                    metadata_xml=sp_metadata(
                        SP, SpKeys.generate("ky-sp"), acs=[(SP_ACS, BINDING_POST, 0)]
                    ),
                )
            )
    finally:
        database.dispose()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.get(self.url + path, allow_redirects=False, **kwargs)  # noqa: S113

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.post(self.url + path, allow_redirects=False, **kwargs)  # noqa: S113

    def client_credentials(self, client_id: str = "sapa-system", **form: str) -> requests.Response:
        from tests.oidc_kit import CVR, ORG

        body = {"grant_type": "client_credentials", "resource": ORG, "cvr": CVR, **form}
        return self.post("/oidc/token", data=body, auth=(client_id, SECRET))


@contextmanager
def serve(env: dict[str, str], *args: str, log: Path, bind: str = "127.0.0.1") -> Iterator[Server]:
    port = free_port()
    handle = log.open("ab")
    process = subprocess.Popen(
        [*STSCTL, "serve", "--bind", f"{bind}:{port}", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until(lambda: _ready(server), 60, f"stsctl serve ready (log: {log})")
        yield server
    finally:
        stop(process)
        handle.close()


def _ready(server: Server) -> bool:
    assert server.process.poll() is None, server.log.read_text()[-3000:]
    try:
        return server.get("/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.1)


# -- a browser-ish SAML login over HTTP ----------------------------------------------------


class Browser:
    """Cookies and the login pages, driven with plain HTTP against a real server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.session = requests.Session()

    def get(self, path_or_url: str) -> requests.Response:
        url = urljoin(self.server.url + "/", path_or_url)
        return self.session.get(url, timeout=30, allow_redirects=False)

    def sso(self, issuer: str = SP) -> requests.Response:
        """An AuthnRequest (HTTP-Redirect) from ``issuer``."""
        request = authn_request(issuer, destination=f"{ISSUER}/saml/sso")
        return self.get("/saml/sso?" + redirect_query(request, relay_state="r"))

    def login(
        self, answer: requests.Response, password: str = PASSWORD, username: str = "anne"
    ) -> requests.Response:
        """Follow the IdP to its password page and submit it; the answer to the POST."""
        assert answer.status_code in (302, 303), answer.text[:500]
        page = self.get(answer.headers["Location"])
        assert page.status_code == 200, page.text[:500]
        csrf = _CSRF.search(page.text)
        assert csrf, page.text[:500]
        return self.session.post(
            page.url,
            data={"csrf_token": csrf.group(1), "username": username, "password": password},
            timeout=30,
            allow_redirects=False,
        )

    def finish(self, continued: requests.Response) -> requests.Response:
        match = _RESUME.search(continued.text)
        assert match, continued.text[:1000]
        return self.get(match.group(1).replace("&amp;", "&"))


def saml_response(answer: requests.Response) -> str:
    match = _SAML_RESPONSE.search(answer.text)
    assert match, answer.text[:1000]
    return match.group(1)


# -- private Redis ---------------------------------------------------------------------------


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def redis_server(directory: Path, *extra: str) -> Iterator[RedisServer]:
    binary = require_binary("redis-server")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = RedisServer(port, process)
    try:
        import redis

        client = redis.Redis(port=port, socket_timeout=1)
        wait_until(lambda: _pings(client), 10, "redis-server up")
        client.close()
        yield server
    finally:
        stop(process)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


def make_world_env(
    data_dir: Path, database_url: str, redis_url: str, **extra: str
) -> dict[str, str]:
    """``stsctl init`` and the seeded world on ``database_url``; the environment to serve."""
    env = base_env(data_dir, STS_DATABASE_URL=database_url, STS_REDIS_URL=redis_url, **extra)
    stsctl(env, "init")
    seed_world(database_url, env)
    return env


@pytest.fixture
def world_env(
    tmp_path: Path, fresh_postgres_url: str, private_redis: RedisServer
) -> dict[str, str]:
    """A migrated, seeded PostgreSQL database, keys, and a private Redis."""
    return make_world_env(tmp_path / "var", fresh_postgres_url, private_redis.url)


@pytest.fixture(scope="module")
def module_world_env(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> Iterator[dict[str, str]]:
    """:func:`world_env` shared by the tests of one module (its own database and Redis)."""
    directory = tmp_path_factory.mktemp("world")
    database_url = _create_database(postgres_admin_url)
    try:
        with redis_server(directory / "redis") as redis:
            yield make_world_env(directory / "var", database_url, redis.url)
    finally:
        _drop_database(postgres_admin_url, database_url)
