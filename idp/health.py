"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from idp.context import current_services

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is alive and serving HTTP; says nothing about its dependencies."""
    return jsonify(status="ok")


def _check(name: str, results: dict[str, Any], probe: Any) -> None:
    try:
        probe()
        results[name] = "ok"
    except Exception as exc:  # any failure makes the instance not ready
        log.warning("readiness check %s failed: %s", name, exc)
        results[name] = f"failed: {exc.__class__.__name__}: {exc}"[:300]


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready to take traffic: database, ephemeral store and signing keys all usable."""
    services = current_services()
    results: dict[str, Any] = {}
    _check("database", results, services.database.ping)
    _check("state", results, services.state.ping)

    def keys() -> None:
        with services.database.session() as session:
            for kty in ("RSA", "EC"):
                services.keys.active(session, kty)

    _check("keys", results, keys)
    ready = all(value == "ok" for value in results.values())
    status = "ready" if ready else "not ready"
    if services.settings.ldap_urls:
        # Reported, but not a reason to leave the load balancer: every instance shares
        # the same directory, and existing SSO sessions keep working while it is down.
        from idp.login import login_services

        _check("directory", results, login_services().directory.ping)
        if ready and results["directory"] != "ok":
            status = "degraded"
    return jsonify(status=status, checks=results), (200 if ready else 503)
