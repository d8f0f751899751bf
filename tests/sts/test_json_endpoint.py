"""B: the STS REST (JSON) endpoint: tokens a KOMBIT client accepts, refusals without a token.

The assertion is checked independently of the server's code: signxml with the pinned STS
certificate, then the fields a KOMBIT client and a WSP read (REFERENCE-KOMBIT-STS.md §3.1,
§9.5 item 3).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import quote

import pytest
from lxml import etree
from signxml import XMLVerifier
from sqlalchemy import select

from authz.bpp import decode_bpp
from store.models import AuditEvent
from tests.sts.kit import (
    CERT_HEADER,
    CONSTRAINT,
    CVR,
    ISSUER,
    JSON_PATH,
    OTHER_CVR,
    OTHER_SERVICE,
    SERVICE,
    SERVICE_ROLE,
    KeyPair,
    StsWorld,
    tls,
)

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"saml": SAML, "ds": DS}
HOK = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"


def request_body(pair: KeyPair, *, service: str = SERVICE, cvr: str = CVR, **extra: Any) -> dict:
    """What python-serviceplatformen sends (its exact keys and values)."""
    body: dict[str, Any] = {
        "TokenType": "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
        "RequestType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
        "KeyType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey",
        "AnvenderKontekst": {"Cvr": cvr},
        "UseKey": pair.b64,
        "AppliesTo": {"EndpointReference": {"Address": service}},
        "OnBehalfOf": None,
    }
    body.update(extra)
    return body


def post(world: StsWorld, body: Any, pair: KeyPair | None, **kwargs: Any) -> Any:
    environ = tls(pair) if pair is not None else {}
    environ.update(kwargs.pop("environ", {}))
    return world.client.post(JSON_PATH, json=body, environ_base=environ, **kwargs)


def check_assertion(world: StsWorld, xml: bytes, client: KeyPair, service: str = SERVICE) -> Any:
    """Verify like a KOMBIT client/WSP would; return the signed assertion element."""
    verified = XMLVerifier().verify(xml, x509_cert=world.signing_certificate())
    assert not isinstance(verified, list)
    assertion = verified.signed_xml
    assert assertion is not None and assertion.tag == f"{{{SAML}}}Assertion"
    assert assertion.findtext("saml:Issuer", namespaces=NS) == ISSUER
    assert assertion.find("saml:Issuer", NS).get("Format").endswith(":entity")
    conditions = assertion.find("saml:Conditions", NS)
    assert conditions.findtext("saml:AudienceRestriction/saml:Audience", namespaces=NS) == service
    confirmation = assertion.find("saml:Subject/saml:SubjectConfirmation", NS)
    assert confirmation.get("Method") == HOK
    data = confirmation.find("saml:SubjectConfirmationData", NS)
    assert data.get("Recipient") == service
    xsi_type = data.get("{http://www.w3.org/2001/XMLSchema-instance}type")
    prefix, _, local = xsi_type.rpartition(":")
    assert local == "KeyInfoConfirmationDataType" and data.nsmap[prefix or None] == SAML
    certificate = data.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert base64.b64decode(certificate) == client.der  # byte-equal to the client's own
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    not_before = dt.datetime.fromisoformat(conditions.get("NotBefore").replace("Z", "+00:00"))
    not_after = dt.datetime.fromisoformat(conditions.get("NotOnOrAfter").replace("Z", "+00:00"))
    assert dt.timedelta(hours=8) - dt.timedelta(seconds=1) <= not_after - not_before
    assert not_after - not_before <= dt.timedelta(hours=8)
    assert data.get("NotOnOrAfter") == conditions.get("NotOnOrAfter")
    attributes = {
        a.get("Name"): a.findtext("saml:AttributeValue", namespaces=NS)
        for a in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)
    }
    assert set(attributes) == {
        "dk:gov:saml:attribute:CvrNumberIdentifier",
        "dk:gov:saml:attribute:AssuranceLevel",
        "dk:gov:saml:attribute:SpecVer",
        "dk:gov:saml:attribute:KombitSpecVer",
        "dk:gov:saml:attribute:Privileges_intermediate",
    }
    for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        assert attribute.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
    assert attributes["dk:gov:saml:attribute:AssuranceLevel"] == "3"
    assert attributes["dk:gov:saml:attribute:SpecVer"] == "DK-SAML-2.0"
    class_ref = assertion.findtext(
        "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef", namespaces=NS
    )
    assert class_ref == "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
    return assertion, attributes


def refusals(world: StsWorld) -> list[AuditEvent]:
    with world.database.session() as session:
        query = select(AuditEvent).where(AuditEvent.action == "sts.token.refuse")
        return list(session.scalars(query.order_by(AuditEvent.id)))


def test_a_registered_system_gets_a_holder_of_key_assertion(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    response = post(sts_world, request_body(pki.sapa), pki.sapa)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["AppliesTo"]["EndpointReference"]["Address"] == SERVICE
    assert body["TokenType"].endswith("#SAMLV2.0") and body["KeyType"].endswith("/PublicKey")
    xml = base64.b64decode(body["RequestedSecurityToken"]["Assertion"])
    assertion, attributes = check_assertion(sts_world, xml, pki.sapa)
    assert attributes["dk:gov:saml:attribute:CvrNumberIdentifier"] == CVR
    # the NameID as .NET's X500DistinguishedName prints the subject (KOMBIT's tokens)
    assert assertion.findtext("saml:Subject/saml:NameID", namespaces=NS) == (
        "SERIALNUMBER=CVR:12345678-FID:10000001 + CN=SAPA (funktionscertifikat), "
        "O=Testleverandør A/S // CVR:12345678, C=DK"
    )
    groups = decode_bpp(attributes["dk:gov:saml:attribute:Privileges_intermediate"])
    assert [g.privilege for g in groups] == [SERVICE_ROLE]
    assert groups[0].scope == f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"
    assert [(c.name, c.value) for c in groups[0].constraints] == [(CONSTRAINT, "Nej")]
    # Lifetime as .NET prints it (python-serviceplatformen parses it so), = NotOnOrAfter
    lifetime = dt.datetime.strptime(body["Lifetime"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=dt.UTC)
    not_after = assertion.find("saml:Conditions", NS).get("NotOnOrAfter")
    expected = dt.datetime.fromisoformat(not_after.replace("Z", "+00:00")).replace(microsecond=0)
    assert lifetime == expected
    with sts_world.database.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sts.token.issue")
        ).one()
        assert event.object_id == assertion.get("ID")
        assert event.actor == "sts-system:SAPA" and event.cvr == CVR
        assert event.details["agreement"] == "sa-sapa-demo"
        assert event.details["protocol"] == "rest"


def test_keys_are_case_insensitive_and_empty_on_behalf_of_is_none(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    body = {
        "tokentype": "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
        "Anvenderkontekst": {"cvr": CVR},
        "USEKEY": pki.sapa.b64,
        "appliesTo": {"endpointReference": {"address": SERVICE}},
        "OnBehalfOf": "",
    }
    response = post(sts_world, body, pki.sapa)
    assert response.status_code == 200, response.get_json()


def test_a_shorter_lifetime_is_honoured_and_a_longer_one_capped(sts_world: StsWorld) -> None:
    pki = sts_world.pki

    def lifetime(minutes: int) -> dt.timedelta:
        response = post(sts_world, request_body(pki.sapa, Lifetime=minutes), pki.sapa)
        assert response.status_code == 200, response.get_json()
        xml = base64.b64decode(response.get_json()["RequestedSecurityToken"]["Assertion"])
        conditions = etree.fromstring(xml).find("saml:Conditions", NS)
        start, end = (
            dt.datetime.fromisoformat(conditions.get(name).replace("Z", "+00:00"))
            for name in ("NotBefore", "NotOnOrAfter")
        )
        return end - start

    assert lifetime(30) == dt.timedelta(minutes=30)
    assert lifetime(600) == dt.timedelta(hours=8)


def test_the_next_certificate_of_a_system_works_too(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    response = post(sts_world, request_body(pki.sapa_next), pki.sapa_next)
    assert response.status_code == 200, response.get_json()
    xml = base64.b64decode(response.get_json()["RequestedSecurityToken"]["Assertion"])
    check_assertion(sts_world, xml, pki.sapa_next)


def test_the_certificate_header_counts_only_from_a_trusted_proxy(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    header = {CERT_HEADER: quote(pki.sapa.pem)}
    trusted = sts_world.client.post(
        JSON_PATH,
        json=request_body(pki.sapa),
        headers=header,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert trusted.status_code == 200, trusted.get_json()
    untrusted = sts_world.client.post(
        JSON_PATH,
        json=request_body(pki.sapa),
        headers=header,
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert untrusted.status_code == 401
    assert untrusted.get_json()["error"] == "invalid_client"


# -- refusals: the documented error, no token, never a 500 (§9.5 item 5) -----------------


def _refused(response: Any, status: int, error: str) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"] == error and body["error_description"]
    assert "RequestedSecurityToken" not in body
    return body


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("unknown", "unknown_certificate"),
        ("expired", "expired_certificate"),
        ("untrusted", "untrusted_certificate"),
        ("revoked", "revoked_certificate"),
    ],
)
def test_a_certificate_that_is_not_trusted_is_refused(
    sts_world: StsWorld, who: str, reason: str
) -> None:
    pair = getattr(sts_world.pki, who)
    body = _refused(post(sts_world, request_body(pair), pair), 401, "invalid_client")
    assert body["code"] == "101"
    assert refusals(sts_world)[-1].details["reason"] == reason


def test_no_client_certificate_is_refused(sts_world: StsWorld) -> None:
    _refused(post(sts_world, request_body(sts_world.pki.sapa), None), 401, "invalid_client")
    assert refusals(sts_world)[-1].details["reason"] == "no_certificate"


def test_use_key_must_be_the_tls_certificate(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    body = request_body(pki.sapa_next)  # another certificate of the same system
    _refused(post(sts_world, body, pki.sapa), 400, "invalid_request")
    assert refusals(sts_world)[-1].details["reason"] == "usekey_mismatch"


@pytest.mark.parametrize(
    "context",
    [None, {}, {"Cvr": ""}, {"Cvr": "1234"}, [{"Cvr": CVR}, {"Cvr": OTHER_CVR}], {"Cvr": [CVR]}],
)
def test_no_or_two_or_a_malformed_cvr_is_refused(sts_world: StsWorld, context: Any) -> None:
    pki = sts_world.pki
    body = request_body(pki.sapa)
    body["AnvenderKontekst"] = context
    _refused(post(sts_world, body, pki.sapa), 400, "invalid_request")


def test_a_cvr_without_an_approved_agreement_is_refused(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    body = _refused(
        post(sts_world, request_body(pki.sapa, cvr=OTHER_CVR), pki.sapa), 403, "access_denied"
    )
    assert body["code"] == "101"
    assert refusals(sts_world)[-1].details["reason"] == "not_approved"
    assert refusals(sts_world)[-1].actor == "sts-system:SAPA"


def test_a_service_without_any_agreement_is_refused(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    response = post(sts_world, request_body(pki.sapa, service=OTHER_SERVICE), pki.sapa)
    _refused(response, 403, "access_denied")
    assert refusals(sts_world)[-1].details["reason"] == "no_agreement"


@pytest.mark.parametrize(
    "service", [SERVICE + "/", "http://entityid.kombit.dk/service/unknown/1", "DEMO"]
)
def test_an_unknown_applies_to_is_refused(sts_world: StsWorld, service: str) -> None:
    """Matched exactly: a trailing slash or the fagsystem's id is not the entityID."""
    pki = sts_world.pki
    body = _refused(
        post(sts_world, request_body(pki.sapa, service=service), pki.sapa), 400, "invalid_request"
    )
    assert body["code"] == "101"
    assert refusals(sts_world)[-1].details["reason"] == "unknown_service"


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'{"AppliesTo": 5}', b'{"UseKey": "***"}', b"\xff\xfe"],
)
def test_garbage_is_a_400_not_a_500(sts_world: StsWorld, raw: bytes) -> None:
    response = sts_world.client.post(
        JSON_PATH, data=raw, content_type="application/json", environ_base=tls(sts_world.pki.sapa)
    )
    _refused(response, 400, "invalid_request")


def test_a_revoked_agreement_is_refused_at_once(sts_world: StsWorld) -> None:
    from tests.sts.kit import set_agreement_status

    pki = sts_world.pki
    assert post(sts_world, request_body(pki.sapa), pki.sapa).status_code == 200
    set_agreement_status(sts_world, "sa-sapa-demo", "revoked")
    _refused(post(sts_world, request_body(pki.sapa), pki.sapa), 403, "access_denied")
