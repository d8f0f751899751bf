"""``idp.saml.decryption``: an SP's EncryptedID, made by the ``xmlsec1`` command, decrypted.

Keys and certificates are generated here; the ciphertexts come from ``xmlsec1`` (the
encryptor pysaml2 uses), not from the IdP's own code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from idp.saml.constants import SAML
from idp.saml.decryption import decrypt_name_id
from idp.saml.xmlutil import SamlError
from tests.logout_kit import XENC_NS, xmlsec1_encrypted_id
from tests.saml_kit import SpKeys

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 not installed")

NAME_ID = (
    f'<saml:NameID xmlns:saml="{SAML}" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:'
    'persistent">8f0c6a4e-1111-2222-3333-444455556666</saml:NameID>'
)


@pytest.fixture(scope="module")
def ours() -> SpKeys:
    return SpKeys.generate("idp-encryption")


@pytest.fixture(scope="module")
def other() -> SpKeys:
    return SpKeys.generate("someone-else")


def made(keys: SpKeys, work: Path, plain: str = NAME_ID, **options: str) -> etree._Element:
    xml = xmlsec1_encrypted_id(plain, keys.cert_pem.decode(), work, **options)
    return etree.fromstring(xml.encode())


def test_decrypts_with_the_key_that_fits_among_active_and_next(
    ours: SpKeys, other: SpKeys, tmp_path: Path
) -> None:
    name_id = decrypt_name_id(made(ours, tmp_path), [other.key_pem, ours.key_pem])
    assert name_id.tag == f"{{{SAML}}}NameID"
    assert name_id.text == "8f0c6a4e-1111-2222-3333-444455556666"


def test_an_encrypted_key_beside_the_encrypted_data_is_found(ours: SpKeys, tmp_path: Path) -> None:
    encrypted_id = made(ours, tmp_path)
    data = encrypted_id.find(f"{{{XENC_NS}}}EncryptedData")
    key_info = data.find("{http://www.w3.org/2000/09/xmldsig#}KeyInfo")
    encrypted_key = key_info.find(f"{{{XENC_NS}}}EncryptedKey")
    data.remove(key_info)
    encrypted_id.append(encrypted_key)  # SAML core §2.2.4 allows it here
    assert decrypt_name_id(encrypted_id, [ours.key_pem]).text.startswith("8f0c6a4e")


def test_the_signed_message_is_left_as_it_was(ours: SpKeys, tmp_path: Path) -> None:
    encrypted_id = made(ours, tmp_path)
    before = etree.tostring(encrypted_id)
    decrypt_name_id(encrypted_id, [ours.key_pem])
    assert etree.tostring(encrypted_id) == before


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"key_transport": XENC_NS + "rsa-1_5"}, "RSA-OAEP only"),
        ({"content": XENC_NS + "tripledes-cbc", "session_key": "des-192"}, "not accepted"),
    ],
    ids=["rsa-1_5", "3des"],
)
def test_weak_algorithms_are_refused_before_decryption(
    ours: SpKeys, tmp_path: Path, options: dict[str, str], why: str
) -> None:
    with pytest.raises(SamlError, match=why):
        decrypt_name_id(made(ours, tmp_path, **options), [ours.key_pem])


def test_not_our_key_is_refused(ours: SpKeys, other: SpKeys, tmp_path: Path) -> None:
    with pytest.raises(SamlError, match="cannot be decrypted"):
        decrypt_name_id(made(other, tmp_path), [ours.key_pem])


def test_anything_but_a_name_id_inside_is_refused(ours: SpKeys, tmp_path: Path) -> None:
    issuer = f'<saml:Issuer xmlns:saml="{SAML}">https://evil.test</saml:Issuer>'
    with pytest.raises(SamlError, match="must contain a NameID"):
        decrypt_name_id(made(ours, tmp_path, plain=issuer), [ours.key_pem])
