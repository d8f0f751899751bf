"""Before/after for a change on the token endpoint: the same load on two source trees.

    .venv/bin/python -m bench.oidc_ab --trees /tmp/before,/work/main [--duration 10]

Starts ``stsctl serve --workers 2`` from each tree (``PYTHONPATH=<tree>``, each with its
own database ``sts_bench_ab<n>`` and Redis db), then runs ``bench.oidc_http``'s wrk load
(``client_credentials``, 32 connections) on them in alternating rounds, so both see the
same machine. Prints tokens/s, latency and CPU ms per token for every round. A tree is a
copy of this repository (for example ``git archive HEAD | tar -x -C /tmp/before``, with
the files under test put back). Like ``oidc_http`` it takes ``/tmp/bench.lock`` around
each measurement itself: do not wrap it in ``flock``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import oidc_http as o


def start(tree: str, index: int, args: argparse.Namespace) -> dict[str, Any]:
    side = argparse.Namespace(
        our_port=o.free_port(),
        threads=2,
        connections=args.connections,
        duration=args.duration,
        pg=args.pg,
        database=f"sts_bench_ab{index}",
    )
    work = Path(tempfile.mkdtemp(prefix="oidc-ab-"))
    secret = secrets.token_urlsafe(24)
    o.create_database(f"{args.pg}/postgres", side.database)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STS_")},
        "PYTHONPATH": tree,
        "STS_DATA_DIR": str(work / "var"),
        "STS_DATABASE_URL": f"{args.pg}/{side.database}",
        "STS_REDIS_URL": f"redis://127.0.0.1:6379/{10 + index}",
        "STS_BASE_URL": f"http://127.0.0.1:{side.our_port}",
        "STS_LOG_LEVEL": "WARNING",
        "BENCH_SYSTEM_SECRET": secret,
        "BENCH_WEB_SECRET": secrets.token_urlsafe(24),
        "BENCH_PASSWORD_BENCH": secrets.token_urlsafe(18),
    }
    script = work / "post.lua"
    script.write_text(o.WRK_SCRIPT, encoding="utf-8")
    url = f"http://127.0.0.1:{side.our_port}/oidc/token"
    auth = o.basic(o.SYSTEM_CLIENT, secret)
    body = urlencode({"grant_type": "client_credentials", "resource": o.SERVICE, "cvr": o.CVR})
    process = o.start_ours(side, work, env)
    return {
        "process": process,
        "args": side,
        "script": script,
        "url": url,
        "body": body,
        "auth": auth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", required=True, help="comma-separated source trees")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    args = parser.parse_args()
    servers: dict[str, dict[str, Any]] = {}
    try:
        for index, tree in enumerate(args.trees.split(",")):
            side = servers[tree] = start(tree, index, args)
            o.check_token(side["url"], side["body"], side["auth"], priv=True)
            warm = argparse.Namespace(**{**vars(side["args"]), "duration": 3})
            o.wrk(warm, side["script"], side["url"], side["body"], side["auth"])
        own = {side["process"].pid for side in servers.values()}
        for round_number in range(args.rounds):
            order = list(servers) if round_number % 2 == 0 else list(servers)[::-1]
            for tree in order:
                side = servers[tree]
                with o.others_watch(own) as machine, o.cpu_watch(side["process"].pid) as cpu:
                    result = o.wrk(
                        side["args"], side["script"], side["url"], side["body"], side["auth"]
                    )
                per_token = o.cpu_ms_per_request(cpu, result["requests"])
                print(
                    f"{tree:24} {result['per_second']:>8} tokens/s  p50 {result['p50_ms']} ms"
                    f"  p99 {result['p99_ms']} ms  non-2xx {result['errors']['non2xx']}"
                    f"  CPU ms/token {per_token}  (others used {machine['others_cpu_s']} CPU-s)",
                    flush=True,
                )
    finally:
        for side in servers.values():
            o.stop(side["process"])
        for index in range(len(servers)):
            subprocess.run(
                [
                    "psql",
                    f"{args.pg}/postgres",
                    "-qc",
                    f'DROP DATABASE IF EXISTS "sts_bench_ab{index}" WITH (FORCE)',
                ],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
