"""Single logout across two SPs, both bindings, SP- and IdP-initiated."""

from __future__ import annotations

import base64
import re
import uuid
import zlib
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from idp.saml.constants import BINDING_POST, SAML, SAMLP, STATUS_NO_PASSIVE, STATUS_SUCCESS
from settings import Settings
from tests.saml_kit import (
    SLO,
    SpKeys,
    World,
    authn_request,
    idp_certificate_pem,
    instant,
    make_world,
    redirect_query,
    response_of,
    sp_metadata,
)

KY = "https://ky.test/sp"
KSD = "https://ksd.test/sp"
P, A = f"{{{SAMLP}}}", f"{{{SAML}}}"


@pytest.fixture(scope="module")
def keys() -> SpKeys:
    return SpKeys.generate("sp")


@pytest.fixture
def world(settings: Settings, keys: SpKeys) -> World:
    world = make_world(settings)
    world.add_sp(KY, keys, fagsystem="ky")
    ksd_metadata = sp_metadata(KSD, keys, slo=[("https://ksd.test/slo", BINDING_POST)])
    world.add_sp(KSD, keys, fagsystem="ksd", metadata=ksd_metadata)
    return world


def logged_in_to_both(world: World) -> str:
    first = world.client.get("/saml/sso?" + redirect_query(authn_request(KY)))
    ky = response_of(world.login(first.headers["Location"]))[1]
    second = world.client.get("/saml/sso?" + redirect_query(authn_request(KSD)))
    assert second.status_code == 200  # no login page for the second SP
    session_index = ky.find(f"{A}Assertion/{A}AuthnStatement").get("SessionIndex")
    return session_index


def logout_request(issuer: str, name_id: str, session_index: str) -> etree._Element:
    root = etree.Element(
        P + "LogoutRequest",
        nsmap={"samlp": SAMLP, "saml": SAML},
        ID="_" + uuid.uuid4().hex,
        Version="2.0",
        IssueInstant=instant(),
        Destination=SLO,
    )
    etree.SubElement(root, A + "Issuer").text = issuer
    etree.SubElement(root, A + "NameID").text = name_id
    etree.SubElement(root, P + "SessionIndex").text = session_index
    return root


def logout_response(issuer: str, in_response_to: str, status: str = STATUS_SUCCESS):
    root = etree.Element(
        P + "LogoutResponse",
        nsmap={"samlp": SAMLP, "saml": SAML},
        ID="_" + uuid.uuid4().hex,
        Version="2.0",
        IssueInstant=instant(),
        Destination=SLO,
        InResponseTo=in_response_to,
    )
    etree.SubElement(root, A + "Issuer").text = issuer
    etree.SubElement(etree.SubElement(root, P + "Status"), P + "StatusCode", Value=status)
    return root


def verify_redirect_from_idp(world: World, location: str, field: str) -> etree._Element:
    """Check the IdP's Redirect-binding signature and return the inflated message."""
    query = urlsplit(location).query
    signed, _, signature = query.rpartition("&Signature=")
    cert = x509.load_pem_x509_certificate(idp_certificate_pem(world).encode())
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        base64.b64decode(unquote_plus(signature)),
        signed.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    payload = parse_qs(query)[field][0]
    return etree.fromstring(zlib.decompress(base64.b64decode(payload), -15))


def test_sp_initiated_logout_propagates_and_answers_the_initiator(world: World, keys) -> None:
    session_index = logged_in_to_both(world)
    request = logout_request(KY, world.user_id, session_index)
    http = world.client.get("/saml/slo?" + redirect_query(request, keys=keys, relay_state="ky-rs"))
    # KSD's SLO is HTTP-POST: a signed LogoutRequest in an auto-POST form.
    action, to_ksd, fields = response_of(http, "SAMLRequest")
    assert action == "https://ksd.test/slo"
    assert to_ksd.tag == P + "LogoutRequest"
    assert to_ksd.findtext(A + "NameID") == world.user_id
    assert to_ksd.findtext(P + "SessionIndex") == session_index
    from signxml import XMLVerifier

    XMLVerifier().verify(etree.tostring(to_ksd), x509_cert=idp_certificate_pem(world))
    answer = logout_response(KSD, to_ksd.get("ID"))
    back = world.client.post(
        "/saml/slo",
        data={
            "SAMLResponse": base64.b64encode(etree.tostring(answer)).decode(),
            "RelayState": fields["RelayState"],
        },
    )
    assert back.status_code == 302
    assert back.headers["Location"].startswith("https://ky.test/slo?")
    final = verify_redirect_from_idp(world, back.headers["Location"], "SAMLResponse")
    assert final.get("InResponseTo") == request.get("ID")
    assert final.find(f"{P}Status/{P}StatusCode").get("Value") == STATUS_SUCCESS
    assert parse_qs(urlsplit(back.headers["Location"]).query)["RelayState"] == ["ky-rs"]
    # The SSO session is gone: a passive request now answers NoPassive.
    after = world.client.get("/saml/sso?" + redirect_query(authn_request(KY, passive=True)))
    codes = [c.get("Value") for c in response_of(after)[1].iter(P + "StatusCode")]
    assert codes[-1] == STATUS_NO_PASSIVE


def test_logout_request_over_post_with_no_other_sp(world: World, keys) -> None:
    first = world.client.get("/saml/sso?" + redirect_query(authn_request(KY)))
    ky = response_of(world.login(first.headers["Location"]))[1]
    index = ky.find(f"{A}Assertion/{A}AuthnStatement").get("SessionIndex")
    request = logout_request(KY, world.user_id, index)
    http = world.client.post(
        "/saml/slo", data={"SAMLRequest": base64.b64encode(etree.tostring(request)).decode()}
    )
    assert http.status_code == 302 and http.headers["Location"].startswith("https://ky.test/slo")
    assert "sts_sso=;" in http.headers.get("Set-Cookie", "")


def test_a_logout_answer_for_no_logout_in_progress_is_refused(world: World) -> None:
    answer = logout_response(KSD, "_nothing")
    http = world.client.post(
        "/saml/slo",
        data={"SAMLResponse": base64.b64encode(etree.tostring(answer)).decode(), "RelayState": "x"},
    )
    assert http.status_code == 400 and "Location" not in http.headers


def test_logout_request_from_unknown_sp_is_refused(world: World) -> None:
    request = logout_request("https://unknown.test/sp", "u", "s")
    http = world.client.get("/saml/slo?" + redirect_query(request))
    assert http.status_code == 403 and "Location" not in http.headers


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def test_idp_initiated_logout_from_the_idp_page(world: World) -> None:
    logged_in_to_both(world)
    page = world.client.get("/saml/logout")
    token = csrf_token(page.get_data(as_text=True))
    assert world.client.post("/saml/logout", data={"csrf": "wrong"}).status_code == 400
    page = world.client.get("/saml/logout")
    token = csrf_token(page.get_data(as_text=True))
    http = world.client.post("/saml/logout", data={"csrf": token})
    # KSD (POST binding) first, then KY (Redirect binding), then the IdP's own page.
    action, to_ksd, fields = response_of(http, "SAMLRequest")
    assert action == "https://ksd.test/slo"
    answer = logout_response(KSD, to_ksd.get("ID"))
    http = world.client.post(
        "/saml/slo",
        data={
            "SAMLResponse": base64.b64encode(etree.tostring(answer)).decode(),
            "RelayState": fields["RelayState"],
        },
    )
    assert http.status_code == 302
    to_ky = verify_redirect_from_idp(world, http.headers["Location"], "SAMLRequest")
    relay = parse_qs(urlsplit(http.headers["Location"]).query)["RelayState"][0]
    answer = logout_response(KY, to_ky.get("ID"))
    done = world.client.get(
        "/saml/slo?" + redirect_query(answer, field="SAMLResponse", relay_state=relay)
    )
    assert done.status_code == 200 and "logget ud" in done.get_data(as_text=True)
