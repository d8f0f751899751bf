"""The benchmark-only switch to pysaml2's default signing (an xmlsec1 process per signature).

The product never sets it (only ``python -m bench.pysaml2_signing`` does), and when on it
must produce
signatures that verify like the in-process ones (response and assertion both signed).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import xmlsec
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from certs.keys import self_signed_certificate
from idp.saml import signing
from idp.saml.assertion import Audience, Subject, build_assertion, build_response
from idp.saml.constants import DS, SAML
from idp.saml.signing import Signer, VerifyKey, verify_enveloped


def test_the_product_never_sets_the_benchmark_signer() -> None:
    import app  # noqa: F401 - the whole product imported: nothing sets the hook

    assert signing._BENCH_SIGNER is None
    root = Path(signing.__file__).resolve().parents[2]
    rooms = ("idp", "authz", "admin", "store", "cli", "connectors", "certs", "policies")
    importing_bench = [
        path
        for room in rooms
        for path in (root / room).rglob("*.py")
        if re.search(r"^\s*(from|import) bench\b", path.read_text(encoding="utf-8"), re.M)
    ]
    assert importing_bench == []


@pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is not installed")
def test_xmlsec1_subprocess_signatures_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.pysaml2_signing import sign_with_xmlsec1_subprocess

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = Signer.from_objects("bench", key, self_signed_certificate(key, "idp"))
    monkeypatch.setattr(signing, "_BENCH_SIGNER", sign_with_xmlsec1_subprocess)
    now = dt.datetime.now(dt.UTC)
    subject = Subject("u1", "29189846", "Testkommune", "Low", now, "s1")
    assertion = build_assertion(
        issuer="https://idp.test",
        subject=subject,
        audience=Audience("https://sp.test", "https://sp.test/acs", "_r1"),
        privileges_b64="",
        now=now,
        lifetime=dt.timedelta(minutes=5),
    )
    response = build_response(
        issuer="https://idp.test", destination="https://sp.test/acs", in_response_to="_r1", now=now
    )
    response.append(assertion)
    signing.sign(assertion, signer)
    signing.sign(response, signer)
    parsed = etree.fromstring(etree.tostring(response))
    keys = [VerifyKey.from_certificate(signer.certificate)]
    signed_assertion = parsed.find(f"{{{SAML}}}Assertion")
    # Each signature sits right after its element's Issuer and carries the certificate.
    for element in (parsed, signed_assertion):
        assert element[1].tag == f"{{{DS}}}Signature"
        assert element.find(f".//{{{DS}}}X509Certificate").text == signer.certificate_b64
    context = xmlsec.SignatureContext()
    context.key = keys[0].xmlsec_key
    context.register_id(parsed, "ID")
    context.verify(parsed.find(f"{{{DS}}}Signature"))  # raises when it does not verify
    # The assertion alone (as an SP checks it after the response) verifies too.
    assert verify_enveloped(etree.fromstring(etree.tostring(signed_assertion)), keys)
