"""PostgreSQL behind PgBouncer in transaction pooling mode.

A real PgBouncer (Debian's ``pgbouncer``) on a free port, with fewer server connections
than the application opens, so consecutive transactions of one application connection
land on different server connections. With ``STS_DATABASE_PREPARED_STATEMENTS=false`` the
whole life of a deployment works through it: ``stsctl init`` (migrations), ``stsctl
import`` of the demo catalogue (temporary tables, COPY), ``stsctl serve`` with two workers
issuing tokens (the audit group commit, its advisory lock) and answering SAML SSO with a
real password login and then from the SSO session. Without the setting, psycopg's
server-side prepared statements break, which is why the setting exists.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from demo import passwords
from store.db import Database
from tests.e2e.browser import free_port
from tests.ops.conftest import (
    BINDING_POST,
    SP,
    Browser,
    base_env,
    require_binary,
    saml_response,
    serve,
    stop,
    stsctl,
    wait_until,
)
from tests.saml_kit import SpKeys, sp_metadata

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Bouncer:
    port: int

    def url(self, database_url: str) -> str:
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )


@contextmanager
def pgbouncer(directory: Path, database_url: str, server_connections: int) -> Iterator[Bouncer]:
    binary = require_binary("pgbouncer")
    upstream = make_url(database_url)
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    users = directory / "users.txt"
    users.write_text(f'"{upstream.username}" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={upstream.host or '127.0.0.1'} port={upstream.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {users}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {server_connections}\nmin_pool_size = 0\nreserve_pool_size = 0\n"
        "max_client_conn = 200\nserver_reset_query =\n"
        "ignore_startup_parameters = extra_float_digits\n"
        # PgBouncer will not run as root; it changes to this user after reading its files.
        + ("user = postgres\n" if os.geteuid() == 0 else "")
    )
    log = (directory / "pgbouncer.log").open("wb")
    process = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        conninfo = f"host=127.0.0.1 port={port} user={upstream.username} dbname={upstream.database}"
        wait_until(lambda: _connects(conninfo), 15, "pgbouncer accepting connections")
        yield Bouncer(port)
    finally:
        stop(process)
        log.close()


def _connects(conninfo: str) -> bool:
    try:
        with psycopg.connect(conninfo, connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _alternate(database: Database, rounds: int = 8) -> None:
    """The same query on two application connections in turn, one server connection."""
    with database.engine.connect() as first, database.engine.connect() as second:
        for index in range(rounds):
            for connection in (first, second):
                connection.execute(text("SELECT :n + 1"), {"n": index}).scalar()
                connection.commit()


def test_prepared_statements_must_be_off_behind_transaction_pooling(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    with pgbouncer(tmp_path / "bouncer", fresh_postgres_url, server_connections=1) as bouncer:
        off = Database(bouncer.url(fresh_postgres_url), prepared_statements=False)
        try:
            _alternate(off)  # no error: nothing lives on a server connection
        finally:
            off.dispose()
        on = Database(bouncer.url(fresh_postgres_url), prepared_statements=True)
        try:
            with pytest.raises(Exception, match="prepared statement"):
                _alternate(on)
        finally:
            on.dispose()


def _demo_catalogue(directory: Path) -> Path:
    """The demo catalogue with KSD at NSIS Low, so a password alone signs on to it."""
    text_ = (ROOT / "policies" / "demo.yaml").read_text(encoding="utf-8")
    head, _, tail = text_.partition('  - id: "KSD"')
    tail = tail.replace('min_loa: "Substantial"', 'min_loa: "Low"', 1)
    path = directory / "demo.yaml"
    path.write_text(f'{head}  - id: "KSD"{tail}', encoding="utf-8")
    return path


def test_init_import_tokens_and_sso_through_pgbouncer(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    from tests.ops.conftest import redis_server

    password_file, secret_file = tmp_path / "passwords.env", tmp_path / "secrets.env"
    passwords.write(password_file)
    passwords.write_secrets(secret_file)
    secrets = {**passwords.read_env(password_file), **passwords.read_env(secret_file)}
    metadata = tmp_path / "sp.xml"
    metadata.write_text(
        sp_metadata(
            SP, SpKeys.generate("ksd-sp"), acs=[("https://ksd.sp.test/acs", BINDING_POST, 0)]
        )
    )
    with (
        pgbouncer(tmp_path / "bouncer", fresh_postgres_url, server_connections=2) as bouncer,
        redis_server(tmp_path / "redis") as redis,
    ):
        env = base_env(
            tmp_path / "var",
            STS_DATABASE_URL=bouncer.url(fresh_postgres_url),
            STS_DATABASE_PREPARED_STATEMENTS="false",
            STS_DATABASE_POOL_SIZE="4",
            STS_REDIS_URL=redis.url,
            **secrets,
        )
        stsctl(env, "init")
        stsctl(env, "import", str(_demo_catalogue(tmp_path)))
        stsctl(env, "saml", "sp", "add", str(metadata), "--fagsystem", "KSD")
        with serve(env, "--workers", "2", log=tmp_path / "serve.log") as server:
            for _ in range(20):  # more requests than server connections, on both workers
                answer = server.post(
                    "/oidc/token",
                    data={"grant_type": "client_credentials", "resource": "https://ky.demo.test",
                          "cvr": "29189846"},
                    auth=("sapa-web", secrets["SAPA_WEB_SECRET"]),
                )  # fmt: skip
                assert answer.status_code == 200, answer.text
                assert answer.json()["access_token"]
            browser = Browser(server)
            continued = browser.login(
                browser.sso(), username="peter", password=secrets["DEMO_PASSWORD_PETER"]
            )
            assert continued.status_code == 200, continued.text[:500]
            assert saml_response(browser.finish(continued))
            assert saml_response(browser.sso())  # from the SSO session
        # Every token and assertion was audited through the group commit, chained intact.
        verified = stsctl(env, "audit", "verify").stdout
        assert "audit chain intact" in verified, verified
        assert int(verified.split(": ")[1].split()[0]) >= 20 + 2
