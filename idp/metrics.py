"""Prometheus metrics at ``/metrics``: what an operator watches (``docs/operations.md``).

``stsctl serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per run, or the
operator's, emptied at start) before its workers start, so the figures of every worker
are summed; a process started otherwise reports its own.

Where each figure comes from, so that no hot path pays more than a counter increment:

* HTTP requests and latency per endpoint: Flask's request hooks (endpoint names, not
  paths, so label values are bounded).
* Tokens (OIDC and the KOMBIT STS endpoints), SAML assertions and logins, issued or
  refused, by reason and LoA: the audit events those paths already record
  (:data:`store.audit.event_observers`); one event is one count, so the figures agree
  with the audit trail.
* PostgreSQL: SQLAlchemy's cursor events on the application's engine; Redis: every
  round trip of :class:`store.ephemeral.RedisState`; LDAP: every pooled directory
  operation (:data:`connectors.ldap.connection.run_observers`). Latency histograms
  without labels, plus error counters.
* Caches: the SP and client registries and the agreement cache count hits and misses
  themselves (:data:`CACHE_LOOKUPS`); the privilege cache keeps its own ``stats``,
  which a sampler thread per process copies into counters every few seconds.
* Audit writer (group commit on PostgreSQL): requests waiting for it, and how long each
  waits until its events are committed (queue plus commit), around its ``write``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

REQUESTS = Counter("sts_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "sts_http_request_seconds",
    "HTTP request latency",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

TOKENS_ISSUED = Counter(
    "sts_oidc_tokens_issued_total", "Tokens issued at the token endpoint", ["grant_type"]
)
TOKENS_REFUSED = Counter(
    "sts_oidc_tokens_refused_total",
    "Token requests refused, by OAuth error or agreement refusal",
    ["grant_type", "reason"],
)
STS_TOKENS_ISSUED = Counter(
    "sts_kombit_tokens_issued_total",
    "System tokens issued at the KOMBIT STS endpoints (SOAP WS-Trust, JSON, OAuth)",
    ["protocol"],
)
STS_TOKENS_REFUSED = Counter(
    "sts_kombit_tokens_refused_total",
    "System tokens refused at the KOMBIT STS endpoints, by reason",
    ["protocol", "reason"],
)
for _protocol in ("soap", "rest", "oauth"):  # exposed (at 0) before the first token
    STS_TOKENS_ISSUED.labels(_protocol)
ASSERTIONS_ISSUED = Counter("sts_saml_assertions_issued_total", "SAML assertions issued", ["loa"])
ASSERTIONS_REFUSED = Counter(
    "sts_saml_requests_refused_total",
    "SAML requests answered without an assertion",
    ["reason"],
)
LOGINS = Counter(
    "sts_logins_total",
    "Login steps by outcome and the NSIS level they reached",
    ["step", "outcome", "loa"],
)

DB_SECONDS = Histogram("sts_db_query_seconds", "PostgreSQL/SQLite statement latency", buckets=_FAST)
DB_ERRORS = Counter("sts_db_errors_total", "Database statements that failed")
REDIS_SECONDS = Histogram("sts_redis_command_seconds", "Redis round-trip latency", buckets=_FAST)
REDIS_ERRORS = Counter("sts_redis_errors_total", "Redis round trips that failed")
LDAP_SECONDS = Histogram(
    "sts_ldap_operation_seconds",
    "Directory (LDAP) operation latency, including a retry on another connection",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LDAP_ERRORS = Counter("sts_ldap_errors_total", "Directory operations that failed to reach a DC")

CACHE_LOOKUPS = Counter(
    "sts_cache_lookups_total", "Cache lookups by cache and result", ["cache", "result"]
)
# Bound once: a hot path pays one increment, not a label lookup.
SP_HIT = CACHE_LOOKUPS.labels("saml_sp_registry", "hit")
SP_MISS = CACHE_LOOKUPS.labels("saml_sp_registry", "miss")
CLIENT_HIT = CACHE_LOOKUPS.labels("oidc_client_registry", "hit")
CLIENT_MISS = CACHE_LOOKUPS.labels("oidc_client_registry", "miss")
AGREEMENT_HIT = CACHE_LOOKUPS.labels("agreements", "hit")
AGREEMENT_MISS = CACHE_LOOKUPS.labels("agreements", "miss")
# The privilege cache's own levels: local (in-process), shared (Redis), computed (miss).
_PRIVILEGE_LEVELS = {
    "local": CACHE_LOOKUPS.labels("privileges", "hit"),
    "shared": CACHE_LOOKUPS.labels("privileges", "shared_hit"),
    "computed": CACHE_LOOKUPS.labels("privileges", "miss"),
}
PRIVILEGE_INVALIDATIONS = Counter(
    "sts_privilege_cache_invalidations_total", "Privilege-cache invalidations received"
)

AUDIT_QUEUE = Gauge(
    "sts_audit_queue_requests",
    "Requests waiting for the audit writer to commit their events",
    multiprocess_mode="livesum",
)
AUDIT_COMMIT = Histogram(
    "sts_audit_commit_seconds",
    "Time a request waits for its audit events to be committed (queue and group commit)",
    buckets=_FAST,
)

SAMPLE_SECONDS = 2.0

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics() -> Response:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        _forget_dead_workers(Path(directory))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def _forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges of workers that have gone (a replaced worker's queue)."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(directory))
        except PermissionError:
            continue


# -- audit events: tokens, assertions, logins ------------------------------------------------

_SLUG = re.compile(r"[^a-z0-9]+")
_LOAS = {"Low", "Substantial", "High"}
# The level a successful step reaches when its event does not say.
_STEP_LOA = {"password": "Low", "second_factor": "Substantial", "enrol": "Substantial"}
_STS_PROTOCOLS = {"soap", "rest", "oauth"}  # idp.sts.core.PROTOCOLS (not imported: no cycle)


def _slug(value: Any, default: str = "other") -> str:
    """A bounded label value from a code-given reason (enum values, OAuth error codes)."""
    if not isinstance(value, str) or not value:
        return default
    slug = _SLUG.sub("_", value.lower()).strip("_")
    return slug[:48] or default


def _sts_protocol(details: dict[str, Any]) -> str:
    """The STS front door (``idp.sts.core.PROTOCOLS``); anything else is ``other``."""
    protocol = details.get("protocol")
    return protocol if protocol in _STS_PROTOCOLS else "other"


def observe_audit_event(action: str, outcome: str, details: dict[str, Any]) -> None:
    if action == "oidc.token.issue":
        TOKENS_ISSUED.labels(_slug(details.get("grant_type"))).inc()
    elif action == "oidc.token.refuse":
        reason = details.get("refusal") or details.get("error")
        TOKENS_REFUSED.labels(_slug(details.get("grant_type")), _slug(reason)).inc()
    elif action == "sts.token.issue":
        STS_TOKENS_ISSUED.labels(_sts_protocol(details)).inc()
    elif action == "sts.token.refuse":
        STS_TOKENS_REFUSED.labels(_sts_protocol(details), _slug(details.get("reason"))).inc()
    elif action == "saml.assertion.issued":
        loa = details.get("loa")
        ASSERTIONS_ISSUED.labels(loa if loa in _LOAS else "none").inc()
    elif action == "saml.request.refused":
        reason = str(details.get("reason", ""))
        # A login that ended without a result names its FailureReason; anything else is a
        # request the IdP refused (its free-text reason is in the audit trail, not here).
        label = "login_" + _slug(reason[13:]) if reason.startswith("login ended: ") else "invalid"
        ASSERTIONS_REFUSED.labels(label).inc()
    elif action.startswith("login."):
        step = action[6:]
        loa = details.get("loa")
        if loa not in _LOAS:
            loa = _STEP_LOA.get(step, "none") if outcome == "success" else "none"
        LOGINS.labels(_slug(step), _slug(outcome), loa).inc()


# -- PostgreSQL, Redis, LDAP ---------------------------------------------------------------


def _before_cursor(*args: Any) -> None:
    args[4]._sts_started = time.perf_counter()  # (conn, cursor, statement, params, context, many)


def _after_cursor(*args: Any) -> None:
    started = getattr(args[4], "_sts_started", None)
    if started is not None:
        DB_SECONDS.observe(time.perf_counter() - started)


def _db_error(_context: Any) -> None:
    DB_ERRORS.inc()


def observe_round_trip(histogram: Histogram, errors: Counter) -> Callable[[float, bool], None]:
    def observe(seconds: float, failed: bool) -> None:
        histogram.observe(seconds)
        if failed:
            errors.inc()

    return observe


_observe_redis = observe_round_trip(REDIS_SECONDS, REDIS_ERRORS)
_observe_ldap = observe_round_trip(LDAP_SECONDS, LDAP_ERRORS)


def _instrument_engine(engine: Any) -> None:
    from sqlalchemy import event

    if event.contains(engine, "before_cursor_execute", _before_cursor):
        return
    event.listen(engine, "before_cursor_execute", _before_cursor)
    event.listen(engine, "after_cursor_execute", _after_cursor)
    event.listen(engine, "handle_error", _db_error)


def _timed_write(write: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
    def timed(events: list[Any]) -> None:
        AUDIT_QUEUE.inc()
        started = time.perf_counter()
        try:
            write(events)
        finally:
            AUDIT_COMMIT.observe(time.perf_counter() - started)
            AUDIT_QUEUE.dec()

    timed.sts_timed = True  # type: ignore[attr-defined]
    return timed


def _instrument_audit_writer(database: Any) -> None:
    from store.audit_batch import batcher_for

    batcher = batcher_for(database)
    if batcher is not None and not getattr(batcher.write, "sts_timed", False):
        batcher.write = _timed_write(batcher.write)  # type: ignore[method-assign,assignment]


# -- the per-process sampler ------------------------------------------------------------------


class _Sampler:
    """Copies the privilege cache's stats into counters.

    One daemon thread per process, started by the first request a process serves (a
    forked worker has no thread of its parent's). The thread holds the sampler weakly and
    ends with its application (tests create many).
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.pid: int | None = None
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        if self.pid == os.getpid():
            return
        with self._lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
            self.seen = dict(getattr(self.engine, "stats", {}) or {})
            threading.Thread(
                target=_sample_while_alive,
                args=(weakref.ref(self), self.pid),
                name="metrics-sampler",
                daemon=True,
            ).start()

    def sample(self) -> None:
        stats: dict[str, int] = dict(getattr(self.engine, "stats", {}) or {})
        for key, value in stats.items():
            delta = value - self.seen.get(key, 0)
            if delta > 0:
                if key in _PRIVILEGE_LEVELS:
                    _PRIVILEGE_LEVELS[key].inc(delta)
                elif key == "invalidations":
                    PRIVILEGE_INVALIDATIONS.inc(delta)
        self.seen = stats


def _sample_while_alive(ref: weakref.ref[_Sampler], pid: int) -> None:
    while pid == os.getpid():
        time.sleep(SAMPLE_SECONDS)
        sampler = ref()
        if sampler is None:
            return
        with contextlib.suppress(Exception):  # a sampler must never take a worker down
            sampler.sample()
        del sampler


def install_metrics(app: Flask) -> None:
    """Count and time every request by endpoint name; hook the lower layers' observers."""
    from connectors.ldap import connection as ldap_connection
    from idp.context import EXTENSION
    from store import audit, ephemeral

    services = app.extensions.get(EXTENSION)
    if services is not None:
        _instrument_engine(services.database.engine)
        _instrument_audit_writer(services.database)
    for observers, observer in (
        (audit.event_observers, observe_audit_event),
        (ephemeral.call_observers, _observe_redis),
        (ldap_connection.run_observers, _observe_ldap),
    ):
        if observer not in observers:
            observers.append(observer)  # type: ignore[arg-type]
    sampler = _Sampler(app.extensions.get("authz"))

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()
        if sampler.engine is not None:
            sampler.ensure_running()

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(blueprint)
