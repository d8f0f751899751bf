"""verifier.saml.hok without the server: a KOMBIT-style holder-of-key assertion signed here
with signxml (as another STS would), then accepted for its key holder only.

Runs in the verifier's own distribution too (tests/integration/test_verifier_install.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

from verifier import InvalidToken
from verifier.saml.hok import verify_hok_assertion

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ISSUER = "https://sts.test/runtime"
SERVICE = "http://entityid.kombit.dk/service/demoservice/1"
BPP = base64.b64encode(
    b'<?xml version="1.0" encoding="UTF-8"?><bpp:PrivilegeList '
    b'xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile"><PrivilegeGroup '
    b'Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189846"><Privilege>urn:role</Privilege>'
    b"</PrivilegeGroup></bpp:PrivilegeList>"
).decode()


def _pair(name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


STS_KEY, STS_CERT = _pair("sts")
_, CLIENT = _pair("client")
_, OTHER = _pair("other")


def _instant(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def assertion(
    holder: x509.Certificate = CLIENT,
    hours: float = 8,
    method: str = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    end = _instant(now + dt.timedelta(hours=hours))
    a = f"{{{SAML}}}"
    root = etree.Element(
        a + "Assertion",
        nsmap={None: SAML},
        ID="_" + str(uuid.uuid4()),
        IssueInstant=_instant(now),
        Version="2.0",
    )
    etree.SubElement(root, a + "Issuer").text = ISSUER
    etree.SubElement(root, f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    subject = etree.SubElement(root, a + "Subject")
    etree.SubElement(subject, a + "NameID").text = "CN=client"
    confirmation = etree.SubElement(subject, a + "SubjectConfirmation", Method=method)
    data = etree.SubElement(
        confirmation,
        a + "SubjectConfirmationData",
        {f"{{{XSI}}}type": "KeyInfoConfirmationDataType"},
        NotOnOrAfter=end,
        Recipient=SERVICE,
        nsmap={"xsi": XSI},
    )
    key_info = etree.SubElement(data, f"{{{DS}}}KeyInfo", nsmap={"ds": DS})
    x509_data = etree.SubElement(key_info, f"{{{DS}}}X509Data")
    etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = base64.b64encode(
        holder.public_bytes(serialization.Encoding.DER)
    ).decode()
    conditions = etree.SubElement(root, a + "Conditions", NotBefore=_instant(now), NotOnOrAfter=end)
    etree.SubElement(
        etree.SubElement(conditions, a + "AudienceRestriction"), a + "Audience"
    ).text = SERVICE
    statement = etree.SubElement(root, a + "AttributeStatement")
    for name, value in (
        ("dk:gov:saml:attribute:CvrNumberIdentifier", "29189846"),
        ("dk:gov:saml:attribute:Privileges_intermediate", BPP),
    ):
        attribute = etree.SubElement(statement, a + "Attribute", Name=name)
        etree.SubElement(attribute, a + "AttributeValue").text = value
    signed = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        root,
        key=STS_KEY,
        cert=[STS_CERT],
        reference_uri=root.get("ID"),
    )
    return etree.tostring(signed)


def verify(token: bytes | str, presented: x509.Certificate, **kwargs: object) -> object:
    options: dict[str, object] = {
        "sts_certificates": [STS_CERT],
        "issuer": ISSUER,
        "audience": SERVICE,
        "presented_certificate": presented,
        **kwargs,
    }
    return verify_hok_assertion(token, **options)  # type: ignore[arg-type]


def test_the_holder_of_the_key_is_accepted() -> None:
    result = verify(assertion(), CLIENT)
    assert result.cvr == "29189846"  # type: ignore[attr-defined]
    assert result.privileges.allows("urn:role", cvr="29189846")  # type: ignore[attr-defined]
    verify(base64.b64encode(assertion()).decode(), CLIENT)


def test_another_certificate_is_refused() -> None:
    with pytest.raises(InvalidToken) as caught:
        verify(assertion(), OTHER)
    assert caught.value.reason == "hok_mismatch"


def test_a_token_bound_to_another_key_is_refused_to_its_presenter() -> None:
    with pytest.raises(InvalidToken) as caught:
        verify(assertion(holder=OTHER), CLIENT)
    assert caught.value.reason == "hok_mismatch"


def test_an_unpinned_signer_is_refused() -> None:
    _, stranger = _pair("stranger")
    with pytest.raises(InvalidToken) as caught:
        verify(assertion(), CLIENT, sts_certificates=[stranger])
    assert caught.value.reason == "bad_signature"


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidToken) as caught:
        verify(assertion(hours=-1), CLIENT)
    assert caught.value.reason == "expired"


def test_a_bearer_assertion_is_not_a_holder_of_key_one() -> None:
    with pytest.raises(InvalidToken) as caught:
        verify(assertion(method="urn:oasis:names:tc:SAML:2.0:cm:bearer"), CLIENT)
    assert caught.value.reason == "not_holder_of_key"
