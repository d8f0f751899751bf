"""Real `stsctl serve` processes and a catalogue world, for the tests of how fast a change
(a role, a serviceaftale, a disabled user) reaches running servers.

The world is a catalogue file: municipality 29189846 with user ``anne`` (a password),
fagsystem KY (user-facing and a service, OIDC client ``ky-web``), SAPA (anvendersystem,
client ``sapa-system``), a jobfunktionsrolle giving anne *Læs sag* in KY, and an approved
serviceaftale SAPA → KY. Changes are made the way an operator makes them: ``stsctl
import`` in a process of its own.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from app import initialise, setup_keys, setup_store
from settings import load_settings
from store.catalogue import import_catalogue
from tests.admin.servers import STSCTL, Cluster, Server
from tests.e2e.browser import free_port

CVR = "29189846"
KY = "https://ky.access.test"
SAPA = "https://sapa.access.test"
READ = "http://ky.access.test/roles/usersystemrole/laes/1"
WRITE = "http://ky.access.test/roles/usersystemrole/skriv/1"
SERVICE_ROLE = "http://ky.access.test/roles/servicesystemrole/sager/1"
JFR = "http://access.test/roles/jobrole/sagsbehandler/1"
AFTALE = "sa-sapa-ky"
REDIRECT = "https://rp.access.test/cb"
PASSWORD = "korrekt hest batteri hæfteklamme"
CLIENT_SECRET = secrets.token_urlsafe(24)
SECRETS = {
    "ACCESS_ANNE_PASSWORD": PASSWORD,
    "ACCESS_KY_WEB_SECRET": CLIENT_SECRET,
    "ACCESS_SAPA_SECRET": CLIENT_SECRET,
}
CHEAP_ARGON2 = {
    "STS_ARGON2_MEMORY_KIB": "19456",
    "STS_ARGON2_TIME_COST": "2",
    "STS_ARGON2_PARALLELISM": "1",
}
BOUND = 1.0  # seconds within which a committed change must show in tokens


def catalogue() -> dict[str, Any]:
    return {
        "version": 1,
        "municipalities": [
            {
                "cvr": CVR,
                "name": "Adgang Kommune",
                "domain": "access.test",
                "org_units": [
                    {
                        "uuid": "7b000000-0000-4000-8000-000000000001",
                        "name": "Adgang Kommune",
                        "parent": None,
                        "kle": [],
                    }
                ],
            }
        ],
        "fagsystemer": [
            {
                "id": "KY",
                "name": "KY",
                "entity_id": KY,
                "kind": ["brugervendt", "service"],
                "min_loa": "Low",
                "oidc_clients": [
                    {
                        "client_id": "ky-web",
                        "redirect_uris": [REDIRECT],
                        "token_endpoint_auth_method": "client_secret_basic",
                        "client_secret_env": "ACCESS_KY_WEB_SECRET",
                        "grant_types": ["authorization_code", "refresh_token"],
                    }
                ],
                "roles": [
                    {"id": READ, "name": "Læs sag"},
                    {"id": WRITE, "name": "Skriv sag"},
                    {"id": SERVICE_ROLE, "name": "Læs sager (service)"},
                ],
            },
            {
                "id": "SAPA",
                "name": "SAPA",
                "entity_id": SAPA,
                "kind": ["anvender"],
                "oidc_clients": [
                    {
                        "client_id": "sapa-system",
                        "redirect_uris": [],
                        "token_endpoint_auth_method": "client_secret_basic",
                        "client_secret_env": "ACCESS_SAPA_SECRET",
                        "grant_types": ["client_credentials"],
                    }
                ],
            },
        ],
        "jobfunktionsroller": [
            {
                "id": JFR,
                "cvr": CVR,
                "name": "Sagsbehandler",
                "grants": [{"role": READ, "constraints": {}}],
            }
        ],
        "users": [
            {
                "username": "anne",
                "cvr": CVR,
                "name": "Anne Adgang",
                "password_env": "ACCESS_ANNE_PASSWORD",
            }
        ],
        "assignments": [{"user": "anne", "cvr": CVR, "role": JFR}],
        "serviceaftaler": [
            {
                "id": AFTALE,
                "cvr": CVR,
                "anvendersystem": "SAPA",
                "service": "KY",
                "roles": [SERVICE_ROLE],
                "constraints": {},
                "on_behalf_of": False,
                "status": "approved",
            }
        ],
    }


def with_write_role() -> dict[str, Any]:
    """Only the jobfunktionsrolle, now giving *Skriv sag* as well (a role change)."""
    data = catalogue()
    jfr = copy.deepcopy(data["jobfunktionsroller"][0])
    jfr["grants"].append({"role": WRITE, "constraints": {}})
    return {"version": 1, "jobfunktionsroller": [jfr]}


def aftale_revoked() -> dict[str, Any]:
    """Only the serviceaftale, revoked (an import that changes nothing else)."""
    aftale = {**catalogue()["serviceaftaler"][0], "status": "revoked"}
    return {"version": 1, "serviceaftaler": [aftale]}


def anne_disabled() -> dict[str, Any]:
    user = {**catalogue()["users"][0], "disabled": True}
    return {"version": 1, "users": [user]}


def server_env(data_dir: Path, database_url: str | None, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env.update(SECRETS)
    env.update(CHEAP_ARGON2)
    env.update(STS_DATA_DIR=str(data_dir), STS_LOG_LEVEL="WARNING")
    if database_url:
        env["STS_DATABASE_URL"] = database_url
    if redis_url:
        env["STS_REDIS_URL"] = redis_url
    return env


def stsctl(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*STSCTL, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def import_file(env: dict[str, str], data: dict[str, Any], path: Path) -> None:
    """``stsctl import`` in a process of its own; returns once that process has exited."""
    path.write_text(json.dumps(data), encoding="utf-8")
    stsctl(env, "import", str(path))


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def start_world(tmp_path: Path, database_url: str | None, redis_url: str | None) -> Cluster:
    """Schema, keys and the world, made here (as ``stsctl init`` and ``import`` would)."""
    env = server_env(tmp_path / "var", database_url, redis_url)
    with environment(env):
        settings = load_settings()
        database = setup_store(settings)
        try:
            initialise(settings, database, setup_keys(settings))
            import_catalogue(database, catalogue())
        finally:
            database.dispose()
    return Cluster(env)


def start_servers(cluster: Cluster, count: int) -> list[Server]:
    """``count`` servers started side by side, each ready (``/readyz``) when returned."""
    started = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [*STSCTL, "serve", "--bind", f"127.0.0.1:{port}"],
            env=cluster.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(f"http://127.0.0.1:{port}", process)
        cluster.servers.append(server)
        started.append(server)
    deadline = time.monotonic() + 60
    for server in started:
        while True:
            try:
                if requests.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "a server did not become ready within 60 s"
            time.sleep(0.1)
    return started


# -- tokens --------------------------------------------------------------------------------


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload (the servers signed it; here only its content matters)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def roles_in(access_token: str) -> set[str]:
    priv = claims(access_token).get("priv")
    if not priv:
        return set()
    text = base64.b64decode(priv).decode("utf-8")
    return {role for role in (READ, WRITE, SERVICE_ROLE) if role in text}


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(browser: requests.Session, server: Server, **extra: str) -> tuple[str, str]:
    """Run an authorization request (logging in with the password if asked); return the
    verifier and where the browser was finally sent (the client's redirect URI)."""
    verifier, challenge = _pkce()
    params = {
        "response_type": "code",
        "client_id": "ky-web",
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access",
        "state": "st",
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    response = browser.get(f"{server.url}/oidc/authorize", params=params, allow_redirects=False)
    for _ in range(20):
        location = response.headers.get("Location")
        if location:
            if location.startswith(REDIRECT):
                return verifier, location
            response = browser.get(urljoin(response.url, location), allow_redirects=False)
            continue
        page = response.text
        if 'name="password"' in page:
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token, page
            form = {"csrf_token": token.group(1), "username": "anne", "password": PASSWORD}
            response = browser.post(response.url, data=form, allow_redirects=False)
            continue
        resume = re.search(r'href="(/login/resume\?flow=[^"]+)"', page)
        assert resume, f"unexpected page {response.status_code}: {page[:500]}"
        response = browser.get(
            urljoin(response.url, resume.group(1).replace("&amp;", "&")), allow_redirects=False
        )
    raise AssertionError("too many steps in the authorization")


def code_of(location: str) -> str | None:
    found = re.search(r"[?&]code=([^&]+)", location)
    return found.group(1) if found else None


def sign_in(browser: requests.Session, server: Server) -> dict[str, Any]:
    """Log anne in at ``server`` (code flow); return the token response."""
    verifier, location = authorize(browser, server)
    code = code_of(location)
    assert code, location
    status, body = token_request(
        server,
        "ky-web",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert status == 200, body
    return body


def token_request(server: Server, client_id: str, form: dict[str, str]) -> tuple[int, Any]:
    response = requests.post(
        f"{server.url}/oidc/token", data=form, auth=(client_id, CLIENT_SECRET), timeout=10
    )
    return response.status_code, response.json()


def refresh(server: Server, refresh_token: str) -> tuple[int, Any]:
    return token_request(
        server, "ky-web", {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def system_token(server: Server) -> tuple[int, Any]:
    """SAPA's client_credentials token for KY on behalf of the municipality."""
    return token_request(
        server,
        "sapa-system",
        {"grant_type": "client_credentials", "resource": KY, "cvr": CVR},
    )


def within_bound(check: Callable[[], bool], since: float, what: str) -> float:
    """Poll ``check`` until it holds; fail if that takes longer than :data:`BOUND` after
    ``since`` (a ``time.monotonic()``). Returns the seconds it took."""
    while True:
        if check():
            return time.monotonic() - since
        elapsed = time.monotonic() - since
        assert elapsed < BOUND, f"{what}: not seen within {BOUND} s"
        time.sleep(0.02)
