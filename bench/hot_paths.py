"""Both hot paths and their peers in one run, with CPU milliseconds per request.

    .venv/bin/python -m bench.hot_paths [--duration 20] [--wait-quiet 60]

Runs, one after the other on this machine, 2 server workers on every side:

1. ``bench.saml_http``: SAML SSO round trips (signed HTTP-Redirect AuthnRequest with a
   live SSO session -> signed response) on ``stsctl serve``, and the same server signing
   through pysaml2's default ``xmlsec1`` subprocess (the peer);
2. ``bench.oidc_http``: ``client_credentials`` tokens from ``stsctl serve`` and from the
   Node.js ``oidc-provider`` (the peer), rounds alternating, then the authorization-code
   round trip with an existing session (ours).

Each part writes its own JSON (``bench/results/saml_http.json``, ``oidc_http.json``);
this prints one table from both and writes ``bench/results/hot_paths.json``. The CPU
columns are per request: the server's processes, PostgreSQL, Redis, and the whole
machine (which includes wrk and anything else running; the parts record other load).
The SAML part runs under ``flock /tmp/bench.lock``; ``oidc_http`` takes the lock itself
around each measurement. Do not wrap this command in ``flock`` on the same file: the
parts would wait for the outer lock forever.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


LOCK = "/tmp/bench.lock"  # noqa: S108 - shared with the other benchmarks on this machine


def run_part(module: str, arguments: list[str], *, locked: bool) -> None:
    print(f"== python -m {module} {' '.join(arguments)}", flush=True)
    command = [sys.executable, "-m", module, *arguments]
    subprocess.run(["flock", LOCK, *command] if locked else command, cwd=ROOT, check=True)


def cpu_text(cpu: dict[str, float], server: str) -> str:
    return f"{cpu[server]}, {cpu['postgres']}, {cpu['redis']}, {cpu['machine']}"


def rows(saml: dict[str, Any], oidc: dict[str, Any]) -> list[tuple[str, ...]]:
    ours_saml = saml["ours_in_process_xmlsec"]
    found: list[tuple[str, ...]] = [
        ("SAML SSO round trip", "ours", str(ours_saml["round_trips_per_s"]),
         str(ours_saml["p50_ms"]), str(ours_saml["p99_ms"]),
         cpu_text(ours_saml["cpu_ms_per_round_trip"], "idp_workers")),
    ]  # fmt: skip
    peer_saml = saml.get("pysaml2_default_xmlsec1_subprocess")
    if peer_saml:
        found.append(
            ("", "pysaml2 default signing", str(peer_saml["round_trips_per_s"]),
             str(peer_saml["p50_ms"]), str(peer_saml["p99_ms"]),
             cpu_text(peer_saml["cpu_ms_per_round_trip"], "idp_workers"))
        )  # fmt: skip
    for side, label in (("ours", "client_credentials token"), ("oidc-provider", "")):
        row = oidc["client_credentials"][side]
        found.append(
            (label, side, str(row["per_second"]), str(row["p50_ms"]), str(row["p99_ms"]),
             cpu_text(row["cpu_ms_per_token"], "server"))
        )  # fmt: skip
    code = oidc["code_flow_existing_session"]
    found.append(
        ("code flow, existing session", "ours (sequential)", str(code["per_second"]),
         str(code["p50_ms"]), str(code["p99_ms"]),
         cpu_text(code["cpu_ms_per_round_trip"], "server"))
    )  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="client_credentials rounds")
    parser.add_argument("--code-flows", type=int, default=300)
    parser.add_argument("--wait-quiet", type=float, default=60.0)
    parser.add_argument("--label", default="", help="recorded with the results")
    args = parser.parse_args()
    run_part(
        "bench.saml_http",
        ["--duration", str(args.duration), "--wait-quiet", str(args.wait_quiet)],
        locked=True,
    )
    run_part(
        "bench.oidc_http",
        ["--duration", str(args.duration), "--rounds", str(args.rounds),
         "--code-flows", str(args.code_flows)],
        locked=False,
    )  # fmt: skip
    saml = json.loads((RESULTS / "saml_http.json").read_text())
    oidc = json.loads((RESULTS / "oidc_http.json").read_text())
    table = rows(saml, oidc)
    ratio = oidc["throughput_ratio"]
    ours_cc, peer_cc = (
        oidc["client_credentials"]["ours"],
        oidc["client_credentials"]["oidc-provider"],
    )
    ours_saml = saml["ours_in_process_xmlsec"]
    targets = {
        "saml_600_per_s_p99_50_ms": ours_saml["round_trips_per_s"] >= 600
        and ours_saml["p99_ms"] <= 50,
        "client_credentials_0.6x_peer_p99_2x_peer": ratio >= 0.6
        and ours_cc["p99_ms"] <= 2 * peer_cc["p99_ms"],
        "code_flow_p50_5_ms": oidc["code_flow_existing_session"]["p50_ms"] <= 5,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hot_paths.json").write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "label": args.label,
                "loadavg_at_end": os.getloadavg(),
                "rows": table,
                "targets_met": targets,
            },
            indent=2,
        )
        + "\n"
    )
    print()
    head = ("hot path", "side", "req/s", "p50 ms", "p99 ms",
            "CPU ms/request: server, PostgreSQL, Redis, machine")  # fmt: skip
    widths = (28, 24, 8, 8, 8)
    for row in (head, *table):
        print("".join(f"{cell:<{w}} " for cell, w in zip(row, widths, strict=False)) + row[5])
    print(f"client_credentials ours / oidc-provider: {ratio:.2f}x")
    for name, met in targets.items():
        print(f"target {name}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
