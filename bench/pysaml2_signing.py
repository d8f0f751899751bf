"""Benchmark only: pysaml2's *default* signing, an ``xmlsec1`` process per signature.

Never used in production, and the product never imports it. ``python -m
bench.pysaml2_signing serve …`` is ``stsctl serve …`` with ``idp.saml.signing``'s
benchmark hook set before the workers fork; ``bench/saml_http.py`` starts it to measure
the same HTTP round trip with pysaml2's default signing
(``saml2.sigver.CryptoBackendXmlSec1.sign_statement``: write the document to a temporary
file, run ``xmlsec1 --sign``, read the result back). The signature template
is the one the in-process signer uses, so both sides produce the same structure.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import xmlsec
from cryptography.hazmat.primitives import serialization
from lxml import etree
from saml2.sigver import CryptoBackendXmlSec1

from idp.saml.constants import DS, RSA_SHA256, RSA_SHA384, RSA_SHA512, SAML
from idp.saml.signing import Signer

log = logging.getLogger("sts.saml")
_lock = threading.Lock()
_backend: CryptoBackendXmlSec1 | None = None
_key_files: dict[str, str] = {}
_directory: Path | None = None


def _setup(signer: Signer) -> tuple[CryptoBackendXmlSec1, str]:
    """pysaml2's backend and the signer's key as a PEM file (as pysaml2's ``key_file``)."""
    global _backend, _directory
    with _lock:
        if _backend is None:
            binary = shutil.which("xmlsec1")
            if binary is None:
                raise RuntimeError("the pysaml2 signing peer needs the xmlsec1 program")
            _backend = CryptoBackendXmlSec1(binary)
            _directory = Path(tempfile.mkdtemp(prefix="saml-bench-keys-"))
            atexit.register(shutil.rmtree, _directory, True)
            log.warning("SAML signing uses the xmlsec1 subprocess (benchmark switch is on)")
        if signer.kid not in _key_files:
            assert _directory is not None
            path = _directory / f"{len(_key_files)}.pem"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(
                    signer.private_key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption(),
                    )
                )
            _key_files[signer.kid] = str(path)
        return _backend, _key_files[signer.kid]


def signature_template(element: etree._Element, method: str) -> etree._Element:
    """Insert an empty enveloped-signature template (exclusive c14n, SHA-256) after Issuer,
    as pysaml2 hands xmlsec1 one."""
    transform = {
        RSA_SHA256: xmlsec.constants.TransformRsaSha256,
        RSA_SHA384: xmlsec.constants.TransformRsaSha384,
        RSA_SHA512: xmlsec.constants.TransformRsaSha512,
    }.get(method)
    if transform is None:
        raise ValueError(f"unsupported signature method {method}")
    signature = xmlsec.template.create(
        element, xmlsec.constants.TransformExclC14N, transform, ns="ds"
    )
    issuer = element.find(f"{{{SAML}}}Issuer")
    if issuer is not None and issuer.getparent() is element:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri="#" + element.get("ID", "")
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
    return signature


def sign_with_xmlsec1_subprocess(
    element: etree._Element, signer: Signer, method: str
) -> etree._Element:
    """Sign ``element`` in its document through ``xmlsec1 --sign --node-id <ID>``."""
    backend, key_file = _setup(signer)
    signature = signature_template(element, method)
    certificate = signature.find(f".//{{{DS}}}X509Certificate")
    if certificate is not None:  # pysaml2 puts the certificate into its template too
        certificate.text = signer.certificate_b64
    root = element.getroottree().getroot()
    node_name = f"{etree.QName(element).namespace}:{etree.QName(element).localname}"
    signed = backend.sign_statement(
        etree.tostring(root, encoding="unicode"), node_name, key_file, element.get("ID")
    )
    signed_root = etree.fromstring(signed.encode("utf-8"))
    signed_element = next(
        el
        for el in signed_root.iter()
        if isinstance(el.tag, str) and el.get("ID") == element.get("ID")
    )
    signed_signature = signed_element.find(f"{{{DS}}}Signature")
    assert signed_signature is not None, "xmlsec1 returned no signature"
    signature.getparent().replace(signature, signed_signature)
    return signed_signature


def main() -> None:
    """``stsctl`` with every RSA-SHA2 signature made by pysaml2's xmlsec1 backend."""
    from cli import main as stsctl
    from idp.saml import signing

    signing._BENCH_SIGNER = sign_with_xmlsec1_subprocess
    stsctl()


if __name__ == "__main__":
    main()
