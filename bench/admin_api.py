"""Benchmark (HTTP): admin API reads at national scale, beside the same questions asked naively.

    .venv/bin/python -m bench.admin_api                       # full world + 5,000,000 audit events
    .venv/bin/python -m bench.admin_api --reuse               # keep a world generated before
    .venv/bin/python -m bench.admin_api --scale 0.01          # quick run

The world is ``bench.authz_national``'s (its generator, in this benchmark's own database
``sts_bench_admin``; 98 municipalities, 400,000 users, 2,000,000 assignments at scale 1),
migrated with our Alembic migrations (0005: audit indexes by (actor, id), (object_id, id),
(cvr, id) and the append-only trigger). Added here, with COPY:

* 30 anvendersystemer and 10 services, and serviceaftaler between them for every
  municipality (about 60 each; 8 % requested, three municipalities with a backlog of 120
  requested ones), with their status history;
* ``--audit-events`` audit events (default 5,000,000 x scale) over the last year: token
  issuance by 300 system clients (Zipf-distributed: a few clients issue most tokens) most
  of all, SAML assertions, logins, AD syncs, and administrative changes by about 400
  administrators and integrations on assignments, jobfunktionsroller, users and agreements
  that exist in the world. Each event is chained with ``store.audit.digest``, the
  function ``verify_chain`` checks with, so the trail verifies; the output says how long
  the chain took.

Measured, one client, sequential (per-request latency, not throughput), each query type
``--samples`` times with random samples, against ``stsctl serve --workers 2`` (PostgreSQL
and Redis), with access tokens from ``POST /oidc/token`` (``client_credentials``,
``resource=<base>/api/v1``) for an operator client and an administrator client per
municipality (``admin_role_assignments``; secrets generated per run, argon2-hashed):

* user search ``GET /municipalities/{cvr}/users?q=``;
* one user's assignments ``GET /municipalities/{cvr}/assignments?user=``;
* privileges explained ``GET /municipalities/{cvr}/users/{u}/privileges?fagsystem=&explain=true``;
* a municipality's pending agreements ``GET /serviceaftaler?cvr=&status=requested``;
* audit search ``GET /audit?actor=`` and ``?object=`` (operator), first page and the
  following pages by ``next_cursor`` (up to 4 more), actors and objects drawn half by
  event count (popular) and half uniformly among those that exist (mostly rare); and
  audit by actor as a municipality's administrator (the search is limited to its CVR).

Beside each, the naive form of the same question, straight SQL against the same database
(no HTTP, no authentication, no JSON: flattered), timed the same way, within a time budget
per query type (``--naive-budget``): national ``ILIKE '%q%'`` with ``OFFSET 2000``, OFFSET
pagination over a municipality's assignments, agreements filtered through expressions no
index serves, audit filtered on ``lower(actor)`` / ``lower(object_id)`` and ordered by
``at`` with OFFSET for deep pages. Each is printed with what it does.

Prints a table and writes ``bench/results/admin_api.json``. Needs PostgreSQL and Redis
(db 11; keys of the server's rate limit and caches, nothing flushed).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from bench.authz_national import (
    Size,
    _conninfo,
    _dump,
    drop_database,
    generate,
    stored_world,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "admin_api.json"
DEFAULT_PG = "postgresql+psycopg://root@127.0.0.1:5432/sts_bench_admin"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
STSCTL = str(ROOT / ".venv" / "bin" / "stsctl")
SEED = 20260326  # bench.authz_national's default: the same world
EXTRAS_VERSION = 1  # bump when what add_extras writes changes
ADMIN_FAGSYSTEM = "BENCHADMIN"
OPERATOR_CLIENT = "bench-operator"
PAGE = 50  # the API's default page size; the naive queries use the same
MAX_FOLLOW = 4  # audit: pages followed by next_cursor after the first
TARGET_MS = {"read": 50.0, "audit": 200.0}
N_CLIENTS = 300  # system clients issuing tokens (the audit trail's busiest actors)
N_ANVENDERE = 30
N_SERVICES = 10


# -- the world: agreements and the audit trail on top of bench.authz_national's --------------


@dataclass(slots=True)
class _Event:
    """What ``store.audit.digest`` reads of an event (an ORM object costs 3x more)."""

    at: dt.datetime
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    cvr: str | None
    outcome: str
    request_id: str | None
    details: dict[str, Any]
    prev_hash: str = ""


def stored_extras(url: str) -> dict[str, Any] | None:
    import psycopg

    try:
        with psycopg.connect(_conninfo(url)) as conn:
            row = conn.execute("SELECT value FROM bench_meta WHERE key = 'admin_api'").fetchone()
    except psycopg.Error:
        return None
    return json.loads(row[0]) if row else None


def _one(conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row of ``sql`` (which always returns one)."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row


def _cvrs(conn: Any) -> list[str]:
    return [r[0] for r in conn.execute("SELECT cvr FROM municipalities ORDER BY cvr")]


def _systems_and_agreements(cur: Any, rng: random.Random, cvrs: list[str]) -> dict[str, Any]:
    """Anvendersystemer, services with roles, and agreements with their history."""
    anvendere = [f"ANV{i:02d}" for i in range(N_ANVENDERE)]
    services = [f"SVC{i:02d}" for i in range(N_SERVICES)]
    with cur.copy(
        "COPY fagsystemer (id, name, entity_id, kinds, personal_data, min_loa) FROM STDIN"
    ) as out:
        for system in anvendere:
            out.write_row(
                (
                    system,
                    f"Anvendersystem {system[3:]}",
                    f"https://{system.lower()}.test",
                    '["anvender"]',
                    True,
                    "Substantial",
                )
            )
        for system in services:
            out.write_row(
                (
                    system,
                    f"Service {system[3:]}",
                    f"https://{system.lower()}.test",
                    '["service"]',
                    True,
                    "Substantial",
                )
            )
        out.write_row(
            (
                ADMIN_FAGSYSTEM,
                "Benchmark admin integrations",
                None,
                '["anvender"]',
                False,
                "Substantial",
            )
        )
    service_roles = {
        s: [f"http://{s.lower()}.test/roles/servicesystemrole/r{k}/1" for k in range(3)]
        for s in services
    }
    with cur.copy(
        "COPY system_roles (id, fagsystem_id, name, description, constraint_uris) FROM STDIN"
    ) as out:
        for system, roles in service_roles.items():
            for k, role in enumerate(roles):
                out.write_row((role, system, f"Servicerolle {k}", "", "[]"))
    pairs = [(a, s) for a in anvendere for s in services]
    backlog = set(rng.sample(cvrs, min(3, len(cvrs))))
    agreements: list[tuple[str, str, str]] = []  # (id, cvr, status)
    year_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
    rows = []
    with cur.copy(
        "COPY serviceaftaler (id, cvr, anvendersystem_id, service_id, roles, constraints,"
        " on_behalf_of, status, requested_by, decided_by) FROM STDIN"
    ) as out:
        for cvr in cvrs:
            chosen = rng.sample(pairs, rng.randint(40, 80))
            if cvr in backlog:
                chosen = pairs[:]  # every pair: 300 agreements, 120 of them requested
            for index, (anvender, service) in enumerate(chosen):
                draw = rng.random()
                if cvr in backlog:
                    status = "requested" if index < 120 else "approved"
                else:
                    status = (
                        "requested"
                        if draw < 0.08
                        else "approved"
                        if draw < 0.88
                        else "rejected"
                        if draw < 0.93
                        else "revoked"
                    )
                aftale = f"bench-sa-{cvr}-{anvender}-{service}"
                requester = f"client:{anvender.lower()}-lev|{anvender.lower()}-lev"
                decider = None if status == "requested" else f"user:godkender|g{cvr[-3:]}"
                roles = rng.sample(service_roles[service], rng.randint(1, 3))
                out.write_row(
                    (
                        aftale,
                        cvr,
                        anvender,
                        service,
                        _dump(roles),
                        "{}",
                        rng.random() < 0.3,
                        status,
                        requester,
                        decider,
                    )
                )
                agreements.append((aftale, cvr, status))
                rows.append((aftale, status, requester, decider))
    with cur.copy(
        "COPY serviceaftale_status (aftale_id, status, at, actor, note) FROM STDIN"
    ) as out:
        for aftale, status, requester, decider in rows:
            at = year_ago + dt.timedelta(seconds=rng.randint(0, 300 * 86400))
            out.write_row((aftale, "requested", at, requester, ""))
            if status in ("approved", "rejected", "revoked"):
                decided = at + dt.timedelta(hours=rng.randint(1, 24 * 20))
                out.write_row(
                    (aftale, "approved" if status == "revoked" else status, decided, decider, "")
                )
            if status == "revoked":
                out.write_row((aftale, "revoked", decided + dt.timedelta(days=30), decider, ""))
    return {
        "anvendere": anvendere,
        "services": services,
        "agreements": agreements,
        "requested": sum(1 for a in agreements if a[2] == "requested"),
    }


class AuditWriter:
    """Generates the audit trail and writes it with COPY, chained in id (= time) order."""

    MIX = (  # (kind, share of events)
        ("token", 0.600),
        ("token_refused", 0.015),
        ("saml", 0.200),
        ("login_password", 0.070),
        ("login_sso", 0.040),
        ("login_second_factor", 0.010),
        ("ad_sync", 0.015),
        ("assignment_created", 0.020),
        ("assignment_updated", 0.010),
        ("assignment_deleted", 0.005),
        ("jfr_updated", 0.005),
        ("user_disabled", 0.003),
        ("agreement", 0.004),
        ("admin_role", 0.003),
    )

    def __init__(self, conn: Any, rng: random.Random, world: dict[str, Any]) -> None:
        self.rng = rng
        self.cvrs: list[str] = _cvrs(conn)
        users = conn.execute("SELECT id, cvr, username FROM users ORDER BY id").fetchall()
        self.users = users
        self.users_by_cvr: dict[str, list[tuple[str, str, str]]] = {}
        for row in users:
            self.users_by_cvr.setdefault(row[1], []).append(row)
        self.assignments = (
            conn.execute(
                "SELECT id, cvr FROM assignments TABLESAMPLE BERNOULLI (10) REPEATABLE (%s)"
                " ORDER BY id",
                (SEED % 1000,),
            ).fetchall()
            or conn.execute("SELECT id, cvr FROM assignments ORDER BY id").fetchall()
        )
        self.jfrs = conn.execute("SELECT id, cvr FROM jobfunktionsroller ORDER BY id").fetchall()
        self.sps = [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT id, entity_id FROM fagsystemer WHERE kinds::text LIKE '%brugervendt%'"
                " ORDER BY id"
            )
        ]
        self.agreements = world["agreements"]
        self.services = [f"https://{s.lower()}.test" for s in world["services"]]
        # System clients: Zipf-like weights; 10 % serve every municipality, others 1-3.
        self.clients: list[tuple[str, list[str], str]] = []
        for k in range(N_CLIENTS):
            served = (
                self.cvrs
                if rng.random() < 0.1
                else rng.sample(self.cvrs, min(len(self.cvrs), rng.randint(1, 3)))
            )
            vendor = rng.choice(["kmd", "netcompany", "fujitsu", "systematic", "os2", "schultz"])
            self.clients.append((f"{vendor}-sys-{k:03d}", served, rng.choice(self.services)))
        self.client_cum = _cumulative([1 / (k + 1) ** 1.1 for k in range(N_CLIENTS)])
        # Administrators: three people per municipality (their usernames, as the API's
        # actor shows them) and one integration per municipality (a client id).
        self.admins: dict[str, list[str]] = {}
        for cvr in self.cvrs:
            people = self.users_by_cvr.get(cvr, [])
            names = [u[2] for u in rng.sample(people, min(3, len(people)))]
            self.admins[cvr] = [*names, f"rollekatalog-{cvr}"]
        self.mix_cum = _cumulative([share for _, share in self.MIX])
        self.actor_counts: Counter[str] = Counter()
        self.object_counts: Counter[str] = Counter()

    def _request_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def event(self, at: dt.datetime) -> _Event:
        rng = self.rng
        kind = self.MIX[bisect.bisect(self.mix_cum, rng.random() * self.mix_cum[-1])][0]
        if kind in ("token", "token_refused"):
            client, served, aud = self.clients[
                bisect.bisect(self.client_cum, rng.random() * self.client_cum[-1])
            ]
            cvr = rng.choice(served)
            if kind == "token":
                return _Event(
                    at,
                    f"oidc-client:{client}",
                    "oidc.token.issue",
                    "oidc_token",
                    None,
                    cvr,
                    "success",
                    self._request_id(),
                    {
                        "grant_type": "client_credentials",
                        "aud": aud,
                        "sub": client,
                        "refresh_token": False,
                    },
                )
            return _Event(
                at,
                f"oidc-client:{client}",
                "oidc.token.refuse",
                "oidc_token",
                None,
                cvr,
                "failure",
                self._request_id(),
                {"error": rng.choice(["invalid_client", "invalid_target", "access_denied"])},
            )
        if kind == "saml":
            user_id, cvr, _ = rng.choice(self.users)
            fagsystem, entity = rng.choice(self.sps)
            return _Event(
                at,
                user_id,
                "saml.assertion.issued",
                "saml_sp",
                entity,
                cvr,
                "success",
                self._request_id(),
                {
                    "assertion_id": f"_{rng.getrandbits(128):032x}",
                    "in_response_to": f"id-{rng.getrandbits(64):016x}",
                    "loa": rng.choice(["Low", "Substantial", "Substantial", "High"]),
                    "fagsystem": fagsystem,
                },
            )
        if kind.startswith("login_"):
            user_id, cvr, username = rng.choice(self.users)
            action = {
                "login_password": "login.password",
                "login_sso": "login.sso",
                "login_second_factor": "login.second_factor",
            }[kind]
            outcome = "failure" if kind == "login_password" and rng.random() < 0.06 else "success"
            return _Event(
                at,
                username,
                action,
                "user",
                user_id,
                cvr,
                outcome,
                self._request_id(),
                {
                    "address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                    f"{rng.randint(1, 254)}",
                    "fagsystem": rng.choice(self.sps)[0],
                },
            )
        if kind == "ad_sync":
            cvr = rng.choice(self.cvrs)
            return _Event(
                at,
                "ad-sync",
                "ad.sync",
                "municipality",
                cvr,
                cvr,
                "success",
                None,
                {
                    "users": rng.randint(0, 40),
                    "groups": rng.randint(0, 10),
                    "full": rng.random() < 0.05,
                },
            )
        # administrative changes, by one of the municipality's administrators
        if kind.startswith("assignment_"):
            object_id, cvr = rng.choice(self.assignments)
            object_type, action = "assignment", "assignment." + kind.split("_")[1]
        elif kind == "jfr_updated":
            object_id, cvr = rng.choice(self.jfrs)
            object_type, action = "jfr", "jfr.updated"
        elif kind == "user_disabled":
            object_id, cvr, _ = rng.choice(self.users)
            object_type, action = "user", "user.disabled"
        elif kind == "agreement":
            object_id, cvr, status = rng.choice(self.agreements)
            object_type = "serviceaftale"
            action = f"serviceaftale.{status}"
        else:
            cvr = rng.choice(self.cvrs)
            object_id = f"{cvr}:{rng.randint(1, 40)}"
            object_type, action = "admin_role", "admin_role.assigned"
        actor = rng.choice(self.admins[cvr])
        kind_of_actor = "client" if actor.startswith("rollekatalog-") else "user"
        return _Event(
            at,
            actor,
            action,
            object_type,
            object_id,
            cvr,
            "success",
            self._request_id(),
            {
                "actor_kind": kind_of_actor,
                "loa": "Substantial" if kind_of_actor == "user" else None,
                "client_address": f"10.1.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "before": None,
                "after": {"changed": rng.randint(1, 5)},
            },
        )

    def write(self, cur: Any, count: int, first_id: int, previous: str) -> dict[str, Any]:
        """``count`` events after ``previous`` (the stored chain's last hash), over a year."""
        from store.audit import digest

        rng = self.rng
        end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
        start = end - dt.timedelta(days=365)
        span_us = int((end - start).total_seconds() * 1_000_000)
        mean_gap = span_us / max(1, count)
        t = 0
        generate_s = chain_s = 0.0
        columns = (
            "id, at, actor, action, object_type, object_id, cvr, outcome, request_id,"
            " details, prev_hash, hash"
        )
        with cur.copy(f"COPY audit_events ({columns}) FROM STDIN") as out:
            for index in range(count):
                t0 = time.perf_counter()
                t = min(span_us, t + max(1, int(rng.expovariate(1.0 / mean_gap))))
                event = self.event(start + dt.timedelta(microseconds=t))
                t1 = time.perf_counter()
                event.prev_hash = previous
                previous = digest(event)
                t2 = time.perf_counter()
                generate_s += t1 - t0
                chain_s += t2 - t1
                out.write_row(
                    (
                        first_id + index,
                        event.at,
                        event.actor,
                        event.action,
                        event.object_type,
                        event.object_id,
                        event.cvr,
                        event.outcome,
                        event.request_id,
                        json.dumps(event.details),
                        event.prev_hash,
                        previous,
                    )
                )
                self.actor_counts[event.actor] += 1
                if event.object_id is not None:
                    self.object_counts[event.object_id] += 1
        return {"generate_s": round(generate_s, 1), "chain_s": round(chain_s, 1)}

    def samples(self, n: int = 2000) -> dict[str, list[list[Any]]]:
        """Actors and objects: drawn by event count (popular) and uniformly (mostly rare)."""
        rng = self.rng
        out: dict[str, list[list[Any]]] = {}
        for name, counts in (("actors", self.actor_counts), ("objects", self.object_counts)):
            keys = sorted(counts)
            if not keys:
                out[f"{name}_popular"] = out[f"{name}_uniform"] = []
                continue
            weights = _cumulative([counts[k] for k in keys])
            popular = [keys[bisect.bisect(weights, rng.random() * weights[-1])] for _ in range(n)]
            uniform = [rng.choice(keys) for _ in range(n)]
            out[f"{name}_popular"] = [[k, counts[k]] for k in popular]
            out[f"{name}_uniform"] = [[k, counts[k]] for k in uniform]
        ranked = self.actor_counts.most_common(5)
        out["top_actors"] = [[k, v] for k, v in ranked]
        out["top_objects"] = [[k, v] for k, v in self.object_counts.most_common(5)]
        out["distinct"] = [[len(self.actor_counts), len(self.object_counts)]]
        return out


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


@contextlib.contextmanager
def _without_secondary_indexes(cur: Any, table: str) -> Iterator[list[str]]:
    """Drop ``table``'s indexes (the primary key aside) for a bulk load; recreate them with
    their exact definitions afterwards (same transaction)."""
    constraints = cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'u'",
        (table,),
    ).fetchall()
    indexes = cur.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s"
        " AND i.indexname NOT IN (SELECT conname FROM pg_constraint"
        " WHERE conrelid = %s::regclass)",
        (table, table),
    ).fetchall()
    for name, _ in constraints:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    yield [name for name, _ in [*constraints, *indexes]]
    cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for name, definition in constraints:
        cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        cur.execute(definition)


def add_extras(url: str, seed: int, audit_events: int) -> dict[str, Any]:
    """Agreements, admin-integration fagsystem and the audit trail; replaces earlier ones."""
    import psycopg

    rng = random.Random(seed + 1)
    started = time.perf_counter()
    timings: dict[str, Any] = {}
    with psycopg.connect(_conninfo(url)) as conn, conn.cursor() as cur:
        # What an earlier run added (TRUNCATE is not refused by the append-only trigger,
        # which is for UPDATE and DELETE of rows).
        cur.execute("TRUNCATE audit_events RESTART IDENTITY")
        cur.execute(
            "DELETE FROM fagsystemer WHERE id LIKE 'ANV%%' OR id LIKE 'SVC%%' OR id = %s",
            (ADMIN_FAGSYSTEM,),
        )
        cvrs = _cvrs(conn)
        world = _systems_and_agreements(cur, rng, cvrs)
        conn.commit()
        timings["agreements_s"] = round(time.perf_counter() - started, 1)
        writer = AuditWriter(conn, rng, world)
        loaded = time.perf_counter()
        with _without_secondary_indexes(cur, "audit_events") as dropped:
            copy_started = time.perf_counter()
            timings.update(writer.write(cur, audit_events, 1, "0" * 64))
            timings["copy_s"] = round(time.perf_counter() - copy_started, 1)
            index_started = time.perf_counter()
        timings["indexes_s"] = round(time.perf_counter() - index_started, 1)
        timings["indexes_rebuilt"] = dropped
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), %s)",
            (max(1, audit_events),),
        )
        conn.commit()
        timings["load_world_s"] = round(loaded - started - timings["agreements_s"], 1)
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        vacuum_started = time.perf_counter()
        conn.execute("VACUUM ANALYZE audit_events")
        conn.execute("ANALYZE serviceaftaler")
        conn.execute("ANALYZE serviceaftale_status")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - vacuum_started, 1)
        meta = {
            "version": EXTRAS_VERSION,
            "seed": seed,
            "audit_events": audit_events,
            "agreements": len(world["agreements"]),
            "requested": world["requested"],
            "seconds": round(time.perf_counter() - started, 1),
            "timings": timings,
            "samples": writer.samples(),
        }
        conn.execute(
            "INSERT INTO bench_meta VALUES ('admin_api', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (json.dumps(meta),),
        )
    return meta


def prepare_world(args: argparse.Namespace) -> dict[str, Any]:
    from store import migrate

    size = Size.at(args.scale)
    world = stored_world(args.database_url) if args.reuse else None
    expected = {"size": size.__dict__, "seed": args.seed}
    out: dict[str, Any] = {"size": size.__dict__}
    if world is not None and {k: world[k] for k in ("size", "seed")} == expected:
        print("reusing the generated world in", args.database_url, flush=True)
        migrate.upgrade(args.database_url)  # a migration added since: bring it to head
        out["world"] = {"reused": True, "counts": world["counts"]}
    else:
        print(f"generating the national world {size} (seed {args.seed}) ...", flush=True)
        generated = generate(args.database_url, size, args.seed)
        print(f"  generated in {generated['seconds']} s", flush=True)
        out["world"] = generated
    extras = stored_extras(args.database_url) if args.reuse else None
    wanted = {"version": EXTRAS_VERSION, "seed": args.seed, "audit_events": args.audit_events}
    if extras is not None and all(extras.get(k) == v for k, v in wanted.items()):
        print(
            f"reusing {extras['audit_events']:,} audit events and "
            f"{extras['agreements']:,} agreements",
            flush=True,
        )
        out["extras"] = {"reused": True, **{k: v for k, v in extras.items() if k != "samples"}}
    else:
        print(
            f"adding agreements and {args.audit_events:,} hash-chained audit events ...", flush=True
        )
        extras = add_extras(args.database_url, args.seed, args.audit_events)
        t = extras["timings"]
        print(
            f"  done in {extras['seconds']} s (events generated in {t['generate_s']} s, "
            f"hash chain {t['chain_s']} s, COPY total {t['copy_s']} s, indexes "
            f"{t['indexes_s']} s, VACUUM ANALYZE {t['vacuum_analyze_s']} s)",
            flush=True,
        )
        out["extras"] = {k: v for k, v in extras.items() if k != "samples"}
    out["audit_samples"] = extras["samples"]
    return out


def check_chain(url: str, windows: int = 3, length: int = 2000) -> dict[str, Any]:
    """The chain's links and hashes, as ``store.audit.verify_chain`` checks them, over the
    first events, the last ones (where the server's own events follow ours) and windows
    between; all of it with ``--verify-chain``."""
    from sqlalchemy import func, select

    from store.audit import GENESIS, digest
    from store.db import Database
    from store.models import AuditEvent

    db = Database(url)
    checked, broken = 0, None
    try:
        with db.session() as session:
            top = session.scalar(select(func.max(AuditEvent.id))) or 0
            starts = sorted(
                {
                    1,
                    max(1, top - length + 1),
                    *(top * (k + 1) // (windows + 1) for k in range(windows)),
                }
            )
            for first in starts:
                previous = (
                    GENESIS
                    if first == 1
                    else session.scalar(select(AuditEvent.hash).where(AuditEvent.id == first - 1))
                )
                rows = session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.id >= first)
                    .order_by(AuditEvent.id)
                    .limit(length)
                )
                for event in rows:
                    checked += 1
                    if event.prev_hash != previous or digest(event) != event.hash:
                        broken = event.id
                        break
                    previous = event.hash
                if broken:
                    break
    finally:
        db.dispose()
    return {"checked": checked, "first_broken": broken, "events": top}


def verify_whole_chain(url: str) -> dict[str, Any]:
    """``stsctl audit verify`` over the whole trail: what an operator would run."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STS_")},
        "STS_DATABASE_URL": url,
        "STS_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [STSCTL, "audit", "verify"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    output = (done.stdout + done.stderr).strip().splitlines()
    return {
        "command": "stsctl audit verify",
        "exit_code": done.returncode,
        "output": output[:6],
        "seconds": round(time.perf_counter() - started, 1),
    }


# -- samples ----------------------------------------------------------------------------------


@dataclass
class Samples:
    users: list[tuple[str, str, str, str]]  # (cvr, username, q, user_id)
    assignments: list[tuple[str, str]]  # (cvr, username)
    privileges: list[tuple[str, str, str, str]]  # (cvr, username, fagsystem, kind)
    agreements: list[str]  # cvr
    audit_actors: list[tuple[str, int, str]]  # (actor, events, popular|uniform)
    audit_objects: list[tuple[str, int, str]]
    admin_audit: list[tuple[str, str]]  # (cvr, actor) from random events with a CVR
    # (cvr, actor): a busy actor (drawn by event count) asked about by a random
    # municipality's admin, mostly one it never or seldom acted in
    admin_audit_elsewhere: list[tuple[str, str]]


def _search_text(rng: random.Random, username: str, name: str) -> str:
    draw = rng.random()
    if draw < 0.4:
        return username[: rng.randint(2, max(2, len(username)))]  # a username prefix
    if draw < 0.7:
        return username  # the whole username
    if draw < 0.9:
        return name  # the whole name
    words = name.split()
    return words[-1] if words else name  # a fragment of the name


def draw_samples(url: str, n: int, seed: int, audit: dict[str, Any]) -> Samples:
    import psycopg

    rng = random.Random(seed + 2)
    with psycopg.connect(_conninfo(url)) as conn:
        total = _one(conn, "SELECT count(*) FROM users")[0]
        percent = min(100.0, 100.0 * 4 * n / max(1, total))
        users = conn.execute(
            "SELECT id, cvr, username, name FROM users TABLESAMPLE BERNOULLI (%s)"
            " REPEATABLE (%s) ORDER BY id",
            (percent, seed % 1000),
        ).fetchall()
        picked = rng.sample(users, min(len(users), n * 3))
        user_rows = picked[:n]
        assignment_rows = picked[n : 2 * n] or user_rows
        privilege_rows = picked[2 * n : 3 * n] or user_rows
        fagsystemer = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM fagsystemer WHERE kinds::text LIKE '%brugervendt%' ORDER BY id"
            )
        ]
        held: dict[str, str] = dict(
            conn.execute(
                "SELECT DISTINCT ON (a.user_id) a.user_id, r.fagsystem_id FROM assignments a"
                " JOIN jfr_grants g ON g.jfr_id = a.jfr_id"
                " JOIN system_roles r ON r.id = g.role_id"
                " WHERE a.user_id = ANY(%s) ORDER BY a.user_id, g.position",
                ([r[0] for r in privilege_rows],),
            ).fetchall()
        )
        cvrs = _cvrs(conn)
        top = _one(conn, "SELECT max(id) FROM audit_events")[0] or 0
        ids = sorted({rng.randint(1, max(1, top)) for _ in range(n * 3)})
        admin_audit = conn.execute(
            "SELECT cvr, actor FROM audit_events WHERE id = ANY(%s) AND cvr IS NOT NULL",
            (ids,),
        ).fetchall()
    privileges = []
    for user_id, cvr, username, _ in privilege_rows:
        if user_id in held and rng.random() < 0.5:
            privileges.append((cvr, username, held[user_id], "held"))
        else:
            privileges.append((cvr, username, rng.choice(fagsystemer), "random"))

    def mix(popular: list[list[Any]], uniform: list[list[Any]]) -> list[tuple[str, int, str]]:
        half = n // 2
        chosen = [(k, c, "popular") for k, c in rng.sample(popular, min(half, len(popular)))]
        chosen += [(k, c, "uniform") for k, c in rng.sample(uniform, min(n - half, len(uniform)))]
        rng.shuffle(chosen)
        return chosen

    rng.shuffle(admin_audit)
    return Samples(
        users=[(c, u, _search_text(rng, u, name), i) for i, c, u, name in user_rows],
        assignments=[(c, u) for _, c, u, _ in assignment_rows],
        privileges=privileges,
        agreements=[rng.choice(cvrs) for _ in range(n)],
        audit_actors=mix(audit["actors_popular"], audit["actors_uniform"]),
        audit_objects=mix(audit["objects_popular"], audit["objects_uniform"]),
        admin_audit=[(cvr, actor) for cvr, actor in admin_audit[:n]],
        admin_audit_elsewhere=[
            (rng.choice(cvrs), actor) for actor, _ in audit["actors_popular"][:n]
        ],
    )


# -- the server and its clients -----------------------------------------------------------


def install_clients(url: str, cvrs: list[str]) -> str:
    """An operator client and an administrator client per municipality; a fresh secret."""
    import psycopg
    from argon2 import PasswordHasher

    secret = secrets.token_urlsafe(24)
    hashed = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(secret)
    clients = [(OPERATOR_CLIENT, "operator", None, "*")] + [
        (f"bench-admin-{cvr}", "administrator", cvr, cvr) for cvr in cvrs
    ]
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("DELETE FROM oidc_clients WHERE fagsystem_id = %s", (ADMIN_FAGSYSTEM,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO oidc_clients (client_id, fagsystem_id, redirect_uris,"
                " post_logout_redirect_uris, token_endpoint_auth_method, client_secret_hash,"
                " grant_types, signing_alg) VALUES (%s, %s, '[]', '[]', 'client_secret_basic',"
                " %s, '[\"client_credentials\"]', 'RS256')",
                [(client, ADMIN_FAGSYSTEM, hashed) for client, *_ in clients],
            )
            cur.executemany(
                "INSERT INTO admin_role_assignments (client_id, role, cvr, holder, scope,"
                " granted_by, granted_at) VALUES (%s, %s, %s, %s, %s, 'bench.admin_api', now())",
                [(c, role, cvr, f"client:{c}", scope) for c, role, cvr, scope in clients],
            )
    return secret


class Server:
    """``stsctl init`` in a temporary data dir, then ``stsctl serve --workers 2``."""

    def __init__(self, args: argparse.Namespace) -> None:
        from bench.oidc_http import free_port

        self.port = args.port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.work = Path(tempfile.mkdtemp(prefix="admin-api-bench-"))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STS_")},
            "STS_DATA_DIR": str(self.work / "var"),
            "STS_DATABASE_URL": args.database_url,
            "STS_REDIS_URL": args.redis_url,
            "STS_BASE_URL": self.base,
            "STS_LOG_LEVEL": "WARNING",
            # The per-caller limit (1,200 a minute by default) would stop a sequential
            # benchmark; it stays on (one Redis INCR per request), set out of reach.
            "STS_ADMIN_API_RATE_LIMIT": "100000000",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, url: str) -> None:
        import psycopg

        from bench.oidc_http import wait_ready

        # Keys of an earlier run point into its (removed) data dir: start afresh.
        with psycopg.connect(_conninfo(url)) as conn:
            conn.execute("DELETE FROM signing_keys")
        subprocess.run([STSCTL, "init"], env=self.env, check=True, cwd=ROOT, capture_output=True)
        log = (self.work / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [STSCTL, "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_ready(f"{self.base}/readyz", self.process)

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def stop(self) -> None:
        from bench.oidc_http import stop

        if self.process is not None:
            stop(self.process)
        shutil.rmtree(self.work, ignore_errors=True)  # its keys and log: nothing to keep

    def log_tail(self, lines: int = 30) -> str:
        path = self.work / "serve.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


class ApiUnavailable(SystemExit):
    pass


class Client:
    """One keep-alive HTTP/1.1 connection, sequential requests, bearer tokens per client."""

    def __init__(self, base: str, secret: str) -> None:
        self.host, self.port = base.removeprefix("http://").split(":")
        self.base = base
        self.secret = secret
        self.tokens: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        return self.conn

    def _send(
        self, method: str, path: str, body: str | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self.conn = None
                self.reconnects += 1
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def token(self, client_id: str, *, fresh: bool = False) -> str:
        from bench.oidc_http import basic

        if fresh or client_id not in self.tokens:
            form = urlencode(
                {"grant_type": "client_credentials", "resource": f"{self.base}/api/v1"}
            )
            status, data = self._send(
                "POST",
                "/oidc/token",
                form,
                {
                    "Authorization": basic(client_id, self.secret),
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            if status != 200:
                raise ApiUnavailable(
                    f"the token endpoint refused an admin API token for {client_id}: "
                    f"{status} {data[:300]!r}"
                )
            self.tokens[client_id] = json.loads(data)["access_token"]
        return self.tokens[client_id]

    def get(self, path: str, client_id: str) -> tuple[float, int, Any]:
        """(seconds, status, parsed body) of one GET; a 401 (expired token) is retried once
        with a new token, and only the retry is timed."""
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {self.token(client_id, fresh=attempt == 2)}",
                "Accept": "application/json",
            }
            started = time.perf_counter()
            status, data = self._send("GET", path, None, headers)
            elapsed = time.perf_counter() - started
            if status != 401:
                break
        try:
            body = json.loads(data)
        except ValueError:
            body = data[:300]
        return elapsed, status, body


def _admin(cvr: str) -> str:
    return f"bench-admin-{cvr}"


# -- measurement ----------------------------------------------------------------------------


def latency(samples: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1000, 2),
        "p95_ms": round(pick(0.95) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


@dataclass
class Series:
    """Latencies of one query type, with what came back (so an empty answer shows)."""

    times: list[float]
    items: list[int]
    errors: Counter[str]
    split: dict[str, list[float]]

    @classmethod
    def new(cls) -> Series:
        return cls([], [], Counter(), {})

    def add(self, seconds: float, items: int, label: str | None = None) -> None:
        self.times.append(seconds)
        self.items.append(items)
        if label:
            self.split.setdefault(label, []).append(seconds)

    def report(self) -> dict[str, Any]:
        out = latency(self.times)
        out["mean_items"] = round(statistics.fmean(self.items), 1) if self.items else 0
        out["empty_answers"] = sum(1 for i in self.items if i == 0)
        if self.errors:
            out["errors"] = dict(self.errors)
        if self.split:
            out["by_sample"] = {k: latency(v) for k, v in sorted(self.split.items())}
        return out


def _ok(series: Series, status: int, body: Any, what: str) -> bool:
    if status == 200:
        return True
    series.errors[f"{status}"] += 1
    if sum(series.errors.values()) <= 3:
        print(f"    {what}: {status} {str(body)[:200]}", flush=True)
    return False


Pages = dict[str, list[tuple[str, int, str]]]  # audit search -> (value, page, label) asked


def measure_ours(client: Client, samples: Samples, warmup: int) -> tuple[dict[str, Series], Pages]:
    """Every query type over HTTP, one request at a time; the first ``warmup`` samples of
    each type are run once before timing (connections, worker caches). Also returns the
    audit pages requested, for the naive peer to ask for the same ones."""
    api = "/api/v1"
    out: dict[str, Series] = {}
    pages: Pages = {}

    def run(
        name: str, requests: list[tuple[str, str, str | None]], count: Callable[[Any], int]
    ) -> None:
        series = Series.new()
        for path, client_id, _ in requests[:warmup]:
            client.get(path, client_id)
        for path, client_id, label in requests:
            seconds, status, body = client.get(path, client_id)
            if _ok(series, status, body, name):
                series.add(seconds, count(body), label)
        out[name] = series
        print(f"  {name:34} {_pq(series.report())} ms", flush=True)

    items: Callable[[Any], int] = lambda body: len(body.get("items", []))  # noqa: E731
    run(
        "users",
        [
            (f"{api}/municipalities/{c}/users?{urlencode({'q': q})}", _admin(c), None)
            for c, _, q, _ in samples.users
        ],
        items,
    )
    run(
        "assignments",
        [
            (f"{api}/municipalities/{c}/assignments?{urlencode({'user': u})}", _admin(c), None)
            for c, u in samples.assignments
        ],
        items,
    )
    run(
        "privileges",
        [
            (
                f"{api}/municipalities/{c}/users/{quote(u, safe='')}/privileges?"
                f"{urlencode({'fagsystem': f, 'explain': 'true'})}",
                _admin(c),
                kind,
            )
            for c, u, f, kind in samples.privileges
        ],
        lambda body: len(body.get("groups", [])),
    )
    run(
        "agreements",
        [
            (
                f"{api}/serviceaftaler?{urlencode({'cvr': c, 'status': 'requested'})}",
                _admin(c),
                None,
            )
            for c in samples.agreements
        ],
        items,
    )

    def audit(name: str, key: str, picks: list[tuple[str, int, str]]) -> None:
        first, deeper = Series.new(), Series.new()
        asked = pages.setdefault(name, [])
        for value, _, _ in picks[:warmup]:
            client.get(f"{api}/audit?{urlencode({key: value})}", OPERATOR_CLIENT)
        for value, _, label in picks:
            query = {key: value}
            for page in range(1, MAX_FOLLOW + 2):
                seconds, status, body = client.get(
                    f"{api}/audit?{urlencode(query)}", OPERATOR_CLIENT
                )
                series = first if page == 1 else deeper
                if not _ok(series, status, body, name):
                    break
                series.add(seconds, len(body.get("items", [])), label)
                asked.append((value, page, label))
                cursor = body.get("next_cursor")
                if not cursor:
                    break
                query = {key: value, "cursor": cursor}
        out[f"{name}_first"], out[f"{name}_deeper"] = first, deeper
        print(f"  {name + ', first page':34} {_pq(first.report())} ms", flush=True)
        print(f"  {name + ', pages 2-5 (cursor)':34} {_pq(deeper.report())} ms", flush=True)

    audit("audit_actor", "actor", samples.audit_actors)
    audit("audit_object", "object", samples.audit_objects)
    run(
        "audit_actor_admin",
        [
            (f"{api}/audit?{urlencode({'actor': a})}", _admin(c), None)
            for c, a in samples.admin_audit
        ],
        items,
    )
    run(
        "audit_actor_admin_elsewhere",
        [
            (f"{api}/audit?{urlencode({'actor': a})}", _admin(c), None)
            for c, a in samples.admin_audit_elsewhere
        ],
        items,
    )
    return out, pages


NAIVE_SQL = {
    "users": (
        "national ILIKE '%q%' on username or name over every user (no CVR filter, no index "
        "usable), ORDER BY username OFFSET 2000 LIMIT 50",
        "SELECT id, cvr, username, name, email, org_unit_uuid, kle, source, disabled"
        " FROM users WHERE username ILIKE %(like)s OR name ILIKE %(like)s"
        " ORDER BY username, id OFFSET 2000 LIMIT 50",
    ),
    "assignments": (
        "the municipality's assignments with OFFSET pagination: ORDER BY id LIMIT 50 "
        "OFFSET a random page of its list (as an admin UI pages without a per-user filter)",
        "SELECT * FROM assignments WHERE cvr = %(cvr)s ORDER BY id OFFSET %(offset)s LIMIT 50",
    ),
    "agreements": (
        "status and CVR compared through expressions no index serves (lower(status), "
        "cvr || ''): every agreement scanned, ORDER BY id OFFSET 0 LIMIT 50",
        "SELECT * FROM serviceaftaler WHERE lower(status) = 'requested' AND cvr || '' = %(cvr)s"
        " ORDER BY id OFFSET 0 LIMIT 50",
    ),
    "audit_actor": (
        "lower(actor) = lower(x) (no index on the expression), ORDER BY at DESC with "
        "OFFSET (page - 1) * 50 LIMIT 50 instead of keyset by id",
        "SELECT * FROM audit_events WHERE lower(actor) = lower(%(value)s)"
        " ORDER BY at DESC, id DESC OFFSET %(offset)s LIMIT 50",
    ),
    "audit_object": (
        "lower(object_id) = lower(x), ORDER BY at DESC with OFFSET (page - 1) * 50 LIMIT 50",
        "SELECT * FROM audit_events WHERE lower(object_id) = lower(%(value)s)"
        " ORDER BY at DESC, id DESC OFFSET %(offset)s LIMIT 50",
    ),
    "audit_actor_admin": (
        "lower(actor) = lower(x) AND cvr || '' = c, ORDER BY at DESC OFFSET 0 LIMIT 50",
        "SELECT * FROM audit_events WHERE lower(actor) = lower(%(value)s) AND cvr || '' = %(cvr)s"
        " ORDER BY at DESC, id DESC OFFSET 0 LIMIT 50",
    ),
}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def measure_naive(
    url: str,
    samples: Samples,
    pages: Pages,
    budget: float,
    warmup: int,
    timeout_s: float,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """The naive SQL for the same samples, until ``budget`` seconds per query type are spent."""
    import psycopg

    rng = random.Random(seed + 3)
    results: dict[str, dict[str, Any]] = {}
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        per_cvr: dict[str, int] = dict(
            conn.execute("SELECT cvr, count(*) FROM assignments GROUP BY cvr").fetchall()
        )

        def run(
            name: str, params: Sequence[tuple[dict[str, Any], str | None]], key: str | None = None
        ) -> None:
            what, sql = NAIVE_SQL[name]
            key = key or name
            series, timeouts = Series.new(), 0
            for values, _ in params[:warmup]:
                with contextlib.suppress(psycopg.errors.QueryCanceled):
                    conn.execute(sql, values).fetchall()
            spent_from = time.perf_counter()
            for values, label in params:
                if time.perf_counter() - spent_from > budget:
                    break
                started = time.perf_counter()
                try:
                    rows = conn.execute(sql, values).fetchall()
                except psycopg.errors.QueryCanceled:
                    timeouts += 1
                    series.add(time.perf_counter() - started, 0, label)
                    continue
                series.add(time.perf_counter() - started, len(rows), label)
            report = series.report()
            report.update(does=what, sql=sql, budget_s=budget, of_samples=len(params))
            if timeouts:
                report["timeouts"] = timeouts
                report["timeout_s"] = timeout_s
            results[key] = report
            print(
                f"  {key:34} {_pq(report)} ms  (n={report['n']} of {len(params)}"
                f"{', ' + str(timeouts) + ' timed out' if timeouts else ''})",
                flush=True,
            )

        run("users", [({"like": _like(q)}, None) for _, _, q, _ in samples.users])
        run(
            "assignments",
            [
                ({"cvr": c, "offset": rng.randint(0, max(0, per_cvr.get(c, 0) - PAGE))}, None)
                for c, _ in samples.assignments
            ],
        )
        run("agreements", [({"cvr": c}, None) for c in samples.agreements])
        for name in ("audit_actor", "audit_object"):
            asked = pages.get(name, [])
            first = [({"value": v, "offset": 0}, label) for v, p, label in asked if p == 1]
            deeper = [
                ({"value": v, "offset": (p - 1) * PAGE}, label) for v, p, label in asked if p > 1
            ]
            run(name, first, f"{name}_first")
            if deeper:
                run(name, deeper, f"{name}_deeper")
        run("audit_actor_admin", [({"value": a, "cvr": c}, None) for c, a in samples.admin_audit])
    return results


def _pq(block: dict[str, Any]) -> str:
    if not block.get("n"):
        return "–"
    return f"{block['p50_ms']:g} / {block['p99_ms']:g}"


NO_NAIVE = {
    "privileges": "no naive form (the same resolution is one indexed recursive read either "
    "way; see bench.authz_national)",
    "audit_actor_admin_elsewhere": "no naive form: the worst case of the row above (an actor "
    "with many events elsewhere and few or none here), which (cvr, actor, id) bounds",
}
ROWS = (  # key, label, target
    ("users", "user search (?q=)", "read"),
    ("assignments", "one user's assignments (?user=)", "read"),
    ("privileges", "privileges, explained (one fagsystem)", "read"),
    ("agreements", "pending agreements of a municipality", "read"),
    ("audit_actor_first", "audit by actor, first page", "audit"),
    ("audit_actor_deeper", "audit by actor, pages 2-5 (next_cursor)", "audit"),
    ("audit_object_first", "audit by object, first page", "audit"),
    ("audit_object_deeper", "audit by object, pages 2-5 (next_cursor)", "audit"),
    ("audit_actor_admin", "audit by actor, as a municipality's admin", "audit"),
    ("audit_actor_admin_elsewhere", "audit by a busy actor, another municipality's admin", "audit"),
)


def _took(block: dict[str, Any]) -> str:
    return "reused" if block.get("reused") else f"{block.get('seconds')} s"


def table(results: dict[str, Any]) -> str:
    world = results["world"]
    lines = [
        f"world: {results['size']['municipalities']} municipalities, "
        f"{results['size']['users']:,} users, {results['size']['assignments']:,} assignments, "
        f"{results['audit_events_total']:,} audit events, "
        f"{results['agreements_total']:,} agreements ({results['requested_total']:,} requested)",
        f"generation: world {_took(world['world'])}, agreements + audit trail "
        f"{_took(world['extras'])}",
        "",
        f"{'query':44} {'ours p50 / p99 ms':>19} {'n':>5} {'naive p50 / p99 ms':>20} {'n':>4}"
        f" {'target':>8}  met?",
        "-" * 112,
    ]
    for key, label, kind in ROWS:
        ours = results["ours"].get(key, {})
        naive = results["naive"].get(key, {})
        target = TARGET_MS[kind]
        met = ours.get("n") and not ours.get("errors") and ours["p99_ms"] <= target
        lines.append(
            f"{label:44} {_pq(ours):>19} {ours.get('n', 0):>5} {_pq(naive):>20} "
            f"{naive.get('n', 0):>4} {'≤ ' + format(target, 'g') + ' ms':>8}  "
            f"{'yes' if met else 'NO'}"
        )
    lines += [
        "",
        "ours: over HTTP (stsctl serve --workers 2, one keep-alive connection, "
        "sequential); naive: SQL only (psycopg, same database), within "
        f"{results['config']['naive_budget_s']} s per query type:",
    ]
    for key, label, _ in ROWS:
        naive = results["naive"].get(key)
        if naive and key.endswith("_deeper"):
            continue
        if naive:
            lines.append(f"  {label}: {naive['does']}")
        else:
            lines.append(f"  {label}: {NO_NAIVE.get(key, 'no naive form')}")
    for key in ("audit_actor_first", "audit_object_first"):
        split = results["ours"].get(key, {}).get("by_sample", {})
        if split:
            parts = ", ".join(f"{k} {_pq(v)} (n={v['n']})" for k, v in split.items())
            lines.append(f"ours {key}: {parts}")
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep a world (and audit trail) generated with the same settings",
    )
    parser.add_argument("--samples", type=int, default=300, help="requests per query type")
    parser.add_argument(
        "--audit-events",
        type=int,
        default=None,
        help="audit events to generate (default 5,000,000 x scale)",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("STS_BENCH_ADMIN_DATABASE_URL", DEFAULT_PG)
    )
    parser.add_argument("--redis-url", default=os.environ.get("STS_BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument(
        "--naive-budget", type=float, default=60.0, help="seconds of naive queries per query type"
    )
    parser.add_argument(
        "--naive-timeout", type=float, default=30.0, help="statement timeout of one naive query (s)"
    )
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per type first")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before measuring, wait up to this many seconds for an idle machine",
    )
    parser.add_argument(
        "--verify-chain",
        action="store_true",
        help="verify the whole audit chain with store.audit.verify_chain",
    )
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="measure without holding /tmp/bench.lock (which other benchmarks take too)",
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    args = parser.parse_args(argv)
    if args.audit_events is None:
        args.audit_events = max(1000, round(5_000_000 * args.scale))
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from bench.oidc_http import bench_lock, others_watch
    from bench.saml_http import machine_load, wait_until_quiet

    started = time.perf_counter()
    world = prepare_world(args)
    prepared = time.perf_counter()
    with psycopg.connect(_conninfo(args.database_url)) as conn:
        cvrs = _cvrs(conn)
    samples = draw_samples(args.database_url, args.samples, args.seed, world["audit_samples"])
    chain = check_chain(args.database_url)
    broken = chain["first_broken"]
    state = "intact" if broken is None else f"BROKEN at id {broken}"
    print(f"audit chain spot check: {chain['checked']:,} events, {state}", flush=True)
    secret = install_clients(args.database_url, cvrs)
    server = Server(args)
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.admin_api", *sys.argv[1:]]),
        "size": world["size"],
        "world": {k: world[k] for k in ("world", "extras")},
        "config": {
            "samples": args.samples,
            "warmup": args.warmup,
            "naive_budget_s": args.naive_budget,
            "naive_timeout_s": args.naive_timeout,
            "page_size": PAGE,
            "audit_pages_followed": MAX_FOLLOW,
            "seed": args.seed,
        },
        "audit_chain_spot_check": chain,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    try:
        server.start(args.database_url)
        client = Client(server.base, secret)
        status, _ = client._send("GET", "/api/v1/openapi.json", None, {})
        if status != 200:
            raise ApiUnavailable(f"GET /api/v1/openapi.json: {status}; is the admin API mounted?")
        client.token(OPERATOR_CLIENT)
        for cvr in cvrs:
            client.token(_admin(cvr))
        print(
            f"server {server.base} (pid {server.pid}); tokens for {len(client.tokens)} clients",
            flush=True,
        )
        waited = wait_until_quiet(args.wait_quiet) if args.wait_quiet else 0.0
        results["machine"]["waited_for_quiet_s"] = waited
        results["machine"]["before"] = machine_load()
        own = {server.pid}
        print(f"ours, over HTTP ({args.samples} samples per query type) ...", flush=True)
        lock = contextlib.nullcontext if args.no_lock else bench_lock
        with lock(), others_watch(own) as machine_ours:
            ours, pages = measure_ours(client, samples, min(args.warmup, args.samples))
        print(f"naive, SQL only (≤ {args.naive_budget:g} s per query type) ...", flush=True)
        with lock(), others_watch(own) as machine_naive:
            naive = measure_naive(
                args.database_url,
                samples,
                pages,
                args.naive_budget,
                min(2, args.samples),
                args.naive_timeout,
                args.seed,
            )
        results["machine"]["during_ours"] = machine_ours
        results["machine"]["during_naive"] = machine_naive
        results["machine"]["after"] = machine_load()
        results["http_reconnects"] = client.reconnects
    except ApiUnavailable:
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        server.stop()
    results["ours"] = {k: v.report() for k, v in ours.items()}
    results["naive"] = naive
    for key, _, kind in ROWS:
        block = results["ours"].get(key, {})
        block["target_p99_ms"] = TARGET_MS[kind]
        block["met"] = (
            bool(block.get("n"))
            and not block.get("errors")
            and (block["p99_ms"] <= TARGET_MS[kind])
        )
    with psycopg.connect(_conninfo(args.database_url)) as conn:
        results["audit_events_total"] = _one(conn, "SELECT coalesce(max(id), 0) FROM audit_events")[
            0
        ]
        results["agreements_total"], results["requested_total"] = _one(
            conn,
            "SELECT count(*), count(*) FILTER (WHERE status = 'requested') FROM serviceaftaler",
        )
    if args.verify_chain:
        print("verifying the whole audit chain (stsctl audit verify) ...", flush=True)
        results["audit_chain_full"] = full = verify_whole_chain(args.database_url)
        print(f"  exit {full['exit_code']} in {full['seconds']} s: {' / '.join(full['output'])}")
    results["seconds"] = {
        "world": round(prepared - started, 1),
        "measurement": round(time.perf_counter() - prepared, 1),
    }
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    results = run(args)
    print()
    print(table(results))
    print(
        f"\ntime: world {results['seconds']['world']} s, "
        f"measurement {results['seconds']['measurement']} s"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written to {args.json}")
    if args.drop:
        drop_database(args.database_url)
    return results


if __name__ == "__main__":
    main()
