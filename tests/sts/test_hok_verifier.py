"""The verifier's holder-of-key check on STS assertions (what a fagsystem/WSP runs)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from lxml import etree

from tests.sts.kit import CVR, ISSUER, SERVICE, SERVICE_ROLE, StsWorld
from tests.sts.test_json_endpoint import post, request_body
from verifier import InvalidToken
from verifier.saml.hok import HokAssertion, verify_hok_assertion


def issued(world: StsWorld) -> bytes:
    response = post(world, request_body(world.pki.sapa), world.pki.sapa)
    assert response.status_code == 200, response.get_json()
    return base64.b64decode(response.get_json()["RequestedSecurityToken"]["Assertion"])


def check(world: StsWorld, token: bytes | str, presented: object, **kwargs: object) -> HokAssertion:
    options: dict[str, object] = {
        "sts_certificates": [world.signing_certificate()],
        "issuer": ISSUER,
        "audience": SERVICE,
        "presented_certificate": presented,
        **kwargs,
    }
    return verify_hok_assertion(token, **options)  # type: ignore[arg-type]


def test_the_key_holder_is_accepted(sts_world: StsWorld) -> None:
    xml = issued(sts_world)
    assertion = check(sts_world, xml, sts_world.pki.sapa.pem)
    assert assertion.cvr == CVR
    assert assertion.privileges.has_privilege(
        SERVICE_ROLE, cvr=CVR, constraints={"urn:x:fysiskslet": "Nej"}
    )
    assert assertion.certificate == sts_world.pki.sapa.cert
    # base64 (as the JSON endpoint and Serviceplatformen's AS carry it) works the same
    check(sts_world, base64.b64encode(xml).decode(), sts_world.pki.sapa.der)


def test_another_certificate_is_refused(sts_world: StsWorld) -> None:
    xml = issued(sts_world)
    for other in (sts_world.pki.sapa_next, sts_world.pki.proxy):
        with pytest.raises(InvalidToken) as caught:
            check(sts_world, xml, other.cert)
        assert caught.value.reason == "hok_mismatch"


def test_a_tampered_confirmation_certificate_breaks_the_signature(sts_world: StsWorld) -> None:
    root = etree.fromstring(issued(sts_world))
    ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    (certificate,) = root.xpath("//ds:X509Data/ds:X509Certificate", namespaces=ns)[1:]
    certificate.text = sts_world.pki.proxy.b64  # swap in the presenter's own certificate
    with pytest.raises(InvalidToken) as caught:
        check(sts_world, etree.tostring(root), sts_world.pki.proxy.cert)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"audience": SERVICE + "/"}, "wrong_audience"),
        ({"issuer": "https://kombit.example/runtime"}, "wrong_issuer"),
        ({"now": dt.datetime.now(dt.UTC) + dt.timedelta(hours=9)}, "expired"),
    ],
)
def test_audience_issuer_and_time_are_checked(
    sts_world: StsWorld, kwargs: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidToken) as caught:
        check(sts_world, issued(sts_world), sts_world.pki.sapa.cert, **kwargs)
    assert caught.value.reason == reason


def test_a_token_signed_by_another_key_is_refused(sts_world: StsWorld) -> None:
    with pytest.raises(InvalidToken) as caught:
        check(
            sts_world,
            issued(sts_world),
            sts_world.pki.sapa.cert,
            sts_certificates=[sts_world.pki.ca.cert],
        )
    assert caught.value.reason == "bad_signature"
