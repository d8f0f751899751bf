"""Acceptance: ``python-serviceplatformen`` (PyPI), pointed at our host, gets a token from
the JSON endpoint over real mutual TLS and accepts it; its refusals carry our errors.

The production server (``stsctl serve``) runs behind nginx, which terminates TLS, asks
for a client certificate (``optional_no_ca``: the STS decides trust itself, so an
untrusted certificate reaches it and is refused there; nginx itself answers 400 to an
expired one, which the JSON tests cover through the header) and passes it on in the
configured header (``$ssl_client_escaped_cert``), as an operator would deploy it. The
library's URL is hard-coded to KOMBIT's host; only the host is swapped, as a
``requests.post`` wrapper that rewrites the origin and trusts the test CA.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from tests.conftest import service_missing
from tests.e2e.browser import free_port
from tests.sts.kit import (
    BASE_URL,
    CERT_HEADER,
    CVR,
    ISSUER,
    OTHER_CVR,
    SERVICE,
    KeyPair,
    pki,
)
from verifier.saml.hok import verify_hok_assertion

psp = pytest.importorskip("python_serviceplatformen.authentication")

KOMBIT_HOSTS = (
    "https://n2adgangsstyring.stoettesystemerne.dk",
    "https://n2adgangsstyring.eksterntest-stoettesystemerne.dk",
)
STSCTL = [sys.executable, "-c", "from cli import main; main()"]

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tmp}/server.pem;
    ssl_certificate_key {tmp}/server.key;
    ssl_client_certificate {tmp}/ca.pem;
    ssl_verify_client optional_no_ca;
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header {header} $ssl_client_escaped_cert;
    }}
  }}
}}
"""


def server_certificate(ca: KeyPair) -> KeyPair:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return KeyPair(key, cert)


@dataclass
class Deployment:
    origin: str  # https://127.0.0.1:<nginx port>
    ca_file: Path
    tmp: Path

    def unified_pem(self, pair: KeyPair, name: str) -> str:
        """The client certificate and key in one file, as python-serviceplatformen wants."""
        path = self.tmp / f"{name}-unified.pem"
        path.write_bytes(pair.pem.encode() + pair.key_pem)
        path.chmod(0o600)
        return str(path)


def _wait(url: str, deadline: float, **kwargs: Any) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, **kwargs) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in time")


@pytest.fixture(scope="module")
def deployment(
    sts_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        service_missing("nginx", "not installed")
    assert nginx is not None
    tmp = tmp_path_factory.mktemp("sts-deploy")
    data_dir = tmp / "var"
    shutil.copytree(sts_template, data_dir)
    keys = pki()
    (tmp / "ca.pem").write_text(keys.ca.pem)
    server_certificate(keys.ca).write(tmp, "server")
    upstream, port = free_port(), free_port()
    (tmp / "nginx.conf").write_text(
        NGINX_CONF.format(tmp=tmp, port=port, upstream=upstream, header=CERT_HEADER)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env.update(
        STS_DATA_DIR=str(data_dir),
        STS_BASE_URL=BASE_URL,
        STS_LOG_LEVEL="WARNING",
        STS_SYSTEM_CA_FILES=str(data_dir / "ca.pem"),
        STS_SYSTEM_CRL_FILES=str(data_dir / "crl.pem"),
        STS_TLS_CLIENT_CERT_HEADER=CERT_HEADER,
        STS_TLS_TRUSTED_PROXIES="127.0.0.1",
    )
    server = subprocess.Popen(
        [*STSCTL, "serve", "--bind", f"127.0.0.1:{upstream}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proxy = subprocess.Popen(
        [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        _wait(f"http://127.0.0.1:{upstream}/healthz", deadline)
        import ssl

        context = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
        _wait(f"https://127.0.0.1:{port}/healthz", deadline, context=context)
        yield Deployment(f"https://127.0.0.1:{port}", tmp / "ca.pem", tmp)
    finally:
        proxy.send_signal(signal.SIGQUIT)
        server.terminate()
        proxy.wait(timeout=20)
        server.wait(timeout=30)


@pytest.fixture
def kombit_host(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """python-serviceplatformen's ``requests.post`` sent to our host instead of KOMBIT's."""
    original = requests.post

    def post(url: str, *args: Any, **kwargs: Any) -> Any:
        for host in KOMBIT_HOSTS:
            if url.startswith(host):
                url = deployment.origin + url[len(host) :]
        kwargs.setdefault("verify", str(deployment.ca_file))
        return original(url, *args, **kwargs)

    monkeypatch.setattr(psp.requests, "post", post)
    return deployment


def test_python_serviceplatformen_gets_and_accepts_a_token(kombit_host: Deployment) -> None:
    keys = pki()
    access = psp.KombitAccess(cvr=CVR, cert_path=kombit_host.unified_pem(keys.sapa, "sapa"))
    token = access.get_saml_token(SERVICE)  # parses our Lifetime, keeps the token
    expiry = access._saml_tokens[SERVICE].expiry_time
    assert dt.timedelta(hours=7) < expiry - dt.datetime.now() < dt.timedelta(hours=8)
    assert access.get_saml_token(SERVICE) == token  # reused from its cache: accepted as valid
    # the fagsystem receiving it checks it with the SDK, bound to the client's certificate
    published = requests.get(
        kombit_host.origin + "/runtime/oauth2/certs.idp",
        verify=str(kombit_host.ca_file),
        timeout=10,
    ).json()["keys"]
    pinned: list[bytes | str | x509.Certificate] = [
        base64.b64decode(key["x5c"][0]) for key in published
    ]
    assertion = verify_hok_assertion(
        token,
        sts_certificates=pinned,
        issuer=ISSUER,
        audience=SERVICE,
        presented_certificate=keys.sapa.cert,
    )
    assert assertion.cvr == CVR


@pytest.mark.parametrize(
    ("who", "cvr", "service", "expected"),
    [
        ("unknown", CVR, SERVICE, "invalid_client"),
        ("untrusted", CVR, SERVICE, "invalid_client"),
        ("sapa", OTHER_CVR, SERVICE, "access_denied"),
        ("sapa", CVR, SERVICE + "/", "invalid_request"),
    ],
)
def test_python_serviceplatformen_reports_our_refusals(
    kombit_host: Deployment, who: str, cvr: str, service: str, expected: str
) -> None:
    pair = getattr(pki(), who)
    access = psp.KombitAccess(cvr=cvr, cert_path=kombit_host.unified_pem(pair, who))
    with pytest.raises(ValueError, match=expected):
        access.get_saml_token(service)
    assert service not in access._saml_tokens


def test_without_a_client_certificate_there_is_no_token(kombit_host: Deployment) -> None:
    response = requests.post(
        kombit_host.origin + "/runtime/api/rest/wstrust/v1/issue",
        json={
            "AnvenderKontekst": {"Cvr": CVR},
            "AppliesTo": {"EndpointReference": {"Address": SERVICE}},
        },
        verify=str(kombit_host.ca_file),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
