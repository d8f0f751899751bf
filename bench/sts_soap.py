"""Benchmark (HTTP): KOMBIT WS-Trust Issue round trips through ``stsctl serve`` (2 workers).

    flock /tmp/bench.lock .venv/bin/python -m bench.sts_soap [--duration 20] [--connections 4]

What one run does:

1. Creates its own PostgreSQL database (``sts_bench_soap``, dropped afterwards), uses
   Redis db 10 (nothing is flushed) and a temporary data dir; generates a test CA and an
   anvendersystem's RSA-2048 system certificate; ``stsctl init`` and ``stsctl import`` of a
   catalogue with that certificate under the anvendersystem (``certificates:``), a service
   with a servicesystemrolle and a constraint, and an approved serviceaftale; the CA is
   ``STS_SYSTEM_CA_FILES``, so every request also checks the chain.
2. Starts ``stsctl serve --workers 2`` and sends one request from the independent client
   (``tests/sts/wstrust_client.py``), verifying the RSTR and assertion as KOMBIT's .NET
   client does.
3. Pre-signs ``--requests`` distinct Issue requests (.NET-library style: signed Action,
   MessageID, To, Timestamp, BST and Body) and drives them with ``wrk`` (a Lua script
   cycling through them; each answer must be 200 with an RSTR). Every round trip is the
   full path: XML parsing, the WS-Security signature check (RSA verify), certificate
   registration/chain/validity, the agreement check, the signed assertion (RSA sign), the
   signed RSTR (RSA sign) and an audit event committed to the hash chain. The STS keeps no
   replay cache (KOMBIT's behaviour there is unknown), so cycling is ordinary load.
4. Records CPU seconds of the server's process tree, PostgreSQL, Redis and the machine
   during the run (CPU per request), and the CPU other processes used (a busy machine
   shows), then measures the three RSA operations directly (``cryptography``/OpenSSL,
   the same key sizes as the run: verify with the client's key, two signatures with the
   STS key) to print their share of the server's CPU per request.

Run it under ``flock /tmp/bench.lock`` (it does not take the lock itself). Needs ``wrk``
(``apt-get install wrk``), PostgreSQL and Redis. Writes ``bench/results/sts_soap.json``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from lxml import etree  # noqa: E402

from bench.oidc_http import (  # noqa: E402
    cpu_ms_per_request,
    cpu_watch,
    create_database,
    free_port,
    others_watch,
    stop,
    wait_ready,
)
from tests.sts.wstrust_client import Identity, Style, build_request, verify_response  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sts_soap.json"
PATH = "/runtime/services/kombittrust/14/certificatemixed"
CVR = "29189846"
SERVICE = "http://entityid.kombit.dk/service/benchservice/1"
ROLE = "http://entityid.kombit.dk/roles/servicesystemrole/udstil/1"
CONSTRAINT = "http://sts.kombit.dk/constraints/KLE/1"
TARGET = {"per_second": 250, "p99_ms": 50}

CATALOGUE = f"""
version: 1
municipalities:
  - cvr: "{CVR}"
    name: "Bench Kommune"
    domain: "bench.kommune.dk"
fagsystemer:
  - id: "ANV"
    name: "Bench anvendersystem"
    entity_id: "https://anv.bench.test"
    kind: "anvender"
    personal_data: false
    certificates:
      - file: "anv.pem"
  - id: "SVC"
    name: "Bench service"
    entity_id: "{SERVICE}"
    kind: "service"
    constraint_types:
      - id: "{CONSTRAINT}"
        name: "KLE"
        kind: "kle"
    roles:
      - id: "{ROLE}"
        name: "Udstil"
        constraints: ["{CONSTRAINT}"]
serviceaftaler:
  - id: "sa-anv-svc-{CVR}"
    cvr: "{CVR}"
    anvendersystem: "ANV"
    service: "SVC"
    roles: ["{ROLE}"]
    constraints:
      "{CONSTRAINT}": ["27.*", "32.*"]
    status: "approved"
"""

LUA = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local count, path = tonumber(args[1]), args[2]
  bodies = {}
  local i = 0
  for line in io.lines(path) do
    if i % count == id then bodies[#bodies + 1] = line end
    i = i + 1
  end
  position, ok, bad = 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/soap+xml; charset=utf-8"
end

function request()
  position = position % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[position])
end

function response(status, headers, body)
  if status == 200 and string.find(body, "RequestSecurityTokenResponseCollection", 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local good, failed = 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    failed = failed + thread:get("bad")
  end
  local e = summary.errors
  local out = io.open(os.getenv("WRK_RESULT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "ok": %d, "bad": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}',
    summary.requests, summary.duration, good, failed,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
  out:close()
end
"""


# -- set-up -----------------------------------------------------------------------------------


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    key: rsa.RSAPrivateKey,
    signer: rsa.RSAPrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


def pki(work: Path) -> tuple[Identity, Path]:
    """A CA and an OCES3-style system certificate; the CA file and ``anv.pem`` in ``work``."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench OCES3 CA")])
    ca = _certificate(ca_name, ca_name, ca_key, ca_key, True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")]),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench A/S // CVR:12345678")]
            ),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, "CVR:12345678-FID:10000001"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Bench (funktionscertifikat)"),
                ]
            ),
        ]
    )
    cert = _certificate(subject, ca_name, key, ca_key, False)
    ca_file = work / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (work / "anv.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Identity(key, cert), ca_file


def start_server(work: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    stsctl = str(ROOT / ".venv" / "bin" / "stsctl")
    catalogue = work / "catalogue.yaml"
    catalogue.write_text(CATALOGUE, encoding="utf-8")
    for command in (["init"], ["import", str(catalogue)]):
        done = subprocess.run([stsctl, *command], env=env, cwd=ROOT, capture_output=True)
        if done.returncode:
            raise SystemExit(
                f"stsctl {command[0]} failed:\n{done.stdout.decode()}{done.stderr.decode()}"
            )
    log = (work / "server.log").open("wb")
    process = subprocess.Popen(
        [stsctl, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_ready(f"http://127.0.0.1:{port}/readyz", process)
    return process


def sts_certificate(response: bytes) -> x509.Certificate:
    """The STS certificate as published in the assertion's KeyInfo (the client pins it)."""
    root = etree.fromstring(response)
    text = root.findtext(
        ".//{urn:oasis:names:tc:SAML:2.0:assertion}Assertion/{http://www.w3.org/2000/09/xmldsig#}"
        "Signature/{http://www.w3.org/2000/09/xmldsig#}KeyInfo/{http://www.w3.org/2000/09/xmldsig#}"
        "X509Data/{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
    )
    return x509.load_der_x509_certificate(base64.b64decode("".join((text or "").split())))


def check_one(url: str, base_url: str, identity: Identity) -> x509.Certificate:
    """One request from the independent client, verified as KOMBIT's .NET client does."""
    request = build_request(identity, sts_url=url, applies_to=SERVICE, cvr=CVR, style=Style.DOTNET)
    response = requests.post(
        url, data=request.xml, headers={"Content-Type": "application/soap+xml"}, timeout=10
    )
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.text[:2000]}")
    certificate = sts_certificate(response.content)
    verify_response(
        response.content,
        request,
        sts_certificate=certificate,
        sts_issuer=base_url + "/runtime",
        client=identity.cert,
    )
    return certificate


def presign(identity: Identity, url: str, count: int, path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    with path.open("wb") as handle:
        for _ in range(count):
            xml = build_request(
                identity,
                sts_url=url,
                applies_to=SERVICE,
                cvr=CVR,
                style=Style.DOTNET,
                now=now,
                timestamp_ttl=dt.timedelta(minutes=30),
            ).xml
            if b"\n" in xml:
                raise SystemExit("a request contains a line break; the wrk script reads lines")
            handle.write(xml + b"\n")


def wrk(
    args: argparse.Namespace, script: Path, bodies: Path, url: str, duration: int
) -> dict[str, Any]:
    result_file = script.parent / "wrk-result.json"
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        str(args.threads),
        str(bodies),
    ]
    subprocess.run(
        command, env={**os.environ, "WRK_RESULT": str(result_file)}, check=True, capture_output=True
    )
    raw = json.loads(result_file.read_text())
    result_file.unlink()
    seconds = raw["duration_us"] / 1e6
    latency = raw["latency_us"]
    return {
        "per_second": round(raw["ok"] / seconds, 1),
        "requests": raw["requests"],
        "ok": raw["ok"],
        "bad": raw["bad"],
        "errors": raw["errors"],
        "p50_ms": round(latency["p50"] / 1000, 1),
        "p90_ms": round(latency["p90"] / 1000, 1),
        "p99_ms": round(latency["p99"] / 1000, 1),
        "max_ms": round(latency["max"] / 1000, 1),
    }


# -- the RSA operations, measured directly -------------------------------------------------------


def _per_op_ms(operation: Any, count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        operation()
    return 1000 * (time.process_time() - start) / count


def rsa_costs(client_bits: int, sts_bits: int, count: int = 400) -> dict[str, float]:
    """CPU ms of one RSA-SHA256 verify with the client's key size and one signature with
    the STS key size (OpenSSL through ``cryptography``, as xmlsec and the RSTR use it)."""
    message = os.urandom(700)  # about a SignedInfo with six references
    client = rsa.generate_private_key(public_exponent=65537, key_size=client_bits)
    sts = rsa.generate_private_key(public_exponent=65537, key_size=sts_bits)
    signature = client.sign(message, padding.PKCS1v15(), hashes.SHA256())
    public = client.public_key()
    verify = _per_op_ms(
        lambda: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()), count * 5
    )
    sign = _per_op_ms(lambda: sts.sign(message, padding.PKCS1v15(), hashes.SHA256()), count)
    return {
        "verify_ms": round(verify, 3),
        "sign_ms": round(sign, 3),
        "per_request_ms": round(verify + 2 * sign, 3),
        "client_bits": client_bits,
        "sts_bits": sts_bits,
    }


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of the measured wrk run")
    parser.add_argument("--connections", type=int, default=4, help="2 per worker: both busy")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--requests", type=int, default=2000, help="distinct pre-signed requests")
    parser.add_argument("--database", default="sts_bench_soap")
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--keep", type=int, default=0, metavar="S", help="keep the server up S s")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    url = base_url + PATH
    work = Path(tempfile.mkdtemp(prefix="sts-soap-"))
    identity, ca_file = pki(work)
    create_database(f"{args.pg}/postgres", args.database)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STS_")},
        "STS_DATA_DIR": str(work / "var"),
        "STS_DATABASE_URL": f"{args.pg}/{args.database}",
        "STS_REDIS_URL": args.redis_url,
        "STS_BASE_URL": base_url,
        "STS_LOG_LEVEL": "WARNING",
        "STS_SYSTEM_CA_FILES": str(ca_file),
    }
    script = work / "soap.lua"
    script.write_text(LUA, encoding="utf-8")
    bodies = work / "requests.txt"
    server = start_server(work, env, port)
    try:
        sts_cert = check_one(url, base_url, identity)
        print(f"server {url} (pid {server.pid}); one request verified by the independent client")
        started = time.monotonic()
        presign(identity, url, args.requests, bodies)
        print(f"pre-signed {args.requests} requests in {time.monotonic() - started:.1f} s")
        wrk(args, script, bodies, url, 3)  # warm-up: both workers, caches, connections
        with others_watch({server.pid}) as machine, cpu_watch(server.pid) as cpu:
            result = wrk(args, script, bodies, url, args.duration)
        result["machine"] = machine
        result["cpu_ms_per_request"] = cpu_ms_per_request(cpu, result["requests"])
        if args.keep:
            print(f"server up for {args.keep} s (pid {server.pid})", flush=True)
            time.sleep(args.keep)
    finally:
        stop(server)
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)

    sts_key = sts_cert.public_key()
    client_key = identity.cert.public_key()
    assert isinstance(sts_key, rsa.RSAPublicKey) and isinstance(client_key, rsa.RSAPublicKey)
    crypto: dict[str, Any] = dict(rsa_costs(client_key.key_size, sts_key.key_size))
    server_ms = result["cpu_ms_per_request"]["server"]
    crypto["share_of_server_cpu"] = (
        round(crypto["per_request_ms"] / server_ms, 3) if server_ms else None
    )
    met = (
        result["per_second"] >= TARGET["per_second"]
        and result["p99_ms"] <= TARGET["p99_ms"]
        and result["bad"] == 0
        and not any(result["errors"].values())
    )
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "load": {
            "tool": "wrk",
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "distinct_requests": args.requests,
            "style": "dotnet",
        },
        "issue": result,
        "rsa": crypto,
        "target": TARGET,
        "target_met": met,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    cpu = result["cpu_ms_per_request"]
    print()
    print(
        f"WS-Trust Issue, stsctl serve --workers 2, wrk -t{args.threads} -c{args.connections}, "
        f"{args.duration} s"
    )
    print(
        f"  {result['per_second']} tokens/s  p50 {result['p50_ms']} ms  p90 {result['p90_ms']} ms"
        f"  p99 {result['p99_ms']} ms  max {result['max_ms']} ms  (not 200+RSTR: {result['bad']},"
        f" socket errors {result['errors']})"
    )
    print(
        f"  CPU ms/request: server {cpu['server']}, PostgreSQL {cpu['postgres']}, Redis "
        f"{cpu['redis']}, machine {cpu['machine']}  (others used {machine['others_cpu_s']} CPU-s"
        f" in {machine['wall_s']} s, load {' '.join(machine['loadavg'])})"
    )
    print(
        f"  RSA: verify {crypto['verify_ms']} ms (client {crypto['client_bits']} bit) + 2 x sign "
        f"{crypto['sign_ms']} ms (STS {crypto['sts_bits']} bit) = {crypto['per_request_ms']} ms "
        f"per request = {100 * (crypto['share_of_server_cpu'] or 0):.0f}% of the server's CPU"
    )
    print(
        f"  target >= {TARGET['per_second']}/s at p99 <= {TARGET['p99_ms']} ms: "
        f"{'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
