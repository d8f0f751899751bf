"""SAML response signing: in-process xmlsec (ours) vs pysaml2's default xmlsec1 subprocess.

Both sides build and sign complete responses with the response *and* the assertion
signed, RSA-2048, RSA-SHA256, in the same run on the same machine. Printed: complete
signed responses per second, ms per signed assertion, and ours with encryption too.
Results go to ``bench/results/saml.json``.

    .venv/bin/python bench/saml_sign.py [--seconds 3] [--peer-count 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from certs.keys import self_signed_certificate
from idp.saml.assertion import Audience, Subject, build_assertion, build_response
from idp.saml.constants import AES256_GCM, ATTRNAME_URI
from idp.saml.encryption import encrypt_assertion
from idp.saml.signing import Signer, sign

IDP = "https://idp.bench/saml/metadata"
SP = "https://sp.bench/sp"
ACS = "https://sp.bench/acs"
PRIVILEGES = "PD94bWwgdmVyc2lvbj0iMS4wIj8+PGJwcDpQcml2aWxlZ2VMaXN0Lz4="


def keypair(name: str) -> tuple[rsa.RSAPrivateKey, object, bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_certificate(key, name)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key, cert, key_pem, cert.public_bytes(serialization.Encoding.PEM)


def timed(function: Callable[[], object], *, seconds: float, max_count: int) -> list[float]:
    durations: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(durations) < max_count and (time.perf_counter() < deadline or len(durations) < 3):
        start = time.perf_counter()
        function()
        durations.append(time.perf_counter() - start)
    return durations


def summary(durations: list[float]) -> dict[str, float]:
    ordered = sorted(durations)
    return {
        "count": len(durations),
        "per_second": round(len(durations) / sum(durations), 1),
        "mean_ms": round(statistics.fmean(durations) * 1000, 3),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


def ours(seconds: float) -> dict[str, dict[str, float]]:
    key, cert, _key_pem, _cert_pem = keypair("idp")
    signer = Signer.from_objects("bench", key, cert)  # type: ignore[arg-type]
    _sp_key, sp_cert, _, _ = keypair("sp")
    now = dt.datetime.now(dt.UTC)
    subject = Subject(
        user_id="5b8e3c1a-0000-4000-8000-000000000001",
        cvr="29189846",
        org_name="Testkommune",
        loa="Substantial",
        auth_instant=now,
        session_index="s1",
        full_name="Anna Andersen",
        first_name="Anna",
        last_name="Andersen",
        email="anna@test.dk",
    )
    audience = Audience(SP, ACS, "_request")
    lifetime = dt.timedelta(minutes=5)

    def assertion_only() -> bytes:
        assertion = build_assertion(
            issuer=IDP,
            subject=subject,
            audience=audience,
            privileges_b64=PRIVILEGES,
            now=now,
            lifetime=lifetime,
        )
        sign(assertion, signer)
        return etree.tostring(assertion)

    def response(encrypt: bool = False) -> bytes:
        assertion = build_assertion(
            issuer=IDP,
            subject=subject,
            audience=audience,
            privileges_b64=PRIVILEGES,
            now=now,
            lifetime=lifetime,
        )
        message = build_response(issuer=IDP, destination=ACS, in_response_to="_request", now=now)
        message.append(assertion)
        sign(assertion, signer)
        if encrypt:
            encrypt_assertion(assertion, sp_cert, AES256_GCM)  # type: ignore[arg-type]
        sign(message, signer)
        return etree.tostring(message)

    for _ in range(20):  # warm up
        response()
    return {
        "signed_assertion": summary(timed(assertion_only, seconds=seconds, max_count=100_000)),
        "complete_response": summary(timed(response, seconds=seconds, max_count=100_000)),
        "complete_response_encrypted": summary(
            timed(lambda: response(True), seconds=seconds, max_count=100_000)
        ),
    }


def pysaml2_default(seconds: float, count: int) -> dict[str, dict[str, float]]:
    """pysaml2's Server.create_authn_response with its default (xmlsec1 subprocess) backend."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig, SPConfig
    from saml2.metadata import entity_descriptor
    from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
    from saml2.server import Server

    xmlsec1 = shutil.which("xmlsec1")
    if xmlsec1 is None:
        raise SystemExit("xmlsec1 is not installed (apt-get install xmlsec1)")
    work = Path(tempfile.mkdtemp(prefix="saml-bench-"))
    _k, _c, key_pem, cert_pem = keypair("idp")
    (work / "idp.key").write_bytes(key_pem)
    (work / "idp.crt").write_bytes(cert_pem)
    _k, _c, sp_key_pem, sp_cert_pem = keypair("sp")
    (work / "sp.key").write_bytes(sp_key_pem)
    (work / "sp.crt").write_bytes(sp_cert_pem)
    sp_config = SPConfig().load(
        {
            "entityid": SP,
            "key_file": str(work / "sp.key"),
            "cert_file": str(work / "sp.crt"),
            "xmlsec_binary": xmlsec1,
            "service": {
                "sp": {"endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]}}
            },
        }
    )
    (work / "sp.xml").write_text(str(entity_descriptor(sp_config)))
    idp_config = IdPConfig().load(
        {
            "entityid": IDP,
            "key_file": str(work / "idp.key"),
            "cert_file": str(work / "idp.crt"),
            "xmlsec_binary": xmlsec1,
            "metadata": {"local": [str(work / "sp.xml")]},
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(IDP + "/sso", BINDING_HTTP_REDIRECT)]
                    },
                    "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": ATTRNAME_URI}},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
        }
    )
    server = Server(config=idp_config)
    identity = {
        "https://data.gov.dk/model/core/specVersion": ["OIO-SAML-3.0"],
        "https://data.gov.dk/concept/core/nsis/loa": ["Substantial"],
        "https://data.gov.dk/model/core/eid/professional/cvr": ["29189846"],
        "https://data.gov.dk/model/core/eid/privilegesIntermediate": [PRIVILEGES],
    }
    name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text="5b8e3c1a-0000-4000-8000-000000000001")
    authn = {
        "class_ref": "https://data.gov.dk/concept/core/nsis/loa/Substantial",
        "authn_auth": IDP,
    }

    def response(sign_response: bool = True) -> str:
        return str(
            server.create_authn_response(
                identity,
                "_request",
                ACS,
                SP,
                name_id=name_id,
                authn=authn,
                sign_response=sign_response,
                sign_assertion=True,
            )
        )

    response()
    return {
        "signed_assertion": summary(
            timed(lambda: response(False), seconds=seconds, max_count=count)
        ),
        "complete_response": summary(timed(response, seconds=seconds, max_count=count)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--peer-count", type=int, default=40, help="max pysaml2 iterations")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "saml.json"))
    args = parser.parse_args()
    mine = ours(args.seconds)
    peer = pysaml2_default(args.seconds, args.peer_count)
    result = {
        "benchmark": "saml_sign",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "key": "RSA-2048, RSA-SHA256, exclusive c14n; response and assertion both signed",
        "ours_in_process_xmlsec": mine,
        "pysaml2_default_xmlsec1_subprocess": peer,
        "speedup_complete_response": round(
            mine["complete_response"]["per_second"] / peer["complete_response"]["per_second"], 1
        ),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("ours: signed assertion", mine["signed_assertion"]),
        ("ours: complete response (2 signatures)", mine["complete_response"]),
        ("ours: complete response + AES-256-GCM", mine["complete_response_encrypted"]),
        ("pysaml2 default: signed assertion", peer["signed_assertion"]),
        ("pysaml2 default: complete response (2 sig.)", peer["complete_response"]),
    ]
    print(f"{'measurement':46} {'per s':>9} {'mean ms':>9} {'p99 ms':>9} {'n':>7}")
    for name, row in rows:
        print(
            f"{name:46} {row['per_second']:>9} {row['mean_ms']:>9} {row['p99_ms']:>9} "
            f"{row['count']:>7}"
        )
    print(f"complete responses: ours {result['speedup_complete_response']}x pysaml2's default")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
