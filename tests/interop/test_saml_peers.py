"""Independent SPs accept our responses.

- pysaml2's ``Saml2Client``: sends a signed HTTP-Redirect AuthnRequest and verifies our
  response through the ``xmlsec1`` command (its default backend), decrypting when asked.
- python3-saml (OneLogin): shares no code with pysaml2, verifies through its own xmlsec
  binding, run with ``strict`` and every ``want*`` and ``reject*`` switch on.

Both must accept signed and encrypted variants, and the privileges must decode.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.sigver import SignatureError

from authz.bpp import decode_bpp
from idp.saml.constants import ATTR_LOA, ATTR_PRIVILEGES, NAMEID_PERSISTENT
from settings import Settings
from tests.saml_kit import IDP_ENTITY, SpKeys, World, make_world, read_form

SP = "https://ky.test/sp"
ACS = "https://ky.test/acs"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 not installed")


@pytest.fixture(scope="module")
def keys() -> SpKeys:
    return SpKeys.generate("interop-sp")


def pysaml2_client(tmp_path: Path, keys: SpKeys, idp_metadata: str) -> Saml2Client:
    key_file, cert_file = keys.write(tmp_path / "sp")
    (tmp_path / "idp.xml").write_text(idp_metadata)
    config = SPConfig().load(
        {
            "entityid": SP,
            "key_file": key_file,
            "cert_file": cert_file,
            "encryption_keypairs": [{"key_file": key_file, "cert_file": cert_file}],
            "xmlsec_binary": shutil.which("xmlsec1"),
            "metadata": {"local": [str(tmp_path / "idp.xml")]},
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(ACS, BINDING_HTTP_POST)],
                        "single_logout_service": [("https://ky.test/slo", BINDING_HTTP_REDIRECT)],
                    },
                    "authn_requests_signed": True,
                    "want_response_signed": True,
                    "want_assertions_signed": True,
                    "allow_unsolicited": False,
                    "name_id_format": [NAMEID_PERSISTENT],
                }
            },
        }
    )
    return Saml2Client(config)


def idp_metadata(world: World) -> str:
    return world.client.get("/saml/metadata").get_data(as_text=True)


@pytest.mark.parametrize("encrypt", [False, True], ids=["signed", "encrypted"])
def test_pysaml2_sp_accepts_our_response(
    settings: Settings, tmp_path: Path, keys: SpKeys, encrypt: bool
) -> None:
    world = make_world(settings)
    client = pysaml2_client(tmp_path, keys, idp_metadata(world))
    sp_md = str(entity_descriptor(client.config))
    world.add_sp(SP, keys, metadata=sp_md, encrypt_assertion=encrypt)
    request_id, info = client.prepare_for_authenticate(
        entityid=IDP_ENTITY,
        relay_state="/after",
        binding=BINDING_HTTP_REDIRECT,
        sign=True,
        sigalg=RSA_SHA256,
    )
    location = dict(info["headers"])["Location"]
    parts = urlsplit(location)
    first = world.client.get(parts.path + "?" + parts.query)
    assert first.status_code == 303, first.get_data(as_text=True)
    action, fields = read_form(world.login(first.headers["Location"]).get_data(as_text=True))
    assert action == ACS and fields["RelayState"] == "/after"
    response = client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/after"}
    )
    assert response is not None
    assert response.name_id.text == world.user_id
    identity = response.get_identity()
    assert identity[ATTR_LOA] == ["Low"]
    groups = decode_bpp(identity[ATTR_PRIVILEGES][0])
    assert groups[0].privilege == "http://ky.test/roles/usersystemrole/laes/1"
    if encrypt:
        assert b"EncryptedAssertion" in base64.b64decode(fields["SAMLResponse"])


def test_pysaml2_sp_rejects_a_tampered_response(
    settings: Settings, tmp_path: Path, keys: SpKeys
) -> None:
    world = make_world(settings)
    client = pysaml2_client(tmp_path, keys, idp_metadata(world))
    world.add_sp(SP, keys, metadata=str(entity_descriptor(client.config)))
    request_id, info = client.prepare_for_authenticate(
        entityid=IDP_ENTITY, binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=RSA_SHA256
    )
    parts = urlsplit(dict(info["headers"])["Location"])
    first = world.client.get(parts.path + "?" + parts.query)
    _action, fields = read_form(world.login(first.headers["Location"]).get_data(as_text=True))
    xml = base64.b64decode(fields["SAMLResponse"]).replace(b">Low<", b">High<")
    with pytest.raises(SignatureError):
        client.parse_authn_request_response(
            base64.b64encode(xml).decode(), BINDING_HTTP_POST, outstanding={request_id: "/"}
        )


def onelogin_settings(keys: SpKeys, idp_cert: str, *, encrypted: bool) -> dict:
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": SP,
            "assertionConsumerService": {"url": ACS, "binding": BINDING_HTTP_POST},
            "NameIDFormat": NAMEID_PERSISTENT,
            "x509cert": keys.cert_b64,
            "privateKey": keys.key_pem.decode(),
        },
        "idp": {
            "entityId": IDP_ENTITY,
            "singleSignOnService": {
                "url": "http://127.0.0.1:8000/saml/sso",
                "binding": BINDING_HTTP_REDIRECT,
            },
            "x509cert": idp_cert,
        },
        "security": {
            "authnRequestsSigned": True,
            "wantMessagesSigned": True,
            "wantAssertionsSigned": True,
            "wantAssertionsEncrypted": encrypted,
            "wantNameId": True,
            "wantAttributeStatement": True,
            "rejectDeprecatedAlgorithm": True,
            "signatureAlgorithm": RSA_SHA256,
            "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            "requestedAuthnContext": False,
        },
    }


@pytest.mark.parametrize("encrypted", [False, True], ids=["signed", "encrypted"])
def test_python3_saml_strict_accepts_our_response(
    settings: Settings, keys: SpKeys, encrypted: bool
) -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    world = make_world(settings)
    from tests.saml_kit import idp_certificate_pem, sp_metadata

    cert = "".join(idp_certificate_pem(world).split("-----")[2].split())
    config = onelogin_settings(keys, cert, encrypted=encrypted)
    world.add_sp(SP, keys, metadata=sp_metadata(SP, keys), encrypt_assertion=encrypted)
    request_data = {"https": "on", "http_host": "ky.test", "script_name": "/", "get_data": {}}
    auth = OneLogin_Saml2_Auth(request_data, old_settings=config)
    login_url = auth.login(return_to="/after")  # signed HTTP-Redirect AuthnRequest
    request_id = auth.get_last_request_id()
    parts = urlsplit(login_url)
    first = world.client.get(parts.path + "?" + parts.query)
    assert first.status_code == 303, first.get_data(as_text=True)
    _action, fields = read_form(world.login(first.headers["Location"]).get_data(as_text=True))
    acs_request = {
        "https": "on",
        "http_host": "ky.test",
        "script_name": "/acs",
        "post_data": {"SAMLResponse": fields["SAMLResponse"]},
    }
    response = OneLogin_Saml2_Response(OneLogin_Saml2_Settings(config), fields["SAMLResponse"])
    assert response.is_valid(acs_request, request_id, raise_exceptions=True)
    assert response.get_nameid() == world.user_id
    attributes = response.get_attributes()
    assert attributes[ATTR_LOA] == ["Low"]
    groups = decode_bpp(attributes[ATTR_PRIVILEGES][0])
    assert groups[0].scope.endswith(":29189846")
    assert response.is_valid(acs_request, "_other-request") is False  # InResponseTo checked
