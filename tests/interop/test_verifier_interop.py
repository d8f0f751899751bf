"""The verifier accepts tokens made by independent tools with our key, not only its own quirks.

SAML: signed and encrypted by the ``xmlsec1`` command-line tool and by python-xmlsec
(libxmlsec1), where signxml (the verifier's library) plays no part in making them.
JWT: signed with ``cryptography`` by hand (no JOSE library at all) and with authlib.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests import verifier_factory as f
from verifier import jwt
from verifier.saml import verify_response

XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.skipif(
    XMLSEC1 is None, reason="xmlsec1 command-line tool not installed"
)
ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
RESPONSE_NODE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"


def verify(posted: str, **kwargs: Any) -> Any:
    return verify_response(
        posted,
        idp_metadata=f.metadata(),
        sp_entity_id=f.SP_ENTITY_ID,
        acs_url=f.ACS_URL,
        request_id=f.REQUEST_ID,
        **kwargs,
    )


def signature_template(element: etree._Element) -> None:
    """An empty enveloped RSA-SHA256 / exc-c14n signature right after the Issuer."""
    ds = f.DS
    signature = etree.Element(f.q(ds, "Signature"), nsmap={"ds": ds})
    signed_info = etree.SubElement(signature, f.q(ds, "SignedInfo"))
    etree.SubElement(signed_info, f.q(ds, "CanonicalizationMethod")).set("Algorithm", f.EXC_C14N)
    etree.SubElement(signed_info, f.q(ds, "SignatureMethod")).set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    reference = etree.SubElement(signed_info, f.q(ds, "Reference"))
    reference.set("URI", "#" + element.get("ID", ""))
    transforms = etree.SubElement(reference, f.q(ds, "Transforms"))
    etree.SubElement(transforms, f.q(ds, "Transform")).set(
        "Algorithm", "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    )
    etree.SubElement(transforms, f.q(ds, "Transform")).set("Algorithm", f.EXC_C14N)
    etree.SubElement(reference, f.q(ds, "DigestMethod")).set(
        "Algorithm", "http://www.w3.org/2001/04/xmlenc#sha256"
    )
    etree.SubElement(reference, f.q(ds, "DigestValue"))
    etree.SubElement(signature, f.q(ds, "SignatureValue"))
    key_info = etree.SubElement(signature, f.q(ds, "KeyInfo"))
    etree.SubElement(etree.SubElement(key_info, f.q(ds, "X509Data")), f.q(ds, "X509Certificate"))
    issuer = element.find(f.q(f.SAML, "Issuer"))
    assert issuer is not None
    issuer.addnext(signature)


def xmlsec1(tmp_path: Path, *args: str) -> None:
    assert XMLSEC1 is not None
    subprocess.run([XMLSEC1, *args], check=True, capture_output=True, cwd=tmp_path, timeout=30)


def write_idp_key(tmp_path: Path) -> str:
    (tmp_path / "idp-key.pem").write_bytes(f.idp().key_pem)
    (tmp_path / "idp-cert.pem").write_bytes(f.idp().cert_pem)
    return "idp-key.pem,idp-cert.pem"


def xmlsec1_sign(tmp_path: Path, element: etree._Element, node: str) -> etree._Element:
    signature_template(element)
    (tmp_path / "unsigned.xml").write_bytes(etree.tostring(element))
    xmlsec1(
        tmp_path,
        "--sign",
        "--privkey-pem",
        write_idp_key(tmp_path),
        "--id-attr:ID",
        node,
        "--output",
        "signed.xml",
        "unsigned.xml",
    )
    return etree.fromstring((tmp_path / "signed.xml").read_bytes())


@needs_xmlsec1
def test_assertion_signed_by_the_xmlsec1_tool_verifies(tmp_path: Path) -> None:
    signed = xmlsec1_sign(tmp_path, f.assertion(name_id="xmlsec1@ballerup.test"), ASSERTION_NODE)
    assertion = verify(f.encode(f.response(signed)))
    assert assertion.name_id == "xmlsec1@ballerup.test"
    assert assertion.privileges.allows(f.LAES_SAG, cvr=f.CVR, kle="27.35.04")


@needs_xmlsec1
def test_response_signed_by_the_xmlsec1_tool_verifies(tmp_path: Path) -> None:
    signed = xmlsec1_sign(tmp_path, f.response(f.assertion()), RESPONSE_NODE)
    assert verify(f.encode(signed)).name_id == "caseworker@ballerup.test"


@needs_xmlsec1
def test_xmlsec1_signed_assertion_altered_afterwards_is_rejected(tmp_path: Path) -> None:
    from verifier import InvalidToken

    signed = xmlsec1_sign(tmp_path, f.assertion(), ASSERTION_NODE)
    subject = signed.find(f.q(f.SAML, "Subject"))
    assert subject is not None
    subject[0].text = "attacker@ballerup.test"
    with pytest.raises(InvalidToken) as error:
        verify(f.encode(f.response(signed)))
    assert error.value.reason == "bad_signature"


ENCRYPTION_TEMPLATE = """<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element">
<xenc:EncryptionMethod Algorithm="{data}"/><ds:KeyInfo><xenc:EncryptedKey>
<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>
<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"""


@needs_xmlsec1
@pytest.mark.parametrize(
    "data_algorithm",
    ["http://www.w3.org/2009/xmlenc11#aes256-gcm", "http://www.w3.org/2001/04/xmlenc#aes256-cbc"],
)
def test_assertion_encrypted_by_the_xmlsec1_tool_decrypts(
    tmp_path: Path, data_algorithm: str
) -> None:
    signed = xmlsec1_sign(tmp_path, f.assertion(name_id="sealed@ballerup.test"), ASSERTION_NODE)
    holder = etree.Element(f.q(f.SAML, "EncryptedAssertion"), nsmap={"saml": f.SAML})
    holder.append(signed)
    (tmp_path / "plain.xml").write_bytes(etree.tostring(holder))
    (tmp_path / "template.xml").write_text(ENCRYPTION_TEMPLATE.format(data=data_algorithm))
    sp = f.rsa_keypair("sp")
    (tmp_path / "sp-cert.pem").write_bytes(sp.cert_pem)
    xmlsec1(
        tmp_path,
        "--encrypt",
        "--pubkey-cert-pem",
        "sp-cert.pem",
        "--session-key",
        "aes-256",
        "--xml-data",
        "plain.xml",
        "--node-name",
        ASSERTION_NODE,
        "--output",
        "encrypted.xml",
        "template.xml",
    )
    encrypted = etree.fromstring((tmp_path / "encrypted.xml").read_bytes())
    assert encrypted.find(f.q(f.SAML, "Assertion")) is None
    assertion = verify(f.encode(f.response(encrypted)), decryption_key=sp.key)
    assert assertion.name_id == "sealed@ballerup.test"


def test_assertion_signed_by_python_xmlsec_verifies() -> None:
    xmlsec = pytest.importorskip("xmlsec")
    element = f.assertion(name_id="libxmlsec@ballerup.test")
    signature = xmlsec.template.create(
        element, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds"
    )
    issuer = element.find(f.q(f.SAML, "Issuer"))
    assert issuer is not None
    issuer.addnext(signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.Transform.SHA256, uri="#" + element.get("ID")
    )
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    key = xmlsec.Key.from_memory(f.idp().key_pem, xmlsec.KeyFormat.PEM)
    key.load_cert_from_memory(f.idp().cert_pem, xmlsec.KeyFormat.PEM)
    context = xmlsec.SignatureContext()
    context.key = key
    xmlsec.tree.add_ids(element, ["ID"])
    context.sign(signature)
    assert verify(f.encode(f.response(element))).name_id == "libxmlsec@ballerup.test"


# --- JWT -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["PS256", "RS256"])
def test_jwt_signed_with_cryptography_alone_verifies(alg: str) -> None:
    token = f.hand_signed_jwt({"alg": alg, "typ": "at+jwt", "kid": "idp-1"}, f.claims())
    claims = jwt.verify(token, issuer=f.JWT_ISSUER, audience=f.JWT_AUDIENCE, jwks=f.jwks())
    assert claims["cvr"] == f.CVR


def test_jwt_made_by_authlib_verifies() -> None:
    with warnings.catch_warnings(record=True):  # authlib.jose announces its move to joserfc
        try:
            from authlib.jose import jwt as authlib_jwt
        except ImportError:
            pytest.skip("authlib not installed")
    header = {"alg": "PS256", "typ": "at+jwt", "kid": "idp-1"}
    token = authlib_jwt.encode(header, f.claims(), f.idp().key_pem)
    token = token.decode() if isinstance(token, bytes) else token
    claims = jwt.verify(token, issuer=f.JWT_ISSUER, audience=f.JWT_AUDIENCE, jwks=f.jwks())
    assert claims["iss"] == f.JWT_ISSUER


def test_jwks_published_by_another_library_is_understood() -> None:
    """A JWKS built from the certificate by cryptography's numbers, as any issuer would."""
    numbers = f.idp().key.public_key().public_numbers()

    def b64int(value: int) -> str:
        return f.b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    keys = {
        "keys": [{"kty": "RSA", "kid": "idp-1", "n": b64int(numbers.n), "e": b64int(numbers.e)}]
    }
    token = f.hand_signed_jwt(
        {"alg": "PS256", "typ": "at+jwt", "kid": "idp-1"}, f.claims(exp=int(time.time()) + 60)
    )
    assert jwt.verify(token, issuer=f.JWT_ISSUER, audience=f.JWT_AUDIENCE, jwks=keys)
