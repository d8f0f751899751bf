"""Benchmark (in-process): OAuth token issuance, the code-flow round trip, introspection.

    .venv/bin/python -m bench.oidc_tokens [--count 1000]

Drives the real application through Flask's test client in one thread, on SQLite and
the in-process state, with the seeded world of the OIDC tests:

* ``client_credentials`` with the service-agreement check, ``priv`` and RS256 (and the
  audit event each token writes);
* the authorization-code round trip with an existing SSO session (authorize → code →
  token with PKCE and ID token);
* introspection of an access token.

It measures the provider's own cost per request, without HTTP or a load generator. The
issue's side-by-side run (``stsctl serve`` with 2 workers against ``oidc-provider`` under
wrk) is not automated here yet. Writes bench/results/oidc_tokens.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.oidc_kit import (  # noqa: E402
    CVR,
    ORG,
    authorize,
    basic,
    build_template,
    login_result,
    make_world,
    redeem,
)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def measure(name: str, action: Callable[[], None], count: int) -> dict[str, float | str]:
    for _ in range(min(50, count)):
        action()
    samples = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        action()
        samples.append((time.perf_counter() - begin) * 1000)
    elapsed = time.perf_counter() - started
    return {
        "name": name,
        "count": count,
        "per_second": round(count / elapsed, 1),
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(percentile(samples, 99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="oidc-bench-"))
    build_template(base / "template")
    world = make_world(base / "template", base / "var")
    system_headers = basic("sapa-system")
    system_form = {"grant_type": "client_credentials", "resource": ORG, "cvr": CVR}

    def system_token() -> None:
        response = world.client.post("/oidc/token", data=system_form, headers=system_headers)
        assert response.status_code == 200, response.get_json()

    world.login.session = login_result()

    def code_round_trip() -> None:
        response = redeem(world, authorize(world))
        assert response.status_code == 200, response.get_json()

    access = world.client.post("/oidc/token", data=system_form, headers=system_headers)
    token = access.get_json()["access_token"]

    def introspect() -> None:
        response = world.client.post(
            "/oidc/introspect", data={"token": token}, headers=system_headers
        )
        assert response.get_json()["active"] is True

    results = [
        measure("client_credentials (agreement, priv, RS256, audit)", system_token, args.count),
        measure("authorization code round trip, existing session", code_round_trip, args.count),
        measure("introspection", introspect, args.count),
    ]
    report = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "mode": "in-process, one thread, SQLite, in-process state",
        "results": results,
    }
    out = ROOT / "bench" / "results" / "oidc_tokens.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{'benchmark':55} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for row in results:
        print(f"{row['name']!s:55} {row['per_second']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
