"""Every negative case of REFERENCE-KOMBIT-STS.md §9.5 item 5 on the SOAP endpoint: a SOAP
fault (HTTP 500, application/soap+xml, KOMBIT's numeric code in Code/Subcode/Value and in
the Reason), no token, never an unhandled error, and an audited refusal."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sts.kit import CVR, OTHER_CVR, SERVICE, StsWorld, set_agreement_status
from tests.sts.soap_kit import refusals, refused, request_for
from tests.sts.wstrust_client import S11, S12, Identity, build_request, parse_fault

Case = Callable[[StsWorld], bytes]
NOW = dt.datetime.now


def _tampered(world: StsWorld) -> bytes:
    xml = request_for(world.pki.sapa, cvr=CVR).xml
    assert xml.count(CVR.encode()) == 1
    return xml.replace(CVR.encode(), OTHER_CVR.encode())  # after signing


def _tampered_header(world: StsWorld) -> bytes:
    request = request_for(world.pki.sapa)
    assert request.message_id is not None
    return request.xml.replace(
        request.message_id.encode(), b"uuid:00000000-0000-0000-0000-000000000000"
    )


def _wrong_key(world: StsWorld) -> bytes:
    impostor = Identity(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), world.pki.sapa.cert
    )
    return build_request(impostor, sts_url="https://sts.test/x", applies_to=SERVICE, cvr=CVR).xml


def _revoked_agreement(world: StsWorld) -> bytes:
    set_agreement_status(world, "sa-sapa-demo", "revoked")
    return request_for(world.pki.sapa).xml


CASES: dict[str, tuple[Case, str, str]] = {
    # name: (request, KOMBIT code, reason in the audit trail)
    "unsigned": (lambda w: request_for(w.pki.sapa, sign=False).xml, "103", "unsigned"),
    "tampered body": (_tampered, "103", "digest_mismatch"),
    "tampered signed header": (_tampered_header, "103", "digest_mismatch"),
    "signed with another key": (_wrong_key, "103", "bad_signature"),
    "expired timestamp": (
        lambda w: request_for(w.pki.sapa, now=NOW(dt.UTC) - dt.timedelta(minutes=20)).xml,
        "103",
        "timestamp_expired",
    ),
    "timestamp from the future": (
        lambda w: request_for(w.pki.sapa, now=NOW(dt.UTC) + dt.timedelta(minutes=20)).xml,
        "103",
        "timestamp_future",
    ),
    "unknown certificate": (lambda w: request_for(w.pki.unknown).xml, "101", "unknown_certificate"),
    "use key of another system": (
        lambda w: request_for(w.pki.sapa, use_key=w.pki.ext.cert).xml,
        "101",
        "use_key_mismatch",
    ),
    "use key not registered": (
        lambda w: request_for(w.pki.sapa, use_key=w.pki.unknown.cert).xml,
        "101",
        "use_key_mismatch",
    ),
    "no cvr claim": (lambda w: request_for(w.pki.sapa, cvr=[]).xml, "103", "cvr_claims"),
    "two cvr claims": (lambda w: request_for(w.pki.sapa, cvr=[CVR, CVR]).xml, "103", "cvr_claims"),
    "cvr without an approved agreement": (
        lambda w: request_for(w.pki.sapa, cvr=OTHER_CVR).xml,
        "101",
        "not_approved",
    ),
    "unknown applies to": (
        lambda w: (
            request_for(w.pki.sapa, applies_to="http://entityid.kombit.dk/service/nope/1").xml
        ),
        "101",
        "unknown_service",
    ),
    "applies to with a trailing slash": (
        lambda w: request_for(w.pki.sapa, applies_to=SERVICE + "/").xml,
        "101",
        "unknown_service",
    ),
    "revoked agreement": (_revoked_agreement, "101", "not_approved"),
    "expired certificate": (lambda w: request_for(w.pki.expired).xml, "101", "expired_certificate"),
    "untrusted certificate": (
        lambda w: request_for(w.pki.untrusted).xml,
        "101",
        "untrusted_certificate",
    ),
    "revoked certificate": (lambda w: request_for(w.pki.revoked).xml, "101", "revoked_certificate"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_request_gets_a_soap_fault_and_no_token(sts_world: StsWorld, case: str) -> None:
    build, code, reason = CASES[case]
    fault = refused(sts_world, build(sts_world))

    assert fault.code == "s:Sender"
    assert fault.subcode == code
    assert fault.reason.startswith(f"{code}: ")
    audited = refusals(sts_world)
    assert [event.details.get("reason") for event in audited] == [reason]
    assert audited[0].details["protocol"] == "soap"


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<x/>",
        b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]><s>&e;</s>',
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
        b"",
        b"<x>" + b" " * (600 * 1024) + b"</x>",
    ],
    ids=["garbage", "not soap", "doctype", "no header", "empty", "too large"],
)
def test_garbage_is_a_malformed_fault_not_an_error_page(sts_world: StsWorld, body: bytes) -> None:
    fault = refused(sts_world, body)
    assert fault.subcode == "103"


def test_a_soap_11_request_gets_a_soap_11_fault(sts_world: StsWorld) -> None:
    request = request_for(sts_world.pki.unknown, soap=S11)
    fault = refused(sts_world, request.xml, S11)
    assert fault.code == "s:Client"
    assert fault.reason.startswith("101: ")


def test_the_fault_relates_to_the_request(sts_world: StsWorld) -> None:
    request = request_for(sts_world.pki.unknown)
    response = sts_world.client.post(
        "/runtime/services/kombittrust/14/certificatemixed",
        data=request.xml,
        content_type="application/soap+xml",
    )
    assert request.message_id is not None
    assert request.message_id.encode() in response.data
    assert parse_fault(response.data) is not None
    assert S12.encode() in response.data


def test_a_signed_body_moved_into_the_header_does_not_sign_a_new_body(sts_world: StsWorld) -> None:
    """Signature wrapping: the signed Body moved into the Header, a forged Body in its place
    (edited as text: lxml would rewrite namespace prefixes when moving elements)."""
    xml = request_for(sts_world.pki.sapa, cvr=CVR).xml
    start, end = xml.index(b"<s:Body"), xml.index(b"</s:Body>") + len(b"</s:Body>")
    signed_body = xml[start:end]
    forged = re.sub(rb' wsu:Id="[^"]*"', b"", signed_body).replace(CVR.encode(), OTHER_CVR.encode())
    wrapped = xml[:start] + forged + xml[end:]
    wrapped = wrapped.replace(b"</s:Header>", signed_body + b"</s:Header>")
    fault = refused(sts_world, wrapped)
    assert fault.subcode == "103"
    assert "must cover the SOAP Body" in fault.reason
