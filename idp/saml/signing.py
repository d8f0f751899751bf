"""In-process XML signatures: sign with the active key, verify what SPs send.

Signing builds the enveloped signature itself, the structure libxmlsec1's template gives
(exclusive c14n, SHA-256 reference digest, RSA-SHA256/384/512 or RSA-PSS, the certificate
in KeyInfo), from lxml's exclusive c14n and ``cryptography``'s RSA signer. It used the
``xmlsec`` binding until a soak showed about one ``xmlsec.Error: failed to sign`` in
150,000 SSO round trips under load: that binding carries its own statically linked
libxml2 and works on lxml's trees with the GIL released, and the failure could not be
reproduced outside the server. ``cryptography`` keys are safe to share between threads,
and the same code already signed RSA-PSS (which libxmlsec1 lacks) and every STS message.

Verification is deliberately narrow (SECURITY.md, SAML as IdP, lines 3, 4, 7): exactly one
``ds:Signature``, a direct child of the signed element, one Reference whose URI is that
element's ID, only the enveloped and exclusive-c14n transforms, SHA-2 digests and RSA-SHA2
signature methods. The key comes from the SP's metadata, never from KeyInfo.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from certs.keys import KeyFileError
from idp.saml.constants import (
    ACCEPTED_DIGEST_METHODS,
    ACCEPTED_SIGNATURE_METHODS,
    DS,
    ENVELOPED,
    EXC_C14N,
    RSA_PSS_SHA256,
    RSA_SHA256,
    RSA_SHA384,
    RSA_SHA512,
    SAML,
    SHA256,
)
from idp.saml.xmlutil import SamlError

log = logging.getLogger("sts.saml")

_XMLSEC_SIGN = {
    RSA_SHA256: xmlsec.constants.TransformRsaSha256,
    RSA_SHA384: xmlsec.constants.TransformRsaSha384,
    RSA_SHA512: xmlsec.constants.TransformRsaSha512,
}
_XMLSEC_DIGESTS = (
    xmlsec.constants.TransformSha256,
    xmlsec.constants.TransformSha384,
    xmlsec.constants.TransformSha512,
)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    RSA_SHA256: hashes.SHA256,
    RSA_SHA384: hashes.SHA384,
    RSA_SHA512: hashes.SHA512,
}


@dataclass(frozen=True)
class Signer:
    """The active signing key, loaded once: xmlsec and cryptography forms plus the cert."""

    kid: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    xmlsec_key: xmlsec.Key
    certificate_b64: str

    @classmethod
    def from_objects(
        cls, kid: str, private_key: rsa.RSAPrivateKey, certificate: x509.Certificate
    ) -> Signer:
        key_pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
        key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
        key.name = kid
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(kid, private_key, certificate, key, base64.b64encode(der).decode())


@dataclass(frozen=True)
class KeySnapshot:
    """The published keys and the signer chosen from them, read together at one moment.

    Everything this process publishes (the KeyDescriptors of the metadata) and signs with
    comes from one snapshot, so it never signs with a key its own metadata does not list.
    """

    rows: tuple[Any, ...]  # published SigningKey rows: next, active, recently retired
    signer: Signer
    taken_at: float

    @property
    def shape(self) -> tuple[tuple[str, str], ...]:
        """What the metadata depends on: each published key and its state."""
        return tuple((row.kid, row.state) for row in self.rows)


class KeyRing:
    """The published RSA keys and the active one as a :class:`Signer`, one snapshot at a time.

    The database is asked for the published keys at most every ``refresh`` seconds (one
    query); the private key file is read once per kid. ``stsctl keys rotate`` in another
    process is picked up within ``refresh`` seconds by signing and metadata alike, and
    verifiers already know the promoted key because it was published as *next* before.
    """

    def __init__(self, services: object, refresh: float = 5.0) -> None:
        self._services = services
        self._refresh = refresh
        self._lock = threading.Lock()
        self._snapshot: KeySnapshot | None = None

    def snapshot(self) -> KeySnapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - snapshot.taken_at < self._refresh:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and time.monotonic() - snapshot.taken_at < self._refresh:
                return snapshot
            try:
                loaded = self._load(snapshot)
            except Exception as exc:
                if snapshot is None:
                    raise
                # The database is down: keep publishing and signing with the snapshot we
                # have (a rotation cannot happen meanwhile: it writes to the database);
                # ask again in a second.
                log.warning("signing keys not re-read, keeping the last ones: %s", exc)
                loaded = replace(snapshot, taken_at=time.monotonic() - self._refresh + 1.0)
            self._snapshot = loaded
            return loaded

    def signer(self) -> Signer:
        return self.snapshot().signer

    def invalidate(self) -> None:
        """Read the keys again at the next use (after a rotation in this process, tests)."""
        self._snapshot = None

    def _load(self, previous: KeySnapshot | None) -> KeySnapshot:
        services = self._services
        keys = services.keys  # type: ignore[attr-defined]
        with services.database.session() as session:  # type: ignore[attr-defined]
            rows = tuple(keys.published(session))
        active = [row for row in rows if row.kty == "RSA" and row.state == "active"]
        if not active:
            raise KeyFileError("no active RSA signing key; run `stsctl init`")
        chosen = active[-1]  # the newest, as KeyManager.active picks it
        signer = previous.signer if previous is not None else None
        if signer is None or signer.kid != chosen.kid:
            loaded = keys.load(chosen)
            assert isinstance(loaded.private_key, rsa.RSAPrivateKey)
            signer = Signer.from_objects(loaded.kid, loaded.private_key, loaded.certificate)
        return KeySnapshot(rows, signer, time.monotonic())


# -- signing ----------------------------------------------------------------------------

BenchSigner = Callable[[etree._Element, "Signer", str], etree._Element]


def _insert_after_issuer(element: etree._Element, signature: etree._Element) -> None:
    issuer = element.find(f"{{{SAML}}}Issuer")
    if issuer is not None and issuer.getparent() is element:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)


def sign(element: etree._Element, signer: Signer, method: str = RSA_SHA256) -> etree._Element:
    """Add an enveloped signature over ``element`` (which must carry an ``ID``), placed
    right after its Issuer: exclusive c14n, a SHA-256 reference digest, ``method``."""
    if method not in _HASHES and method != RSA_PSS_SHA256:
        raise ValueError(f"unsupported signature method {method}")
    if _BENCH_SIGNER is not None:  # benchmark only, see bench/pysaml2_signing.py
        return _BENCH_SIGNER(element, signer, method)
    # The enveloped transform removes the Signature, so the digest is of the element as
    # it is before the Signature is inserted.
    digest = hashlib.sha256(_c14n(element)).digest()
    ds = f"{{{DS}}}"
    signature = etree.Element(ds + "Signature", nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, ds + "SignedInfo")
    etree.SubElement(signed_info, ds + "CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(signed_info, ds + "SignatureMethod", Algorithm=method)
    reference = etree.SubElement(signed_info, ds + "Reference", URI="#" + element.get("ID", ""))
    transforms = etree.SubElement(reference, ds + "Transforms")
    etree.SubElement(transforms, ds + "Transform", Algorithm=ENVELOPED)
    etree.SubElement(transforms, ds + "Transform", Algorithm=EXC_C14N)
    etree.SubElement(reference, ds + "DigestMethod", Algorithm=SHA256)
    etree.SubElement(reference, ds + "DigestValue").text = base64.b64encode(digest).decode()
    value = etree.SubElement(signature, ds + "SignatureValue")
    key_info = etree.SubElement(signature, ds + "KeyInfo")
    x509_data = etree.SubElement(key_info, ds + "X509Data")
    etree.SubElement(x509_data, ds + "X509Certificate").text = signer.certificate_b64
    _insert_after_issuer(element, signature)
    # SignedInfo is canonicalised in place, as a verifier sees it (exclusive c14n renders
    # only the namespaces it uses, so its new ancestors change nothing).
    signed = _c14n(signed_info)
    if method == RSA_PSS_SHA256:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        raw = signer.private_key.sign(signed, pss, hashes.SHA256())
    else:
        raw = signer.private_key.sign(signed, padding.PKCS1v15(), _HASHES[method]())
    value.text = base64.b64encode(raw).decode()
    return signature


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


# -- verification of enveloped signatures ------------------------------------------------


@dataclass(frozen=True)
class VerifyKey:
    """An SP's signing certificate in both forms, prepared once per SP registration."""

    certificate: x509.Certificate
    xmlsec_key: xmlsec.Key

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> VerifyKey:
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)
        return cls(certificate, key)


def _one(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.findall(tag)
    if len(found) != 1:
        raise SamlError(f"signature must have exactly one {etree.QName(tag).localname}")
    return found[0]


def check_signature_shape(root: etree._Element) -> etree._Element | None:
    """Return the enveloped signature of ``root`` (None if unsigned) after strict checks."""
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if not signatures:
        return None
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise SamlError("the only signature must be a direct child of the signed message")
    signature = signatures[0]
    allowed_children = {f"{{{DS}}}{name}" for name in ("SignedInfo", "SignatureValue", "KeyInfo")}
    for child in signature:
        if not isinstance(child.tag, str) or child.tag not in allowed_children:
            raise SamlError("signature contains unexpected content (ds:Object or comments)")
    signed_info = _one(signature, f"{{{DS}}}SignedInfo")
    c14n = _one(signed_info, f"{{{DS}}}CanonicalizationMethod").get("Algorithm")
    if c14n != EXC_C14N:
        raise SamlError("signature must use exclusive canonicalisation")
    method = _one(signed_info, f"{{{DS}}}SignatureMethod").get("Algorithm")
    if method not in ACCEPTED_SIGNATURE_METHODS:
        raise SamlError(f"signature method {method} is not accepted (RSA-SHA256 or stronger)")
    reference = _one(signed_info, f"{{{DS}}}Reference")
    root_id = root.get("ID")
    if not root_id or reference.get("URI") != "#" + root_id:
        raise SamlError("signature must reference the signed message itself")
    same_id = [el for el in root.iter() if isinstance(el.tag, str) and el.get("ID") == root_id]
    if len(same_id) != 1:
        raise SamlError("duplicate ID in message")
    transforms = reference.find(f"{{{DS}}}Transforms")
    for transform in [] if transforms is None else list(transforms):
        algorithm = transform.get("Algorithm") if isinstance(transform.tag, str) else None
        if algorithm not in (ENVELOPED, EXC_C14N):
            raise SamlError(f"signature transform {algorithm} is not accepted")
        for child in transform:
            if etree.QName(child).localname != "InclusiveNamespaces":
                raise SamlError("signature transform has unexpected parameters")
    digest = _one(reference, f"{{{DS}}}DigestMethod").get("Algorithm")
    if digest not in ACCEPTED_DIGEST_METHODS:
        raise SamlError(f"digest method {digest} is not accepted (SHA-256 or stronger)")
    return signature


def verify_enveloped(root: etree._Element, keys: Sequence[VerifyKey]) -> bool:
    """True when ``root`` is signed by one of ``keys``; False when unsigned; raise otherwise."""
    signature = check_signature_shape(root)
    if signature is None:
        return False
    if not keys:
        raise SamlError("the SP's metadata has no signing certificate")
    for key in keys:
        context = xmlsec.SignatureContext()
        context.key = key.xmlsec_key
        context.register_id(root, "ID")
        context.enable_reference_transform(xmlsec.constants.TransformEnveloped)
        context.enable_reference_transform(xmlsec.constants.TransformExclC14N)
        for digest in _XMLSEC_DIGESTS:
            context.enable_reference_transform(digest)
        context.enable_signature_transform(xmlsec.constants.TransformExclC14N)
        for method in _XMLSEC_SIGN.values():
            context.enable_signature_transform(method)
        try:
            context.verify(signature)
            return True
        except xmlsec.Error:
            continue
    raise SamlError("signature does not verify with the SP's registered key")


# -- HTTP-Redirect binding ---------------------------------------------------------------


def encode_redirect_query(
    field: str, payload_b64: str, relay_state: str | None, signer: Signer | None
) -> str:
    """``SAMLRequest=..&RelayState=..&SigAlg=..&Signature=..`` signed with RSA-SHA256."""
    parts = [f"{field}={quote_plus(payload_b64)}"]
    if relay_state:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if signer is None:
        return "&".join(parts)
    parts.append(f"SigAlg={quote_plus(RSA_SHA256)}")
    signed = "&".join(parts).encode()
    value = signer.private_key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    parts.append(f"Signature={quote_plus(base64.b64encode(value).decode())}")
    return "&".join(parts)


@dataclass(frozen=True)
class RedirectParams:
    message: str  # base64 of the DEFLATEd message, decoded from the URL
    relay_state: str | None
    sig_alg: str | None
    signature: bytes | None
    signed_octets: bytes  # the parameters as received, in the received order


def split_redirect_query(raw_query: bytes, field: str) -> RedirectParams:
    """Split the raw query string, keeping each value exactly as received for the check."""
    raw: dict[str, bytes] = {}
    order: list[str] = []
    for piece in raw_query.split(b"&"):
        if not piece:
            continue
        name_raw, _, value = piece.partition(b"=")
        name = unquote_plus(name_raw.decode("ascii", "replace"))
        if name in raw:
            raise SamlError(f"parameter {name} is repeated")
        raw[name] = value
        order.append(name)
    if field not in raw:
        raise SamlError(f"{field} is missing")

    def decoded(name: str) -> str | None:
        value = raw.get(name)
        return None if value is None else unquote_plus(value.decode("ascii", "replace"))

    signed_names = [name for name in order if name in (field, "RelayState", "SigAlg")]
    signed = b"&".join(name.encode() + b"=" + raw[name] for name in signed_names)
    signature_b64 = decoded("Signature")
    signature = None
    if signature_b64 is not None:
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except ValueError as exc:
            raise SamlError("Signature is not valid base64") from exc
    return RedirectParams(
        message=decoded(field) or "",
        relay_state=decoded("RelayState"),
        sig_alg=decoded("SigAlg"),
        signature=signature,
        signed_octets=signed,
    )


def verify_redirect(params: RedirectParams, keys: Iterable[VerifyKey]) -> bool:
    """True when signed by one of ``keys``; False when unsigned; raise on a bad signature."""
    if params.signature is None and params.sig_alg is None:
        return False
    if params.signature is None or params.sig_alg is None:
        raise SamlError("Signature and SigAlg must be sent together")
    hash_type = _HASHES.get(params.sig_alg)
    if hash_type is None:
        raise SamlError(f"SigAlg {params.sig_alg} is not accepted (RSA-SHA256 or stronger)")
    keys = list(keys)
    if not keys:
        raise SamlError("the SP's metadata has no signing certificate")
    for key in keys:
        public_key = key.certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            continue
        try:
            public_key.verify(
                params.signature, params.signed_octets, padding.PKCS1v15(), hash_type()
            )
            return True
        except InvalidSignature:
            continue
    raise SamlError("signature does not verify with the SP's registered key")


# None in the product. ``python -m bench.pysaml2_signing serve …`` (the HTTP benchmark's
# peer) sets it before the server forks its workers, so that server signs through
# pysaml2's default backend, an ``xmlsec1`` process per signature.
_BENCH_SIGNER: BenchSigner | None = None
