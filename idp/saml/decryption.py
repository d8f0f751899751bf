"""What SPs encrypt to us: a ``saml:EncryptedID`` (encrypted NameID) in a LogoutRequest.

An SP encrypts to a certificate our metadata publishes for encryption (the active or the
next RSA key), so each of those private keys is tried. Only RSA-OAEP key transport and
AES content encryption are accepted (RSA PKCS#1 v1.5 invites padding oracles; 3DES is
retired); the EncryptedKey may sit in the EncryptedData's KeyInfo or beside it in the
EncryptedID (SAML core §2.2.4). Decryption works on a copy, so the signed message is left
as it was verified, and the result must be exactly one ``saml:NameID``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import xmlsec
from lxml import etree

from idp.saml.constants import DS, SAML, XENC
from idp.saml.xmlutil import SamlError

_X, _DS, _A = f"{{{XENC}}}", f"{{{DS}}}", f"{{{SAML}}}"
KEY_TRANSPORT = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    }
)
CONTENT = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2009/xmlenc11#aes192-gcm",
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    }
)


def _algorithm(element: etree._Element) -> str:
    method = element.find(_X + "EncryptionMethod")
    return "" if method is None else str(method.get("Algorithm", ""))


def _standalone(encrypted_id: etree._Element) -> etree._Element:
    """A copy of the EncryptedData with its EncryptedKey inside, after the algorithm checks."""
    found = encrypted_id.findall(_X + "EncryptedData")
    if len(found) != 1:
        raise SamlError("EncryptedID must hold exactly one EncryptedData")
    data = copy.deepcopy(found[0])
    if _algorithm(data) not in CONTENT:
        raise SamlError("EncryptedID: the content encryption algorithm is not accepted")
    key_info = data.find(_DS + "KeyInfo")
    keys = [] if key_info is None else key_info.findall(_X + "EncryptedKey")
    if not keys:
        beside = encrypted_id.findall(_X + "EncryptedKey")
        if key_info is None:
            key_info = etree.SubElement(data, _DS + "KeyInfo")
            data.insert(1, key_info)  # after EncryptionMethod (schema order)
        for encrypted_key in beside:
            key_info.append(copy.deepcopy(encrypted_key))
        keys = key_info.findall(_X + "EncryptedKey")
    if len(keys) != 1:
        raise SamlError("EncryptedID must carry exactly one EncryptedKey")
    if _algorithm(keys[0]) not in KEY_TRANSPORT:
        raise SamlError("EncryptedID: the key transport algorithm is not accepted (RSA-OAEP only)")
    return data


def decrypt_name_id(
    encrypted_id: etree._Element, private_keys_pem: Iterable[bytes]
) -> etree._Element:
    """The ``saml:NameID`` inside ``encrypted_id``, decrypted with the first key that fits."""
    data = _standalone(encrypted_id)
    for pem in private_keys_pem:
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem))
        holder = etree.Element("holder")  # decryption replaces the node inside its parent
        holder.append(copy.deepcopy(data))
        try:
            result = xmlsec.EncryptionContext(manager).decrypt(holder[0])
        except xmlsec.Error:
            continue
        if not isinstance(result, etree._Element) or result.tag != _A + "NameID":
            raise SamlError("EncryptedID must contain a NameID")
        if len(result) or not (result.text or "").strip():
            raise SamlError("the encrypted NameID is empty or not plain text")
        return result
    raise SamlError("EncryptedID cannot be decrypted with this IdP's encryption keys")
