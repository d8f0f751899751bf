"""The SOAP WS-Trust door at KOMBIT's paths: the Issue endpoint and its WSDL (mex).

``POST /runtime/services/kombittrust/14/certificatemixed`` answers every request with a
SOAP envelope: the signed RSTR (200) or a SOAP fault (500), never an HTML error page.
:func:`handle` is the same without Flask (tests, the benchmark's in-process profile).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from idp.saml.xmlutil import SamlError, parse
from idp.sts import core, current_sts
from idp.sts.core import MALFORMED, SOAP, UNEXPECTED, StsRefusal, StsServices, record_refusal
from idp.sts.mex import wsdl
from idp.sts.rstr import build_rstr
from idp.sts.soap import (
    SoapResponse,
    envelope_version,
    fault,
    holder_of_key,
    message_id,
    read_request,
)
from idp.sts.wsconstants import MEX_PATH, SOAP12, STS_PATH
from idp.sts.wssecurity import verify_security

log = logging.getLogger(__name__)
blueprint = Blueprint("kombit_sts_soap", __name__)
MAX_BODY = 512 * 1024


def handle(services: StsServices, data: bytes) -> SoapResponse:
    """One Issue request, start to end; never raises for anything the client sent.

    Refusals before the core (malformed, unsigned, bad signature, stale Timestamp, UseKey
    not the signer's) are audited here; the core audits its own decisions.
    """
    soap_ns, relates_to = SOAP12, None
    certificate = None
    applies_to = cvr = ""
    try:
        try:
            root = parse(data)
        except SamlError as exc:
            raise StsRefusal(
                MALFORMED, f"The request is not acceptable XML: {exc}", "bad_xml"
            ) from exc
        soap_ns = envelope_version(root)
        relates_to = message_id(root, soap_ns)
        now = services.now()
        verified = verify_security(
            root, soap_ns, now=now, allow_sha1=services.settings.wstrust_allow_sha1
        )
        certificate = verified.certificate
        body = root.find(f"{{{soap_ns}}}Body")
        assert body is not None and verified.covers(body)
        token_request = read_request(root, soap_ns, body, now)
        applies_to, cvr = token_request.applies_to, token_request.cvr
        certificate = holder_of_key(services, verified.certificate, token_request.use_key)
    except StsRefusal as refusal:
        log.info("WS-Trust request refused: %s (%s)", refusal.reason, refusal.message)
        record_refusal(
            services,
            protocol=SOAP,
            refusal=refusal,
            certificate=certificate,
            applies_to=applies_to,
            cvr=cvr,
        )
        return fault(refusal, soap_ns, relates_to)
    try:
        issued = core.issue_assertion(
            services,
            core.IssueRequest(
                certificate=certificate,
                applies_to=token_request.applies_to,
                cvr=token_request.cvr,
                lifetime=token_request.lifetime,
                on_behalf_of=token_request.on_behalf_of,
                protocol=SOAP,
            ),
        )
        return build_rstr(services, token_request, issued)
    except StsRefusal as refusal:  # already audited by the core
        return fault(refusal, soap_ns, relates_to)
    except Exception:
        log.exception("WS-Trust Issue failed unexpectedly")
        unexpected = StsRefusal(
            UNEXPECTED,
            "The token could not be issued because of an error on our side. Try again; if it "
            "persists, contact the operator.",
            "unexpected",
        )
        return fault(unexpected, soap_ns, relates_to)


def _respond(answer: SoapResponse) -> Response:
    return Response(answer.body, status=answer.status, content_type=answer.content_type)


@blueprint.post(STS_PATH)
def issue() -> Response:
    """WS-Trust 1.3 Issue (SOAP 1.2; SOAP 1.1 answered in kind)."""
    services = current_sts()
    if (request.content_length or 0) > MAX_BODY:
        refusal = StsRefusal(MALFORMED, "The request is too large.", "too_large")
        record_refusal(services, protocol=SOAP, refusal=refusal)
        return _respond(fault(refusal, SOAP12, None))
    return _respond(handle(services, request.get_data(cache=False)))


@blueprint.get(MEX_PATH)
def mex() -> Response:
    """The STS's WSDL with its WS-SecurityPolicy, with our address (``?wsdl`` or not)."""
    services = current_sts()
    return Response(wsdl(services.settings.base_url), content_type="text/xml; charset=utf-8")
