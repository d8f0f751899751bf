"""A: SOAP WS-Trust Issue at /runtime/services/kombittrust/14/certificatemixed, driven by
the independent client (tests/sts/wstrust_client.py) in each real client's style and
checked the way KOMBIT's .NET client checks (REFERENCE-KOMBIT-STS.md §9.5 items 1–3)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod
from sqlalchemy import select

from idp.sts.assertion import build_bootstrap_token
from store.models import Assignment, AuditEvent, JfrGrant, Jobfunktionsrolle, User
from tests.sts.kit import (
    BASE_URL,
    CONSTRAINT,
    CVR,
    EXT_ROLE,
    ISSUER,
    SERVICE,
    SERVICE_ROLE,
    SOAP_PATH,
    StsWorld,
    make_world,
)
from tests.sts.soap_kit import issue, post, refused, request_for
from tests.sts.wstrust_client import (
    S11,
    S12,
    A,
    Style,
    on_behalf_of_certificate,
    verify_response,
)

X509_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
UNSPECIFIED = "http://www.w3.org/2005/08/addressing/unspecified"


@pytest.mark.parametrize("style", list(Style), ids=lambda style: style.value)
def test_each_real_client_style_gets_a_token_kombits_client_accepts(
    sts_world: StsWorld, style: Style
) -> None:
    token = issue(sts_world, sts_world.pki.sapa, style=style)

    assert token.holder_certificate == sts_world.pki.sapa.der
    assert token.privileges == [
        (f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}", SERVICE_ROLE, [(CONSTRAINT, "Nej")])
    ]
    name, _, name_format = token.name_id.partition("|")
    assert name_format == X509_NAME
    assert name.startswith(
        "SERIALNUMBER=CVR:12345678-FID:10000001 + CN=SAPA (funktionscertifikat), "
    )
    assert len(token.reference_ids) == 4
    assert token.lifetime_expires - token.lifetime_created == dt.timedelta(hours=8)


def test_soap_11_is_answered_in_soap_11(sts_world: StsWorld) -> None:
    token = issue(sts_world, sts_world.pki.sapa, soap=S11)
    assert token.holder_certificate == sts_world.pki.sapa.der


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (dt.timedelta(hours=1), dt.timedelta(hours=1)),
        (dt.timedelta(hours=10), dt.timedelta(hours=8)),
        (None, dt.timedelta(hours=8)),
    ],
)
def test_the_lifetime_is_the_requested_one_but_at_most_8_hours(
    sts_world: StsWorld, requested: dt.timedelta | None, granted: dt.timedelta
) -> None:
    token = issue(sts_world, sts_world.pki.sapa, lifetime=requested)
    # the .NET client sends whole seconds, so up to a second (plus the round trip) is lost
    assert (
        dt.timedelta(0)
        <= granted - (token.lifetime_expires - token.lifetime_created)
        < dt.timedelta(seconds=5)
    )


def test_use_key_may_be_another_certificate_of_the_same_system(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    token = issue(sts_world, pki.sapa, use_key=pki.sapa_next.cert, holder=pki.sapa_next)
    assert token.holder_certificate == pki.sapa_next.der


def test_without_use_key_the_signer_holds_the_key(sts_world: StsWorld) -> None:
    token = issue(sts_world, sts_world.pki.sapa, omit_use_key=True)
    assert token.holder_certificate == sts_world.pki.sapa.der


def test_without_a_message_id_the_answer_relates_to_unspecified(sts_world: StsWorld) -> None:
    request = request_for(sts_world.pki.sapa, with_message_id=False, style=Style.MAGENTA)
    response = post(sts_world.client, request.xml)
    assert response.status_code == 200
    request.message_id = UNSPECIFIED  # what WS-Addressing prescribes in that case
    verify_response(
        response.data, request, sts_certificate=sts_world.signing_certificate(),
        sts_issuer=ISSUER, client=sts_world.pki.sapa.cert,
    )  # fmt: skip


def test_wsa_to_is_not_checked(sts_world: StsWorld) -> None:
    # itk-dev sends the service entityID as wsa:To (covered by its style); any other URL too
    token = issue(
        sts_world, sts_world.pki.sapa, style=Style.DOTNET, issuer="https://elsewhere.test"
    )
    request = request_for(sts_world.pki.sapa, style=Style.ITKDEV)
    assert b"<a:To" in request.xml and SERVICE.encode() in request.xml
    assert token.holder_certificate == sts_world.pki.sapa.der


def test_a_proxy_gets_a_token_on_behalf_of_another_system(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    token = issue(sts_world, pki.proxy, on_behalf_of=on_behalf_of_certificate(pki.ext.cert))
    assert token.holder_certificate == pki.proxy.der  # the proxy presents the token
    assert [privilege for _, privilege, _ in token.privileges] == [EXT_ROLE]
    assert "CN=External (funktionscertifikat)" in token.name_id


def test_on_behalf_of_needs_an_agreement_that_allows_it(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    request = request_for(pki.sapa, on_behalf_of=on_behalf_of_certificate(pki.ext.cert))
    fault = refused(sts_world, request.xml)
    assert fault.subcode == "101"
    assert "on-behalf-of" in fault.reason


def _user_with_role(world: StsWorld, user_id: str, role: str) -> None:
    """A user of CVR holding a jobfunktionsrolle with ``role`` of the service."""
    with world.database.session() as session:
        session.add(User(id=user_id, cvr=CVR, username="bruger", name="Bruger"))
        session.add(
            Jobfunktionsrolle(
                id="urn:test:jfr:laeser", cvr=CVR, name="Læser", grants=[JfrGrant(role_id=role)]
            )
        )
        session.flush()
        session.add(
            Assignment(cvr=CVR, jfr_id="urn:test:jfr:laeser", subject_type="user", user_id=user_id)
        )


def test_a_bootstrap_token_from_our_idp_gets_a_token_for_the_user(sts_world: StsWorld) -> None:
    user_id = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    _user_with_role(sts_world, user_id, EXT_ROLE)
    bootstrap = build_bootstrap_token(
        sts_world.sts, user_id=user_id, cvr=CVR, now=dt.datetime.now(dt.UTC)
    )
    token = issue(sts_world, sts_world.pki.proxy, on_behalf_of=bootstrap)
    name, _, name_format = token.name_id.partition("|")
    assert name == user_id
    assert name_format != X509_NAME
    assert token.holder_certificate == sts_world.pki.proxy.der
    assert token.privileges == [(f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}", EXT_ROLE, [])]


def test_a_forged_bootstrap_token_is_refused(sts_world: StsWorld) -> None:
    bootstrap = build_bootstrap_token(
        sts_world.sts, user_id="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", cvr=CVR,
        now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    name_id = bootstrap.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    assert name_id is not None
    name_id.text = "11111111-2222-4333-8444-555555555555"  # after signing
    fault = refused(sts_world, request_for(sts_world.pki.proxy, on_behalf_of=bootstrap).xml)
    assert fault.subcode is not None


def test_rsa_sha1_is_refused_by_default(sts_world: StsWorld) -> None:
    request = request_for(
        sts_world.pki.sapa, signature_method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1
    )
    fault = refused(sts_world, request.xml)
    assert fault.subcode == "103"
    assert "RSA-SHA256" in fault.reason


def test_rsa_sha1_is_accepted_when_the_setting_allows_it(
    sts_template: Path, tmp_path: Path
) -> None:
    world = make_world(sts_template, tmp_path / "var", STS_WSTRUST_ALLOW_SHA1="true")
    token = issue(
        world, world.pki.sapa, signature_method=SignatureMethod.RSA_SHA1,
        digest=DigestAlgorithm.SHA1,
    )  # fmt: skip
    assert token.holder_certificate == world.pki.sapa.der


def test_an_issued_token_is_audited(sts_world: StsWorld) -> None:
    token = issue(sts_world, sts_world.pki.sapa)
    assertion_id = token.assertion.get("ID")
    with sts_world.database.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sts.token.issue")
        ).one()
        assert event.object_id == assertion_id
        assert event.cvr == CVR
        assert event.details["protocol"] == "soap"


def test_the_mex_wsdl_names_our_address(sts_world: StsWorld) -> None:
    response = sts_world.client.get("/runtime/services/kombittrust/mex?wsdl")
    assert response.status_code == 200
    wsdl = etree.fromstring(response.data)
    addresses = wsdl.findall(f".//{{{A}}}Address")
    soap12 = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap12/}address")
    assert soap12 is not None
    assert soap12.get("location") == BASE_URL + SOAP_PATH
    assert [address.text for address in addresses] == [BASE_URL + SOAP_PATH]
    assert wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap12/}binding") is not None


def test_the_response_is_soap_12_by_default(sts_world: StsWorld) -> None:
    request = request_for(sts_world.pki.sapa)
    response = post(sts_world.client, request.xml)
    assert etree.fromstring(response.data).tag == f"{{{S12}}}Envelope"
    assert b"<a:MessageID" not in response.data  # KOMBIT sends none (§7.7 item 4)


def test_the_client_shares_no_code_with_the_server() -> None:
    import ast

    source = Path(__file__).with_name("wstrust_client.py").read_text(encoding="utf-8")
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    ours = {"idp", "store", "authz", "settings", "app", "certs", "admin", "verifier", "tests"}
    assert {name.split(".")[0] for name in imported} & ours == set()
