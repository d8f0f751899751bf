"""Backup and restore as docs/operations.md describes it, end to end.

A running server with users, the catalogue, keys and a live SSO session is backed up
(``pg_dump -Fc`` of its database, a copy of ``STS_DATA_DIR``), then restored into an EMPTY
new database (``pg_restore``) with the copied data directory and a new, empty Redis, and
a server is started on the copy. Tokens issued before the backup verify against the
restored server's JWKS, the catalogue exports identically, the audit chain is intact,
and the SSO session (Redis, not in the backup) is gone: the person logs in again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import _create_database, _drop_database
from tests.oidc_kit import ISSUER, ORG
from tests.ops.conftest import (
    Browser,
    make_world_env,
    redis_server,
    require_binary,
    saml_response,
    serve,
    stsctl,
)
from verifier.jwt import verify


def _libpq(url: str) -> list[str]:
    parsed = make_url(url)
    return [
        "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
        "-U", parsed.username or "postgres", "-d", str(parsed.database),
    ]  # fmt: skip


def _export(env: dict[str, str]) -> object:
    return json.loads(stsctl(env, "export", "--format", "json").stdout)


def test_restore_into_an_empty_database_keeps_tokens_catalogue_and_audit(
    tmp_path: Path, postgres_admin_url: str, fresh_postgres_url: str
) -> None:
    pg_dump, pg_restore = require_binary("pg_dump"), require_binary("pg_restore")
    with redis_server(tmp_path / "redis-a") as redis_a:
        original = make_world_env(tmp_path / "var", fresh_postgres_url, redis_a.url)
        with serve(original, log=tmp_path / "a.log") as server_a:
            issued = server_a.client_credentials()
            assert issued.status_code == 200, issued.text
            token = issued.json()["access_token"]
            browser = Browser(server_a)
            assert saml_response(browser.finish(browser.login(browser.sso())))
            assert saml_response(browser.sso())  # a live SSO session on the original
        catalogue = _export(original)

        # -- backup: the database and the data directory (keys, cookie and MFA secrets)
        dump = tmp_path / "backup" / "sts.dump"
        dump.parent.mkdir()
        subprocess.run(
            [pg_dump, "--format=custom", "--no-owner", "--file", str(dump),
             *_libpq(fresh_postgres_url)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.copytree(tmp_path / "var", tmp_path / "backup" / "var")  # keeps modes (0600)

    # -- restore: an empty database, the copied data directory, a new empty Redis
    restored_url = _create_database(postgres_admin_url)
    try:
        engine = create_engine(restored_url)
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar()
        engine.dispose()
        assert tables == 0  # really empty before the restore
        subprocess.run(
            [pg_restore, "--no-owner", "--exit-on-error", *_libpq(restored_url), str(dump)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        data_dir = tmp_path / "restored-var"
        shutil.copytree(tmp_path / "backup" / "var", data_dir)
        keys = sorted(p.name for p in (data_dir / "keys").iterdir())
        assert keys and all((data_dir / "keys" / k).stat().st_mode & 0o077 == 0 for k in keys)

        with redis_server(tmp_path / "redis-b") as redis_b:
            env = {
                **original,
                "STS_DATA_DIR": str(data_dir),
                "STS_DATABASE_URL": restored_url,
                "STS_REDIS_URL": redis_b.url,
            }
            stsctl(env, "init")  # what an operator runs after a restore: nothing to migrate
            with serve(env, log=tmp_path / "b.log") as server_b:
                jwks = server_b.get("/oidc/jwks").json()
                claims = verify(token, issuer=ISSUER, audience=ORG, jwks=jwks)
                assert claims["client_id"] == "sapa-system"
                assert server_b.client_credentials().status_code == 200  # still issues

                # The SSO session lived in Redis: the same browser must log in again.
                browser.server = server_b
                again = browser.sso()
                assert again.status_code in (302, 303), again.text[:300]
                assert "/login" in again.headers["Location"]
                assert saml_response(browser.finish(browser.login(again)))

            assert _export(env) == catalogue
            verified = stsctl(env, "audit", "verify").stdout
            assert "audit chain intact" in verified, verified
    finally:
        _drop_database(postgres_admin_url, restored_url)
