"""SECURITY.md, "SAML, as IdP generating assertions": each line checked on real output."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLVerifier

from idp.saml.constants import (
    ATTR_EMAIL,
    ATTR_FIRST_NAME,
    ATTR_FULL_NAME,
    ATTR_LAST_NAME,
    ATTR_PRIVILEGES,
    DS,
    EXC_C14N,
    RSA_SHA256,
    SAML,
)
from settings import Settings
from tests.saml_kit import (
    CVR,
    SCHEMA_DIR,
    SpKeys,
    World,
    attributes,
    authn_request,
    decrypt,
    idp_certificate_pem,
    make_world,
    metadata_schema_errors,
    redirect_query,
    response_of,
    schema_errors,
    sp_metadata,
)

KY = "https://ky.test/sp"
KSD = "https://ksd.test/sp"
A = f"{{{SAML}}}"
INJECTION = (
    'Eve </saml:AttributeValue><saml:Attribute Name="https://data.gov.dk/model/core/eid/'
    'privilegesIntermediate"><saml:AttributeValue>PHg+PC94Pg=='
)


@pytest.fixture(scope="module")
def keys() -> SpKeys:
    return SpKeys.generate("ky")


def world_with(settings: Settings, keys: SpKeys, display_name: str = "Anna Andersen", **policy):
    world = make_world(settings, display_name=display_name)
    metadata = policy.pop("metadata", None)
    world.add_sp(KY, keys, fagsystem="ky", metadata=metadata, **policy)
    world.add_sp(KSD, keys, fagsystem="ksd")
    return world


def sso(world: World, issuer: str = KY, **kw):
    request = authn_request(issuer, **kw)
    first = world.client.get("/saml/sso?" + redirect_query(request))
    http = world.login(first.headers["Location"]) if first.status_code == 303 else first
    return request, response_of(http)


def test_exactly_one_signed_assertion_rsa_sha256_exclusive_c14n(
    settings: Settings, keys: SpKeys
) -> None:
    world = world_with(settings, keys)
    _request, (_acs, response, _fields) = sso(world)
    assertions = response.findall(A + "Assertion")
    assert len(assertions) == 1 and not response.findall(A + "EncryptedAssertion")
    for signed in (response, assertions[0]):
        signature = signed.find(f"{{{DS}}}Signature")
        assert signature is not None
        info = signature.find(f"{{{DS}}}SignedInfo")
        assert info.find(f"{{{DS}}}SignatureMethod").get("Algorithm") == RSA_SHA256
        assert info.find(f"{{{DS}}}CanonicalizationMethod").get("Algorithm") == EXC_C14N
        assert info.find(f"{{{DS}}}Reference").get("URI") == "#" + signed.get("ID")
    cert = idp_certificate_pem(world)
    XMLVerifier().verify(etree.tostring(assertions[0]), x509_cert=cert)


def test_response_signed_only_when_the_sp_asks(settings: Settings, keys: SpKeys) -> None:
    world = world_with(settings, keys, sign_response=False)
    _request, (_acs, response, _fields) = sso(world)
    assert response.find(f"{{{DS}}}Signature") is None
    assertion = response.find(A + "Assertion")
    assert assertion.find(f"{{{DS}}}Signature") is not None  # the assertion always is


def test_in_response_to_recipient_lifetime_audience_destination(
    settings: Settings, keys: SpKeys
) -> None:
    world = world_with(settings, keys)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    request, (acs, response, _fields) = sso(world)
    assertion = response.find(A + "Assertion")
    assert response.get("Destination") == acs == "https://ky.test/acs"
    assert response.get("InResponseTo") == request.get("ID")
    data = assertion.find(f"{A}Subject/{A}SubjectConfirmation/{A}SubjectConfirmationData")
    assert assertion.find(f"{A}Subject/{A}SubjectConfirmation").get("Method").endswith(":bearer")
    assert data.get("Recipient") == acs
    assert data.get("InResponseTo") == request.get("ID")
    not_after = dt.datetime.fromisoformat(data.get("NotOnOrAfter").replace("Z", "+00:00"))
    assert dt.timedelta(0) < not_after - before <= dt.timedelta(minutes=5, seconds=1)
    conditions = assertion.find(A + "Conditions")
    audiences = [a.text for a in conditions.iter(A + "Audience")]
    assert audiences == [KY]
    statement = assertion.find(A + "AuthnStatement")
    assert statement.get("SessionIndex") and statement.get("AuthnInstant")


def test_a_display_name_with_markup_stays_text(settings: Settings, keys: SpKeys) -> None:
    world = world_with(settings, keys, display_name=INJECTION)
    _request, (_acs, response, _fields) = sso(world)
    assertion = response.find(A + "Assertion")
    names = [a.get("Name") for a in assertion.iter(A + "Attribute")]
    assert names.count(ATTR_PRIVILEGES) == 1  # no injected second attribute
    values = attributes(assertion)
    assert values[ATTR_FULL_NAME] == [INJECTION]
    privileges = base64.b64decode(values[ATTR_PRIVILEGES][0])
    assert b"usersystemrole" in privileges
    XMLVerifier().verify(etree.tostring(assertion), x509_cert=idp_certificate_pem(world))


def test_privileges_only_for_the_requesting_fagsystem(settings: Settings, keys: SpKeys) -> None:
    world = world_with(settings, keys)
    _r, (_a, ky_response, _f) = sso(world, KY)
    _r, (_a, ksd_response, _f) = sso(world, KSD)
    assert [call[2] for call in world.privileges_calls] == ["ky", "ksd"]
    ky = base64.b64decode(attributes(ky_response.find(A + "Assertion"))[ATTR_PRIVILEGES][0])
    ksd = base64.b64decode(attributes(ksd_response.find(A + "Assertion"))[ATTR_PRIVILEGES][0])
    assert b"http://ky.test/" in ky and b"ksd.test" not in ky
    assert b"http://ksd.test/" in ksd and b"ky.test" not in ksd


def test_no_personal_attributes_to_a_fagsystem_without_personal_data(
    settings: Settings, keys: SpKeys
) -> None:
    world = world_with(settings, keys)
    _r, (_a, response, _f) = sso(world, KSD)
    values = attributes(response.find(A + "Assertion"))
    for name in (ATTR_EMAIL, ATTR_FIRST_NAME, ATTR_LAST_NAME, ATTR_FULL_NAME):
        assert name not in values
    assert values["https://data.gov.dk/model/core/eid/professional/cvr"] == [CVR]
    text = etree.tostring(response)
    assert b"anna@test.dk" not in text and b"Andersen" not in text


@pytest.mark.parametrize("encrypted", [False, True])
def test_the_response_validates_against_the_saml_schemas(
    settings: Settings, keys: SpKeys, encrypted: bool
) -> None:
    world = world_with(settings, keys, encrypt_assertion=encrypted)
    _r, (_a, response, _f) = sso(world)
    assert schema_errors(response) == []
    if encrypted:
        assert schema_errors(decrypt(response, keys)) == []


def test_the_schemas_are_the_projects_own_and_really_validate(
    settings: Settings, keys: SpKeys
) -> None:
    root = Path(__file__).resolve().parents[2]
    assert root / "policies" / "xsd" == SCHEMA_DIR
    for name in (
        "saml-schema-protocol-2.0.xsd",
        "saml-schema-assertion-2.0.xsd",
        "saml-schema-metadata-2.0.xsd",
        "xmldsig-core-schema.xsd",
        "xenc-schema.xsd",
        "xml.xsd",
    ):
        assert (SCHEMA_DIR / name).is_file(), name
    world = world_with(settings, keys)
    _r, (_a, response, _f) = sso(world)
    assertion = response.find(A + "Assertion")
    assertion.insert(0, etree.Element(A + "Unexpected"))  # not allowed before Issuer
    assert schema_errors(response) != []


def test_idp_metadata_validates_against_the_metadata_schema(
    settings: Settings, keys: SpKeys
) -> None:
    world = world_with(settings, keys)
    metadata = etree.fromstring(world.client.get("/saml/metadata").data)
    assert metadata_schema_errors(metadata) == []


def test_error_response_validates_against_the_schemas(settings: Settings, keys: SpKeys) -> None:
    world = world_with(settings, keys)
    _r, (_a, response, _f) = sso(world, passive=True)
    assert schema_errors(response) == []


def test_pss_when_asked_still_validates(settings: Settings, keys: SpKeys) -> None:
    metadata = sp_metadata(
        KY, keys, signing_methods=("http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",)
    )
    world = world_with(settings, keys, metadata=metadata)
    _r, (_a, response, _f) = sso(world)
    assert schema_errors(response) == []
