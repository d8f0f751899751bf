"""XML Encryption of an EncryptedAssertion: RSA-OAEP key transport, AES-GCM or AES-CBC data.

RSA PKCS#1 v1.5 key transport is refused (Bleichenbacher). Every failure is reported as
one ``decryption_failed`` so the errors give an attacker no oracle.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from verifier.errors import InvalidToken
from verifier.saml._names import DS, XENC, XENC11, q

PrivateKeyLike = rsa.RSAPrivateKey | str | bytes

_DATA_ALGORITHMS = {
    XENC + "aes128-cbc": ("cbc", 16),
    XENC + "aes256-cbc": ("cbc", 32),
    XENC11 + "aes128-gcm": ("gcm", 16),
    XENC11 + "aes256-gcm": ("gcm", 32),
}
_RSA_OAEP_MGF1P = XENC + "rsa-oaep-mgf1p"
_RSA_OAEP = XENC11 + "rsa-oaep"
_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
}
_MGFS: dict[str, type[hashes.HashAlgorithm]] = {
    XENC11 + "mgf1sha1": hashes.SHA1,
    XENC11 + "mgf1sha256": hashes.SHA256,
    XENC11 + "mgf1sha384": hashes.SHA384,
    XENC11 + "mgf1sha512": hashes.SHA512,
}


def _fail(message: str = "cannot decrypt the assertion") -> InvalidToken:
    return InvalidToken("decryption_failed", message)


def load_private_key(key: PrivateKeyLike) -> rsa.RSAPrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    data = key.encode("ascii") if isinstance(key, str) else key
    loaded = (
        serialization.load_pem_private_key(data, password=None)
        if b"-----BEGIN" in data
        else serialization.load_der_private_key(data, password=None)
    )
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise TypeError("decryption_key must be an RSA private key")
    return loaded


def _b64(element: etree._Element | None) -> bytes:
    if element is None or not element.text:
        raise _fail("missing CipherValue")
    try:
        return base64.b64decode("".join(element.text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("CipherValue is not base64") from exc


def _unwrap_key(encrypted_key: etree._Element, private_key: rsa.RSAPrivateKey) -> bytes:
    method = encrypted_key.find(q(XENC, "EncryptionMethod"))
    algorithm = method.get("Algorithm") if method is not None else None
    if method is None or algorithm not in (_RSA_OAEP_MGF1P, _RSA_OAEP):
        raise _fail(f"key transport {algorithm!r} is not accepted (RSA-OAEP only)")
    digest_method = method.find(q(DS, "DigestMethod"))
    digest_uri = digest_method.get("Algorithm") if digest_method is not None else None
    digest = _DIGESTS.get(digest_uri or "http://www.w3.org/2000/09/xmldsig#sha1")
    mgf_hash: type[hashes.HashAlgorithm] | None = hashes.SHA1
    if algorithm == _RSA_OAEP:
        mgf = method.find(q(XENC11, "MGF"))
        mgf_hash = _MGFS.get(mgf.get("Algorithm") or "") if mgf is not None else hashes.SHA1
    if digest is None or mgf_hash is None:
        raise _fail("unsupported OAEP digest")
    params = method.find(q(XENC, "OAEPparams"))
    label = _b64(params) if params is not None else None
    cipher_value = encrypted_key.find(f"{q(XENC, 'CipherData')}/{q(XENC, 'CipherValue')}")
    try:
        return private_key.decrypt(
            _b64(cipher_value),
            padding.OAEP(mgf=padding.MGF1(mgf_hash()), algorithm=digest(), label=label),
        )
    except ValueError as exc:
        raise _fail() from exc


def _decrypt_data(algorithm: str, key: bytes, data: bytes) -> bytes:
    mode, size = _DATA_ALGORITHMS[algorithm]
    if len(key) != size:
        raise _fail()
    if mode == "gcm":
        if len(data) < 12 + 16:
            raise _fail()
        try:
            return AESGCM(key).decrypt(data[:12], data[12:], None)
        except InvalidTag as exc:
            raise _fail() from exc
    if len(data) < 32 or len(data) % 16:
        raise _fail()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16:
        raise _fail()
    return padded[:-pad]


def decrypt_assertion(
    encrypted_assertion: etree._Element, decryption_key: PrivateKeyLike | None
) -> bytes:
    """The plaintext bytes of the Assertion inside ``encrypted_assertion``."""
    if decryption_key is None:
        raise _fail("the assertion is encrypted and no decryption_key was given")
    private_key = load_private_key(decryption_key)
    encrypted_data = encrypted_assertion.find(q(XENC, "EncryptedData"))
    if encrypted_data is None:
        raise _fail("EncryptedAssertion without EncryptedData")
    method = encrypted_data.find(q(XENC, "EncryptionMethod"))
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in _DATA_ALGORITHMS:
        raise _fail(f"data encryption {algorithm!r} is not accepted")
    assert algorithm is not None
    candidates = [
        *encrypted_data.findall(f"{q(DS, 'KeyInfo')}/{q(XENC, 'EncryptedKey')}"),
        *encrypted_assertion.findall(q(XENC, "EncryptedKey")),
    ]
    if not candidates:
        raise _fail("no EncryptedKey")
    cipher_value = encrypted_data.find(f"{q(XENC, 'CipherData')}/{q(XENC, 'CipherValue')}")
    ciphertext = _b64(cipher_value)
    for candidate in candidates:
        try:
            key = _unwrap_key(candidate, private_key)
            return _decrypt_data(algorithm, key, ciphertext)
        except InvalidToken:
            continue
    raise _fail()
