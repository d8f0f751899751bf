"""The production server starts from a fresh data directory and answers health checks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from policies import policy_path
from tests.e2e.browser import free_port

STSCTL = [sys.executable, "-c", "from cli import main; main()"]


def wait_for(url: str, deadline: float) -> int:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                return int(response.status)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 in time")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    environment["STS_DATA_DIR"] = str(tmp_path / "var")
    return environment


@pytest.fixture
def server(
    env: dict[str, str],
) -> Iterator[tuple[Callable[..., subprocess.Popen[bytes]], dict[str, str]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [*STSCTL, "serve", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        processes.append(process)
        return process

    yield start, env
    for process in processes:
        process.terminate()
        process.wait(timeout=20)


def test_fresh_install_serves_healthz_and_readyz_within_60_seconds(server) -> None:
    start, env = server
    began = time.monotonic()
    subprocess.run([*STSCTL, "init"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*STSCTL, "import", str(policy_path("demo.yaml"))], env=env, check=True, capture_output=True
    )
    port = free_port()
    start("--bind", f"127.0.0.1:{port}")
    deadline = began + 60
    assert wait_for(f"http://127.0.0.1:{port}/healthz", deadline) == 200
    assert wait_for(f"http://127.0.0.1:{port}/readyz", deadline) == 200


def test_several_workers_share_redis_and_all_answer(server) -> None:
    from tests.conftest import redis_url, service_missing

    start, env = server
    import redis

    try:
        redis.Redis.from_url(redis_url()).ping()
    except redis.RedisError as exc:
        service_missing("Redis", str(exc))
    env["STS_REDIS_URL"] = redis_url()
    subprocess.run([*STSCTL, "init"], env=env, check=True, capture_output=True)
    port = free_port()
    process = start("--bind", f"127.0.0.1:{port}", "--workers", "2")
    assert wait_for(f"http://127.0.0.1:{port}/readyz", time.monotonic() + 60) == 200
    assert process.poll() is None


def test_python_app_py_starts_on_embedded_defaults(env: dict[str, str]) -> None:
    port = free_port()
    env["STS_BASE_URL"] = f"http://127.0.0.1:{port}"
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, str(root / "app.py")],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/readyz", time.monotonic() + 60) == 200
        assert (Path(env["STS_DATA_DIR"]) / "sts.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=20)
