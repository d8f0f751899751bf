"""Composition root: ``create_app(settings)`` wires store, keys, authz and the blueprints.

Read top to bottom, ``create_app`` is the whole application. ``python app.py`` runs the
embedded default (SQLite and in-process state in ``var/``) for a quick look; production
runs ``stsctl serve`` (granian) against PostgreSQL and Redis.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from admin.api.views import setup as setup_admin_api
from admin.ui import setup as setup_admin_ui
from authz.cache import AuthzEngine, invalidate_all
from certs.keys import KeyManager
from connectors.base import Directory
from idp import health
from idp.context import EXTENSION, Services
from idp.login import setup_login
from idp.logs import configure_logging, install_request_ids
from idp.metrics import install_metrics
from idp.oidc import setup_oidc
from idp.proxy import install_trusted_proxy_fix
from idp.saml.views import blueprint as saml_blueprint
from idp.sts import setup_sts
from settings import Settings, load_settings
from store import migrate
from store.change_marker import ChangeWatcher
from store.db import Database
from store.ephemeral import EphemeralState, open_state

log = logging.getLogger("sts")


def setup_store(settings: Settings) -> Database:
    return Database(settings.effective_database_url, **settings.database_options())


def setup_keys(settings: Settings) -> KeyManager:
    return KeyManager(
        settings.data_dir,
        issuer=settings.base_url,
        rsa_bits=settings.rsa_key_bits,
        retired_days=settings.key_retired_days,
    )


def setup_directory(settings: Settings, database: Database) -> Directory | None:
    """AD first when STS_LDAP_URLS is set, then the local directory; None: local only."""
    if not settings.ldap_urls:
        return None
    from connectors.chain import ChainDirectory
    from connectors.ldap import open_directory
    from connectors.local import LocalDirectory
    from idp.login.services import password_hashing

    local = LocalDirectory(database, password_hashing(settings))
    return ChainDirectory([open_directory(settings), local])


def setup_authz(database: Database, state: EphemeralState) -> AuthzEngine:
    """Cached privilege resolution; without Redis the shared level is this process only."""
    if state.shared_across_processes:
        return AuthzEngine(database, state)
    # Changes made by another process (stsctl import) reach this process through the
    # change marker (setup_change_marker); the local lifetime bounds both levels as well.
    return AuthzEngine(database, state, shared_ttl=60.0)


def setup_change_marker(app: Flask, database: Database, state: EphemeralState) -> None:
    """Without Redis, hear changes made by other processes through the database's marker.

    Before a request, at most every half second, the marker is read; when another
    process (``stsctl import``, ``stsctl ad sync``) has changed something, every cache of
    this process is emptied (privileges, agreements, active users, SPs, clients).
    """
    if state.shared_across_processes:
        return  # announcements reach every process through Redis
    watcher = ChangeWatcher(database, lambda: invalidate_all(app.extensions[EXTENSION].state))
    app.extensions["sts.change_watcher"] = watcher
    app.before_request(watcher.check)


def secret_key(settings: Settings) -> bytes:
    """The cookie-signing secret: from the configured file, or created once, mode 0600."""
    path = settings.secret_key_file or settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return Path(path).read_text(encoding="utf-8").strip().encode()


def initialise(settings: Settings, database: Database, keys: KeyManager) -> list[str]:
    """Create or migrate the schema and create missing signing keys; idempotent."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # the SQLite file holds password hashes
    migrate.upgrade(database.url)
    with database.session() as session:
        return keys.ensure_keys(session, actor="stsctl init")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.uses_https,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    database = setup_store(settings)
    state = open_state(settings.redis_url)
    keys = setup_keys(settings)
    app.extensions[EXTENSION] = Services(settings, database, state, keys)
    app.extensions["authz"] = setup_authz(database, state)
    setup_change_marker(app, database, state)
    install_trusted_proxy_fix(app, settings.tls_trusted_proxies)
    install_request_ids(app)
    install_metrics(app)
    app.register_blueprint(health.blueprint)
    setup_login(app, setup_directory(settings, database))
    app.register_blueprint(saml_blueprint)
    setup_oidc(app)
    setup_sts(app)  # KOMBIT STS drop-in; after setup_oidc (shares its agreement cache)
    setup_admin_api(app)
    setup_admin_ui(app)
    log.info(
        "application created",
        extra={"base_url": settings.base_url, "redis": bool(settings.redis_url)},
    )
    return app


def main() -> None:
    """Embedded default: migrate, create keys, serve on 127.0.0.1:8000 (development only)."""
    settings = load_settings()
    initialise(settings, setup_store(settings), setup_keys(settings))
    address = urlsplit(settings.base_url)
    create_app(settings).run(host=address.hostname or "127.0.0.1", port=address.port or 8000)


if __name__ == "__main__":
    main()
