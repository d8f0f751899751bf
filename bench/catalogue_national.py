"""The role catalogue at national scale: import, re-import, 1 % changed, export (issue 17).

    .venv/bin/python -m bench.catalogue_national                # full world + legacy at 2 %
    .venv/bin/python -m bench.catalogue_national --scale 0.01 --legacy-scale 0.005  # quick

The world is ``bench.authz_national``'s seeded generator (COPY), written into its own
source database (``sts_bench_catalogue_src``), made catalogue-valid there (users become
local users; an assignment's postponed values only for its role's postponed types;
repeated assignments of a role to a subject removed), and exported to a JSON file with
our exporter. The target database (``sts_bench_catalogue``) starts with the schema, the
municipalities and the AD groups (groups only come from AD, so they are there before a
catalogue can name them). Then, each in a fresh process whose peak RSS is read with
``wait4``: full import, re-import of the same file, import of the file with 1 % of the
assignments changed (``valid_to``), export. Rows written are PostgreSQL's tuple counters
(``pg_stat_user_tables``) of the catalogue's tables; the audit event is counted apart.

"Today's importer" is the catalogue package as it was at commit ``LEGACY_COMMIT`` (before
issue 17), read from git history at run time (:func:`legacy_catalogue`; nothing of it is
kept in the tree) for this comparison only. It runs on a smaller world of the same
generator (``--legacy-scale``, 2 % by default) beside ours on that same world, in the
same run. SQLite: ours at ``--sqlite-scale`` (a tenth), today's at the legacy scale.
Results go to ``bench/results/catalogue_national.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.authz_national import Size, _conninfo, drop_database, generate, recreate_database

RESULTS = Path(__file__).parent / "results" / "catalogue_national.json"
PG = "postgresql+psycopg://root@127.0.0.1:5432/"
CATALOGUE_TABLES = (
    "municipalities",
    "org_units",
    "users",
    "fagsystemer",
    "constraint_types",
    "system_roles",
    "jobfunktionsroller",
    "jfr_grants",
    "assignments",
    "serviceaftaler",
    "admin_role_assignments",
)


# -- the world ------------------------------------------------------------------------------


def make_valid(url: str) -> dict[str, int]:
    """Turn the authorization benchmark's world into a valid catalogue, in SQL."""
    import psycopg

    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("UPDATE users SET source = 'local'")
        fixed = conn.execute(
            """
            UPDATE assignments a SET constraints = COALESCE((
                SELECT json_object_agg(e.key, e.value) FROM json_each(a.constraints) e
                WHERE e.key IN (
                    SELECT p.key FROM jfr_grants g, json_each(g.constraints) p
                    WHERE g.jfr_id = a.jfr_id AND p.value->>'postponed' = 'true')
            ), '{}'::json)
            WHERE a.constraints::text <> '{}'
            """
        ).rowcount
        repeated = conn.execute(
            """
            DELETE FROM assignments WHERE id IN (
                SELECT id FROM (
                    SELECT id, row_number() OVER (PARTITION BY subject_type,
                        COALESCE(user_id, group_id, org_unit_uuid), cvr, jfr_id,
                        COALESCE(case_number, '') ORDER BY id) AS n
                    FROM assignments) d
                WHERE d.n > 1)
            """
        ).rowcount
        conn.commit()
    return {"postponed_fixed": fixed, "repeated_removed": repeated}


def prepare_target(source: str, target: str) -> None:
    """Schema, municipalities and AD groups (copied from the source) in a fresh database."""
    import psycopg

    from store import migrate

    if target.startswith("sqlite"):
        path = Path(target.split("///", 1)[1])
        path.unlink(missing_ok=True)
        migrate.upgrade(target)
        import sqlite3

        with psycopg.connect(_conninfo(source)) as src, sqlite3.connect(path) as dst:
            for table, columns in (
                ("municipalities", "cvr, name, domain"),
                ("groups", "id, cvr, dn, name, object_guid"),
            ):
                rows = src.execute(f"SELECT {columns} FROM {table}").fetchall()
                marks = ", ".join("?" for _ in columns.split(","))
                dst.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        return
    recreate_database(target)
    migrate.upgrade(target)
    with psycopg.connect(_conninfo(source)) as src, psycopg.connect(_conninfo(target)) as dst:
        for table, columns in (
            ("municipalities", "cvr, name, domain"),
            ("groups", "id, cvr, dn, name, object_guid"),
        ):
            with (
                src.cursor().copy(f"COPY {table} ({columns}) TO STDOUT") as out,
                dst.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as into,
            ):
                for data in out:
                    into.write(data)
        dst.commit()


def change_one_percent(source: Path, target: Path, seed: int) -> int:
    """Copy the exported JSON (one item per line) with 1 % of assignments' valid_to changed."""
    rng = random.Random(seed)
    changed = 0
    section = ""
    with source.open(encoding="utf-8") as inp, target.open("w", encoding="utf-8") as out:
        for line in inp:
            stripped = line.strip()
            if stripped.startswith('"') and stripped.endswith("["):
                section = stripped.split('"')[1]
            if section == "assignments" and stripped.startswith("{") and rng.random() < 0.01:
                comma = stripped.endswith(",")
                item = json.loads(stripped.rstrip(","))
                item["valid_to"] = "2099-12-31" if item.get("valid_to") != "2099-12-31" else None
                if item["valid_to"] is None:
                    del item["valid_to"]
                line = "    " + json.dumps(item, ensure_ascii=False) + ("," if comma else "") + "\n"
                changed += 1
            out.write(line)
    return changed


def rows_written(url: str) -> dict[str, int]:
    """Tuples inserted, updated and deleted so far in the catalogue tables and the audit log."""
    import psycopg

    if not url.startswith("postgresql"):
        return {}
    with psycopg.connect(_conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
            " WHERE schemaname = 'public'"
        ).fetchall()
    return {name: int(count) for name, count in rows}


def written_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    catalogue = sum(after.get(t, 0) - before.get(t, 0) for t in CATALOGUE_TABLES)
    audit = after.get("audit_events", 0) - before.get("audit_events", 0)
    return {"catalogue_rows": catalogue, "audit_rows": audit}


# -- one measured step in a fresh process ---------------------------------------------------


LEGACY_COMMIT = "348c1b4"  # the last commit with the row-by-row importer
_LEGACY_PACKAGE = "catalogue_legacy"


def legacy_catalogue() -> Any:
    """``store/catalogue`` as of :data:`LEGACY_COMMIT`, imported as ``catalogue_legacy``.

    The files come from ``git show`` into a temporary directory, with their imports of
    ``store.catalogue`` pointed at the copy; needs this repository's git history.
    """
    import importlib

    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
        ).stdout

    target = Path(tempfile.mkdtemp(prefix="catalogue-legacy-")) / _LEGACY_PACKAGE
    target.mkdir()
    for name in git("ls-tree", "--name-only", f"{LEGACY_COMMIT}:store/catalogue").split():
        if name.endswith(".py"):
            source = git("show", f"{LEGACY_COMMIT}:store/catalogue/{name}")
            text = source.replace("store.catalogue", _LEGACY_PACKAGE)
            (target / name).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(target.parent))
    return importlib.import_module(_LEGACY_PACKAGE)


def child(step: str, url: str, path: str, legacy: bool) -> dict[str, Any]:
    import importlib

    from store.db import Database

    catalogue: Any = legacy_catalogue() if legacy else importlib.import_module("store.catalogue")

    database = Database(url)
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if step == "import":
        report = catalogue.import_catalogue(database, catalogue.load_file(path))
        result["report"] = report.as_dict()
    else:
        with database.session() as session, open(path, "w", encoding="utf-8") as out:
            if legacy:
                json.dump(catalogue.export_catalogue(session), out, ensure_ascii=False)
            else:
                catalogue.write_catalogue(session, out, None, "json")
    result["seconds"] = round(time.perf_counter() - started, 2)
    database.dispose()
    return result


def measure(step: str, url: str, path: Path, *, legacy: bool = False) -> dict[str, Any]:
    before = rows_written(url)
    command = [sys.executable, "-m", "bench.catalogue_national", "--child", step, url, str(path)]
    if legacy:
        command.append("--legacy")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{step} failed ({process.returncode})")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    if before:
        time.sleep(1.0)  # PostgreSQL publishes a finished backend's counters
        result.update(written_between(before, rows_written(url)))
    return result


def scenario(
    source: str, target: str, workdir: Path, name: str, *, legacy: bool, seed: int
) -> dict[str, Any]:
    """Export from the source, then import, re-import, 1 % changed and export on the target."""
    file = workdir / f"{name}.json"
    results: dict[str, Any] = {}
    print(f"[{name}] export of the source world ...", flush=True)
    results["export_source"] = measure("export", source, file)  # the file: always ours
    results["file_mib"] = round(file.stat().st_size / 2**20, 1)
    changed_file = workdir / f"{name}-changed.json"
    results["assignments_changed"] = change_one_percent(file, changed_file, seed)
    prepare_target(source, target)
    for step, path in (("import", file), ("reimport", file), ("changed", changed_file)):
        print(f"[{name}] {step} ...", flush=True)
        results[step] = measure("import", target, path, legacy=legacy)
        print(f"[{name}] {step}: {_line(results[step])}", flush=True)
    if target.startswith("postgresql"):
        print(f"[{name}] export ...", flush=True)
        results["export"] = measure("export", target, workdir / f"{name}-out.json", legacy=legacy)
        print(f"[{name}] export: {_line(results['export'])}", flush=True)
    return results


def _line(result: dict[str, Any]) -> str:
    report = result.get("report", {})
    return (
        f"{result['seconds']} s, peak RSS {result['peak_rss_mib']} MiB, "
        f"rows written {result.get('catalogue_rows', '-')} (+{result.get('audit_rows', 0)} audit)"
        + (f", report {json.dumps(report)}" if report else "")
    )


def world(name: str, scale: float, seed: int, reuse: bool) -> tuple[str, dict[str, Any]]:
    url = f"{PG}{name}"
    size = Size.at(scale)
    from bench.authz_national import stored_world

    stored = stored_world(url) if reuse else None
    if stored and stored.get("size") == size.__dict__ and stored.get("seed") == seed:
        print(f"reusing {name}", flush=True)
        return url, {"reused": True, **stored}
    print(f"generating {name}: {size} ...", flush=True)
    generated = generate(url, size, seed)
    generated["made_valid"] = make_valid(url)
    print(f"generated {name} in {generated['seconds']} s: {generated['made_valid']}", flush=True)
    return url, generated


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.catalogue_national", *sys.argv[1:]]),
        "load_before": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    with tempfile.TemporaryDirectory(prefix="sts-catalogue-bench-") as tmp:
        workdir = Path(tmp)
        full_src, results["world"] = world(
            "sts_bench_catalogue_src", args.scale, args.seed, args.reuse
        )
        small_src, results["legacy_world"] = world(
            "sts_bench_catalogue_small_src", args.legacy_scale, args.seed, args.reuse
        )
        tenth_src, results["sqlite_world"] = world(
            "sts_bench_catalogue_tenth_src", args.sqlite_scale, args.seed, args.reuse
        )
        target = f"{PG}sts_bench_catalogue"
        results["ours_full_pg"] = scenario(
            full_src, target, workdir, "ours-full", legacy=False, seed=args.seed
        )
        results["ours_small_pg"] = scenario(
            small_src, target, workdir, "ours-small", legacy=False, seed=args.seed
        )
        results["legacy_small_pg"] = scenario(
            small_src, target, workdir, "legacy-small", legacy=True, seed=args.seed
        )
        sqlite = f"sqlite:///{workdir}/bench.db"
        results["ours_tenth_sqlite"] = scenario(
            tenth_src, sqlite, workdir, "ours-tenth-sqlite", legacy=False, seed=args.seed
        )
        results["legacy_small_sqlite"] = scenario(
            small_src, sqlite, workdir, "legacy-small-sqlite", legacy=True, seed=args.seed
        )
        drop_database(target)
    results["load_after"] = os.getloadavg()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return results


def table(results: dict[str, Any]) -> str:
    def cell(block: dict[str, Any], step: str) -> str:
        found = block.get(step)
        if not found:
            return "–"
        written = found.get("catalogue_rows")
        rows = "" if written is None else f", {written} rows"
        return f"{found['seconds']} s, {found['peak_rss_mib']:.0f} MiB{rows}"

    lines = [
        "| run | import | re-import | 1 % changed | export |",
        "|---|---|---|---|---|",
    ]
    names = {
        "ours_full_pg": "ours, full scale, PostgreSQL",
        "ours_small_pg": "ours, legacy scale, PostgreSQL",
        "legacy_small_pg": "today's, legacy scale, PostgreSQL",
        "ours_tenth_sqlite": "ours, a tenth, SQLite",
        "legacy_small_sqlite": "today's, legacy scale, SQLite",
    }
    for key, label in names.items():
        block = results.get(key)
        if block:
            steps = [cell(block, step) for step in ("import", "reimport", "changed", "export")]
            lines.append(f"| {label} | " + " | ".join(steps) + " |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--legacy-scale", type=float, default=0.02)
    parser.add_argument("--sqlite-scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--reuse", action="store_true", help="keep generated source worlds")
    parser.add_argument("--child", nargs=3, metavar=("STEP", "URL", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--legacy", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.child:
        step, url, path = args.child
        result = child(step, url, path, args.legacy)
        result["child_maxrss_mib"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )
        print(json.dumps(result))
        return
    results = run(args)
    print(table(results))
    print(f"load average before {results['load_before']}, after {results['load_after']}")


if __name__ == "__main__":
    main()
