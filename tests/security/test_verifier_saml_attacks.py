"""Hostile SAML responses the verifier SDK must reject (SECURITY.md, "SAML, as verifier").

XSW1-XSW8 follow Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be"
(USENIX Security 2012): the IdP's genuine signature stays valid and the attacker's
assertion is placed where a naive SP reads.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from tests import verifier_factory as f
from verifier import InvalidToken
from verifier.saml import verify_response

VICTIM = "victim@ballerup.test"
ATTACKER = "attacker@ballerup.test"


def reason(posted: str | bytes, **kwargs: Any) -> str:
    if isinstance(posted, bytes):
        posted = base64.b64encode(posted).decode()
    kwargs.setdefault("idp_metadata", f.metadata())
    with pytest.raises(InvalidToken) as error:
        verify_response(
            posted,
            sp_entity_id=f.SP_ENTITY_ID,
            acs_url=f.ACS_URL,
            request_id=f.REQUEST_ID,
            **kwargs,
        )
    return error.value.reason


def signature_of(element: etree._Element) -> etree._Element:
    signature = element.find(f.q(f.DS, "Signature"))
    assert signature is not None
    return signature


def without_signature(element: etree._Element) -> etree._Element:
    stripped = copy.deepcopy(element)
    stripped.remove(signature_of(stripped))
    return stripped


def evil_assertion(**kwargs: Any) -> etree._Element:
    return f.assertion(name_id=ATTACKER, **kwargs)


def signed_victim_assertion() -> etree._Element:
    return f.sign(f.assertion(name_id=VICTIM))


def after_issuer(parent: etree._Element, child: etree._Element) -> None:
    issuer = parent.find(f.q(f.SAML, "Issuer"))
    assert issuer is not None
    issuer.addnext(child)


# --- unsigned and wrongly keyed --------------------------------------------------------


def test_unsigned_response_and_assertion_are_rejected() -> None:
    assert reason(f.encode(f.response(f.assertion()))) == "unsigned"


def test_key_embedded_in_keyinfo_is_not_trusted() -> None:
    # Signed by the attacker's self-signed certificate, which is in KeyInfo.
    posted = f.encode(f.response(f.sign(evil_assertion(), f.attacker())))
    assert reason(posted) == "bad_signature"


def test_hmac_signature_is_rejected() -> None:
    signed = f.sign(evil_assertion(), signature_algorithm="hmac-sha256", key=b"0" * 32)
    assert reason(f.encode(f.response(signed))) == "alg_not_allowed"


def test_sha1_signature_is_rejected() -> None:
    # signxml will not sign with SHA-1, so re-sign SignedInfo by hand: a genuine RSA-SHA1.
    signed = f.sign(f.assertion())
    signed_info = signed.find(f"{f.q(f.DS, 'Signature')}/{f.q(f.DS, 'SignedInfo')}")
    value = signed.find(f"{f.q(f.DS, 'Signature')}/{f.q(f.DS, 'SignatureValue')}")
    assert signed_info is not None and value is not None
    method = signed_info.find(f.q(f.DS, "SignatureMethod"))
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True)
    signature = f.idp().key.sign(canonical, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    value.text = base64.b64encode(signature).decode()
    assert reason(f.encode(f.response(signed))) == "alg_not_allowed"


def test_assertion_altered_after_signing_is_rejected() -> None:
    signed = signed_victim_assertion()
    name_id = signed.find(f"{f.q(f.SAML, 'Subject')}/{f.q(f.SAML, 'NameID')}")
    assert name_id is not None
    name_id.text = ATTACKER
    assert reason(f.encode(f.response(signed))) == "bad_signature"


def test_response_altered_after_signing_is_rejected() -> None:
    signed = f.sign(f.response(f.assertion()))
    signed.set("Destination", f.ACS_URL + "?x")
    assert reason(f.encode(signed)) == "bad_signature"


# --- XML signature wrapping ------------------------------------------------------------


def test_xsw1_signed_response_moved_into_its_signature_is_rejected() -> None:
    genuine = f.sign(f.response(f.assertion(name_id=VICTIM)))
    signature = copy.deepcopy(signature_of(genuine))
    signature.append(without_signature(genuine))
    forged = f.response(evil_assertion(), response_id=genuine.get("ID") + "x")
    after_issuer(forged, signature)
    assert reason(f.encode(forged)) == "xsw"


def test_xsw2_signed_response_placed_beside_a_detached_signature_is_rejected() -> None:
    genuine = f.sign(f.response(f.assertion(name_id=VICTIM)))
    forged = f.response(evil_assertion(), response_id=genuine.get("ID") + "x")
    after_issuer(forged, copy.deepcopy(signature_of(genuine)))
    after_issuer(forged, without_signature(genuine))
    assert reason(f.encode(forged)) == "xsw"


def test_xsw3_evil_assertion_before_the_signed_one_is_rejected() -> None:
    forged = f.response(evil_assertion(), signed_victim_assertion())
    assert reason(f.encode(forged)) == "multiple_assertions"


def test_xsw4_evil_assertion_wrapping_the_signed_one_is_rejected() -> None:
    wrapper = evil_assertion()
    wrapper.append(signed_victim_assertion())
    assert reason(f.encode(f.response(wrapper))) == "xsw"


def test_xsw5_signature_moved_to_evil_assertion_original_appended_is_rejected() -> None:
    genuine = signed_victim_assertion()
    forged_assertion = evil_assertion()
    after_issuer(forged_assertion, copy.deepcopy(signature_of(genuine)))
    forged = f.response(forged_assertion, without_signature(genuine))
    assert reason(f.encode(forged)) == "multiple_assertions"


def test_xsw6_original_inside_the_signature_of_the_evil_assertion_is_rejected() -> None:
    genuine = signed_victim_assertion()
    signature = copy.deepcopy(signature_of(genuine))
    signature.append(without_signature(genuine))
    forged_assertion = evil_assertion()
    after_issuer(forged_assertion, signature)
    assert reason(f.encode(f.response(forged_assertion))) == "xsw"


def test_xsw7_original_hidden_in_extensions_is_rejected() -> None:
    forged = f.response(evil_assertion())
    extensions = etree.Element(f.q(f.SAMLP, "Extensions"))
    extensions.append(signed_victim_assertion())
    status = forged.find(f.q(f.SAMLP, "Status"))
    assert status is not None
    status.addprevious(extensions)
    assert reason(f.encode(forged)) == "xsw"


def test_xsw8_original_in_a_signature_object_is_rejected() -> None:
    genuine = signed_victim_assertion()
    signature = copy.deepcopy(signature_of(genuine))
    holder = etree.SubElement(signature, f.q(f.DS, "Object"))
    holder.append(without_signature(genuine))
    forged_assertion = evil_assertion()
    after_issuer(forged_assertion, signature)
    assert reason(f.encode(f.response(forged_assertion))) == "xsw"


def test_signature_copied_onto_an_evil_assertion_is_rejected() -> None:
    forged_assertion = evil_assertion()
    after_issuer(forged_assertion, copy.deepcopy(signature_of(signed_victim_assertion())))
    assert reason(f.encode(f.response(forged_assertion))) == "xsw"


def test_evil_assertion_reusing_the_signed_id_and_signature_is_rejected() -> None:
    genuine = signed_victim_assertion()
    forged_assertion = evil_assertion(assertion_id=genuine.get("ID"))
    after_issuer(forged_assertion, copy.deepcopy(signature_of(genuine)))
    assert reason(f.encode(f.response(forged_assertion))) == "bad_signature"


def test_assertion_signature_over_the_whole_document_is_rejected() -> None:
    element = f.assertion()
    signed = f.sign(element)
    reference = signed.find(f".//{f.q(f.DS, 'Reference')}")
    assert reference is not None
    reference.set("URI", "")
    assert reason(f.encode(f.response(signed))) == "xsw"


def test_duplicate_ids_are_rejected() -> None:
    genuine = f.sign(f.response(f.assertion()))
    assertion = genuine.find(f.q(f.SAML, "Assertion"))
    assert assertion is not None
    assertion.set("ID", genuine.get("ID"))
    assert reason(f.encode(genuine)) == "xsw"


def test_xslt_transform_in_a_signature_is_rejected() -> None:
    signed = signed_victim_assertion()
    transforms = signed.find(f".//{f.q(f.DS, 'Transforms')}")
    assert transforms is not None
    etree.SubElement(transforms, f.q(f.DS, "Transform")).set(
        "Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116"
    )
    assert reason(f.encode(f.response(signed))) == "bad_signature"


# --- comments, two assertions, schema --------------------------------------------------


def test_comment_inside_name_id_is_rejected() -> None:
    signed = f.sign(f.assertion(name_id="user@evil.test.victim.test"))
    name_id = signed.find(f"{f.q(f.SAML, 'Subject')}/{f.q(f.SAML, 'NameID')}")
    assert name_id is not None
    name_id.text = "user@evil.test"
    comment = etree.Comment("")
    comment.tail = ".victim.test"
    name_id.append(comment)
    assert reason(f.encode(f.response(signed))) == "xml_comment"


def test_comment_inside_name_id_still_verifies_cryptographically() -> None:
    """The previous test is meaningful: exclusive c14n drops comments, so the signature holds."""
    from signxml import XMLVerifier

    signed = f.sign(f.assertion(name_id="user@evil.test.victim.test"))
    name_id = signed.find(f"{f.q(f.SAML, 'Subject')}/{f.q(f.SAML, 'NameID')}")
    assert name_id is not None
    name_id.text = "user@evil.test"
    comment = etree.Comment("")
    comment.tail = ".victim.test"
    name_id.append(comment)
    result = XMLVerifier().verify(signed, x509_cert=f.idp().cert)
    assert not isinstance(result, list)
    assert result.signed_xml is not None


def test_two_signed_assertions_are_rejected() -> None:
    forged = f.response(signed_victim_assertion(), f.sign(evil_assertion()))
    assert reason(f.encode(forged)) == "multiple_assertions"


def test_response_without_assertion_is_rejected() -> None:
    assert reason(f.encode(f.sign(f.response()))) == "no_assertion"


def test_elements_out_of_schema_order_are_rejected() -> None:
    element = f.assertion()
    subject = element.find(f.q(f.SAML, "Subject"))
    assert subject is not None
    element.remove(subject)
    element.append(subject)
    assert reason(f.encode(f.response(f.sign(element)))) == "schema_invalid"


def test_unknown_element_in_assertion_is_rejected() -> None:
    element = f.assertion()
    etree.SubElement(element, "{http://evil.test/}Extra")
    assert reason(f.encode(f.response(f.sign(element)))) == "schema_invalid"


def test_assertion_without_version_2_is_rejected() -> None:
    element = f.assertion()
    element.set("Version", "1.1")
    assert reason(f.encode(f.response(f.sign(element)))) == "schema_invalid"


def test_malformed_issue_instant_is_rejected() -> None:
    element = f.assertion()
    element.set("IssueInstant", "yesterday")
    assert reason(f.encode(f.response(f.sign(element)))) == "schema_invalid"


def test_document_that_is_not_a_response_is_rejected() -> None:
    assert reason(f.encode(signed_victim_assertion())) == "schema_invalid"


def test_invalid_xml_is_rejected() -> None:
    assert reason(b"<samlp:Response") == "malformed"


def test_non_base64_post_is_rejected() -> None:
    assert reason("<samlp:Response/>") == "malformed"


# --- DTDs, entities, size --------------------------------------------------------------


def with_doctype(doctype: bytes) -> bytes:
    body = etree.tostring(f.response(signed_victim_assertion()))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + b"\n" + body


def test_dtd_is_rejected() -> None:
    assert reason(with_doctype(b"<!DOCTYPE samlp:Response>")) == "dtd_forbidden"


def test_external_entity_is_rejected() -> None:
    doctype = b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    assert reason(with_doctype(doctype)) == "dtd_forbidden"


def test_billion_laughs_is_rejected() -> None:
    entities = b"".join(
        b'<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">'
        % ((i,) + (i - 1,) * 10)
        for i in range(1, 10)
    )
    doctype = b'<!DOCTYPE r [<!ENTITY l0 "lol">' + entities + b"]>"
    assert reason(with_doctype(doctype)) == "dtd_forbidden"


def test_dtd_is_rejected_before_any_signature_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("signature work on a document with a DTD")

    monkeypatch.setattr("signxml.XMLVerifier.verify", must_not_run)
    assert reason(with_doctype(b"<!DOCTYPE samlp:Response>")) == "dtd_forbidden"


def test_utf16_document_is_rejected() -> None:
    document = with_doctype(b"<!DOCTYPE r>").replace(b"UTF-8", b"UTF-16")
    assert reason(document.decode().encode("utf-16")) == "malformed"


def test_oversized_response_is_rejected() -> None:
    assert reason("A" * (1024 * 1024)) == "too_large"


# --- replay ----------------------------------------------------------------------------


def test_replayed_assertion_is_rejected() -> None:
    posted = f.signed_response()
    verify_response(
        posted,
        idp_metadata=f.metadata(),
        sp_entity_id=f.SP_ENTITY_ID,
        acs_url=f.ACS_URL,
        request_id=f.REQUEST_ID,
    )
    assert reason(posted) == "replay"


def test_replayed_assertion_in_a_new_response_is_rejected() -> None:
    assertion = f.sign(f.assertion())
    verify_response(
        f.encode(f.response(assertion)),
        idp_metadata=f.metadata(),
        sp_entity_id=f.SP_ENTITY_ID,
        acs_url=f.ACS_URL,
        request_id=f.REQUEST_ID,
    )
    assert reason(f.encode(f.response(assertion))) == "replay"


def test_sha1_digest_is_rejected() -> None:
    signed = signed_victim_assertion()
    digest = signed.find(f".//{f.q(f.DS, 'DigestMethod')}")
    assert digest is not None
    digest.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
    assert reason(f.encode(f.response(signed))) == "alg_not_allowed"
