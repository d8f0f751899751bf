"""Public views of the published keys: a JWKS document and SAML KeyDescriptor elements."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from store.models import SigningKey

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk(row: SigningKey) -> dict[str, Any]:
    """The public JWK of one key, with its certificate chain and thumbprint."""
    certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
    public_key = certificate.public_key()
    der = certificate.public_bytes(serialization.Encoding.DER)
    entry: dict[str, Any] = {"kid": row.kid, "use": "sig", "alg": row.alg}
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        entry.update(kty="RSA", n=_b64url_uint(numbers.n), e=_b64url_uint(numbers.e))
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        ec_numbers = public_key.public_numbers()
        entry.update(
            kty="EC",
            crv="P-256",
            x=_b64url(ec_numbers.x.to_bytes(32, "big")),
            y=_b64url(ec_numbers.y.to_bytes(32, "big")),
        )
    entry["x5c"] = [base64.b64encode(der).decode()]
    entry["x5t#S256"] = _b64url(certificate.fingerprint(hashes.SHA256()))
    return entry


def jwks(rows: list[SigningKey]) -> dict[str, Any]:
    """JWKS with every published key (next, active, recently retired)."""
    return {"keys": [jwk(row) for row in rows]}


def key_descriptors(
    rows: list[SigningKey],
    uses: tuple[str, ...] = ("signing",),
    states: tuple[str, ...] = ("active", "next"),
) -> list[etree._Element]:
    """md:KeyDescriptor elements for the RSA keys in ``states``: by default active and next
    (announced before use)."""
    elements = []
    for row in rows:
        if row.kty != "RSA" or row.state not in states:
            continue
        certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
        der = certificate.public_bytes(serialization.Encoding.DER)
        for use in uses:
            descriptor = etree.Element(f"{{{MD_NS}}}KeyDescriptor", nsmap={"md": MD_NS})
            descriptor.set("use", use)
            key_info = etree.SubElement(descriptor, f"{{{DS_NS}}}KeyInfo", nsmap={"ds": DS_NS})
            etree.SubElement(key_info, f"{{{DS_NS}}}KeyName").text = row.kid
            x509_data = etree.SubElement(key_info, f"{{{DS_NS}}}X509Data")
            etree.SubElement(x509_data, f"{{{DS_NS}}}X509Certificate").text = base64.b64encode(
                der
            ).decode()
            elements.append(descriptor)
    return elements
