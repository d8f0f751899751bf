"""SSO through the real WSGI app: bindings, session reuse, ForceAuthn, IsPassive, step-up."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLVerifier

from idp.saml.constants import (
    AES256_CBC,
    AES256_GCM,
    ATTR_EMAIL,
    ATTR_FULL_NAME,
    ATTR_KOMBIT_SPEC_VER,
    ATTR_LOA,
    ATTR_PRIVILEGES,
    ATTR_SPEC_VERSION,
    NAMEID_PERSISTENT,
    NAMEID_X509,
    RSA_PSS_SHA256,
    SAML,
    SAMLP,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_PASSIVE,
    STATUS_SUCCESS,
)
from settings import Settings
from tests.saml_kit import (
    CVR,
    IDP_ENTITY,
    SpKeys,
    World,
    attributes,
    authn_request,
    decrypt,
    idp_certificate_pem,
    make_world,
    path_and_query,
    post_body,
    redirect_query,
    response_of,
    sign_enveloped,
    sp_metadata,
)

KY = "https://ky.test/sp"
KSD = "https://ksd.test/sp"
A = f"{{{SAML}}}"
P = f"{{{SAMLP}}}"


@pytest.fixture(scope="module")
def keys() -> SpKeys:
    return SpKeys.generate("ky")


@pytest.fixture
def world(settings: Settings, keys: SpKeys) -> World:
    world = make_world(settings)
    world.add_sp(KY, keys, fagsystem="ky", require_signed_requests=True)
    world.add_sp(KSD, keys, fagsystem="ksd")
    return world


def start(world: World, keys: SpKeys | None, issuer: str = KY, relay: str = "rs", **kw):
    request = authn_request(issuer, **kw)
    query = redirect_query(request, keys=keys, relay_state=relay)
    return request, world.client.get("/saml/sso?" + query)


def login_flow(world: World, keys: SpKeys, methods: str = "pwd", **kw):
    request, first = start(world, keys, **kw)
    assert first.status_code == 303, first.get_data(as_text=True)
    return request, world.login(first.headers["Location"], methods)


def status_of(response: etree._Element) -> list[str]:
    return [c.get("Value") for c in response.iter(P + "StatusCode")]


def signxml_verified(element: etree._Element, cert: str) -> etree._Element:
    """The element as signxml verified it (signxml shares no code with our signer)."""
    result = XMLVerifier().verify(etree.tostring(element), x509_cert=cert)
    assert not isinstance(result, list) and result.signed_xml is not None
    return result.signed_xml


def test_signed_redirect_request_login_and_verified_response(world: World, keys: SpKeys) -> None:
    request, http = login_flow(world, keys)
    action, response, fields = response_of(http)
    assert action == "https://ky.test/acs"
    assert fields["RelayState"] == "rs"
    assert response.get("Destination") == "https://ky.test/acs"
    assert response.get("InResponseTo") == request.get("ID")
    assert status_of(response) == [STATUS_SUCCESS]
    cert = idp_certificate_pem(world)
    # signxml shares no code with the IdP's xmlsec signer.
    XMLVerifier().verify(etree.tostring(response), x509_cert=cert)
    assertions = response.findall(A + "Assertion")
    assert len(assertions) == 1
    verified = signxml_verified(assertions[0], cert)
    assert verified.find(f"{A}Issuer").text == IDP_ENTITY
    name_id = verified.find(f"{A}Subject/{A}NameID")
    assert name_id.text == world.user_id and name_id.get("Format") == NAMEID_PERSISTENT
    values = attributes(verified)
    assert values[ATTR_SPEC_VERSION] == ["OIO-SAML-3.0"]
    assert values[ATTR_KOMBIT_SPEC_VER] == ["2.0"]
    assert values[ATTR_LOA] == ["Low"]
    assert values[ATTR_EMAIL] == ["anna@test.dk"]
    assert base64.b64decode(values[ATTR_PRIVILEGES][0]).startswith(b"<?xml")
    ref = verified.find(f"{A}AuthnStatement/{A}AuthnContext/{A}AuthnContextClassRef")
    assert ref.text == "https://data.gov.dk/concept/core/nsis/loa/Low"


def test_second_sp_gets_an_assertion_without_a_login_page(world: World, keys: SpKeys) -> None:
    login_flow(world, keys)
    _request, second = start(world, None, issuer=KSD)
    action, response, _fields = response_of(second)
    assert action == "https://ksd.test/acs"
    assertion = response.find(A + "Assertion")
    values = attributes(assertion)
    assert ATTR_EMAIL not in values and ATTR_FULL_NAME not in values  # KSD: no personal data
    assert world.privileges_calls[-1] == (world.user_id, CVR, "ksd")


def test_post_binding_with_enveloped_signature(world: World, keys: SpKeys) -> None:
    request = sign_enveloped(authn_request(KY), keys)
    first = world.client.post("/saml/sso", data=post_body(request, "post-rs"))
    assert first.status_code == 303  # to a same-site GET, which carries the Lax cookie
    second = world.client.get(path_and_query(first.headers["Location"]))
    assert second.status_code == 303
    _action, response, fields = response_of(world.login(second.headers["Location"]))
    assert response.get("InResponseTo") == request.get("ID")
    assert fields["RelayState"] == "post-rs"


def test_is_passive_without_a_session_answers_no_passive(world: World, keys: SpKeys) -> None:
    request, http = start(world, keys, passive=True)
    action, response, _ = response_of(http)
    assert action == "https://ky.test/acs"
    assert status_of(response)[-1] == STATUS_NO_PASSIVE
    assert response.find(A + "Assertion") is None
    assert response.get("InResponseTo") == request.get("ID")


def test_is_passive_with_a_session_answers_at_once(world: World, keys: SpKeys) -> None:
    login_flow(world, keys)
    _request, http = start(world, keys, passive=True)
    assert status_of(response_of(http)[1]) == [STATUS_SUCCESS]


def test_force_authn_sends_the_person_to_the_login_again(world: World, keys: SpKeys) -> None:
    login_flow(world, keys)
    _request, again = start(world, keys, force_authn=True)
    assert again.status_code == 303 and "/login/password" in again.headers["Location"]
    _action, response, _ = response_of(world.login(again.headers["Location"]))
    assert status_of(response) == [STATUS_SUCCESS]


def test_step_up_to_substantial(world: World, keys: SpKeys) -> None:
    login_flow(world, keys)
    _request, step = start(world, keys, loa="Substantial")
    assert step.status_code == 303  # a Low session is not enough
    _action, response, _ = response_of(world.login(step.headers["Location"], "pwd,otp"))
    assertion = response.find(A + "Assertion")
    assert attributes(assertion)[ATTR_LOA] == ["Substantial"]
    ref = assertion.find(f"{A}AuthnStatement/{A}AuthnContext/{A}AuthnContextClassRef")
    assert ref.text.endswith("/loa/Substantial")


def test_requester_id_raises_the_minimum_level(world: World, keys: SpKeys) -> None:
    login_flow(world, keys)
    # SAPA requires Substantial: naming it in Scoping/RequesterID means a step-up.
    _request, http = start(world, keys, requester_ids=("https://sapa.test/fs",))
    assert http.status_code == 303


def test_high_cannot_be_reached_and_answers_no_authn_context(world: World, keys: SpKeys) -> None:
    _request, http = start(world, keys, loa="High")
    assert status_of(response_of(http)[1])[-1] == STATUS_NO_AUTHN_CONTEXT


def test_unsupported_name_id_policy_is_a_saml_error(world: World, keys: SpKeys) -> None:
    transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    _r, http = start(world, keys, name_id_format=transient)
    assert status_of(response_of(http)[1])[-1].endswith(":InvalidNameIDPolicy")


def test_x509_subject_name_id_on_request(world: World, keys: SpKeys) -> None:
    _request, http = login_flow(world, keys, name_id_format=NAMEID_X509)
    name_id = response_of(http)[1].find(f"{A}Assertion/{A}Subject/{A}NameID")
    assert name_id.get("Format") == NAMEID_X509
    assert name_id.text == f"C=DK,O={CVR},CN=Anna Andersen,Serial={world.user_id}"


def test_x509_subject_name_id_to_a_fagsystem_without_personal_data_is_refused(
    world: World, keys: SpKeys
) -> None:
    _request, http = start(world, keys, issuer=KSD, name_id_format=NAMEID_X509)
    response = response_of(http)[1]
    assert status_of(response)[-1].endswith(":InvalidNameIDPolicy")
    assert response.find(f"{A}Assertion") is None


def test_x509_subject_name_id_escapes_the_display_name(settings: Settings, keys: SpKeys) -> None:
    world = make_world(settings, display_name="Eve,Serial=bbbb-victim")
    world.add_sp(KY, keys, fagsystem="ky", require_signed_requests=True)
    _request, http = login_flow(world, keys, name_id_format=NAMEID_X509)
    text = response_of(http)[1].find(f"{A}Assertion/{A}Subject/{A}NameID").text
    name = x509.Name.from_rfc4514_string(text, {"Serial": NameOID.SERIAL_NUMBER})
    assert [a.value for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)] == [
        "Eve,Serial=bbbb-victim"
    ]
    assert [a.value for a in name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)] == [world.user_id]


@pytest.mark.parametrize("method", [AES256_GCM, AES256_CBC])
def test_encrypted_assertion_decrypts_with_the_sp_key(
    settings: Settings, keys: SpKeys, method: str
) -> None:
    world = make_world(settings)
    metadata = sp_metadata(KY, keys, encryption_methods=(method,))
    world.add_sp(KY, keys, metadata=metadata, encrypt_assertion=True)
    _request, http = login_flow(world, keys)
    response = response_of(http)[1]
    assert response.find(A + "Assertion") is None
    assert len(response.findall(A + "EncryptedAssertion")) == 1
    assert (
        response.find(".//{http://www.w3.org/2001/04/xmlenc#}EncryptionMethod").get("Algorithm")
        == method
    )
    XMLVerifier().verify(etree.tostring(response), x509_cert=idp_certificate_pem(world))
    assertion = decrypt(response, keys)
    verified = signxml_verified(assertion, idp_certificate_pem(world))
    assert attributes(verified)[ATTR_LOA] == ["Low"]


def test_rsa_pss_when_the_sp_metadata_asks(settings: Settings, keys: SpKeys) -> None:
    from signxml import SignatureConfiguration, SignatureMethod

    world = make_world(settings)
    world.add_sp(KY, keys, metadata=sp_metadata(KY, keys, signing_methods=(RSA_PSS_SHA256,)))
    _request, http = login_flow(world, keys)
    response = response_of(http)[1]
    method = response.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureMethod")
    assert method.get("Algorithm") == RSA_PSS_SHA256
    config = SignatureConfiguration(signature_methods=frozenset({SignatureMethod.SHA256_RSA_MGF1}))
    cert = idp_certificate_pem(world)
    XMLVerifier().verify(etree.tostring(response), x509_cert=cert, expect_config=config)
    assertion = etree.tostring(response.find(A + "Assertion"))
    XMLVerifier().verify(assertion, x509_cert=cert, expect_config=config)


def test_idp_initiated_only_when_allowed(settings: Settings, keys: SpKeys) -> None:
    world = make_world(settings)
    world.add_sp(KY, keys)
    world.add_sp(KSD, keys, fagsystem="ksd", allow_idp_initiated=True)
    assert world.client.get(f"/saml/sso/idp?sp={KY}").status_code == 403
    first = world.client.get(f"/saml/sso/idp?sp={KSD}&RelayState=/home")
    response = response_of(world.login(first.headers["Location"]))[1]
    assert response.get("InResponseTo") is None
    assert status_of(response) == [STATUS_SUCCESS]


def test_metadata_is_signed_and_lists_active_and_next_keys(world: World) -> None:
    http = world.client.get("/saml/metadata")
    assert http.status_code == 200
    root = etree.fromstring(http.data)
    assert root.get("entityID") == IDP_ENTITY and root.get("validUntil")
    XMLVerifier().verify(http.data, x509_cert=idp_certificate_pem(world))
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    descriptors = root.findall(f"{md}IDPSSODescriptor/{md}KeyDescriptor")
    uses = sorted(d.get("use") for d in descriptors)
    assert uses == ["encryption", "encryption", "signing", "signing"]  # active + next
    services = world.app.extensions["sts"]
    with services.database.session() as db:
        kids = {row.kid for row in services.keys.published(db) if row.kty == "RSA"}
    names = {d.findtext(".//{http://www.w3.org/2000/09/xmldsig#}KeyName") for d in descriptors}
    assert names == kids
    bindings = {e.get("Binding") for e in root.iter(f"{md}SingleSignOnService")}
    assert len(bindings) == 2
    assert len(list(root.iter(f"{md}SingleLogoutService"))) == 2


def test_full_flow_on_redis_state(tmp_path, keys: SpKeys) -> None:
    from settings import load_settings
    from tests.conftest import redis_url, service_missing

    settings = load_settings({"STS_DATA_DIR": str(tmp_path / "var"), "STS_REDIS_URL": redis_url()})
    world = make_world(settings)
    try:
        world.app.extensions["sts"].state.ping()
    except Exception as exc:
        service_missing("Redis", str(exc))
    world.add_sp(KY, keys, fagsystem="ky")
    world.add_sp(KSD, keys, fagsystem="ksd")
    login_flow(world, keys)
    _request, second = start(world, None, issuer=KSD)
    assert status_of(response_of(second)[1]) == [STATUS_SUCCESS]
    query = redirect_query(authn_request(KSD, request_id="_redis_replay"))
    world.client.get("/saml/sso?" + query)
    assert world.client.get("/saml/sso?" + query).status_code == 400  # replay, shared store


def test_redis_down_fails_closed_with_503(tmp_path, keys: SpKeys) -> None:
    from settings import load_settings

    settings = load_settings(
        {"STS_DATA_DIR": str(tmp_path / "var"), "STS_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    world = make_world(settings)
    world.add_sp(KSD, keys, fagsystem="ksd")
    http = world.client.get("/saml/sso?" + redirect_query(authn_request(KSD)))
    assert http.status_code == 503
    assert "Location" not in http.headers and "SAMLResponse" not in http.get_data(as_text=True)
