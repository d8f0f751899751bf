"""Real `stsctl serve` processes on one PostgreSQL database and one Redis, for the admin
tests that need more than one server (propagation) or a server to kill (atomicity)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.db import Database
from tests.admin_kit import API, ISSUER, SECRET, seed
from tests.e2e.browser import free_port

STSCTL = [sys.executable, "-c", "from cli import main; main()"]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


@dataclass
class Cluster:
    env: dict[str, str]
    servers: list[Server] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def start(self, workers: int = 1) -> Server:
        port = free_port()
        process = subprocess.Popen(
            [*STSCTL, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(f"http://127.0.0.1:{port}", process)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{server.url}/readyz", timeout=2):  # noqa: S310
                    return server
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the server did not become ready within 60 s")

    def token(self, server: Server, client_id: str) -> str:
        if client_id not in self.tokens:
            status, body = post_form(
                server,
                "/oidc/token",
                {"grant_type": "client_credentials", "resource": API},
                auth=(client_id, SECRET),
            )
            assert status == 200, body
            self.tokens[client_id] = body["access_token"]
        return self.tokens[client_id]

    def api(
        self, server: Server, method: str, path: str, as_: str, body: Any = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token(server, as_)}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - http on loopback
            f"{server.url}/api/v1{path}", data=data, method=method, headers=headers
        )
        return _send(request)

    def stop(self) -> None:
        for server in self.servers:
            if server.process.poll() is None:
                server.process.terminate()
        for server in self.servers:
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.process.kill()


def post_form(
    server: Server, path: str, form: dict[str, str], auth: tuple[str, str]
) -> tuple[int, Any]:
    import base64
    from urllib.parse import urlencode

    credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - http on loopback
        f"{server.url}{path}",
        data=urlencode(form).encode(),
        method="POST",
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    return _send(request)


def _send(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")


@contextmanager
def cluster(data_dir: Path, database_url: str, redis_url: str) -> Iterator[Cluster]:
    """A migrated, seeded database with keys; start servers with :meth:`Cluster.start`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env.update(
        STS_DATA_DIR=str(data_dir),
        STS_BASE_URL=ISSUER,
        STS_DATABASE_URL=database_url,
        STS_REDIS_URL=redis_url,
        STS_LOG_LEVEL="WARNING",
    )
    subprocess.run([*STSCTL, "init"], env=env, check=True, capture_output=True)
    database = Database(database_url)
    seed(database)
    database.dispose()
    group = Cluster(env)
    try:
        yield group
    finally:
        group.stop()


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (server workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found
