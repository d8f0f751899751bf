"""Units of the SAML package: hardened parsing, DEFLATE bounds, LoA rules, signatures."""

from __future__ import annotations

import datetime as dt
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from certs.keys import self_signed_certificate
from idp.saml import xmlutil
from idp.saml.constants import AES256_CBC, AES256_GCM, RSA_PSS_SHA256, RSA_SHA256, SAML, SAMLP
from idp.saml.metadata import MetadataError, parse_sp_metadata
from idp.saml.requests import requested_loa
from idp.saml.signing import (
    Signer,
    VerifyKey,
    check_signature_shape,
    sign,
    split_redirect_query,
    verify_enveloped,
)
from idp.saml.xmlutil import SamlError
from tests.saml_kit import SpKeys, authn_request, sp_metadata


@pytest.fixture(scope="module")
def signer() -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Signer.from_objects("k1", key, self_signed_certificate(key, "idp"))


def test_parse_refuses_doctype_entities_and_processing_instructions() -> None:
    for document in (
        b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
        b'<!doctype a SYSTEM "http://evil.test/a.dtd"><a/>',
        b"<a><?php evil ?></a>",
    ):
        with pytest.raises(SamlError):
            xmlutil.parse(document)
    assert xmlutil.parse(b"<a>ok</a>").text == "ok"


def test_parse_refuses_oversized_and_malformed() -> None:
    with pytest.raises(SamlError, match="too large"):
        xmlutil.parse(b"<a>" + b"x" * (600 * 1024) + b"</a>")
    with pytest.raises(SamlError, match="well-formed"):
        xmlutil.parse(b"<a>")


def test_inflate_is_bounded() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"\0" * (10 * 1024 * 1024)) + bomb.flush()
    with pytest.raises(SamlError, match="256 KiB"):
        xmlutil.inflate(data)
    small = zlib.compressobj(9, zlib.DEFLATED, -15)
    assert xmlutil.inflate(small.compress(b"hello") + small.flush()) == b"hello"
    with pytest.raises(SamlError):
        xmlutil.inflate(b"\xff\xff\xff")
    truncated = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = truncated.compress(b"hello" * 100) + truncated.flush()
    with pytest.raises(SamlError):
        xmlutil.inflate(data[: len(data) // 2])


def test_b64decode_is_strict_but_allows_line_breaks() -> None:
    assert xmlutil.b64decode("aGVs\nbG8=") == b"hello"
    with pytest.raises(SamlError):
        xmlutil.b64decode("a*b")


def test_instants() -> None:
    moment = xmlutil.parse_instant("2030-01-02T03:04:05.123Z")
    assert moment == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert xmlutil.parse_instant("2030-01-02T05:04:05+02:00") == moment
    for bad in ("", "2030-01-02", "2030-13-02T03:04:05Z", "yesterday"):
        with pytest.raises(SamlError):
            xmlutil.parse_instant(bad)


def test_text_of_refuses_comments_and_children() -> None:
    element = etree.fromstring(b"<NameID>user@evil.test<!---->.victim.test</NameID>")
    with pytest.raises(SamlError):
        xmlutil.text_of(element)


def _request_with(comparison: str, *refs: str) -> etree._Element:
    return authn_request("sp", comparison=comparison, class_refs=refs)


NSIS = "https://data.gov.dk/concept/core/nsis/loa/"


@pytest.mark.parametrize(
    ("comparison", "refs", "expected"),
    [
        ("minimum", (NSIS + "Substantial",), "Substantial"),
        ("minimum", (NSIS + "High", NSIS + "Substantial"), "Substantial"),
        ("exact", (NSIS + "Low",), "Low"),
        ("better", (NSIS + "Low",), "Substantial"),
        ("maximum", (NSIS + "High",), None),
        ("minimum", ("https://data.gov.dk/eid/Professional",), None),
        ("exact", ("https://data.gov.dk/eid/Professional",), None),
    ],
)
def test_requested_loa(comparison: str, refs: tuple[str, ...], expected: str | None) -> None:
    assert requested_loa(_request_with(comparison, *refs)) == expected


def test_requested_loa_errors() -> None:
    with pytest.raises(SamlError) as error:
        requested_loa(_request_with("exact", "urn:unknown:context"))
    assert error.value.status and error.value.status.endswith("NoAuthnContext")
    with pytest.raises(SamlError):
        requested_loa(_request_with("better", NSIS + "High"))
    assert requested_loa(authn_request("sp")) is None


def _signed_request(signer: Signer, method: str = RSA_SHA256) -> etree._Element:
    root = etree.fromstring(etree.tostring(authn_request("sp")))
    sign(root, signer, method)
    return etree.fromstring(etree.tostring(root))


def test_sign_and_verify_round_trip(signer: Signer) -> None:
    root = _signed_request(signer)
    assert verify_enveloped(root, [VerifyKey.from_certificate(signer.certificate)])
    assert verify_enveloped(authn_request("sp"), []) is False  # unsigned


def test_verify_fails_for_a_changed_document_and_another_key(signer: Signer) -> None:
    root = _signed_request(signer)
    root.find(f"{{{SAML}}}Issuer").text = "other"
    with pytest.raises(SamlError, match="does not verify"):
        verify_enveloped(root, [VerifyKey.from_certificate(signer.certificate)])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SamlError):
        verify_enveloped(
            _signed_request(signer),
            [VerifyKey.from_certificate(self_signed_certificate(other, "x"))],
        )


def test_pss_signatures_are_not_accepted_on_requests(signer: Signer) -> None:
    with pytest.raises(SamlError, match="not accepted"):
        check_signature_shape(_signed_request(signer, RSA_PSS_SHA256))


def test_signature_with_an_object_element_is_refused(signer: Signer) -> None:
    root = _signed_request(signer)
    signature = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    etree.SubElement(signature, "{http://www.w3.org/2000/09/xmldsig#}Object")
    with pytest.raises(SamlError, match="unexpected"):
        check_signature_shape(root)


def test_duplicate_ids_are_refused(signer: Signer) -> None:
    root = _signed_request(signer)
    etree.SubElement(root, f"{{{SAMLP}}}Extensions", ID=root.get("ID"))
    with pytest.raises(SamlError, match="duplicate"):
        check_signature_shape(root)


def test_split_redirect_query_keeps_the_received_octets() -> None:
    params = split_redirect_query(
        b"RelayState=a%20b&SAMLRequest=x%2B&SigAlg=s&Signature=AA%3D%3D", "SAMLRequest"
    )
    assert params.signed_octets == b"RelayState=a%20b&SAMLRequest=x%2B&SigAlg=s"
    assert params.message == "x+" and params.relay_state == "a b"
    assert params.signature == b"\0"


def test_sp_metadata_algorithm_preferences() -> None:
    keys = SpKeys.generate()
    plain = parse_sp_metadata(sp_metadata("https://a.test/sp", keys))
    assert plain.signature_method == RSA_SHA256 and plain.data_encryption_method == AES256_GCM
    pss = parse_sp_metadata(
        sp_metadata(
            "https://a.test/sp",
            keys,
            signing_methods=("urn:x", RSA_PSS_SHA256),
            encryption_methods=(AES256_CBC,),
        )
    )
    assert pss.signature_method == RSA_PSS_SHA256 and pss.data_encryption_method == AES256_CBC
    assert len(pss.signing_certificates) == 1 and len(pss.encryption_certificates) == 1


def test_sp_metadata_errors() -> None:
    keys = SpKeys.generate()
    expired = sp_metadata("https://a.test/sp", keys).replace(
        'entityID="https://a.test/sp"',
        'entityID="https://a.test/sp" validUntil="2001-01-01T00:00:00Z"',
    )
    with pytest.raises(MetadataError, match="expired"):
        parse_sp_metadata(expired)
    with pytest.raises(MetadataError):
        parse_sp_metadata("<nonsense/>")
    with pytest.raises(MetadataError):
        parse_sp_metadata(sp_metadata("https://a.test/sp", keys), "https://other.test/sp")
