"""EncryptedAssertion: AES-256-GCM (or CBC) content key, RSA-OAEP to the SP's certificate.

In-process with the ``xmlsec`` binding, like signing. The SP's certificate is taken from
its metadata (``KeyDescriptor use="encryption"``, or a KeyDescriptor without ``use``).
"""

from __future__ import annotations

import threading

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree

from idp.saml.constants import AES256_CBC, SAML

_DATA_METHODS = {
    "http://www.w3.org/2009/xmlenc11#aes256-gcm": xmlsec.constants.TransformAes256Gcm,
    AES256_CBC: xmlsec.constants.TransformAes256Cbc,
}


_LOCAL = threading.local()


def _manager(certificate: x509.Certificate) -> xmlsec.KeysManager:
    """A keys manager holding the SP's certificate; creating one costs ~20 ms, so cache."""
    cache: dict[bytes, xmlsec.KeysManager] = getattr(_LOCAL, "managers", None) or {}
    _LOCAL.managers = cache
    fingerprint = certificate.fingerprint(hashes.SHA256())
    manager = cache.get(fingerprint)
    if manager is None:
        if len(cache) > 256:
            cache.clear()
        manager = xmlsec.KeysManager()
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        manager.add_key(xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem))
        cache[fingerprint] = manager
    return manager


def encrypt_assertion(
    assertion: etree._Element, certificate: x509.Certificate, method: str
) -> etree._Element:
    """Replace ``assertion`` (in its tree) by a saml:EncryptedAssertion and return that."""
    transform = _DATA_METHODS.get(method)
    if transform is None:
        raise ValueError(f"unsupported data encryption method {method}")
    # Serialised on its own, the assertion carries every namespace it uses (once moved
    # under a Response, lxml drops the declarations the Response already makes), so the
    # SP can parse the decrypted bytes as a document of their own.
    plaintext = etree.tostring(assertion)
    wrapper = etree.Element(f"{{{SAML}}}EncryptedAssertion", nsmap={"saml": SAML})
    if assertion.getparent() is not None:
        assertion.addprevious(wrapper)
        assertion.getparent().remove(assertion)
    template = xmlsec.template.encrypted_data_create(
        wrapper, transform, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    context = xmlsec.EncryptionContext(_manager(certificate))
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession
    )
    wrapper.append(context.encrypt_binary(template, plaintext))
    return wrapper
