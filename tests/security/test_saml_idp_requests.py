"""SECURITY.md, "SAML, as IdP receiving requests": one test (or more) per line.

Each test sends the bad request through the real app and asserts the outcome: an error
page (4xx, no redirect, no SAMLResponse form), never a 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from typing import Any
from urllib.parse import quote_plus

import pytest
import xmlsec
from lxml import etree

from idp.saml import requests as saml_requests
from idp.saml import signing
from settings import Settings
from tests.saml_kit import (
    SpKeys,
    World,
    authn_request,
    instant,
    make_world,
    post_body,
    redirect_query,
    sign_enveloped,
    sp_metadata,
)

KY = "https://ky.test/sp"
OPEN = "https://open.test/sp"  # an SP that does not require signed requests
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


@pytest.fixture(scope="module")
def keys() -> SpKeys:
    return SpKeys.generate("ky")


@pytest.fixture(scope="module")
def other_keys() -> SpKeys:
    return SpKeys.generate("attacker")


@pytest.fixture
def world(settings: Settings, keys: SpKeys) -> World:
    world = make_world(settings)
    metadata = sp_metadata(
        KY, keys, acs=[("https://ky.test/acs", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", 1)]
    )
    world.add_sp(KY, keys, metadata=metadata, require_signed_requests=True)
    world.add_sp(OPEN, keys, fagsystem="ksd")
    return world


def refused(response: Any, status: int = 400) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert "Location" not in response.headers
    assert "SAMLResponse" not in body
    return body


def accepted(response: Any) -> None:
    assert response.status_code in (200, 303), response.get_data(as_text=True)
    if response.status_code == 303:
        assert "/login/" in response.headers["Location"]


def get(world: World, query: str) -> Any:
    return world.client.get("/saml/sso?" + query)


# 1. Unknown issuer ------------------------------------------------------------------------


def test_unknown_issuer_gets_an_error_page_and_no_redirect(world: World, keys: SpKeys) -> None:
    request = authn_request("https://unknown.test/sp", acs_url="https://unknown.test/acs")
    body = refused(get(world, redirect_query(request, keys=keys)), 403)
    assert "not registered" in body


# 2. ACS only from metadata ------------------------------------------------------------------


def test_acs_url_not_in_metadata_is_never_redirected_to(world: World, keys: SpKeys) -> None:
    request = authn_request(KY, acs_url="https://evil.test/acs")
    body = refused(get(world, redirect_query(request, keys=keys)))
    assert "evil.test" not in body.split("<p>")[0]


def test_acs_index_out_of_range(world: World, keys: SpKeys) -> None:
    refused(get(world, redirect_query(authn_request(KY, acs_index=7), keys=keys)))


def test_acs_index_from_metadata_is_used(world: World, keys: SpKeys) -> None:
    accepted(get(world, redirect_query(authn_request(KY, acs_index=1), keys=keys)))


# 3. Signed requests: required, right key, no SHA-1, no HMAC ----------------------------------


def test_unsigned_request_refused_when_the_sp_requires_signing(world: World) -> None:
    refused(get(world, redirect_query(authn_request(KY))))
    refused(world.client.post("/saml/sso", data=post_body(authn_request(KY))))


def test_request_signed_with_another_key_is_refused(world: World, other_keys: SpKeys) -> None:
    refused(get(world, redirect_query(authn_request(KY), keys=other_keys)))
    signed = sign_enveloped(authn_request(KY), other_keys)
    refused(world.client.post("/saml/sso", data=post_body(signed)))


def test_sha1_signatures_are_refused_on_both_bindings(world: World, keys: SpKeys) -> None:
    body = refused(get(world, redirect_query(authn_request(KY), keys=keys, sig_alg=RSA_SHA1)))
    assert "not accepted" in body
    signed = sign_enveloped(
        authn_request(KY),
        keys,
        method=xmlsec.constants.TransformRsaSha1,
        digest=xmlsec.constants.TransformSha1,
    )
    refused(world.client.post("/saml/sso", data=post_body(signed)))
    signed = sign_enveloped(authn_request(KY), keys, method=xmlsec.constants.TransformRsaSha1)
    refused(world.client.post("/saml/sso", data=post_body(signed)))


def test_hmac_signatures_are_refused(world: World, keys: SpKeys) -> None:
    signed = sign_enveloped(
        authn_request(KY),
        None,
        method=xmlsec.constants.TransformHmacSha256,
        hmac_key=keys.cert_pem,  # the classic: the public certificate as the HMAC secret
    )
    body = refused(world.client.post("/saml/sso", data=post_body(signed)))
    assert "hmac" in body.lower()
    hmac_query = redirect_query(authn_request(KY), keys=keys).replace(
        quote_plus("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
        quote_plus("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"),
    )
    refused(get(world, hmac_query))


def test_a_good_post_signature_is_accepted(world: World, keys: SpKeys) -> None:
    signed = sign_enveloped(authn_request(KY), keys)
    assert world.client.post("/saml/sso", data=post_body(signed)).status_code == 303


# 4. Redirect binding: the received order; RelayState covered ---------------------------------


def test_changed_relay_state_breaks_the_redirect_signature(world: World, keys: SpKeys) -> None:
    query = redirect_query(authn_request(KY), keys=keys, relay_state="abc")
    refused(get(world, query.replace("RelayState=abc", "RelayState=abd")))


def test_added_relay_state_breaks_the_redirect_signature(world: World, keys: SpKeys) -> None:
    query = redirect_query(authn_request(KY), keys=keys)
    first, rest = query.split("&", 1)
    refused(get(world, f"{first}&RelayState=x&{rest}"))


def test_signature_is_checked_over_the_received_order(world: World, keys: SpKeys) -> None:
    # An SP that signs RelayState first: verified over the octets as they arrived.
    payload = redirect_query(authn_request(KY)).split("=", 1)[1]
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    sig_alg = quote_plus("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    signed = f"RelayState=r1&SAMLRequest={payload}&SigAlg={sig_alg}"
    value = keys.key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    query = signed + "&Signature=" + quote_plus(base64.b64encode(value).decode())
    accepted(get(world, query))


def test_repeated_parameters_are_refused(world: World, keys: SpKeys) -> None:
    query = redirect_query(authn_request(KY), keys=keys, relay_state="a")
    refused(get(world, query + "&RelayState=b"))


# 5. Destination, IssueInstant skew, replay ---------------------------------------------------


def test_destination_not_ours_is_refused(world: World, keys: SpKeys) -> None:
    request = authn_request(KY, destination="https://other-idp.test/sso")
    assert "Destination" in refused(get(world, redirect_query(request, keys=keys)))


@pytest.mark.parametrize("minutes", [-4, 4])
def test_issue_instant_outside_three_minutes_is_refused(
    world: World, keys: SpKeys, minutes: int
) -> None:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    request = authn_request(KY, issue_instant=instant(moment))
    assert "IssueInstant" in refused(get(world, redirect_query(request, keys=keys)))


def test_issue_instant_within_the_skew_is_accepted(world: World, keys: SpKeys) -> None:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    accepted(
        get(world, redirect_query(authn_request(KY, issue_instant=instant(moment)), keys=keys))
    )


def test_a_request_id_seen_before_is_refused(world: World, keys: SpKeys) -> None:
    query = redirect_query(authn_request(KY, request_id="_replayed"), keys=keys)
    accepted(get(world, query))
    assert "replay" in refused(get(world, query))


# 6. DTDs, entities, bombs: refused before any signature work ---------------------------------


@pytest.fixture
def no_signature_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("signature work on a document that should have been refused")

    monkeypatch.setattr(saml_requests, "verify_enveloped", forbidden)
    monkeypatch.setattr(saml_requests, "verify_redirect", forbidden)
    monkeypatch.setattr(signing, "verify_enveloped", forbidden)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
  xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0"
  IssueInstant="2030-01-01T00:00:00Z"><saml:Issuer>&x;</saml:Issuer></samlp:AuthnRequest>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_l"
  Version="2.0">&lol2;</samlp:AuthnRequest>"""
DTD_ONLY = b"""<!DOCTYPE samlp:AuthnRequest SYSTEM "http://evil.test/x.dtd">
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_d"
  Version="2.0"/>"""


@pytest.mark.parametrize("document", [XXE, LAUGHS, DTD_ONLY], ids=["xxe", "laughs", "dtd"])
def test_dtd_and_entities_refused_before_signature_work(
    world: World, no_signature_work: None, document: bytes
) -> None:
    assert "DOCTYPE" in refused(get(world, redirect_query(document)))
    assert "DOCTYPE" in refused(world.client.post("/saml/sso", data=post_body(document)))


def test_utf16_encoded_doctype_is_refused_too(world: World, no_signature_work: None) -> None:
    refused(
        world.client.post(
            "/saml/sso",
            data=post_body(
                XXE.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
                .decode()
                .encode("utf-16")
            ),
        )
    )


def test_deflate_bomb_past_256_kib_is_refused(world: World, no_signature_work: None) -> None:
    xml = etree.tostring(authn_request(OPEN))
    padded = xml.replace(b"<saml:Issuer>", b"<!--" + b" " * (300 * 1024) + b"--><saml:Issuer>")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = base64.b64encode(compressor.compress(padded) + compressor.flush()).decode()
    assert len(payload) < 4096  # small on the wire, big inflated
    assert "256 KiB" in refused(get(world, "SAMLRequest=" + quote_plus(payload)))


def test_just_under_the_inflate_limit_is_fine(world: World) -> None:
    xml = etree.tostring(authn_request(OPEN))
    padded = xml.replace(b"<saml:Issuer>", b"<!--" + b" " * (200 * 1024) + b"--><saml:Issuer>")
    accepted(get(world, redirect_query(padded)))


# 7. Transforms and references -------------------------------------------------------------------


@pytest.mark.parametrize(
    "transform",
    [xmlsec.constants.TransformXslt, xmlsec.constants.TransformXPath],
    ids=["xslt", "xpath"],
)
def test_xslt_and_xpath_transforms_are_refused(world: World, keys: SpKeys, transform: Any) -> None:
    request = authn_request(KY)
    signature = xmlsec.template.create(
        request,
        xmlsec.constants.TransformExclC14N,
        xmlsec.constants.TransformRsaSha256,
        ns="ds",
    )
    request.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri="#" + request.get("ID")
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    node = xmlsec.template.add_transform(reference, transform)
    if transform == xmlsec.constants.TransformXPath:
        etree.SubElement(node, "{http://www.w3.org/2000/09/xmldsig#}XPath").text = "true()"
    else:
        node.append(
            etree.fromstring(
                b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
                b'<xsl:template match="/"><x/></xsl:template></xsl:stylesheet>'
            )
        )
    etree.SubElement(reference.find("{http://www.w3.org/2000/09/xmldsig#}DigestValue"), "x")
    reference.find("{http://www.w3.org/2000/09/xmldsig#}DigestValue").clear()
    xml = etree.tostring(request)
    assert "transform" in refused(world.client.post("/saml/sso", data=post_body(xml))).lower()


def test_reference_to_another_element_is_refused(world: World, keys: SpKeys) -> None:
    request = authn_request(KY)
    extensions = etree.SubElement(
        request, "{urn:oasis:names:tc:SAML:2.0:protocol}Extensions", ID="_other"
    )
    extensions.text = "x"
    request.remove(extensions)
    request.insert(1, extensions)
    sign_enveloped(request, keys, uri="#_other")
    assert "reference" in refused(world.client.post("/saml/sso", data=post_body(request))).lower()


def test_empty_reference_uri_is_refused(world: World, keys: SpKeys) -> None:
    signed = sign_enveloped(authn_request(KY), keys, uri="")
    refused(world.client.post("/saml/sso", data=post_body(signed)))


def test_a_second_signature_elsewhere_is_refused(world: World, keys: SpKeys) -> None:
    signed = sign_enveloped(authn_request(KY), keys)
    copy = etree.fromstring(etree.tostring(signed))
    extensions = etree.SubElement(signed, "{urn:oasis:names:tc:SAML:2.0:protocol}Extensions")
    extensions.append(copy.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    refused(world.client.post("/saml/sso", data=post_body(signed)))


# 8. RelayState ------------------------------------------------------------------------------------


def test_relay_state_over_80_bytes_is_refused(world: World, keys: SpKeys) -> None:
    query = redirect_query(authn_request(KY), keys=keys, relay_state="x" * 81)
    assert "RelayState" in refused(get(world, query))
    post = post_body(sign_enveloped(authn_request(KY), keys), relay_state="æ" * 41)  # 82 bytes
    assert "RelayState" in refused(world.client.post("/saml/sso", data=post))


def test_relay_state_of_80_bytes_is_fine(world: World, keys: SpKeys) -> None:
    accepted(get(world, redirect_query(authn_request(KY), keys=keys, relay_state="x" * 80)))


# Bad input never gives a 500 -------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SAMLRequest=%%%not-base64",
        "SAMLRequest=" + quote_plus(base64.b64encode(b"not deflate at all").decode()),
        "SAMLRequest=" + quote_plus(base64.b64encode(zlib.compress(b"<a>")[2:-4]).decode()),
        "",
        "SAMLRequest=",
        "SAMLRequest=" + quote_plus(base64.b64encode(b"\x03\x00").decode()),
    ],
)
def test_malformed_redirect_input_gives_a_clear_error_page(world: World, query: str) -> None:
    refused(get(world, query))


@pytest.mark.parametrize("value", ["%%%", base64.b64encode(b"<unclosed").decode(), "", "QQ="])
def test_malformed_post_input_gives_a_clear_error_page(world: World, value: str) -> None:
    refused(world.client.post("/saml/sso", data={"SAMLRequest": value}))


def test_not_an_authn_request(world: World) -> None:
    xml = b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"/>'
    refused(world.client.post("/saml/sso", data=post_body(xml)))


def test_comment_inside_issuer_is_refused(world: World) -> None:
    request = etree.tostring(authn_request(OPEN)).replace(
        b"https://open.test/sp</saml:Issuer>", b"https://open.test<!---->/sp</saml:Issuer>"
    )
    refused(get(world, redirect_query(request)))
