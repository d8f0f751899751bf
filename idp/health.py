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
    """Ready to take traffic: database, ephemeral store and signing keys all usable.

    503 names what failed (``failed``: ``database``, ``state``, ``keys``), so operators and
    load balancers see which dependency took the instance out.
    """
    services = current_services()
    results: dict[str, Any] = {}
    _check("database", results, services.database.ping)
    _check("state", results, services.state.ping)

    def keys() -> None:
        with services.database.session() as session:
            for kty in ("RSA", "EC"):
                services.keys.active(session, kty)

    _check("keys", results, keys)
    failed = [name for name, value in results.items() if value != "ok"]
    ready = not failed
    status = "ready" if ready else "not ready"
    if services.settings.ldap_urls:
        # Reported, but not a reason to leave the load balancer: every instance shares
        # the same directory, and existing SSO sessions keep working while it is down.
        from idp.login import login_services

        _check("directory", results, login_services().directory.ping)
        if ready and results["directory"] != "ok":
            status = "degraded"
    if ready:
        return jsonify(status=status, checks=results), 200
    # Named in the body and in a header, so a load balancer log shows what is down.
    response = jsonify(status=status, failed=failed, checks=results)
    response.status_code = 503
    response.headers["X-Failed-Dependencies"] = ",".join(failed)
    response.headers["Retry-After"] = "5"
    response.headers["Cache-Control"] = "no-store"
    return response
