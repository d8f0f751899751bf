"""National-scale benchmark of privilege resolution, beside a plain ``casbin.Enforcer``.

    .venv/bin/python -m bench.authz_national                 # the full world (issue 3)
    .venv/bin/python -m bench.authz_national --scale 0.01    # a quick smoke run

A seeded generator builds, in its own PostgreSQL database (``sts_bench`` by default,
dropped and recreated unless ``--reuse``), 98 municipalities with 6-level org trees
(661 units each), 400,000 users, nested AD groups, 60 fagsystemer with 1,000
brugersystemroller, 30,000 jobfunktionsroller and 2,000,000 assignments (70 % direct,
15 % group, 15 % org unit; some dated, expired, delegated, postponed, excepted), loaded
with COPY. ``--scale`` multiplies users, JFRs, assignments and municipalities.

Then, each in a fresh process so start-up and memory are honest:

* start-up: process spawn → first privilege answer (interpreter, imports, connections);
* resident memory (VmRSS / VmHWM) after the latency runs;
* cold resolution (no cache entry anywhere) and warm (in-process LRU) and shared
  (Redis entry, new process) p50 / p99, for random (user, fagsystem) pairs and for
  pairs where the user holds a JFR with a role of that fagsystem;
* propagation: a second process holds a warm answer; this process commits a new
  assignment and publishes the invalidation; time until the other process's answer
  changes;
* baseline: a plain ``casbin.Enforcer`` (the textbook RBAC-with-domains model) loaded
  with the same assignments as ``g`` rules and the JFR grants as ``p`` rules. Loading
  all 2,000,000 rules into pycasbin is not feasible in a benchmark run, so the
  baseline loads a subset (whole municipalities, ``--baseline-municipalities``),
  measures load time, memory and decision latency on it, and extrapolates load time
  and memory linearly to the full world; the output says so.

Prints a table and writes ``bench/results/authz_national.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "authz_national.json"
DEFAULT_PG = "postgresql+psycopg://root@127.0.0.1:5432/sts_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
KLE = "http://sts.kombit.dk/constraints/KLE/1"
ORG = "http://sts.kombit.dk/constraints/orgenhed/1"
BRANCHING = (4, 4, 4, 3, 2)  # 1 + 4 + 16 + 64 + 192 + 384 = 661 units, 6 levels
KLE_POOL = [f"{a:02d}" for a in range(0, 86, 3)] + [
    f"{a:02d}.{b:02d}" for a in range(0, 86, 7) for b in (1, 5, 10)
]


# -- the world ---------------------------------------------------------------------------


@dataclass
class Size:
    municipalities: int
    users: int
    jfrs: int
    assignments: int
    fagsystemer: int = 60
    bsrs: int = 1000

    @classmethod
    def at(cls, scale: float) -> Size:
        return cls(
            municipalities=max(2, round(98 * scale)),
            users=max(50, round(400_000 * scale)),
            jfrs=max(20, round(30_000 * scale)),
            assignments=max(200, round(2_000_000 * scale)),
        )


@dataclass
class Counts:
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = _conninfo(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')


def drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = _conninfo(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


class Generator:
    """Seeded world generator writing straight into COPY streams."""

    def __init__(self, size: Size, seed: int) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.cvrs = [f"{30000000 + 7919 * i:08d}" for i in range(size.municipalities)]
        self.units: dict[str, list[list[str]]] = {}  # cvr -> units per level (level 1 first)
        self.users: dict[str, list[str]] = {}
        self.groups: dict[str, list[str]] = {}
        self.fagsystem_roles: list[list[tuple[str, list[str]]]] = []  # per fagsystem
        self.jfrs: dict[str, list[tuple[str, bool]]] = {}  # cvr -> (id, has_postponed)
        self.delegated_in: dict[str, list[tuple[str, bool]]] = {}

    def split(self, total: int) -> list[int]:
        n = len(self.cvrs)
        return [total // n + (1 if i < total % n else 0) for i in range(n)]

    def write(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")  # no FK triggers during COPY
            self._municipalities_and_units(cur)
            self._users(cur)
            self._groups(cur)
            self._fagsystemer(cur)
            self._jfrs(cur)
            self._assignments(cur)
            cur.execute("SET session_replication_role = origin")

    @contextlib.contextmanager
    def copy(self, cur: Any, table: str, columns: Sequence[str]) -> Iterator[Any]:
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with cur.copy(statement) as stream:
            yield stream

    def _municipalities_and_units(self, cur: Any) -> None:
        rng = self.rng
        with self.copy(cur, "municipalities", ["cvr", "name", "domain"]) as out:
            for i, cvr in enumerate(self.cvrs):
                out.write_row((cvr, f"Kommune {i}", f"k{i}.kommune.dk"))
        self.counts.add("municipalities", len(self.cvrs))
        with self.copy(cur, "org_units", ["uuid", "cvr", "name", "parent_uuid", "kle"]) as out:
            for cvr in self.cvrs:
                levels: list[list[str]] = [[_uuid(rng)]]
                out.write_row((levels[0][0], cvr, "Kommune", None, "[]"))
                for depth, branching in enumerate(BRANCHING, start=2):
                    level = []
                    for parent in levels[-1]:
                        for k in range(branching):
                            unit = _uuid(rng)
                            kle = (
                                rng.sample(KLE_POOL, rng.randint(1, 3))
                                if rng.random() < 0.3
                                else []
                            )
                            out.write_row((unit, cvr, f"Enhed {depth}.{k}", parent, _dump(kle)))
                            level.append(unit)
                    levels.append(level)
                self.units[cvr] = levels
                self.counts.add("org_units", sum(len(level) for level in levels))

    def _users(self, cur: Any) -> None:
        rng = self.rng
        columns = ["id", "cvr", "username", "name", "org_unit_uuid", "kle", "source", "disabled"]
        with self.copy(cur, "users", columns) as out:
            for cvr, n in zip(self.cvrs, self.split(self.size.users), strict=True):
                ids = []
                levels = self.units[cvr]
                placeable = [u for level in levels[2:] for u in level]
                for k in range(n):
                    user = _uuid(rng)
                    kle = rng.sample(KLE_POOL, rng.randint(1, 3)) if rng.random() < 0.6 else []
                    out.write_row(
                        (
                            user,
                            cvr,
                            f"u{k}",
                            f"User {k}",
                            rng.choice(placeable),
                            _dump(kle),
                            "ad",
                            False,
                        )
                    )
                    ids.append(user)
                self.users[cvr] = ids
        self.counts.add("users", self.size.users)
        # managers of the upper four levels, written as an UPDATE from a temporary table
        cur.execute("CREATE TEMP TABLE managers (uuid varchar(36), manager varchar(36))")
        with self.copy(cur, "managers", ["uuid", "manager"]) as out:
            for cvr in self.cvrs:
                for level in self.units[cvr][:4]:
                    for unit in level:
                        out.write_row((unit, rng.choice(self.users[cvr])))
        cur.execute(
            "UPDATE org_units o SET manager_user_id = m.manager"
            " FROM managers m WHERE o.uuid = m.uuid"
        )

    def _groups(self, cur: Any) -> None:
        rng = self.rng
        for cvr in self.cvrs:
            n = max(3, round(len(self.users[cvr]) * 0.37))
            self.groups[cvr] = [_uuid(rng) for _ in range(n)]
        with self.copy(cur, "groups", ["id", "cvr", "dn", "name", "object_guid"]) as out:
            for cvr in self.cvrs:
                for k, group in enumerate(self.groups[cvr]):
                    out.write_row((group, cvr, f"CN=G{k},OU=Grupper,DC={cvr}", f"G{k}", group))
                self.counts.add("groups", len(self.groups[cvr]))
        with self.copy(cur, "group_members", ["group_id", "member_user_id"]) as out:
            for cvr in self.cvrs:
                groups = self.groups[cvr]
                for user in self.users[cvr]:
                    for group in set(rng.sample(groups, 2)):
                        out.write_row((group, user))
                        self.counts.add("group_members", 1)
        with self.copy(cur, "group_nesting", ["parent_id", "child_id"]) as out:
            for cvr in self.cvrs:
                groups = self.groups[cvr]
                for index, child in enumerate(groups[:-1]):
                    if rng.random() < 0.3:  # parents have higher indexes: chains, no cycles
                        out.write_row((groups[rng.randint(index + 1, len(groups) - 1)], child))
                        self.counts.add("group_nesting", 1)

    def _fagsystemer(self, cur: Any) -> None:
        rng = self.rng
        n = self.size.fagsystemer
        per = [self.size.bsrs // n + (1 if i < self.size.bsrs % n else 0) for i in range(n)]
        with self.copy(
            cur, "fagsystemer", ["id", "name", "entity_id", "kinds", "personal_data", "min_loa"]
        ) as out:
            for i in range(n):
                out.write_row(
                    (
                        f"FS{i:02d}",
                        f"Fagsystem {i}",
                        f"https://fs{i}.test",
                        '["brugervendt"]',
                        True,
                        "Substantial",
                    )
                )
        with self.copy(
            cur, "constraint_types", ["fagsystem_id", "uri", "name", "kind", "values"]
        ) as out:
            for i in range(n):
                out.write_row((f"FS{i:02d}", KLE, "KLE", "kle", None))
                out.write_row((f"FS{i:02d}", ORG, "Organisation", "orgenhed", None))
                out.write_row(
                    (
                        f"FS{i:02d}",
                        f"http://fs{i}.test/constraints/sens/1",
                        "Følsomhed",
                        "values",
                        '["Normal","Fortrolig","Følsom"]',
                    )
                )
        with self.copy(
            cur, "system_roles", ["id", "fagsystem_id", "name", "description", "constraint_uris"]
        ) as out:
            for i in range(n):
                roles = []
                sens = f"http://fs{i}.test/constraints/sens/1"
                for k in range(per[i]):
                    draw = rng.random()
                    uris = (
                        []
                        if draw < 0.3
                        else [KLE]
                        if draw < 0.6
                        else [ORG]
                        if draw < 0.75
                        else [KLE, ORG]
                        if draw < 0.9
                        else [sens]
                    )
                    role = f"http://fs{i}.test/roles/usersystemrole/r{k}/1"
                    out.write_row((role, f"FS{i:02d}", f"Rolle {k}", "", _dump(uris)))
                    roles.append((role, uris))
                self.fagsystem_roles.append(roles)
        self.counts.add("fagsystemer", n)
        self.counts.add("system_roles", self.size.bsrs)

    def _spec(self, uri: str, cvr: str, delegated: bool) -> dict[str, Any]:
        rng = self.rng
        if uri == KLE:
            if delegated or rng.random() < 0.5:
                return {"fixed": rng.sample(KLE_POOL, rng.randint(1, 4))}
            return {"dynamic": "user_kle"}
        if uri == ORG:
            if delegated or rng.random() < 0.3:
                units = [u for level in self.units[cvr][1:4] for u in level]
                return {"fixed": rng.sample(units, rng.randint(1, 3))}
            return {
                "dynamic": rng.choice(
                    [
                        "user_orgunit",
                        "user_orgunit_and_below",
                        "orgunit_level_2_and_below",
                        "orgunit_level_3_and_below",
                        "managed_orgunits",
                    ]
                )
            }
        if rng.random() < 0.3:
            return {"postponed": True}
        return {"fixed": rng.sample(["Normal", "Fortrolig", "Følsom"], rng.randint(1, 2))}

    def _jfrs(self, cur: Any) -> None:
        rng = self.rng
        jfr_cols = ["id", "cvr", "name", "description", "delegated_to"]
        grants: list[tuple[str, int, str, str]] = []
        with self.copy(cur, "jobfunktionsroller", jfr_cols) as out:
            for m, (cvr, n) in enumerate(zip(self.cvrs, self.split(self.size.jfrs), strict=True)):
                self.jfrs[cvr] = []
                for k in range(n):
                    jfr = f"http://k{m}.kommune.dk/roles/jobrole/j{k}/1"
                    delegated_to: list[str] = []
                    if rng.random() < 0.02 and len(self.cvrs) > 1:
                        delegated_to = [rng.choice([c for c in self.cvrs if c != cvr])]
                    out.write_row((jfr, cvr, f"JFR {k}", "", _dump(delegated_to)))
                    postponed = False
                    systems = rng.sample(range(self.size.fagsystemer), rng.randint(1, 3))
                    for position in range(rng.randint(1, 6)):
                        role, uris = rng.choice(self.fagsystem_roles[rng.choice(systems)])
                        constraints = {u: self._spec(u, cvr, bool(delegated_to)) for u in uris}
                        postponed |= any(s.get("postponed") for s in constraints.values())
                        grants.append((jfr, position, role, _dump(constraints)))
                    self.jfrs[cvr].append((jfr, postponed))
                    for other in delegated_to:
                        self.delegated_in.setdefault(other, []).append((jfr, postponed))
        with self.copy(cur, "jfr_grants", ["jfr_id", "position", "role_id", "constraints"]) as out:
            for row in grants:
                out.write_row(row)
        self.counts.add("jobfunktionsroller", self.size.jfrs)
        self.counts.add("jfr_grants", len(grants))

    def _assignments(self, cur: Any) -> None:
        rng = self.rng
        columns = [
            "id",
            "cvr",
            "jfr_id",
            "subject_type",
            "user_id",
            "group_id",
            "org_unit_uuid",
            "valid_from",
            "valid_to",
            "case_number",
            "inherit",
            "constraints",
            "excepted_user_ids",
        ]
        today = time.strftime("%Y-%m-%d")
        year = int(today[:4])
        with self.copy(cur, "assignments", columns) as out:
            for cvr, n in zip(self.cvrs, self.split(self.size.assignments), strict=True):
                users, groups, jfrs = self.users[cvr], self.groups[cvr], self.jfrs[cvr]
                delegated = self.delegated_in.get(cvr, [])
                units = [u for level in self.units[cvr][1:] for u in level]
                for _ in range(n):
                    jfr, postponed = (
                        rng.choice(delegated)
                        if delegated and rng.random() < 0.03
                        else rng.choice(jfrs)
                    )
                    draw = rng.random()
                    user = group = unit = None
                    inherit = False
                    excepted: list[str] = []
                    if draw < 0.70:
                        subject, user = "user", rng.choice(users)
                    elif draw < 0.85:
                        subject, group = "group", rng.choice(groups)
                    else:
                        subject, unit = "org_unit", rng.choice(units)
                        inherit = rng.random() < 0.5
                        if rng.random() < 0.05:
                            excepted = [rng.choice(users)]
                    dates = rng.random()
                    valid_from = valid_to = None
                    if dates < 0.10:
                        valid_to = f"{year + 1}-12-31"
                    elif dates < 0.15:
                        valid_to = f"{year - 1}-06-30"
                    elif dates < 0.20:
                        valid_from = f"{year + 1}-01-01"
                    constraints = {}
                    if postponed:
                        sens_values = rng.sample(
                            ["Normal", "Fortrolig", "Følsom"], rng.randint(1, 2)
                        )
                        constraints = {
                            f"http://fs{i}.test/constraints/sens/1": sens_values
                            for i in range(self.size.fagsystemer)
                        }
                    out.write_row(
                        (
                            _uuid(rng),
                            cvr,
                            jfr,
                            subject,
                            user,
                            group,
                            unit,
                            valid_from,
                            valid_to,
                            f"S-{rng.randint(1, 99999)}" if rng.random() < 0.2 else None,
                            inherit,
                            _dump(constraints),
                            _dump(excepted),
                        )
                    )
        self.counts.add("assignments", self.size.assignments)


def generate(url: str, size: Size, seed: int) -> dict[str, Any]:
    import psycopg

    from store import migrate

    started = time.perf_counter()
    recreate_database(url)
    migrate.upgrade(url)
    generator = Generator(size, seed)
    with psycopg.connect(_conninfo(url)) as conn:
        generator.write(conn)
        conn.commit()
    copied = time.perf_counter()
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute("ANALYZE")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text primary key, value text)")
        conn.execute(
            "INSERT INTO bench_meta VALUES ('world', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (_dump({"size": size.__dict__, "seed": seed, "counts": generator.counts.rows}),),
        )
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "copy_seconds": round(copied - started, 1),
        "counts": generator.counts.rows,
    }


def stored_world(url: str) -> dict[str, Any] | None:
    import psycopg

    try:
        with psycopg.connect(_conninfo(url)) as conn:
            row = conn.execute("SELECT value FROM bench_meta WHERE key = 'world'").fetchone()
    except psycopg.Error:
        return None
    return json.loads(row[0]) if row else None


# -- sampling -------------------------------------------------------------------------------


def sample_pairs(url: str, n: int, seed: int) -> dict[str, list[tuple[str, str, str]]]:
    """``random``: uniform users × fagsystemer; ``holder``: the user holds a role of it directly."""
    import psycopg

    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("SELECT setseed(%s)", (((seed % 1000) / 1000.0),))
        users = conn.execute(
            "SELECT id, cvr FROM users TABLESAMPLE BERNOULLI (5) ORDER BY random() LIMIT %s", (n,)
        ).fetchall()
        if len(users) < n:
            users = conn.execute(
                "SELECT id, cvr FROM users ORDER BY random() LIMIT %s", (n,)
            ).fetchall()
        fagsystemer = [r[0] for r in conn.execute("SELECT id FROM fagsystemer ORDER BY id")]
        holders = conn.execute(
            """
            SELECT a.user_id, a.cvr, r.fagsystem_id
            FROM (SELECT user_id, cvr, jfr_id FROM assignments TABLESAMPLE BERNOULLI (2)
                  WHERE subject_type = 'user' AND valid_to IS NULL AND valid_from IS NULL
                  ORDER BY random() LIMIT %s) a
            JOIN LATERAL (SELECT role_id FROM jfr_grants g WHERE g.jfr_id = a.jfr_id
                          ORDER BY g.position LIMIT 1) g ON true
            JOIN system_roles r ON r.id = g.role_id
            """,
            (n,),
        ).fetchall()
    rng = random.Random(seed)
    return {
        "random": [(u, c, rng.choice(fagsystemer)) for u, c in users],
        "holder": [tuple(row) for row in holders],
    }


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1000, 3),
        "p99_ms": round(pick(0.99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


def rss() -> dict[str, float]:
    values = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _ = line.split()
                values[key.rstrip(":")] = round(int(amount) / 1024, 1)
    return {"rss_mib": values.get("VmRSS", 0.0), "peak_rss_mib": values.get("VmHWM", 0.0)}


# -- child processes ----------------------------------------------------------------------


def child_worker(config: dict[str, Any]) -> dict[str, Any]:
    """Start, answer once (start-up), then cold / warm / shared latencies and memory."""
    from authz.cache import AuthzEngine
    from store.db import Database
    from store.ephemeral import RedisState

    db = Database(config["database_url"])
    state = RedisState(config["redis_url"], prefix=config["prefix"])
    engine = AuthzEngine(db, state, local_size=config["local_size"])
    first = config["first"]
    engine.resolve(*first)
    ready = time.time()
    out: dict[str, Any] = {"first_answer_at": ready, "after_start": rss()}
    for name, pairs in config["pairs"].items():
        cold, warm, shared, sizes, errors = [], [], [], [], 0
        for pair in pairs:
            t = time.perf_counter()
            try:
                result = engine.resolve(*pair)
            except Exception:  # a generated user may be disabled etc.: count, skip
                errors += 1
                continue
            cold.append(time.perf_counter() - t)
            sizes.append(len(result.groups))
        for pair in pairs:
            t = time.perf_counter()
            with contextlib.suppress(Exception):
                engine.resolve(*pair)
            warm.append(time.perf_counter() - t)
        engine.clear_local()
        for pair in pairs:
            t = time.perf_counter()
            with contextlib.suppress(Exception):
                engine.resolve(*pair)
            shared.append(time.perf_counter() - t)
        out[name] = {
            "cold": percentiles(cold),
            "warm": percentiles(warm),
            "shared": percentiles(shared),
            "non_empty": round(sum(1 for s in sizes if s) / max(1, len(sizes)), 3),
            "mean_groups": round(statistics.fmean(sizes), 2) if sizes else 0,
            "errors": errors,
        }
    out["memory"] = rss()
    out["stats"] = engine.stats
    engine.close()
    state.close()
    db.dispose()
    return out


def child_waiter(config: dict[str, Any]) -> None:
    """Holds warm answers; on "watch", reports when the answer changes (propagation)."""
    from authz.cache import AuthzEngine
    from store.db import Database
    from store.ephemeral import RedisState

    db = Database(config["database_url"])
    state = RedisState(config["redis_url"], prefix=config["prefix"])
    engine = AuthzEngine(db, state)
    print(json.dumps({"ready": time.time()}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("stop"):
            break
        pair = tuple(command["pair"])
        answer = engine.resolve(*pair)
        before = len(answer.groups)
        held = sorted({g.privilege for g in answer.groups if not g.constraints})
        engine.resolve(*pair)  # now warm, in process
        print(json.dumps({"watching": before, "held": held}), flush=True)
        deadline = time.time() + 5
        changed_at = None
        while time.time() < deadline:
            if len(engine.resolve(*pair).groups) != before:
                changed_at = time.time()
                break
            time.sleep(0.0005)
        print(json.dumps({"changed_at": changed_at, "stats": engine.stats}), flush=True)
    engine.close()
    state.close()
    db.dispose()


def child_baseline(config: dict[str, Any]) -> dict[str, Any]:
    """A plain casbin.Enforcer with the subset's policy: load time, memory, decisions."""
    import casbin
    import psycopg

    model_text = """
[request_definition]
r = sub, dom, obj

[policy_definition]
p = sub, dom, obj

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj
"""
    cvrs = config["cvrs"]
    before = rss()
    started = time.perf_counter()
    p_rules: list[list[str]] = []
    g_rules: list[list[str]] = []
    with psycopg.connect(_conninfo(config["database_url"])) as conn:
        for jfr, cvr, role in conn.execute(
            "SELECT j.id, j.cvr, g.role_id FROM jobfunktionsroller j"
            " JOIN jfr_grants g ON g.jfr_id = j.id "
            "WHERE j.cvr = ANY(%s)",
            (cvrs,),
        ):
            p_rules.append([f"jfr:{jfr}", cvr, role])
        for row in conn.execute(
            "SELECT subject_type, user_id, group_id, org_unit_uuid, jfr_id, cvr FROM assignments "
            "WHERE cvr = ANY(%s) AND (valid_from IS NULL OR valid_from <= current_date) "
            "AND (valid_to IS NULL OR valid_to >= current_date)",
            (cvrs,),
        ):
            kind, user, group, unit, jfr, cvr = row
            subject = (
                f"user:{user}"
                if kind == "user"
                else f"group:{group}"
                if kind == "group"
                else f"unit:{unit}"
            )
            g_rules.append([subject, f"jfr:{jfr}", cvr])
        for user, group, cvr in conn.execute(
            "SELECT m.member_user_id, m.group_id, g.cvr FROM group_members m"
            " JOIN groups g ON g.id = m.group_id "
            "WHERE g.cvr = ANY(%s)",
            (cvrs,),
        ):
            g_rules.append([f"user:{user}", f"group:{group}", cvr])
        for child, parent, cvr in conn.execute(
            "SELECT n.child_id, n.parent_id, g.cvr FROM group_nesting n"
            " JOIN groups g ON g.id = n.child_id "
            "WHERE g.cvr = ANY(%s)",
            (cvrs,),
        ):
            g_rules.append([f"group:{child}", f"group:{parent}", cvr])
        for user, unit, cvr in conn.execute(
            "SELECT id, org_unit_uuid, cvr FROM users WHERE cvr = ANY(%s)", (cvrs,)
        ):
            g_rules.append([f"user:{user}", f"unit:{unit}", cvr])
        for unit, parent, cvr in conn.execute(
            "SELECT uuid, parent_uuid, cvr FROM org_units"
            " WHERE cvr = ANY(%s) AND parent_uuid IS NOT NULL",
            (cvrs,),
        ):
            g_rules.append([f"unit:{unit}", f"unit:{parent}", cvr])
        roles_by_fagsystem: dict[str, list[str]] = {}
        for role, fagsystem in conn.execute("SELECT id, fagsystem_id FROM system_roles"):
            roles_by_fagsystem.setdefault(fagsystem, []).append(role)
        users = [
            (u, c)
            for u, c in conn.execute(
                "SELECT id, cvr FROM users WHERE cvr = ANY(%s) ORDER BY random() LIMIT 200", (cvrs,)
            )
        ]
    fetched = time.perf_counter()
    model = casbin.Enforcer.new_model(text=model_text)
    enforcer = casbin.Enforcer(model)
    enforcer.model.add_policies("p", "p", p_rules)
    enforcer.model.add_policies("g", "g", g_rules)
    enforcer.build_role_links()
    loaded = time.perf_counter()
    after_load = rss()
    rng = random.Random(config["seed"])
    fagsystemer = sorted(roles_by_fagsystem)
    per_resolution: list[float] = []
    per_decision: list[float] = []
    # The first decision in a domain makes pycasbin build that domain's role graph
    # (quadratic in its links): measured on its own, then the budget runs.
    user, cvr = users[0]
    first = time.perf_counter()
    enforcer.enforce(f"user:{user}", cvr, roles_by_fagsystem[fagsystemer[0]][0])
    first_answer = time.perf_counter()
    after_first = rss()
    budget_end = time.perf_counter() + config["budget"]
    while time.perf_counter() < budget_end:
        user, cvr = rng.choice(users)
        fagsystem = rng.choice(fagsystemer)
        t = time.perf_counter()
        for role in roles_by_fagsystem[fagsystem]:
            d = time.perf_counter()
            enforcer.enforce(f"user:{user}", cvr, role)
            per_decision.append(time.perf_counter() - d)
        per_resolution.append(time.perf_counter() - t)
    return {
        "municipalities": len(cvrs),
        "p_rules": len(p_rules),
        "g_rules": len(g_rules),
        "fetch_seconds": round(fetched - started, 2),
        "load_seconds": round(loaded - fetched, 2),
        "first_decision_seconds": round(first_answer - first, 2),
        "first_answer_seconds": round(first_answer - started, 2),
        "rss_before_mib": before["rss_mib"],
        "rss_after_load_mib": max(after_load["rss_mib"], after_first["rss_mib"]),
        "resolution": percentiles(per_resolution),
        "decision": percentiles(per_decision),
        "roles_per_resolution": round(
            statistics.fmean(len(v) for v in roles_by_fagsystem.values()), 1
        ),
    }


def _spawn(role: str, config: dict[str, Any]) -> subprocess.Popen[str]:
    handle, path = tempfile.mkstemp(prefix="authz-bench-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(config, out)
    return subprocess.Popen(
        [sys.executable, "-m", "bench.authz_national", "--child", role, "--config", path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )


def run_child(role: str, config: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    spawned = time.time()
    process = _spawn(role, config)
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"child {role} failed ({process.returncode})")
    return spawned, json.loads(output.strip().splitlines()[-1])


# -- propagation --------------------------------------------------------------------------


def measure_propagation(
    url: str, redis_url: str, prefix: str, rounds: int, seed: int
) -> dict[str, Any]:
    import psycopg

    from authz.cache import Change, invalidate
    from store.db import Database
    from store.ephemeral import RedisState

    rng = random.Random(seed)
    with psycopg.connect(_conninfo(url)) as conn:
        users = conn.execute(
            "SELECT id, cvr FROM users ORDER BY random() LIMIT %s", (rounds,)
        ).fetchall()
        roles = conn.execute(
            "SELECT id, fagsystem_id FROM system_roles"
            " WHERE constraint_uris::text = '[]' ORDER BY id"
        ).fetchall()
    config = {"database_url": url, "redis_url": redis_url, "prefix": prefix}
    waiter = _spawn("waiter", config)
    assert waiter.stdin is not None and waiter.stdout is not None
    json.loads(waiter.stdout.readline())
    db = Database(url)
    state = RedisState(redis_url, prefix=prefix)
    delays: list[float] = []
    missed = unchanged = 0
    try:
        for index, (user, cvr) in enumerate(users):
            role, fagsystem = rng.choice(roles)
            jfr = f"http://bench.test/roles/jobrole/propagation-{index}/1"
            with psycopg.connect(_conninfo(url), autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO jobfunktionsroller (id, cvr, name, description, delegated_to) "
                    "VALUES (%s, %s, 'propagation', '', '[]')",
                    (jfr, cvr),
                )
                conn.execute(
                    "INSERT INTO jfr_grants (jfr_id, position, role_id, constraints)"
                    " VALUES (%s, 0, %s, '{}')",
                    (jfr, role),
                )
            waiter.stdin.write(json.dumps({"pair": [user, cvr, fagsystem]}) + "\n")
            waiter.stdin.flush()
            watching = json.loads(waiter.stdout.readline())  # warm
            # The user may hold this role unconstrained already: then the new assignment
            # changes no answer, and no change can be seen (not a missed propagation).
            no_op = role in watching["held"]
            assignment = str(uuid.uuid4())
            with psycopg.connect(_conninfo(url), autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO assignments (id, cvr, jfr_id, subject_type, user_id, inherit,"
                    " constraints, "
                    "excepted_user_ids) VALUES (%s, %s, %s, 'user', %s, false, '{}', '[]')",
                    (assignment, cvr, jfr, user),
                )
            committed = time.time()
            invalidate(state, db, Change(assignments={assignment}))
            answer = json.loads(waiter.stdout.readline())
            if answer["changed_at"] is None:
                if no_op:
                    unchanged += 1
                else:
                    missed += 1
            else:
                delays.append(answer["changed_at"] - committed)
            with psycopg.connect(_conninfo(url), autocommit=True) as conn:
                conn.execute("DELETE FROM jobfunktionsroller WHERE id = %s", (jfr,))
    finally:
        waiter.stdin.write(json.dumps({"stop": True}) + "\n")
        waiter.stdin.flush()
        waiter.wait(timeout=10)
        state.close()
        db.dispose()
    return {**percentiles(delays), "missed": missed, "unchanged_role_already_held": unchanged}


# -- main -----------------------------------------------------------------------------------


def clean_redis(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=10_000))
    for start in range(0, len(keys), 5000):
        client.delete(*keys[start : start + 5000])
    client.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    size = Size.at(args.scale)
    world = stored_world(args.database_url) if args.reuse else None
    expected = {"size": size.__dict__, "seed": args.seed}
    if world is not None and {k: world[k] for k in ("size", "seed")} == expected:
        generation: dict[str, Any] = {"reused": True, "counts": world["counts"]}
        print("reusing the generated world in", args.database_url, flush=True)
    else:
        print(f"generating {size} (seed {args.seed}) ...", flush=True)
        generation = generate(args.database_url, size, args.seed)
        print(f"generated in {generation['seconds']} s: {generation['counts']}", flush=True)

    samples = args.samples
    pairs = sample_pairs(args.database_url, samples, args.seed)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.authz_national", *sys.argv[1:]]),
        "size": size.__dict__,
        "generation": generation,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    try:
        config = {
            "database_url": args.database_url,
            "redis_url": args.redis_url,
            "prefix": prefix,
            "local_size": 50_000,
            "first": pairs["random"][0],
            "pairs": {"random": pairs["random"][1:], "holder": pairs["holder"]},
        }
        print(
            f"measuring cold/warm on {samples} random and {len(pairs['holder'])} holder pairs ...",
            flush=True,
        )
        spawned, worker = run_child("worker", config)
        worker["startup_seconds"] = round(worker.pop("first_answer_at") - spawned, 3)
        results["ours"] = worker
        print("measuring propagation ...", flush=True)
        results["ours"]["propagation"] = measure_propagation(
            args.database_url, args.redis_url, prefix, args.propagation_rounds, args.seed
        )
    finally:
        clean_redis(args.redis_url, prefix)

    world_meta = stored_world(args.database_url) or {}
    counts = world_meta.get("counts", generation.get("counts", {}))
    cvrs = [
        f"{30000000 + 7919 * i:08d}"
        for i in range(min(args.baseline_municipalities, size.municipalities))
    ]
    print(f"baseline: plain casbin.Enforcer on {len(cvrs)} municipality(ies) ...", flush=True)
    spawned, baseline = run_child(
        "baseline",
        {
            "database_url": args.database_url,
            "cvrs": cvrs,
            "seed": args.seed,
            "budget": args.baseline_budget,
        },
    )
    rules = baseline["p_rules"] + baseline["g_rules"]
    full_rules = (
        counts.get("jfr_grants", 0)
        + counts.get("assignments", 0)
        + counts.get("group_members", 0)
        + counts.get("group_nesting", 0)
        + counts.get("users", 0)
        + counts.get("org_units", 0)
    )
    factor = full_rules / max(1, rules)
    baseline["subset_rules"] = rules
    baseline["full_world_rules"] = full_rules
    baseline["extrapolated_full_load_seconds"] = round(
        (baseline["fetch_seconds"] + baseline["load_seconds"]) * factor, 1
    )
    # the first answer needs the policy loaded and one municipality's role graph built;
    # every other municipality builds its own on its first request
    baseline["extrapolated_full_first_answer_seconds"] = round(
        baseline["extrapolated_full_load_seconds"] + baseline["first_decision_seconds"], 1
    )
    baseline["extrapolated_all_municipalities_ready_seconds"] = round(
        baseline["extrapolated_full_load_seconds"]
        + baseline["first_decision_seconds"] * size.municipalities
    )
    baseline["extrapolated_full_rss_mib"] = round(
        baseline["rss_before_mib"]
        + (baseline["rss_after_load_mib"] - baseline["rss_before_mib"]) * factor
    )
    baseline["note"] = (
        f"loaded {len(cvrs)} of {size.municipalities} municipalities "
        f"({rules:,} of {full_rules:,} rules); "
        "load time and memory for the full world are extrapolated linearly; the first decision "
        f"in a municipality took {baseline['first_decision_seconds']} s (pycasbin builds that "
        "domain's role graph, quadratic in its links), and every municipality pays it once; "
        "decision latency is measured on the subset (pycasbin evaluates the matcher against "
        "every p rule, so it grows with the number of JFR grants loaded)"
    )
    results["baseline"] = baseline
    return results


def pq(block: dict[str, Any]) -> str:
    return f"{block.get('p50_ms')}/{block.get('p99_ms')}"


def table(results: dict[str, Any]) -> str:
    ours = results["ours"]
    base = results["baseline"]
    gen = results["generation"]
    lines = [
        f"world: {results['size']}",
        f"generation: {'reused' if gen.get('reused') else str(gen.get('seconds')) + ' s'}; "
        f"rows: {gen['counts']}",
        "",
        f"{'metric':44} {'ours':>16} {'plain casbin.Enforcer':>24}",
        "-" * 86,
        f"{'start-up to first answer (s)':44} {ours['startup_seconds']:>16} "
        f"{str(base['first_answer_seconds']) + ' (subset)':>24}",
        f"{'  full world, extrapolated (s)':44} {ours['startup_seconds']:>16} "
        f"{base['extrapolated_full_first_answer_seconds']:>24}",
        f"{'  until every municipality answers (s)':44} {ours['startup_seconds']:>16} "
        f"{base['extrapolated_all_municipalities_ready_seconds']:>24}",
        f"{'resident memory per process (MiB)':44} {ours['memory']['rss_mib']:>16} "
        f"{str(base['rss_after_load_mib']) + ' (subset)':>24}",
        f"{'  full world, extrapolated (MiB)':44} {ours['memory']['rss_mib']:>16} "
        f"{base['extrapolated_full_rss_mib']:>24}",
    ]
    for name in ("random", "holder"):
        block = ours[name]
        lines += [
            f"{'resolution, ' + name + ' pairs: cold p50/p99 (ms)':44} "
            f"{pq(block['cold']):>16} "
            f"{pq(base['resolution']):>24}",
            f"{'  warm (in-process) p50/p99 (ms)':44} {pq(block['warm']):>16}",
            f"{'  shared (Redis, new process) p50/p99 (ms)':44} {pq(block['shared']):>16}",
            f"{'  answers with groups / mean groups':44} "
            f"{str(block['non_empty']) + ' / ' + str(block['mean_groups']):>16}",
        ]
    prop = ours["propagation"]
    lines += [
        f"{'propagation p50/p99 (ms), missed':44} {pq(prop) + ', ' + str(prop['missed']):>16}"
        f"  (no change to see, role already held: {prop.get('unchanged_role_already_held', 0)})",
        f"{'baseline single decision p50/p99 (ms)':44} {'':>16} {pq(base['decision']):>24}",
        "",
        "baseline: " + base["note"],
        f"baseline resolutions measured: {base['resolution'].get('n', 0)} "
        f"({base['roles_per_resolution']} enforce() calls each: one per role of the fagsystem)",
    ]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20260326)
    parser.add_argument(
        "--database-url", default=os.environ.get("STS_BENCH_DATABASE_URL", DEFAULT_PG)
    )
    parser.add_argument("--redis-url", default=os.environ.get("STS_BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--propagation-rounds", type=int, default=20)
    parser.add_argument("--baseline-municipalities", type=int, default=1)
    parser.add_argument(
        "--baseline-budget", type=float, default=60.0, help="seconds of baseline decisions"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep a world generated with the same size/seed"
    )
    parser.add_argument(
        "--drop", action="store_true", help="drop the benchmark database afterwards"
    )
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["worker", "waiter", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    args = parse(argv)
    if args.child:
        config_path = Path(args.config)
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config_path.unlink()
        if args.child == "worker":
            print(json.dumps(child_worker(config)))
        elif args.child == "waiter":
            child_waiter(config)
        else:
            print(json.dumps(child_baseline(config)))
        return None
    results = run(args)
    print()
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.json}")
    if args.drop:
        drop_database(args.database_url)
    return results


if __name__ == "__main__":
    main()
