"""Our enveloped signatures, checked by three independent verifiers.

``idp.saml.signing.sign`` builds the signature with lxml's exclusive c14n and
``cryptography`` (no libxmlsec1 in the signing path). Each response below, its assertion
signed and then the response around it, as an SP receives them, must verify with:
libxmlsec1 in this process (python-xmlsec), the ``xmlsec1`` command in another, and
signxml (what our verifier SDK uses). The reference digest must be the one libxmlsec1
computes for the same element when it signs from its own template.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import xmlsec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import SignatureConfiguration, SignatureMethod, XMLVerifier

from certs.keys import self_signed_certificate
from idp.saml.assertion import Audience, Subject, build_assertion, build_response
from idp.saml.constants import DS, RSA_PSS_SHA256, RSA_SHA256, RSA_SHA384, RSA_SHA512, SAML
from idp.saml.signing import Signer, VerifyKey, sign, verify_enveloped
from tests.conftest import service_missing

PRIVILEGES = base64.b64encode(
    b'<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile"/>'
).decode()
XMLSEC_METHODS = {
    RSA_SHA256: xmlsec.constants.TransformRsaSha256,
    RSA_SHA384: xmlsec.constants.TransformRsaSha384,
    RSA_SHA512: xmlsec.constants.TransformRsaSha512,
}
SIGNXML_METHODS = {
    RSA_SHA256: SignatureMethod.RSA_SHA256,
    RSA_SHA384: SignatureMethod.RSA_SHA384,
    RSA_SHA512: SignatureMethod.RSA_SHA512,
}


@pytest.fixture(scope="module")
def signer() -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return Signer.from_objects("k1", key, self_signed_certificate(key, "idp"))


def unsigned_response() -> tuple[etree._Element, etree._Element]:
    now = dt.datetime.now(dt.UTC)
    assertion = build_assertion(
        issuer="https://idp.test/saml",
        subject=Subject("u1", "29189846", "Testkommune", "Substantial", now, "s1"),
        audience=Audience("https://sp.test", "https://sp.test/acs", "_r1"),
        privileges_b64=PRIVILEGES,
        now=now,
        lifetime=dt.timedelta(minutes=5),
    )
    response = build_response(
        issuer="https://idp.test/saml",
        destination="https://sp.test/acs",
        in_response_to="_r1",
        now=now,
    )
    response.append(assertion)
    return response, assertion


def signed_response(signer: Signer, method: str) -> bytes:
    response, assertion = unsigned_response()
    sign(assertion, signer, method)
    sign(response, signer, method)
    return etree.tostring(response)


def xmlsec_verifies(element: etree._Element, signer: Signer) -> None:
    """libxmlsec1 (python-xmlsec): raises unless the element's own signature verifies."""
    context = xmlsec.SignatureContext()
    context.key = VerifyKey.from_certificate(signer.certificate).xmlsec_key
    context.register_id(element, "ID")
    context.verify(element.find(f"{{{DS}}}Signature"))


@pytest.mark.parametrize("method", [RSA_SHA256, RSA_SHA384, RSA_SHA512])
def test_libxmlsec1_and_signxml_verify_response_and_assertion(signer: Signer, method: str) -> None:
    posted = signed_response(signer, method)
    response = etree.fromstring(posted)
    assertion = response.find(f"{{{SAML}}}Assertion")
    for element in (response, assertion):
        assert element[1].tag == f"{{{DS}}}Signature"  # right after the Issuer
        assert (
            element.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod").get(
                "Algorithm"
            )
            == method
        )
    xmlsec_verifies(response, signer)
    alone = etree.fromstring(etree.tostring(assertion))  # as an SP checks it after the response
    xmlsec_verifies(alone, signer)
    assert verify_enveloped(etree.fromstring(etree.tostring(assertion)), [
        VerifyKey.from_certificate(signer.certificate)
    ])  # fmt: skip
    certificate = signer.certificate.public_bytes(serialization.Encoding.PEM).decode()
    config = SignatureConfiguration(
        location="./", expect_references=1, signature_methods=frozenset({SIGNXML_METHODS[method]})
    )
    for element in (etree.fromstring(posted), alone):
        result = XMLVerifier().verify(element, x509_cert=certificate, expect_config=config)
        assert not isinstance(result, list) and result.signed_xml is not None
        assert result.signed_xml.get("ID") == element.get("ID")


def test_a_changed_assertion_no_longer_verifies(signer: Signer) -> None:
    response = etree.fromstring(signed_response(signer, RSA_SHA256))
    assertion = response.find(f"{{{SAML}}}Assertion")
    assertion.find(f"{{{SAML}}}Issuer").text = "https://evil.test"
    alone = etree.fromstring(etree.tostring(assertion))
    with pytest.raises(xmlsec.Error):
        xmlsec_verifies(alone, signer)
    with pytest.raises(xmlsec.Error):
        xmlsec_verifies(response, signer)


def test_the_xmlsec1_command_verifies_the_response(signer: Signer, tmp_path: Path) -> None:
    binary = shutil.which("xmlsec1")
    if binary is None:
        service_missing("xmlsec1", "the xmlsec1 command is not installed")
    document = tmp_path / "response.xml"
    document.write_bytes(signed_response(signer, RSA_SHA256))
    certificate = tmp_path / "idp.pem"
    certificate.write_bytes(signer.certificate.public_bytes(serialization.Encoding.PEM))
    for node in ("urn:oasis:names:tc:SAML:2.0:protocol:Response", f"{SAML}:Assertion"):
        done = subprocess.run(
            [str(binary), "--verify", "--pubkey-cert-pem", str(certificate),
             "--id-attr:ID", node, "--node-name", node, str(document)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


def test_the_reference_digest_is_the_one_libxmlsec1_computes(signer: Signer) -> None:
    response, assertion = unsigned_response()
    theirs = etree.fromstring(etree.tostring(response)).find(f"{{{SAML}}}Assertion")
    sign(assertion, signer)
    template = xmlsec.template.create(
        theirs, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
    )
    theirs.find(f"{{{SAML}}}Issuer").addnext(template)
    reference = xmlsec.template.add_reference(
        template, xmlsec.constants.TransformSha256, uri="#" + theirs.get("ID")
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    context = xmlsec.SignatureContext()
    context.key = signer.xmlsec_key
    context.register_id(theirs, "ID")
    context.sign(template)
    digest = f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}Reference/{{{DS}}}DigestValue"
    assert assertion.find(digest).text == theirs.find(digest).text.strip()


def test_pss_signatures_verify_with_the_public_key(signer: Signer) -> None:
    response = etree.fromstring(signed_response(signer, RSA_PSS_SHA256))
    certificate = signer.certificate.public_bytes(serialization.Encoding.PEM).decode()
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        signature_methods=frozenset({SignatureMethod.SHA256_RSA_MGF1}),
    )
    result = XMLVerifier().verify(response, x509_cert=certificate, expect_config=config)
    assert not isinstance(result, list) and result.signed_xml is not None


def test_unknown_methods_are_refused(signer: Signer) -> None:
    _, assertion = unsigned_response()
    with pytest.raises(ValueError, match="unsupported"):
        sign(assertion, signer, "http://www.w3.org/2000/09/xmldsig#rsa-sha1")


def test_threads_sharing_one_signer_all_produce_valid_signatures(signer: Signer) -> None:
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()

    def work() -> None:
        for _ in range(40):
            try:
                response = etree.fromstring(signed_response(signer, RSA_SHA256))
                xmlsec_verifies(response, signer)
                with lock:
                    done[0] += 1
            except Exception as exc:
                with lock:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == [] and done[0] == 8 * 40
