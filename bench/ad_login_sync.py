"""Benchmark: AD login and sync against a throw-away Samba AD DC on this machine.

    .venv/bin/python bench/ad_login_sync.py [--logins 500] [--database-url URL]

Prints login p50/p99 (password check + attribute and group look-up, pooled connections)
beside the DC's own bind time on a pooled connection, a full sync of 5,000 users and an
incremental sync after 100 changes; writes bench/results/ad.json. Needs root and Samba
(apt-get install samba samba-ad-dc ldb-tools), like the integration tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ldap3 import MODIFY_REPLACE  # noqa: E402

from connectors.ldap import LdapDirectory, open_directory  # noqa: E402
from connectors.ldap.sync import DirectorySync, LogProgress  # noqa: E402
from settings import load_settings  # noqa: E402
from store import migrate  # noqa: E402
from store.db import Database  # noqa: E402
from tests.integration.samba import (  # noqa: E402
    BASE_DN,
    CVR,
    build_seed,
    bulk_dn,
    provision_seeded,
    samba_missing,
)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(function, count: int) -> list[float]:
    samples = []
    for index in range(count):
        start = time.perf_counter()
        function(index)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "ad.json")
    args = parser.parse_args()
    reason = samba_missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sts-ad-bench-"))
    seed = build_seed(total_users=5000, large_group=2500, bench_users=20)
    started = time.perf_counter()
    dc = provision_seeded(work / "dc", seed)
    provision_seconds = time.perf_counter() - started
    try:
        settings = load_settings(
            {
                "STS_DATA_DIR": str(work / "var"),
                "STS_LDAP_URLS": dc.url("ldaps"),
                "STS_LDAP_BASE_DN": BASE_DN,
                "STS_LDAP_BIND_DN": seed.service_dn,
                "STS_LDAP_BIND_PASSWORD": seed.service_password,
                "STS_LDAP_CA_FILE": str(dc.ca_file),
                "STS_LDAP_CVR": CVR,
                "STS_LDAP_KLE_ATTRIBUTE": "departmentNumber",
            }
        )
        directory: LdapDirectory = open_directory(settings)
        names = [u.sam for key, u in seed.users.items() if key.startswith("bench")]
        dns = [seed.users[key].dn for key in seed.users if key.startswith("bench")]
        for name in names:  # warm the pools and the primary-group cache
            directory.authenticate(name, seed.password)
        login = timed(
            lambda i: directory.authenticate(names[i % len(names)], seed.password), args.logins
        )
        bind = timed(
            lambda i: directory.verify_password(dns[i % len(dns)], seed.password), args.logins
        )
        url = args.database_url or f"sqlite:///{work / 'sts.db'}"
        migrate.upgrade(url)
        database = Database(url)
        sync = DirectorySync(directory, database, progress=LogProgress(every=10**9))
        full = sync.run(full=True)
        admin = dc.admin()
        for index in range(100):
            admin.modify(
                bulk_dn(3000 + index), {"displayName": [(MODIFY_REPLACE, [f"Ændret {index}"])]}
            )
        incremental = sync.run()
        database.dispose()
        directory.close()
    finally:
        dc.stop()
    result = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "dc": "Samba "
        + (dc.root / "samba.out").read_text().split("samba version ")[-1].split(" ")[0]
        if (dc.root / "samba.out").exists()
        else "Samba",
        "provision_and_seed_seconds": round(provision_seconds, 2),
        "logins": args.logins,
        "login_ms": {
            "p50": round(percentile(login, 50), 2),
            "p99": round(percentile(login, 99), 2),
        },
        "dc_bind_ms": {
            "p50": round(percentile(bind, 50), 2),
            "p99": round(percentile(bind, 99), 2),
        },
        "lookup_overhead_ms_p50": round(percentile(login, 50) - percentile(bind, 50), 2),
        "full_sync": {
            "users": full.created,
            "seconds": round(full.seconds, 2),
            "memberships": full.memberships,
        },
        "incremental_sync_after_100_changes": {
            "updated": incremental.updated,
            "seconds": round(incremental.seconds, 2),
        },
        "database": url.split(":", 1)[0],
        "mean_login_ms": round(statistics.mean(login), 2),
    }
    rows = [
        ("login p50 / p99 (ms)", f"{result['login_ms']['p50']} / {result['login_ms']['p99']}", ""),
        (
            "DC bind p50 / p99 (ms)",
            f"{result['dc_bind_ms']['p50']} / {result['dc_bind_ms']['p99']}",
            "",
        ),
        ("lookup on top of bind, p50 (ms)", str(result["lookup_overhead_ms_p50"]), "≤ 10"),
        (f"full sync, {full.created} users (s)", str(result["full_sync"]["seconds"]), "≤ 60"),
        (
            "incremental, 100 changes (s)",
            str(result["incremental_sync_after_100_changes"]["seconds"]),
            "≤ 2",
        ),
    ]
    print(f"{'measure':36} {'value':>16} {'target':>8}")
    for name, value, target in rows:
        print(f"{name:36} {value:>16} {target:>8}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
