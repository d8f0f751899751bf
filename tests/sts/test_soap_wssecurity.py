"""idp.sts.wssecurity on its own: what a WS-Security header must prove, and the signature
wrapping and reference tricks it refuses (SECURITY.md "SAML, as IdP receiving requests" 6
and 7, applied to WS-Security)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from idp.saml.xmlutil import parse
from idp.sts.core import StsRefusal
from idp.sts.wssecurity import verify_security
from tests.sts.kit import KeyPair, pki
from tests.sts.soap_kit import request_for
from tests.sts.wstrust_client import DSIG, S12, O, Style, U

EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


def _parts(xml: bytes) -> tuple[etree._Element, etree._Element, etree._Element]:
    root = parse(xml)
    security = root.find(f"{{{S12}}}Header/{{{O}}}Security")
    assert security is not None
    signature = security.find(f"{{{DSIG}}}Signature")
    assert signature is not None
    signed_info = signature.find(f"{{{DSIG}}}SignedInfo")
    assert signed_info is not None
    return root, signature, signed_info


def _resign(signature: etree._Element, key: KeyPair) -> None:
    """Sign SignedInfo again after a test changed it (what an attacker holding a
    registered key could send)."""
    signed_info = signature.find(f"{{{DSIG}}}SignedInfo")
    assert signed_info is not None
    c14n = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = key.key.sign(c14n, padding.PKCS1v15(), hashes.SHA256())
    signature.find(f"{{{DSIG}}}SignatureValue").text = base64.b64encode(value).decode()


def _add_reference(
    signed_info: etree._Element, target: etree._Element, algorithm: str = EXC
) -> None:
    reference = etree.Element(f"{{{DSIG}}}Reference", URI="#" + target.get(f"{{{U}}}Id", ""))
    signed_info.insert(2, reference)  # first, before the references the test breaks
    transforms = etree.SubElement(reference, f"{{{DSIG}}}Transforms")
    etree.SubElement(transforms, f"{{{DSIG}}}Transform", Algorithm=algorithm)
    etree.SubElement(
        reference, f"{{{DSIG}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"
    )
    digest = hashlib.sha256(etree.tostring(target, method="c14n", exclusive=True)).digest()
    etree.SubElement(reference, f"{{{DSIG}}}DigestValue").text = base64.b64encode(digest).decode()


def _verify(root: etree._Element) -> str:
    try:
        verify_security(root, S12, now=dt.datetime.now(dt.UTC))
    except StsRefusal as refusal:
        return refusal.reason
    return "ok"


@pytest.mark.parametrize("style", list(Style), ids=lambda style: style.value)
def test_each_client_style_verifies_and_names_its_signer(style: Style) -> None:
    root, _, _ = _parts(request_for(pki().sapa, style=style).xml)
    verified = verify_security(root, S12, now=dt.datetime.now(dt.UTC))
    assert verified.certificate == pki().sapa.cert
    assert verified.covers(root.find(f"{{{S12}}}Body"))


def test_an_x509data_key_info_is_accepted_as_the_spec_allows() -> None:
    root, signature, _ = _parts(request_for(pki().sapa).xml)
    key_info = signature.find(f"{{{DSIG}}}KeyInfo")
    assert key_info is not None
    for child in list(key_info):
        key_info.remove(child)
    x509_data = etree.SubElement(key_info, f"{{{DSIG}}}X509Data")
    etree.SubElement(x509_data, f"{{{DSIG}}}X509Certificate").text = pki().sapa.b64
    assert _verify(root) == "ok"


def test_the_key_must_come_from_the_security_header_not_the_body() -> None:
    root, signature, _ = _parts(request_for(pki().sapa, style=Style.MAGENTA).xml)
    reference = signature.find(f"{{{DSIG}}}KeyInfo/{{{O}}}SecurityTokenReference/{{{O}}}Reference")
    assert reference is not None
    reference.set("URI", "#usekey-binary-security-token")  # the UseKey BST inside the Body
    assert _verify(root) == "no_signing_token"


def test_a_duplicated_id_is_refused() -> None:
    root, _, _ = _parts(request_for(pki().sapa).xml)
    header = root.find(f"{{{S12}}}Header")
    assert header is not None
    decoy = etree.SubElement(header, "{urn:x}Decoy")
    decoy.set(f"{{{U}}}Id", "body")
    assert _verify(root) == "duplicate_id"


def test_the_timestamp_must_be_signed() -> None:
    root, signature, signed_info = _parts(request_for(pki().sapa).xml)
    for reference in signed_info.findall(f"{{{DSIG}}}Reference"):
        if reference.get("URI") == "#sec-ts":
            signed_info.remove(reference)
    _resign(signature, pki().sapa)
    assert _verify(root) == "timestamp_not_signed"


def test_a_reference_inside_the_body_is_refused() -> None:
    root, signature, signed_info = _parts(request_for(pki().sapa).xml)
    rst = root.find(f"{{{S12}}}Body")[0]
    rst.set(f"{{{U}}}Id", "rst")
    _add_reference(signed_info, rst)
    _resign(signature, pki().sapa)
    assert _verify(root) == "bad_reference"


def test_an_xslt_transform_is_refused() -> None:
    root, signature, signed_info = _parts(request_for(pki().sapa).xml)
    transform = signed_info.find(f"{{{DSIG}}}Reference/{{{DSIG}}}Transforms/{{{DSIG}}}Transform")
    assert transform is not None
    transform.set("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
    _resign(signature, pki().sapa)
    assert _verify(root) == "bad_transform"


def test_a_changed_signed_info_does_not_verify() -> None:
    root, _, signed_info = _parts(request_for(pki().sapa).xml)
    digest = signed_info.find(f"{{{DSIG}}}Reference/{{{DSIG}}}DigestValue")
    assert digest is not None
    digest.text = base64.b64encode(b"\0" * 32).decode()
    assert _verify(root) == "bad_signature"


def test_a_timestamp_is_accepted_until_expires_plus_five_minutes_of_clock_skew() -> None:
    now = dt.datetime.now(dt.UTC)
    root, _, _ = _parts(request_for(pki().sapa, now=now - dt.timedelta(minutes=9)).xml)
    assert _verify(root) == "ok"  # expired four minutes ago
    root, _, _ = _parts(request_for(pki().sapa, now=now - dt.timedelta(minutes=11)).xml)
    assert _verify(root) == "timestamp_expired"
