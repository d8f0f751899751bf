"""Redis behind Sentinel: ``STS_REDIS_URL=redis+sentinel://host:port[,…]/master[/db]``.

A real master, a real replica and a real Sentinel (``redis-server --sentinel``) on free
loopback ports. The ephemeral store finds the master through the Sentinel, survives a
failover (the master killed: requests in between fail closed with StateUnavailable, then
go to the promoted replica without a restart), and so does a real `stsctl serve`: an SSO
session started before the failover still answers an AuthnRequest after it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from settings import SettingsError, load_settings
from store.ephemeral import MISSED, RedisState, StateUnavailable, parse_sentinel_url
from tests.e2e.browser import free_port
from tests.ops.conftest import (
    Browser,
    RedisServer,
    make_world_env,
    redis_server,
    require_binary,
    saml_response,
    serve,
    stop,
    wait_until,
)

MASTER_NAME = "stsmaster"


@dataclass
class SentinelCluster:
    master: RedisServer
    replica: RedisServer
    sentinel_port: int

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{MASTER_NAME}/0"

    def current_master_port(self) -> int:
        client = redis.Redis(port=self.sentinel_port, socket_timeout=2)
        try:
            _host, port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
            return int(port)
        finally:
            client.close()

    def kill_master(self) -> None:
        self.master.process.send_signal(signal.SIGKILL)
        self.master.process.wait(timeout=10)


@contextmanager
def sentinel_cluster(directory: Path) -> Iterator[SentinelCluster]:
    binary = require_binary("redis-server")
    with ExitStack() as stack:
        master = stack.enter_context(redis_server(directory / "master"))
        replica = stack.enter_context(
            redis_server(directory / "replica", "--replicaof", "127.0.0.1", str(master.port))
        )
        client = redis.Redis(port=replica.port, socket_timeout=2)
        wait_until(
            lambda: client.info("replication").get("master_link_status") == "up", 15, "replica"
        )
        client.close()
        port = free_port()
        config = directory / "sentinel.conf"  # Sentinel rewrites its own file: a fresh one
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
        )
        import subprocess

        process = subprocess.Popen(
            [binary, str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(stop, process)
        cluster = SentinelCluster(master, replica, port)
        wait_until(lambda: _knows_replica(port), 15, "Sentinel sees master and replica")
        yield cluster


def _knows_replica(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=1)
    try:
        return bool(client.sentinel_slaves(MASTER_NAME))
    except redis.RedisError:
        return False
    finally:
        client.close()


def test_sentinel_urls_are_read_and_wrong_ones_refused_naming_the_variable() -> None:
    address = parse_sentinel_url("redis+sentinel://:s%40cret@10.0.0.1:26379,[::1]:26380/prod/3")
    assert address.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (address.master, address.db, address.password) == ("prod", 3, "s@cret")
    assert parse_sentinel_url("redis+sentinel://h:26379/m").db == 0
    for wrong, message in [
        ("redis+sentinel://h:26379", "master's name"),
        ("redis+sentinel:///m", "names no Sentinel"),
        ("redis+sentinel://h/m", "not host:port"),
        ("redis+sentinel://h:26379/m/x", "master's name"),
    ]:
        with pytest.raises(SettingsError, match=f"STS_REDIS_URL: .*{message}"):
            load_settings({"STS_REDIS_URL": wrong})
    assert load_settings({"STS_REDIS_URL": "redis+sentinel://h:1/m"}).redis_url


def test_the_store_follows_the_master_through_a_failover(tmp_path: Path) -> None:
    with sentinel_cluster(tmp_path) as cluster:
        state = RedisState(cluster.url, prefix="ops:", timeout=1.0)
        received: list[bytes] = []
        got = threading.Event()

        def on_message(_channel: str, message: bytes) -> None:
            received.append(message)
            if message == b"hello":
                got.set()

        subscription = state.subscribe("news", on_message)
        try:
            state.set("before", b"1")
            direct = redis.Redis(port=cluster.master.port)
            assert direct.get("ops:before") == b"1"  # written to the master Sentinel named
            assert direct.wait(1, 2000) == 1  # and replicated before the master dies
            direct.close()

            cluster.kill_master()
            outcomes: set[str] = set()

            def written() -> bool:
                try:
                    state.set("after", b"2")
                except StateUnavailable:
                    outcomes.add("unavailable")
                    return False
                return True

            wait_until(written, 30, "a write after the failover")
            assert cluster.current_master_port() == cluster.replica.port
            promoted = redis.Redis(port=cluster.replica.port)
            assert promoted.get("ops:after") == b"2"
            assert promoted.info("replication")["role"] == "master"
            promoted.close()
            assert state.get("before") == b"1"  # replicated before the failover
            assert outcomes == {"unavailable"}  # failed closed in between, never hung

            def delivered() -> bool:  # the subscriber reconnects to the new master
                state.publish("news", b"hello")
                return got.wait(0.3)

            wait_until(delivered, 15, "pub/sub after the failover")
            assert b"hello" in received
            # told it may have missed messages before the first one after the failover
            assert MISSED in received[: received.index(b"hello")]
        finally:
            subscription.close()
            state.close()


def test_a_server_on_sentinel_keeps_sso_sessions_across_a_failover(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    with sentinel_cluster(tmp_path / "redis") as cluster:
        env = make_world_env(tmp_path / "var", fresh_postgres_url, cluster.url)
        with serve(env, "--workers", "2", log=tmp_path / "serve.log") as server:
            browser = Browser(server)
            continued = browser.login(browser.sso())
            assert saml_response(browser.finish(continued))
            master = redis.Redis(port=cluster.master.port)
            assert any(key.startswith(b"sts:") for key in master.scan_iter(count=1000))
            assert master.wait(1, 2000) == 1
            master.close()

            cluster.kill_master()
            wait_until(
                lambda: cluster.current_master_port() == cluster.replica.port, 30, "failover"
            )
            wait_until(lambda: server.get("/readyz").status_code == 200, 30, "ready again")
            # The same browser, no password: its SSO session lives on the promoted replica.
            assert saml_response(browser.sso())
            assert server.client_credentials().status_code == 200
