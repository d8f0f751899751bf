"""Benchmark (HTTP): system tokens from ``stsctl serve`` beside ``oidc-provider``, under wrk.

    .venv/bin/python -m bench.oidc_http [--duration 20] [--connections 32] [--rounds 2]

The issue's side-by-side run, both servers on this machine with 2 worker processes each,
load from ``wrk`` on the same machine, in one run:

* ours: ``stsctl serve --workers 2`` on PostgreSQL (its own database ``sts_bench_oidc``,
  dropped and created) and Redis (db 13; nothing is flushed), after ``stsctl init`` and
  ``stsctl import`` of a small catalogue: an anvendersystem client (``client_secret_basic``,
  secret from the environment, argon2-hashed) and a service with an approved
  serviceaftale. Each request is ``client_credentials`` with ``resource`` + ``cvr``: the
  agreement check, ``priv``, RS256 and an audit event (hash chain) per token;
* the peer: the certified Node.js provider ``oidc-provider`` (``bench/oidc_provider``,
  installed with ``npm install`` on first use) with 2 workers under node's ``cluster``,
  issuing RS256 JWT access tokens (RFC 9068) for ``client_credentials`` with a resource
  indicator; its key is generated at start.

Both get the same wrk settings (threads, connections, duration, a Lua script POSTing the
token request with HTTP Basic); rounds alternate ours/peer. Then, for ours only: the
authorization-code round trip with an existing SSO session (one client, sequential:
authorize -> code -> token with PKCE, p50/p99) and introspection throughput (wrk).

Every measured run holds ``/tmp/bench.lock`` (``flock``; other benchmarks on this machine
take it too), and the CPU time used by other processes during each run is recorded
(``/proc``), so a disturbed run is visible. Needs ``wrk``, ``node`` (20+), ``npm``,
PostgreSQL and Redis. Writes bench/results/oidc_http.json.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PEER_DIR = ROOT / "bench" / "oidc_provider"
RESULTS = ROOT / "bench" / "results" / "oidc_http.json"
FORM = "application/x-www-form-urlencoded"
LOCK = "/tmp/bench.lock"  # noqa: S108 - shared with the other benchmarks on this machine

CVR = "29189846"
SERVICE = "https://org.bench.test"
SYSTEM_CLIENT = "bench-system"
WEB_CLIENT = "bench-web"
REDIRECT = "https://web.bench.test/cb"
USERNAME = "bench"

CATALOGUE = f"""
version: 1
municipalities:
  - cvr: "{CVR}"
    name: "Bench Kommune"
    domain: "bench.kommune.dk"
    org_units:
      - uuid: "0b0b0b0b-0000-4000-8000-000000000001"
        name: "Bench Kommune"
        parent: null
        kle: ["27.*"]
fagsystemer:
  - id: "WEB"
    name: "Bench web"
    entity_id: "https://web.bench.test"
    kind: "brugervendt"
    personal_data: false
    min_loa: "Low"
    oidc_clients:
      - client_id: "{WEB_CLIENT}"
        redirect_uris: ["{REDIRECT}"]
        token_endpoint_auth_method: "client_secret_basic"
        client_secret_env: "BENCH_WEB_SECRET"
        grant_types: ["authorization_code", "refresh_token"]
    roles:
      - id: "http://web.bench.test/roles/usersystemrole/laes/1"
        name: "Læs"
  - id: "ANV"
    name: "Bench anvendersystem"
    entity_id: "https://anv.bench.test"
    kind: "anvender"
    personal_data: false
    oidc_clients:
      - client_id: "{SYSTEM_CLIENT}"
        token_endpoint_auth_method: "client_secret_basic"
        client_secret_env: "BENCH_SYSTEM_SECRET"
        grant_types: ["client_credentials"]
  - id: "ORG"
    name: "Bench service"
    entity_id: "{SERVICE}"
    kind: "service"
    constraint_types:
      - id: "http://sts.kombit.dk/constraints/KLE/1"
        name: "KLE"
        kind: "kle"
    roles:
      - id: "http://org.bench.test/roles/servicesystemrole/udstil/1"
        name: "Udstil"
        constraints: ["http://sts.kombit.dk/constraints/KLE/1"]
jobfunktionsroller:
  - id: "http://bench.kommune.dk/roles/jobrole/laeser/1"
    cvr: "{CVR}"
    name: "Læser"
    grants:
      - role: "http://web.bench.test/roles/usersystemrole/laes/1"
users:
  - username: "{USERNAME}"
    cvr: "{CVR}"
    uuid: "0b0b0b0b-1111-4000-8000-000000000001"
    name: "Bench Bruger"
    email: "bench@bench.kommune.dk"
    org_unit: "0b0b0b0b-0000-4000-8000-000000000001"
    kle: ["27.*"]
    password_env: "BENCH_PASSWORD_BENCH"
assignments:
  - user: "{USERNAME}"
    cvr: "{CVR}"
    role: "http://bench.kommune.dk/roles/jobrole/laeser/1"
serviceaftaler:
  - id: "sa-anv-org-{CVR}"
    cvr: "{CVR}"
    anvendersystem: "ANV"
    service: "ORG"
    roles: ["http://org.bench.test/roles/servicesystemrole/udstil/1"]
    constraints:
      "http://sts.kombit.dk/constraints/KLE/1": ["27.*", "32.*"]
    status: "approved"
"""

# wrk script: POST a form with HTTP Basic; print the figures as one JSON line at the end.
WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {url} exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- what else uses the machine ---------------------------------------------------------------


def _cpu_ticks() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, utime + stime in ticks, command line) for every process."""
    found: dict[int, tuple[int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), cmd.strip())
    return found


def _descendants(roots: set[int], table: dict[int, tuple[int, int, str]]) -> set[int]:
    mine = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _ticks, _cmd) in table.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return mine


@contextlib.contextmanager
def others_watch(own: set[int]) -> Iterator[dict[str, Any]]:
    """CPU seconds used during the block by processes outside ``own`` (and their children)."""
    report: dict[str, Any] = {}
    before = _cpu_ticks()
    started = time.monotonic()
    yield report
    after = _cpu_ticks()
    elapsed = time.monotonic() - started
    ours = _descendants(own | {os.getpid()}, after)
    hz = os.sysconf("SC_CLK_TCK")
    busy: list[dict[str, Any]] = []
    for pid, (_ppid, ticks, cmd) in after.items():
        if pid in ours:
            continue
        used = (ticks - before.get(pid, (0, 0, ""))[1]) / hz
        if used >= 0.2:
            busy.append({"pid": pid, "cpu_s": round(used, 1), "cmd": cmd[:100]})
    busy.sort(key=lambda row: -row["cpu_s"])
    report["wall_s"] = round(elapsed, 1)
    report["others_cpu_s"] = round(sum(row["cpu_s"] for row in busy), 1)
    report["others"] = busy[:8]
    report["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]


@contextlib.contextmanager
def cpu_watch(server: int) -> Iterator[dict[str, float]]:
    """CPU seconds used during the block by ``server``'s process tree, PostgreSQL, Redis
    and the whole machine (not idle, not iowait)."""

    def machine() -> float:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(values) - values[3] - values[4]) / hz

    hz = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    before, busy = _cpu_ticks(), machine()
    yield used
    after, busy_after = _cpu_ticks(), machine()

    def delta(pids: Iterator[int] | set[int]) -> float:
        return round(sum(after[p][1] - before.get(p, (0, 0, ""))[1] for p in pids) / hz, 2)

    used["server"] = delta(_descendants({server}, after))
    used["postgres"] = delta(p for p, row in after.items() if row[2].startswith("postgres"))
    used["redis"] = delta(p for p, row in after.items() if "redis-server" in row[2])
    used["machine"] = round(busy_after - busy, 2)


def cpu_ms_per_request(cpu: dict[str, float], requests: int) -> dict[str, float]:
    return {name: round(1000 * seconds / max(requests, 1), 2) for name, seconds in cpu.items()}


# -- the servers ------------------------------------------------------------------------------


def create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def start_ours(
    args: argparse.Namespace, work: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    stsctl = str(ROOT / ".venv" / "bin" / "stsctl")
    catalogue = work / "catalogue.yaml"
    catalogue.write_text(CATALOGUE, encoding="utf-8")
    for command in (["init"], ["import", str(catalogue)]):
        subprocess.run([stsctl, *command], env=env, check=True, cwd=ROOT, capture_output=True)
    log = (work / "ours.log").open("wb")
    process = subprocess.Popen(
        [stsctl, "serve", "--bind", f"127.0.0.1:{args.our_port}", "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_ready(f"http://127.0.0.1:{args.our_port}/readyz", process)
    return process


def start_peer(args: argparse.Namespace, work: Path, secret: str) -> subprocess.Popen[bytes]:
    if not (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)
    env = {
        **os.environ,
        "NODE_ENV": "production",
        "PORT": str(args.peer_port),
        "WORKERS": "2",
        "CLIENT_ID": SYSTEM_CLIENT,
        "CLIENT_SECRET": secret,
        "RESOURCE": SERVICE,
    }
    log = (work / "peer.log").open("wb")
    process = subprocess.Popen(
        ["node", "server.js"],
        env=env,
        cwd=PEER_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_ready(f"http://127.0.0.1:{args.peer_port}/.well-known/openid-configuration", process)
    return process


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload = (
        json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        for part in token.split(".")[:2]
    )
    return header, payload


def check_token(url: str, body: str, auth: str, *, priv: bool) -> dict[str, Any]:
    """One request by hand: a 200 with an RS256 ``at+jwt`` for the service (and ``priv``)."""
    response = requests.post(
        url,
        data=body,
        headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.text}")
    header, claims = _claims(response.json()["access_token"])
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt", header
    assert claims["aud"] == SERVICE, claims
    assert ("priv" in claims) is priv, claims
    return claims


# -- measurements -----------------------------------------------------------------------------


def wrk(args: argparse.Namespace, script: Path, url: str, body: str, auth: str) -> dict[str, Any]:
    command = [
        "flock", LOCK, "wrk", f"-t{args.threads}", f"-c{args.connections}",
        f"-d{args.duration}s", "--timeout", "10s", "-s", str(script), url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_BODY": body, "BENCH_AUTH": auth}
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    match = re.search(r"^BENCH_JSON (.*)$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk gave no figures:\n{output}")
    raw = json.loads(match.group(1))
    ok = raw["requests"] - raw["non2xx"]
    return {
        "per_second": round(ok / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p90_ms": round(raw["p90_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "requests": raw["requests"],
        "errors": {k: raw[k] for k in ("non2xx", "connect", "read", "write", "timeout")},
    }


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    """The same lock as ``flock /tmp/bench.lock`` (flock(2)), for the Python-driven run."""
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _to_client(http: requests.Session, base: str, response: requests.Response) -> str:
    """Follow our own redirects until one leaves for the client; its Location."""
    for _ in range(10):
        location = response.headers.get("Location", "")
        if location.startswith(REDIRECT):
            return location
        if not location:
            raise SystemExit(f"no redirect to the client: {response.status_code}")
        response = http.get(
            location if location.startswith("http") else base + location, allow_redirects=False
        )
    raise SystemExit("too many redirects")


def code_round_trip(base: str, secret: str, password: str, count: int) -> dict[str, Any]:
    """Log in once through the pages, then ``count`` authorize -> token round trips."""
    http = requests.Session()
    auth = basic(WEB_CLIENT, secret)

    def authorize() -> tuple[str, requests.Response]:
        verifier, challenge = _pkce()
        params = {
            "response_type": "code", "client_id": WEB_CLIENT, "redirect_uri": REDIRECT,
            "scope": "openid profile", "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256",
        }  # fmt: skip
        url = f"{base}/oidc/authorize?{urlencode(params)}"
        return verifier, http.get(url, allow_redirects=False)

    def redeem(verifier: str, location: str) -> None:
        code = parse_qs(urlsplit(location).query)["code"][0]
        form = {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }  # fmt: skip
        response = http.post(f"{base}/oidc/token", data=form, headers={"Authorization": auth})
        assert response.status_code == 200 and "id_token" in response.json(), response.text

    verifier, first = authorize()
    page = http.get(base + first.headers["Location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    done = http.post(
        page.url, data={"csrf_token": csrf.group(1), "username": USERNAME, "password": password}
    )
    resume = re.search(r'href="(/login/resume\?flow=[^"]+)"', done.text)
    assert resume, done.text
    after_login = http.get(base + resume.group(1).replace("&amp;", "&"), allow_redirects=False)
    redeem(verifier, _to_client(http, base, after_login))

    def once() -> None:
        verifier, response = authorize()
        location = _to_client(http, base, response)
        redeem(verifier, location)

    for _ in range(min(50, count)):
        once()
    samples = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        once()
        samples.append((time.perf_counter() - begin) * 1000)
    elapsed = time.perf_counter() - started
    ordered = sorted(samples)
    return {
        "count": count,
        "per_second": round(count / elapsed, 1),
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help="alternating ours/peer rounds")
    parser.add_argument("--code-flows", type=int, default=300)
    parser.add_argument("--database", default="sts_bench_oidc")
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--keep", type=int, default=0, metavar="S", help="keep the servers up S s (profiling)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    for tool in ("wrk", "flock", "node", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (wrk: apt-get install wrk)")
    args.our_port, args.peer_port = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="oidc-http-"))
    system_secret = secrets.token_urlsafe(24)
    web_secret = secrets.token_urlsafe(24)
    password = secrets.token_urlsafe(18)
    create_database(f"{args.pg}/postgres", args.database)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STS_")},
        "STS_DATA_DIR": str(work / "var"),
        "STS_DATABASE_URL": f"{args.pg}/{args.database}",
        "STS_REDIS_URL": args.redis_url,
        "STS_BASE_URL": f"http://127.0.0.1:{args.our_port}",
        "STS_LOG_LEVEL": "WARNING",
        "BENCH_SYSTEM_SECRET": system_secret,
        "BENCH_WEB_SECRET": web_secret,
        "BENCH_PASSWORD_BENCH": password,
    }
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    ours_url = f"http://127.0.0.1:{args.our_port}/oidc/token"
    peer_url = f"http://127.0.0.1:{args.peer_port}/token"
    auth = basic(SYSTEM_CLIENT, system_secret)
    body = urlencode({"grant_type": "client_credentials", "resource": SERVICE, "cvr": CVR})
    ours = start_ours(args, work, env)
    peer = start_peer(args, work, system_secret)
    servers = {"ours": ours, "oidc-provider": peer}
    urls = {"ours": ours_url, "oidc-provider": peer_url}
    own = {ours.pid, peer.pid}
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "oidc-provider": []}
    try:
        check_token(ours_url, body, auth, priv=True)
        check_token(peer_url, body, auth, priv=False)
        print(f"ours on {ours_url} (pid {ours.pid}), oidc-provider on {peer_url} (pid {peer.pid})")
        warm = argparse.Namespace(**{**vars(args), "duration": 3})
        for name in servers:
            wrk(warm, script, urls[name], body, auth)
        order = []
        for index in range(args.rounds):
            pair = ["ours", "oidc-provider"]
            order += pair if index % 2 == 0 else pair[::-1]
        for name in order:
            with others_watch(own) as machine, cpu_watch(servers[name].pid) as cpu:
                result = wrk(args, script, urls[name], body, auth)
            result["machine"] = machine
            result["cpu_ms_per_token"] = cpu_ms_per_request(cpu, result["requests"])
            runs[name].append(result)
            print(
                f"  {name:14} {result['per_second']:>8} tokens/s  p50 {result['p50_ms']} ms"
                f"  p99 {result['p99_ms']} ms  errors {result['errors']}"
                f"  CPU ms/token {result['cpu_ms_per_token']}"
                f"  (others used {machine['others_cpu_s']} CPU-s in {machine['wall_s']} s)"
            )
        token = requests.post(
            ours_url,
            data=body,
            headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        ).json()["access_token"]
        introspect_url = f"http://127.0.0.1:{args.our_port}/oidc/introspect"
        assert requests.post(
            introspect_url, data={"token": token}, headers={"Authorization": auth}, timeout=10
        ).json()["active"]
        with others_watch(own) as machine:
            introspection = wrk(args, script, introspect_url, urlencode({"token": token}), auth)
        introspection["machine"] = machine
        with others_watch(own) as machine, bench_lock(), cpu_watch(ours.pid) as cpu:
            code_flow = code_round_trip(
                f"http://127.0.0.1:{args.our_port}", web_secret, password, args.code_flows
            )
        code_flow["machine"] = machine
        code_flow["cpu_ms_per_round_trip"] = cpu_ms_per_request(cpu, code_flow["count"] + 50)
        if args.keep:
            print(f"servers up for {args.keep} s (pids {ours.pid}, {peer.pid})", flush=True)
            time.sleep(args.keep)
    finally:
        for process in servers.values():
            stop(process)

    def summary(name: str) -> dict[str, Any]:
        rows = runs[name]
        return {
            "per_second": round(statistics.median(r["per_second"] for r in rows), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rows), 1),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in rows), 1),
            "cpu_ms_per_token": {
                key: round(statistics.median(r["cpu_ms_per_token"][key] for r in rows), 2)
                for key in rows[0]["cpu_ms_per_token"]
            },
        }

    ours_sum, peer_sum = summary("ours"), summary("oidc-provider")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True)
    node_version = node.stdout.strip()
    ratio = ours_sum["per_second"] / peer_sum["per_second"]
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "node": node_version,
        },
        "load": {
            "tool": "wrk",
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "order": order,
        },
        "client_credentials": {"ours": ours_sum, "oidc-provider": peer_sum, "runs": runs},
        "throughput_ratio": round(ratio, 2),
        "target": {"ratio": 0.6, "p99": "at most twice the peer's", "code_flow_p50_ms": 5},
        "target_met": ratio >= 0.6 and ours_sum["p99_ms"] <= 2 * peer_sum["p99_ms"],
        "introspection": introspection,
        "code_flow_existing_session": code_flow,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print(
        f"client_credentials, RS256, {args.connections} connections, wrk -t{args.threads}, "
        f"{args.duration} s x {args.rounds} rounds (median)"
    )
    print(
        f"{'':34} {'tokens/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        "  CPU ms/token: server, PostgreSQL, Redis, machine"
    )
    for name, row in (
        ("ours (stsctl serve, 2 workers)", ours_sum),
        ("oidc-provider (2 workers)", peer_sum),
    ):
        cpu = row["cpu_ms_per_token"]
        print(
            f"{name:34} {row['per_second']:>9} {row['p50_ms']:>8} {row['p99_ms']:>8}"
            f"  {cpu['server']}, {cpu['postgres']}, {cpu['redis']}, {cpu['machine']}"
        )
    print(
        f"ratio {ratio:.2f}x (target >= 0.6x at p99 <= 2 x peer's): "
        f"{'met' if report['target_met'] else 'NOT met'}"
    )
    print(
        f"introspection (ours): {introspection['per_second']} /s, "
        f"p50 {introspection['p50_ms']} ms, p99 {introspection['p99_ms']} ms"
    )
    print(
        f"code flow round trip, existing session (ours, sequential, {code_flow['count']}): "
        f"p50 {code_flow['p50_ms']} ms, p99 {code_flow['p99_ms']} ms (target p50 <= 5 ms), "
        f"CPU ms per round trip {code_flow['cpu_ms_per_round_trip']}"
    )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
