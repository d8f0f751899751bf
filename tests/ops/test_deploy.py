"""deploy/: the nginx TLS front and the systemd unit, as shipped.

``deploy/nginx/sts.conf`` is used as it is, with only its example ports, upstream and
certificate paths replaced (each must occur, so the file cannot drift from what is
tested): ``nginx -t`` accepts it, and a real nginx runs it on free ports in front of a real
``stsctl serve``. Through it an mTLS client (``tls_client_auth``, certificate from a CA
nginx trusts) gets a certificate-bound token; a client without a certificate, with a
forged certificate header, or with a certificate from another CA gets none; and an
``X-Forwarded-For`` sent by the client is not what the server records as its address.
``deploy/systemd/sts.service`` passes ``systemd-analyze verify`` without a warning.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from requests.adapters import HTTPAdapter
from sqlalchemy import select

from store.db import Database
from store.models import AuditEvent
from tests.e2e.browser import free_port
from tests.oidc_kit import CVR, ORG
from tests.ops.conftest import Browser, Server, require_binary, serve, stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "sts.conf"
UNIT = ROOT / "deploy" / "systemd" / "sts.service"
CLIENT_SOURCE = "127.0.0.5"  # the client's own loopback address, not nginx's 127.0.0.1


# -- certificates ---------------------------------------------------------------------------


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        return cert_path, key_path


def _name(common_name: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def issue(
    subject: x509.Name, issuer: Issued | None = None, *, ca: bool = False, **kind: Any
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if kind.get("server"):
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if kind.get("client"):
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


@dataclass
class Pki:
    server_ca: Path
    server: tuple[Path, Path]
    client_ca: Path
    client: tuple[Path, Path]
    client_cert: x509.Certificate
    rogue: tuple[Path, Path]


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    server_ca = issue(_name("STS test server CA"), ca=True)
    client_ca = issue(_name("STS test system CA"), ca=True)
    # The subject DN sapa-mtls is registered with (tests.oidc_kit.TLS_DN).
    system = _name("sapa.demo.test", "SAPA A/S")
    client = issue(system, client_ca, client=True)
    rogue = issue(system, client=True)  # same DN, but self-signed: no CA nginx trusts
    server_ca_path, _ = server_ca.write(directory, "server-ca")
    client_ca_path, _ = client_ca.write(directory, "client-ca")
    return Pki(
        server_ca=server_ca_path,
        server=issue(_name("127.0.0.1"), server_ca, server=True).write(directory, "server"),
        client_ca=client_ca_path,
        client=client.write(directory, "client"),
        client_cert=client.cert,
        rogue=rogue.write(directory, "rogue"),
    )


# -- nginx ------------------------------------------------------------------------------------


def render(upstream_port: int, https_port: int, http_port: int, pki: Pki) -> str:
    """deploy/nginx/sts.conf with its example values replaced; each must be there once."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "/etc/nginx/tls/sts.example.dk.crt": str(pki.server[0]),
        "/etc/nginx/tls/sts.example.dk.key": str(pki.server[1]),
        "/etc/nginx/tls/client-ca.pem": str(pki.client_ca),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"deploy/nginx/sts.conf no longer has {old!r} once"
        text = text.replace(old, new)
    return text


def main_config(directory: Path, site: Path) -> Path:
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / name).mkdir(parents=True, exist_ok=True)
    config = directory / "nginx.conf"
    config.write_text(
        "daemon off;\nworker_processes 1;\n"
        f"pid {directory}/nginx.pid;\nerror_log {directory}/error.log warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n    access_log off;\n"
        + "".join(f"    {name}_temp_path {directory}/{name};\n"
                  for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"    include {site};\n}}\n"
    )  # fmt: skip
    return config


@pytest.fixture
def nginx_binary() -> str:
    return require_binary("nginx")


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path, nginx_binary: str) -> None:
    pki = make_pki(tmp_path / "pki")
    site = tmp_path / "sts.conf"
    site.write_text(render(free_port(), free_port(), free_port(), pki))
    config = main_config(tmp_path / "nginx", site)
    checked = subprocess.run(
        [nginx_binary, "-t", "-c", str(config), "-p", str(tmp_path / "nginx")],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


class _FromAddress(HTTPAdapter):
    """Connect from a chosen loopback address (the client is not nginx's 127.0.0.1)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (CLIENT_SOURCE, 0)
        super().init_poolmanager(*args, **kwargs)


@dataclass
class Front:
    https: str
    http: str
    pki: Pki
    server: Server

    def token(self, cert: tuple[Path, Path] | None, **headers: str) -> requests.Response:
        return requests.post(
            self.https + "/oidc/token",
            data={"grant_type": "client_credentials", "client_id": "sapa-mtls",
                  "resource": ORG, "cvr": CVR},
            cert=tuple(map(str, cert)) if cert else None,  # type: ignore[arg-type]
            headers=headers,
            verify=str(self.pki.server_ca),
            timeout=30,
        )  # fmt: skip


@pytest.fixture(scope="module")
def front(
    tmp_path_factory: pytest.TempPathFactory, module_world_env: dict[str, str]
) -> Iterator[Front]:
    nginx_binary = require_binary("nginx")
    tmp_path = tmp_path_factory.mktemp("front")
    pki = make_pki(tmp_path / "pki")
    env = {
        **module_world_env,
        "STS_TLS_TRUSTED_PROXIES": "127.0.0.1",
        "STS_TLS_CLIENT_CERT_HEADER": "X-SSL-Client-Cert",
    }
    with serve(env, log=tmp_path / "serve.log") as server:
        upstream = urlsplit(server.url).port
        assert upstream
        https_port, http_port = free_port(), free_port()
        site = tmp_path / "sts.conf"
        site.write_text(render(upstream, https_port, http_port, pki))
        directory = tmp_path / "nginx"
        config = main_config(directory, site)
        process = subprocess.Popen(
            [nginx_binary, "-c", str(config), "-p", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            https = f"https://127.0.0.1:{https_port}"

            def up() -> bool:
                assert process.poll() is None, (directory / "error.log").read_text()
                try:
                    return requests.get(https + "/healthz", verify=str(pki.server_ca), timeout=2).ok
                except requests.RequestException:
                    return False

            wait_until(up, 20, "nginx in front of stsctl serve")
            yield Front(https, f"http://127.0.0.1:{http_port}", pki, server)
        finally:
            stop(process)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_mtls_client_credentials_through_nginx(front: Front) -> None:
    answer = front.token(front.pki.client)
    assert answer.status_code == 200, answer.text
    thumbprint = base64.urlsafe_b64encode(front.pki.client_cert.fingerprint(hashes.SHA256()))
    assert _claims(answer.json()["access_token"])["cnf"] == {
        "x5t#S256": thumbprint.rstrip(b"=").decode()
    }

    # No certificate; or a certificate header the client wrote itself: nginx clears it.
    assert front.token(None).json()["error"] == "invalid_client"
    forged = front.token(None, **{"X-SSL-Client-Cert": quote(
        front.pki.client_cert.public_bytes(serialization.Encoding.PEM).decode())})  # fmt: skip
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"
    # The same subject DN from a CA nginx does not trust never reaches the server.
    rogue = front.token(front.pki.rogue)
    assert rogue.status_code == 400 and "access_token" not in rogue.text

    # Plain HTTP is sent to HTTPS.
    redirect = requests.get(front.http + "/oidc/token", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")


def test_a_client_sent_x_forwarded_for_is_not_the_address_recorded(
    front: Front, module_world_env: dict[str, str]
) -> None:
    session = requests.Session()
    session.mount("https://", _FromAddress())
    session.verify = str(front.pki.server_ca)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the CA above
    session.headers["X-Forwarded-For"] = "203.0.113.9"
    browser = Browser(Server(front.https, front.server.process, front.server.log))
    browser.session = session
    failed = browser.login(browser.sso(), password="not the password")
    assert failed.status_code in (200, 401), failed.text[:300]

    database = Database(module_world_env["STS_DATABASE_URL"])
    try:
        with database.session() as db:
            events = db.scalars(
                select(AuditEvent).where(AuditEvent.action == "login.password")
            ).all()
    finally:
        database.dispose()
    assert [event.outcome for event in events] == ["failure"]
    # The client's own address (from nginx, a trusted proxy), not what it claimed, and
    # not nginx's.
    assert events[0].details["address"] == CLIENT_SOURCE


def test_the_systemd_unit_verifies_without_warnings(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    stsctl = ROOT / ".venv" / "bin" / "stsctl"
    if not stsctl.exists():
        pytest.skip("no .venv/bin/stsctl to stand in for /opt/sts/.venv/bin/stsctl")
    text = UNIT.read_text(encoding="utf-8")
    assert text.count("/opt/sts/.venv/bin/stsctl") == 1
    unit = tmp_path / "sts.service"
    unit.write_text(text.replace("/opt/sts/.venv/bin/stsctl", str(stsctl)))
    checked = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False, timeout=60
    )
    complaints = [
        line for line in (checked.stdout + checked.stderr).splitlines() if "sts.service" in line
    ]
    assert checked.returncode == 0 and not complaints, checked.stdout + checked.stderr
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n"):
        assert hardening in text
    assert "EnvironmentFile=/etc/sts/sts.env" in text
    assert (ROOT / "deploy" / "systemd" / "sts.env.example").exists()
