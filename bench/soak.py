"""Soak: a mixed workload at 70 % of measured capacity for 10 minutes, reported per minute.

    .venv/bin/python -m bench.soak [--minutes 10] [--load 0.7] [--capacity-seconds 20]

What it does, in one run:

1. Creates its own PostgreSQL database (``sts_bench_soak``, dropped afterwards), uses Redis
   db 11 (flushed before and after), a temporary data dir, ``stsctl init`` and ``stsctl
   import`` of the small catalogue of ``bench.oidc_http`` (one municipality, a web
   fagsystem with an OIDC client for the code flow, an anvendersystem whose client gets
   ``client_credentials`` tokens for a service under an approved serviceaftale, one user)
   plus an admin-API client holding the Administrator role of the municipality; registers
   a SAML SP (signed AuthnRequests required, response and assertion signed) for the web
   fagsystem; starts ``stsctl serve --workers 2``.
2. Logs the user in once through the real pages, over SAML and over OIDC, keeping the SSO
   cookies.
3. Measures the capacity of the mix: every client thread runs the mix as fast as it can
   for ``--capacity-seconds``.
4. Runs the same mix open-loop at ``--load`` × that rate for ``--minutes``: each client
   thread sends on a fixed schedule (a late request is sent at once, and its latency is
   counted from when it was due, so a stall is not hidden).

The mix, by weight: SAML SSO round trip with the live session (a freshly signed
HTTP-Redirect AuthnRequest → the auto-POST page with a ``SAMLResponse``) 30; code flow
with the session (authorize → code → token with PKCE) 10; ``client_credentials`` 35;
introspection of a system token 15; admin-API reads (user search, one user's explained
privileges, the municipality's assignments) 10. Every answer is checked (status and
content); anything else is an error.

Each minute it prints the operations per second, errors, p50 / p99 per kind and the
resident memory of every server worker; at the end whether the run had zero errors and
whether worker memory stayed flat after warm-up (growth from the end of minute 2 to the
end of the run ≤ 10 %). Load comes from ``--clients`` processes on this machine (Python,
so they take CPU from the server: capacity and soak are measured the same way). Writes
``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import http.client
import json
import multiprocessing
import os
import queue
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.oidc_http import (  # noqa: E402
    CATALOGUE,
    CVR,
    REDIRECT,
    SERVICE,
    SYSTEM_CLIENT,
    USERNAME,
    WEB_CLIENT,
    _cpu_ticks,
    _descendants,
    basic,
    create_database,
    free_port,
)
from bench.saml_http import Server, _sp_keys, run  # noqa: E402
from tests.saml_kit import SpKeys, authn_request, redirect_query, sp_metadata  # noqa: E402

STSCTL = str(ROOT / ".venv" / "bin" / "stsctl")
RESULTS = ROOT / "bench" / "results" / "soak.json"
SP_ENTITY = "https://sp.soak.test/saml"
ADMIN_CLIENT = "bench-admin"
MIX = (("saml_sso", 30), ("code_flow", 10), ("client_credentials", 35),
       ("introspection", 15), ("admin_read", 10))  # fmt: skip

ADMIN_CLIENT_YAML = f"""
      - client_id: "{ADMIN_CLIENT}"
        token_endpoint_auth_method: "client_secret_basic"
        client_secret_env: "BENCH_ADMIN_SECRET"
        grant_types: ["client_credentials"]
"""


def catalogue_text() -> str:
    """``bench.oidc_http``'s catalogue with one more client on the anvendersystem."""
    anchor = '        grant_types: ["client_credentials"]\n  - id: "ORG"'
    if anchor not in CATALOGUE:
        raise SystemExit("bench.oidc_http's catalogue changed shape; update bench/soak.py")
    return CATALOGUE.replace(
        anchor,
        '        grant_types: ["client_credentials"]'
        + ADMIN_CLIENT_YAML.rstrip("\n")
        + '\n  - id: "ORG"',
    )


# -- the client side: one connection per thread, every answer checked --------------------------


class Client:
    """What one client thread needs: a keep-alive connection and the shared secrets."""

    def __init__(self, setup: dict[str, Any]):
        self.setup = setup
        self.port = setup["port"]
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.keys = _sp_keys(setup["sp_key_pem"])
        self.rng = secrets.SystemRandom()

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                answer = self.connection.getresponse()
                return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed: reconnect once, as browsers do.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # one operation of each kind; each returns None when the answer is right, else what was wrong

    def saml_sso(self) -> str | None:
        setup = self.setup
        query = redirect_query(
            authn_request(SP_ENTITY, destination=f"{setup['base']}/saml/sso"),
            keys=self.keys,
            relay_state="soak",
        )
        status, _, body = self.request(
            "GET", "/saml/sso?" + query, headers={"Cookie": setup["saml_cookie"]}
        )
        if status != 200 or b'name="SAMLResponse"' not in body:
            return f"saml_sso {status}: {body[:120]!r}"
        return None

    def code_flow(self) -> str | None:
        setup = self.setup
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        params = {
            "response_type": "code", "client_id": WEB_CLIENT, "redirect_uri": REDIRECT,
            "scope": "openid profile", "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256",
        }  # fmt: skip
        path = "/oidc/authorize?" + urllib.parse.urlencode(params)
        for _ in range(6):
            status, headers, body = self.request(
                "GET", path, headers={"Cookie": setup["oidc_cookie"]}
            )
            location = headers.get("location", "")
            if status not in (302, 303) or not location:
                return f"authorize {status}: {body[:120]!r}"
            if location.startswith(REDIRECT):
                break
            parts = urllib.parse.urlsplit(location)
            path = parts.path + ("?" + parts.query if parts.query else "")
        else:
            return "authorize: too many redirects"
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code")
        if not code:
            return f"authorize: no code in {location[:120]}"
        form = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code[0], "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        })  # fmt: skip
        status, _, body = self.request(
            "POST", "/oidc/token", form,
            {"Authorization": setup["web_auth"],
             "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        if status != 200 or b'"id_token"' not in body:
            return f"code token {status}: {body[:120]!r}"
        return None

    def client_credentials(self) -> str | None:
        setup = self.setup
        status, _, body = self.request(
            "POST", "/oidc/token", setup["cc_body"],
            {"Authorization": setup["system_auth"],
             "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        if status != 200 or b'"access_token"' not in body:
            return f"client_credentials {status}: {body[:120]!r}"
        return None

    def introspection(self) -> str | None:
        setup = self.setup
        form = urllib.parse.urlencode({"token": setup["system_token"]})
        status, _, body = self.request(
            "POST", "/oidc/introspect", form,
            {"Authorization": setup["system_auth"],
             "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        if status != 200 or b'"active": true' not in body.replace(
            b'"active":true', b'"active": true'
        ):
            return f"introspection {status}: {body[:120]!r}"
        return None

    def admin_read(self) -> str | None:
        setup = self.setup
        paths = (
            f"/api/v1/municipalities/{CVR}/users?q={USERNAME}",
            f"/api/v1/municipalities/{CVR}/users/{USERNAME}/privileges?fagsystem=WEB&explain=true",
            f"/api/v1/municipalities/{CVR}/assignments",
        )
        path = paths[self.rng.randrange(len(paths))]
        status, _, body = self.request(
            "GET", path, headers={"Authorization": f"Bearer {setup['admin_token']}"}
        )
        if status != 200 or not body.startswith(b"{"):
            return f"admin_read {path} {status}: {body[:120]!r}"
        return None


def _pick(rng: secrets.SystemRandom) -> str:
    total = sum(weight for _, weight in MIX)
    point = rng.random() * total
    for name, weight in MIX:
        point -= weight
        if point < 0:
            return name
    return MIX[-1][0]


def _client_process(
    setup: dict[str, Any], threads: int, rate: float, seconds: float, start_at: float, out: Any
) -> None:
    """``threads`` threads; open loop at ``rate`` ops/s in all when rate > 0, else flat out."""
    samples: list[tuple[float, str, float, bool]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = Client(setup)
        interval = threads / rate if rate > 0 else 0.0
        due = start_at + (index * interval / threads if rate > 0 else 0.0)
        end = start_at + seconds
        mine: list[tuple[float, str, float, bool]] = []
        wrong: list[str] = []
        while True:
            now = time.time()
            if rate > 0:
                if due >= end:
                    break
                if due > now:
                    time.sleep(due - now)
                began = due
                due += interval
            else:
                if now >= end:
                    break
                began = now
            kind = _pick(client.rng)
            try:
                problem = getattr(client, kind)()
            except Exception as error:  # every failure is counted, not raised
                problem = f"{kind}: {type(error).__name__}: {error}"
            finished = time.time()
            mine.append((began, kind, (finished - began) * 1000, problem is None))
            if problem is not None and len(wrong) < 20:
                wrong.append(problem)
        with lock:
            samples.extend(mine)
            errors.extend(wrong)

    while time.time() < start_at - 0.05:
        time.sleep(0.01)
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put((samples, errors[:50]))


def drive(
    setup: dict[str, Any], clients: int, threads: int, rate: float, seconds: float,
    on_minute: Any = None,
) -> tuple[list[tuple[float, str, float, bool]], list[str], float]:  # fmt: skip
    """Run the mix in ``clients`` processes; returns samples, errors and the start time."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 2.0
    processes = [
        context.Process(
            target=_client_process,
            args=(setup, threads, rate / clients if rate > 0 else 0.0, seconds, start_at, out),
        )
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    if on_minute is not None:
        minute = 1
        while any(process.is_alive() for process in processes):
            next_mark = start_at + 60 * minute
            if next_mark > start_at + seconds + 1:
                break
            while time.time() < next_mark and any(p.is_alive() for p in processes):
                time.sleep(0.5)
            if time.time() >= next_mark:
                on_minute(minute)
                minute += 1
    samples: list[tuple[float, str, float, bool]] = []
    errors: list[str] = []
    for _ in processes:
        try:
            got, wrong = out.get(timeout=seconds + 120)
        except queue.Empty as missing:
            raise SystemExit("a client process sent no results") from missing
        samples.extend(got)
        errors.extend(wrong)
    for process in processes:
        process.join(timeout=30)
    return samples, errors, start_at


# -- set-up -------------------------------------------------------------------------------------


def _form_login(client: Client, first_path: str, password: str) -> tuple[str, bytes]:
    """Follow a sign-on from ``first_path`` through the password page; cookie and last page."""
    cookies: dict[str, str] = {}

    def cookie_header() -> str:
        return "; ".join(f"{k}={v}" for k, v in cookies.items())

    def fetch(method: str, path: str, body: str | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Cookie": cookie_header()}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        client.connection.request(method, path, body=body, headers=headers)
        answer = client.connection.getresponse()
        data = answer.read()
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                cookies[key.strip()] = val.strip()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data

    def local(location: str) -> str:
        parts = urllib.parse.urlsplit(location)
        return parts.path + ("?" + parts.query if parts.query else "")

    status, headers, body = fetch("GET", first_path)
    while status in (302, 303) and "/login/password" not in headers.get("location", "~"):
        status, headers, body = fetch("GET", local(headers["location"]))
    if status in (302, 303):
        page_path = local(headers["location"])
        status, headers, body = fetch("GET", page_path)
    else:
        raise SystemExit(f"expected a redirect to the password page, got {status}")
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    if csrf is None:
        raise SystemExit("no csrf_token on the password page")
    form = urllib.parse.urlencode(
        {"csrf_token": csrf.group(1).decode(), "username": USERNAME, "password": password}
    )
    status, headers, body = fetch("POST", page_path, form)
    resume = re.search(rb'href="(/login/resume\?flow=[^"]+)"', body)
    if resume is None:
        raise SystemExit(f"the password was not accepted: {status} {body[:200]!r}")
    status, headers, body = fetch("GET", resume.group(1).decode().replace("&amp;", "&"))
    if "sts_sso" not in cookies:
        raise SystemExit("no SSO cookie after the login")
    return f"sts_sso={cookies['sts_sso']}", body


def _token(port: int, auth: str, form: dict[str, str]) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST", "/oidc/token", urllib.parse.urlencode(form),
        {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise SystemExit(f"token request answered {answer.status}: {body[:300]!r}")
    return str(json.loads(body)["access_token"])


def prepare(args: argparse.Namespace, work: Path) -> tuple[Server, dict[str, Any]]:
    port = free_port()
    secrets_ = {
        "BENCH_SYSTEM_SECRET": secrets.token_urlsafe(24),
        "BENCH_WEB_SECRET": secrets.token_urlsafe(24),
        "BENCH_ADMIN_SECRET": secrets.token_urlsafe(24),
        "BENCH_PASSWORD_BENCH": secrets.token_urlsafe(18),
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STS_")},
        "STS_DATA_DIR": str(work / "var"),
        "STS_DATABASE_URL": f"{args.pg}/{args.database}",
        "STS_REDIS_URL": args.redis_url,
        "STS_BASE_URL": f"http://127.0.0.1:{port}",
        "STS_LOG_LEVEL": "WARNING",
        "STS_RSA_KEY_BITS": "2048",
        # The soak drives far more requests per client than a person would make.
        "STS_ADMIN_API_RATE_LIMIT": "1000000",
        **secrets_,
    }
    create_database(f"{args.pg}/postgres", args.database)
    subprocess.run(["redis-cli", "-u", args.redis_url, "flushdb"], check=True, capture_output=True)
    catalogue = work / "catalogue.yaml"
    catalogue.write_text(catalogue_text(), encoding="utf-8")
    run([STSCTL, "init"], env)
    run([STSCTL, "import", str(catalogue)], env)
    run([STSCTL, "admin", "grant", f"client:{ADMIN_CLIENT}", "--role", "administrator",
         "--cvr", CVR], env)  # fmt: skip
    keys = SpKeys.generate("soak-sp")
    metadata = work / "sp.xml"
    metadata.write_text(sp_metadata(SP_ENTITY, keys, authn_requests_signed=True))
    run([STSCTL, "saml", "sp", "add", str(metadata), "--fagsystem", "WEB", "--sign-response",
         "--sign-assertion", "--require-signed-requests"], env)  # fmt: skip
    server = Server(env, port, args.workers, args.threads, work / "server.log")
    base = f"http://127.0.0.1:{port}"
    setup: dict[str, Any] = {
        "port": port,
        "base": base,
        "sp_key_pem": keys.key_pem,
        "system_auth": basic(SYSTEM_CLIENT, secrets_["BENCH_SYSTEM_SECRET"]),
        "web_auth": basic(WEB_CLIENT, secrets_["BENCH_WEB_SECRET"]),
        "cc_body": urllib.parse.urlencode(
            {"grant_type": "client_credentials", "resource": SERVICE, "cvr": CVR}
        ),
    }
    login_client = Client(setup)
    sso_first = "/saml/sso?" + redirect_query(
        authn_request(SP_ENTITY, destination=f"{base}/saml/sso"), keys=keys, relay_state="x"
    )
    setup["saml_cookie"], page = _form_login(
        login_client, sso_first, secrets_["BENCH_PASSWORD_BENCH"]
    )
    if b'name="SAMLResponse"' not in page:
        raise SystemExit("the SAML login did not end in a SAMLResponse")
    # One SSO session serves both protocols: the code flow reuses the SAML login's cookie.
    setup["oidc_cookie"] = setup["saml_cookie"]
    setup["system_token"] = _token(
        port,
        setup["system_auth"],
        {"grant_type": "client_credentials", "resource": SERVICE, "cvr": CVR},
    )
    setup["admin_token"] = _token(
        port, basic(ADMIN_CLIENT, secrets_["BENCH_ADMIN_SECRET"]),
        {"grant_type": "client_credentials", "resource": f"{base}/api/v1"},
    )  # fmt: skip
    probe = Client(setup)
    for kind, _ in MIX:
        problem = getattr(probe, kind)()
        if problem is not None:
            server.stop()
            raise SystemExit(f"set-up check failed: {problem}")
    return server, setup


# -- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def others_cpu_s(
    before: dict[int, tuple[int, int, str]], after: dict[int, tuple[int, int, str]], database: str
) -> float:
    """CPU seconds between two readings of processes that are not this run's: not this
    process's tree (server workers, load clients), not PostgreSQL backends of the soak's
    database, not Redis. Other work on the machine shows up here and in the latencies."""
    ours = _descendants({os.getpid()}, after)
    hz = os.sysconf("SC_CLK_TCK")
    used = 0
    for pid, (_ppid, ticks, cmd) in after.items():
        if pid in ours or f" {database} " in cmd or cmd.startswith("/usr/bin/redis-server"):
            continue
        used += ticks - before.get(pid, (0, 0, ""))[1]
    return round(used / hz, 1)


def per_minute(
    samples: list[tuple[float, str, float, bool]], start: float, minutes: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for minute in range(minutes):
        low, high = start + 60 * minute, start + 60 * (minute + 1)
        window = [s for s in samples if low <= s[0] < high]
        row: dict[str, Any] = {
            "minute": minute + 1,
            "ops": len(window),
            "ops_per_s": round(len(window) / 60, 1),
            "errors": sum(1 for s in window if not s[3]),
            "p50_ms": round(statistics.median([s[2] for s in window]), 1) if window else None,
            "p99_ms": round(percentile([s[2] for s in window], 0.99), 1) if window else None,
            "by_kind": {},
        }
        for kind, _ in MIX:
            latencies = [s[2] for s in window if s[1] == kind]
            row["by_kind"][kind] = {
                "ops": len(latencies),
                "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
            }
        rows.append(row)
    return rows


def slowest_seconds(
    samples: list[tuple[float, str, float, bool]], count: int = 5
) -> list[dict[str, Any]]:
    """The ``count`` seconds of the run with the slowest operation, in time order, so a
    stall can be matched with the server's and PostgreSQL's logs by wall-clock time."""
    worst: dict[int, float] = {}
    failed: dict[int, int] = {}
    for due, _, ms, ok in samples:
        second = int(due)
        worst[second] = max(worst.get(second, 0.0), ms)
        if not ok:
            failed[second] = failed.get(second, 0) + 1
    chosen = sorted(sorted(worst, key=worst.__getitem__, reverse=True)[:count])
    return [
        {
            "at": dt.datetime.fromtimestamp(second, dt.UTC).strftime("%H:%M:%S"),
            "max_ms": round(worst[second], 1),
            "errors": failed.get(second, 0),
        }
        for second in chosen
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--load", type=float, default=0.7, help="share of measured capacity")
    parser.add_argument("--capacity-seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--client-threads", type=int, default=8, help="threads per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="server threads per worker")
    parser.add_argument("--database", default="sts_bench_soak")
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if shutil.which("redis-cli") is None:
        raise SystemExit("redis-cli is not installed")
    work = Path(tempfile.mkdtemp(prefix="sts-soak-"))
    server, setup = prepare(args, work)
    errors_seen: list[str] = []
    try:
        workers = server.worker_pids()
        print(f"stsctl serve on {setup['base']}, workers {workers}", flush=True)
        samples, errors, _ = drive(
            setup, args.clients, args.client_threads, 0.0, args.capacity_seconds
        )
        errors_seen.extend(errors)
        good = [s for s in samples if s[3]]
        capacity = len(good) / args.capacity_seconds
        print(
            f"capacity of the mix: {capacity:.1f} ops/s flat out "
            f"(p50 {statistics.median([s[2] for s in good]):.1f} ms, "
            f"errors {len(samples) - len(good)})",
            flush=True,
        )
        rate = args.load * capacity
        print(f"soak: {rate:.1f} ops/s ({args.load:.0%}) for {args.minutes} min", flush=True)
        memory: list[dict[str, Any]] = []

        ticks = [_cpu_ticks()]

        def on_minute(minute: int) -> None:
            pids = server.worker_pids()
            now = _cpu_ticks()
            others = others_cpu_s(ticks[-1], now, args.database)
            ticks.append(now)
            memory.append({
                "minute": minute, "rss_mib": {str(p): rss_mib(p) for p in pids},
                "others_cpu_s": others,
            })  # fmt: skip
            print(f"  minute {minute:>2}: worker RSS MiB {memory[-1]['rss_mib']}, "
                  f"CPU used by other work on the machine {others} s", flush=True)  # fmt: skip

        samples, errors, start = drive(
            setup, args.clients, args.client_threads, rate, args.minutes * 60.0, on_minute
        )
        errors_seen.extend(errors)
        rows = per_minute(samples, start, args.minutes)
        stalls = slowest_seconds(samples)
        final_workers = server.worker_pids()
    finally:
        server.stop()
        subprocess.run(["redis-cli", "-u", args.redis_url, "flushdb"], capture_output=True)
        with __import__("psycopg").connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        if errors_seen:
            print(f"errors seen: the server's log is kept in {work / 'server.log'}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    growth: dict[str, float | None] = {}
    warm = next((m for m in memory if m["minute"] == 2), memory[0] if memory else None)
    last = memory[-1] if memory else None
    for pid in final_workers:
        before = warm["rss_mib"].get(str(pid)) if warm else None
        after = last["rss_mib"].get(str(pid)) if last else None
        growth[str(pid)] = round((after - before) / before * 100, 1) if before and after else None
    respawned = sorted(set(workers) ^ set(final_workers))
    total_errors = sum(row["errors"] for row in rows)
    flat = bool(growth) and all(g is not None and g <= 10 for g in growth.values())
    print()
    print(f"{'min':>3} {'ops/s':>7} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'others CPU-s':>12}  worker RSS MiB")  # fmt: skip
    for row in rows:
        mark: dict[str, Any] = next((m for m in memory if m["minute"] == row["minute"]), {})
        row["others_cpu_s"] = mark.get("others_cpu_s")
        rss = mark.get("rss_mib", {})
        print(
            f"{row['minute']:>3} {row['ops_per_s']:>7} {row['errors']:>6} "
            f"{row['p50_ms']!s:>7} {row['p99_ms']!s:>7} {row['others_cpu_s']!s:>12}  "
            f"{', '.join(str(v) for v in rss.values())}"
        )
    print("others CPU-s: CPU seconds in that minute of processes that are neither this run's "
          "(server, clients, its database's backends, Redis) nor idle")  # fmt: skip
    print("p99 by kind over the whole run (ms): " + ", ".join(
        f"{kind} {percentile([s[2] for s in samples if s[1] == kind], 0.99):.1f}" for kind, _ in MIX
    ))  # fmt: skip
    print("slowest seconds (UTC, due time): " + ", ".join(
        f"{x['at']} {x['max_ms']} ms" + (f" ({x['errors']} errors)" if x["errors"] else "")
        for x in stalls
    ))  # fmt: skip
    print(f"errors: {total_errors}" + (f" (first: {errors[:3]})" if errors else ""))
    print(f"worker memory growth after warm-up (minute 2 → end): {growth} "
          f"→ {'flat (≤ 10 %)' if flat else 'NOT flat'}")  # fmt: skip
    if respawned:
        print(f"worker processes changed during the run: {respawned}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "config": {k: str(v) for k, v in vars(args).items()},
                "mix": dict(MIX),
                "capacity_ops_per_s": round(capacity, 1),
                "rate_ops_per_s": round(rate, 1),
                "minutes": rows,
                "memory": memory,
                "memory_growth_pct": growth,
                "memory_flat": flat,
                "slowest_seconds": stalls,
                "errors_total": total_errors,
                "errors_sample": errors[:20],
                "loadavg_at_end": os.getloadavg(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    if total_errors or not flat:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
