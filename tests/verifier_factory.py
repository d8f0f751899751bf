"""Keys, metadata, SAML responses, OIO-BPP and JWTs for the verifier's tests.

Built with lxml, signxml's *signer* and joserfc directly (not with our IdP, which is
still being written); keys and certificates are generated at test time.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from joserfc import jwk, jws
from joserfc.jws import JWSRegistry
from lxml import etree
from signxml import XMLSigner

IDP_ENTITY_ID = "https://idp.test/saml/metadata"
SP_ENTITY_ID = "https://ky.test/saml/metadata"
ACS_URL = "https://ky.test/saml/acs"
REQUEST_ID = "_request-4f1c"
JWT_ISSUER = "https://idp.test"
JWT_AUDIENCE = "https://ky.test/api"

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
BPP_ITST = "http://itst.dk/oiosaml/basic_privilege_profile"
BPP_DIGST = "http://digst.dk/oiosaml/basic_privilege_profile"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
PRIVILEGES_ATTRIBUTE = "https://data.gov.dk/model/core/eid/privilegesIntermediate"
KLE = "http://sts.kombit.dk/constraints/KLE/1"
ORGENHED = "http://sts.kombit.dk/constraints/orgenhed/1"
LAES_SAG = "http://ky.test/roles/usersystemrole/laes_sag/1"
CVR = "29189846"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


@dataclass(frozen=True)
class KeyPair:
    key: Any
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def cert_b64(self) -> str:
        return base64.b64encode(self.cert_der).decode()


def self_signed(key: Any, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


@cache
def rsa_keypair(name: str = "idp") -> KeyPair:
    """One RSA key and self-signed certificate per name, generated once per test run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(key, self_signed(key, name))


@cache
def ec_keypair(name: str = "idp-ec") -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(key, self_signed(key, name))


def idp() -> KeyPair:
    return rsa_keypair("idp")


def attacker() -> KeyPair:
    return rsa_keypair("attacker")


# --- SAML -------------------------------------------------------------------------------


def instant(offset_seconds: float = 0) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return "_" + uuid.uuid4().hex


def metadata(
    certs: Sequence[x509.Certificate] | None = None,
    *,
    entity_id: str = IDP_ENTITY_ID,
    use: str | None = "signing",
    valid_until: str | None = None,
    cache_duration: str | None = None,
) -> bytes:
    root = etree.Element(q(MD, "EntityDescriptor"), nsmap={"md": MD, "ds": DS})
    root.set("entityID", entity_id)
    if valid_until:
        root.set("validUntil", valid_until)
    if cache_duration:
        root.set("cacheDuration", cache_duration)
    descriptor = etree.SubElement(root, q(MD, "IDPSSODescriptor"))
    descriptor.set("protocolSupportEnumeration", SAMLP)
    for cert in certs if certs is not None else [idp().cert]:
        key_descriptor = etree.SubElement(descriptor, q(MD, "KeyDescriptor"))
        if use:
            key_descriptor.set("use", use)
        data = etree.SubElement(
            etree.SubElement(key_descriptor, q(DS, "KeyInfo")), q(DS, "X509Data")
        )
        certificate = etree.SubElement(data, q(DS, "X509Certificate"))
        certificate.text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    sso = etree.SubElement(descriptor, q(MD, "SingleSignOnService"))
    sso.set("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
    sso.set("Location", "https://idp.test/saml/sso")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def bpp_xml(
    groups: Iterable[tuple[str, str, Mapping[str, str]]] = ((LAES_SAG, CVR, {}),),
    *,
    namespace: str = BPP_ITST,
    constraints_first: bool = False,
) -> bytes:
    root = etree.Element(
        q(namespace, "PrivilegeList"),
        nsmap={"bpp": namespace, "xsi": "http://www.w3.org/2001/XMLSchema-instance"},
    )
    for privilege, cvr, constraints in groups:
        group = etree.SubElement(root, "PrivilegeGroup")
        group.set("Scope", f"urn:dk:gov:saml:cvrNumberIdentifier:{cvr}")
        elements = []
        for name, value in constraints.items():
            constraint = etree.Element("Constraint")
            constraint.set("Name", name)
            constraint.text = value
            elements.append(constraint)
        privilege_element = etree.Element("Privilege")
        privilege_element.text = privilege
        for element in (
            [*elements, privilege_element] if constraints_first else [privilege_element, *elements]
        ):
            group.append(element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def bpp(
    groups: Iterable[tuple[str, str, Mapping[str, str]]] = ((LAES_SAG, CVR, {}),), **kw: Any
) -> str:
    return base64.b64encode(bpp_xml(groups, **kw)).decode()


def default_attributes() -> dict[str, list[str]]:
    return {
        "https://data.gov.dk/model/core/specVersion": ["OIO-SAML-3.0"],
        "https://data.gov.dk/concept/core/nsis/loa": ["Substantial"],
        "https://data.gov.dk/model/core/eid/professional/cvr": [CVR],
        "dk:gov:saml:attribute:KombitSpecVer": ["2.0"],
        PRIVILEGES_ATTRIBUTE: [bpp([(LAES_SAG, CVR, {KLE: "27.*,32.01.02"})])],
    }


def assertion(
    *,
    assertion_id: str | None = None,
    issuer: str = IDP_ENTITY_ID,
    name_id: str = "caseworker@ballerup.test",
    audience: str | None = SP_ENTITY_ID,
    recipient: str = ACS_URL,
    in_response_to: str | None = REQUEST_ID,
    issued: float = 0,
    not_before: float | None = -5,
    not_on_or_after: float = 300,
    confirmation_not_on_or_after: float = 300,
    attributes: Mapping[str, Sequence[str]] | None = None,
    method: str = "urn:oasis:names:tc:SAML:2.0:cm:bearer",
) -> etree._Element:
    root = etree.Element(q(SAML, "Assertion"), nsmap={"saml": SAML})
    root.set("ID", assertion_id or new_id())
    root.set("Version", "2.0")
    root.set("IssueInstant", instant(issued))
    etree.SubElement(root, q(SAML, "Issuer")).text = issuer
    subject = etree.SubElement(root, q(SAML, "Subject"))
    name = etree.SubElement(subject, q(SAML, "NameID"))
    name.set("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    name.text = name_id
    confirmation = etree.SubElement(subject, q(SAML, "SubjectConfirmation"))
    confirmation.set("Method", method)
    data = etree.SubElement(confirmation, q(SAML, "SubjectConfirmationData"))
    data.set("NotOnOrAfter", instant(confirmation_not_on_or_after))
    data.set("Recipient", recipient)
    if in_response_to is not None:
        data.set("InResponseTo", in_response_to)
    conditions = etree.SubElement(root, q(SAML, "Conditions"))
    if not_before is not None:
        conditions.set("NotBefore", instant(not_before))
    conditions.set("NotOnOrAfter", instant(not_on_or_after))
    if audience is not None:
        restriction = etree.SubElement(conditions, q(SAML, "AudienceRestriction"))
        etree.SubElement(restriction, q(SAML, "Audience")).text = audience
    authn = etree.SubElement(root, q(SAML, "AuthnStatement"))
    authn.set("AuthnInstant", instant(-10))
    authn.set("SessionIndex", "_session-1")
    context = etree.SubElement(authn, q(SAML, "AuthnContext"))
    etree.SubElement(
        context, q(SAML, "AuthnContextClassRef")
    ).text = "https://data.gov.dk/concept/core/nsis/loa/Substantial"
    chosen = attributes if attributes is not None else default_attributes()
    statement = etree.SubElement(root, q(SAML, "AttributeStatement")) if chosen else None
    for attribute_name, values in chosen.items():
        attribute = etree.SubElement(statement, q(SAML, "Attribute"))
        attribute.set("Name", attribute_name)
        attribute.set("NameFormat", URI_FORMAT)
        for value in values:
            etree.SubElement(attribute, q(SAML, "AttributeValue")).text = value
    return root


def response(
    *children: etree._Element,
    response_id: str | None = None,
    issuer: str | None = IDP_ENTITY_ID,
    destination: str | None = ACS_URL,
    in_response_to: str | None = REQUEST_ID,
    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success",
) -> etree._Element:
    root = etree.Element(q(SAMLP, "Response"), nsmap={"samlp": SAMLP, "saml": SAML})
    root.set("ID", response_id or new_id())
    root.set("Version", "2.0")
    root.set("IssueInstant", instant())
    if destination is not None:
        root.set("Destination", destination)
    if in_response_to is not None:
        root.set("InResponseTo", in_response_to)
    if issuer is not None:
        etree.SubElement(root, q(SAML, "Issuer")).text = issuer
    status_element = etree.SubElement(root, q(SAMLP, "Status"))
    etree.SubElement(status_element, q(SAMLP, "StatusCode")).set("Value", status)
    for child in children:
        root.append(copy.deepcopy(child))
    return root


def sign(
    element: etree._Element,
    keypair: KeyPair | None = None,
    *,
    signature_algorithm: str = "rsa-sha256",
    key: Any = None,
) -> etree._Element:
    """A signed copy of ``element`` (Response or Assertion), signature right after Issuer."""
    keypair = keypair or idp()
    unsigned = copy.deepcopy(element)
    placeholder = etree.Element(q(DS, "Signature"), nsmap={"ds": DS})
    placeholder.set("Id", "placeholder")
    issuer = unsigned.find(q(SAML, "Issuer"))
    if issuer is not None:
        issuer.addnext(placeholder)
    else:
        unsigned.insert(0, placeholder)
    signer = XMLSigner(
        signature_algorithm=signature_algorithm,
        digest_algorithm="sha256",
        c14n_algorithm=EXC_C14N,
    )
    if signature_algorithm.startswith("hmac"):
        return signer.sign(unsigned, key=key, reference_uri="#" + unsigned.get("ID"))
    return signer.sign(
        unsigned,
        key=key if key is not None else keypair.key,
        cert=[keypair.cert],
        reference_uri="#" + unsigned.get("ID"),
    )


def encode(element: etree._Element | bytes) -> str:
    data = element if isinstance(element, bytes) else etree.tostring(element)
    return base64.b64encode(data).decode()


def signed_response(**assertion_args: Any) -> str:
    """The common case: a response carrying one signed assertion, base64 as posted."""
    return encode(response(sign(assertion(**assertion_args))))


def encrypt_assertion(
    element: etree._Element,
    cert: x509.Certificate,
    *,
    data_algorithm: str = "aes256-gcm",
) -> etree._Element:
    """EncryptedAssertion: RSA-OAEP-MGF1P key transport, AES-GCM or AES-CBC content."""
    plaintext = etree.tostring(element)
    if data_algorithm.endswith("gcm"):
        key = AESGCM.generate_key(bit_length=256 if "256" in data_algorithm else 128)
        nonce = os.urandom(12)
        ciphertext = nonce + AESGCM(key).encrypt(nonce, plaintext, None)
        algorithm_uri = XENC11 + data_algorithm
    else:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        key = os.urandom(32 if "256" in data_algorithm else 16)
        iv = os.urandom(16)
        pad = 16 - len(plaintext) % 16
        padded = plaintext + os.urandom(pad - 1) + bytes([pad])
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        ciphertext = iv + encryptor.update(padded) + encryptor.finalize()
        algorithm_uri = XENC + data_algorithm
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    wrapped = public_key.encrypt(
        key,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
    )
    root = etree.Element(
        q(SAML, "EncryptedAssertion"), nsmap={"saml": SAML, "xenc": XENC, "ds": DS}
    )
    data = etree.SubElement(root, q(XENC, "EncryptedData"))
    data.set("Type", XENC + "Element")
    etree.SubElement(data, q(XENC, "EncryptionMethod")).set("Algorithm", algorithm_uri)
    key_info = etree.SubElement(data, q(DS, "KeyInfo"))
    encrypted_key = etree.SubElement(key_info, q(XENC, "EncryptedKey"))
    etree.SubElement(encrypted_key, q(XENC, "EncryptionMethod")).set(
        "Algorithm", XENC + "rsa-oaep-mgf1p"
    )
    key_cipher = etree.SubElement(encrypted_key, q(XENC, "CipherData"))
    etree.SubElement(key_cipher, q(XENC, "CipherValue")).text = base64.b64encode(wrapped).decode()
    cipher = etree.SubElement(data, q(XENC, "CipherData"))
    etree.SubElement(cipher, q(XENC, "CipherValue")).text = base64.b64encode(ciphertext).decode()
    return root


# --- JWT --------------------------------------------------------------------------------


def public_jwk(keypair: KeyPair, kid: str, **extra: Any) -> dict[str, Any]:
    public_pem = keypair.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if isinstance(keypair.key, ec.EllipticCurvePrivateKey):
        entry = jwk.import_key(public_pem, "EC").as_dict(private=False)
    else:
        entry = jwk.import_key(public_pem, "RSA").as_dict(private=False)
    entry.update({"kid": kid, "use": "sig", **extra})
    return entry


def jwks(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(entries) or [public_jwk(idp(), "idp-1")]}


def priv_claim(groups: Sequence[Mapping[str, Any]] | None = None) -> str:
    document = {
        "privilegegroups": list(
            groups
            if groups is not None
            else [
                {
                    "privilege": LAES_SAG,
                    "scope": f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}",
                    "constraints": [{"name": KLE, "value": "27.*"}],
                }
            ]
        )
    }
    return base64.b64encode(json.dumps(document).encode()).decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": JWT_ISSUER,
        "sub": "caseworker@ballerup.test",
        "aud": JWT_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "cvr": CVR,
        "spec_ver": "1.0",
        "priv": priv_claim(),
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(
    payload: Mapping[str, Any] | None = None,
    *,
    keypair: KeyPair | None = None,
    kid: str | None = "idp-1",
    alg: str = "PS256",
    typ: str | None = "at+jwt",
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """A JWT signed by joserfc with ``keypair`` (the IdP's key by default)."""
    header: dict[str, Any] = {"alg": alg}
    if typ is not None:
        header["typ"] = typ
    if kid is not None:
        header["kid"] = kid
    header.update(extra_header or {})
    pair = keypair or idp()
    key = jwk.import_key(
        pair.key_pem, "EC" if isinstance(pair.key, ec.EllipticCurvePrivateKey) else "RSA"
    )
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    return jws.serialize_compact(
        header, json.dumps(payload if payload is not None else claims()), key, registry=registry
    )


def unsigned_jwt(
    header: Mapping[str, Any], payload: Mapping[str, Any], signature: bytes = b""
) -> str:
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(signature),
        ]
    )


def hand_signed_jwt(
    header: Mapping[str, Any], payload: Mapping[str, Any], keypair: KeyPair | None = None
) -> str:
    """A JWT signed with ``cryptography`` alone (PS256/RS256), no JOSE library involved."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    key = (keypair or idp()).key
    if header["alg"] == "PS256":
        scheme: Any = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    else:
        scheme = padding.PKCS1v15()
    signature = key.sign(signing_input.encode(), scheme, hashes.SHA256())
    return signing_input + "." + b64url(signature)
