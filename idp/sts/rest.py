"""B: KOMBIT's "STS REST": WS-Trust Issue as JSON (REFERENCE-KOMBIT-STS.md §4, §9.2).

``POST /runtime/api/rest/wstrust/v1/issue`` over mTLS: the caller is its TLS client
certificate (from the connection, or the trusted proxy's header as for mTLS OAuth
clients, :func:`idp.oidc.mtls.client_certificate`). No XML signature.

Request (keys matched case-insensitively, as ASP.NET binds them)::

    {"TokenType": "…#SAMLV2.0", "RequestType": "…/Issue", "KeyType": "…/PublicKey",
     "AnvenderKontekst": {"Cvr": "11111111"}, "UseKey": "<base64 DER>",
     "AppliesTo": {"EndpointReference": {"Address": "<service entityID>"}},
     "OnBehalfOf": null | "" | "<base64 DER certificate>" | "<base64 or raw Assertion XML>",
     "Lifetime": optional, minutes or "MM/dd/yyyy HH:mm:ss" / ISO expiry}

``UseKey``, when given, must be the TLS client certificate itself: the holder-of-key
binding would mean nothing otherwise ([design]; KOMBIT's behaviour is unverified).

Response: the assertion base64-encoded in ``RequestedSecurityToken.Assertion``, and
``Lifetime`` as ``MM/dd/yyyy HH:mm:ss`` (the expiry, in UTC: [UNVERIFIED] at KOMBIT; the
reading python-serviceplatformen's ``strptime`` needs). Refusals: 4xx
``{"error", "error_description"}`` (plus ``message``, which some PHP clients show, and
KOMBIT's numeric ``code``); never a token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from cryptography import x509
from flask import Response, jsonify, request

from idp.oidc.mtls import client_certificate
from idp.sts import current_sts
from idp.sts.core import (
    MALFORMED,
    REST,
    UNKNOWN_CONFIGURATION,
    IssueRequest,
    OnBehalfOf,
    StsRefusal,
    issue_assertion,
    record_refusal,
)

TOKEN_TYPE = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"  # noqa: S105 - a URI, not a secret
REQUEST_TYPE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
KEY_TYPE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey"
LIFETIME_FORMAT = "%m/%d/%Y %H:%M:%S"
MAX_BODY = 256 * 1024

# StsRefusal.reason -> (HTTP status, error)
_CLIENT = (401, "invalid_client")
_STATUS = {
    "no_certificate": _CLIENT,
    "unknown_certificate": _CLIENT,
    "expired_certificate": _CLIENT,
    "untrusted_certificate": _CLIENT,
    "revoked_certificate": _CLIENT,
    "no_agreement": (403, "access_denied"),
    "not_approved": (403, "access_denied"),
    "no_on_behalf_of": (403, "access_denied"),
    "bootstrap_cvr_mismatch": (403, "access_denied"),
    "bootstrap_unknown_user": (403, "access_denied"),
    "bootstrap_user_disabled": (403, "access_denied"),
    "audit_failed": (503, "temporarily_unavailable"),
    "unexpected": (500, "server_error"),
}


def lower_keys(value: Any) -> Any:
    """The JSON value with every object key in lower case (case-insensitive binding)."""
    if isinstance(value, dict):
        return {str(key).lower(): lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [lower_keys(item) for item in value]
    return value


def error_response(refusal: StsRefusal) -> Response:
    status, error = _STATUS.get(refusal.reason, (400, "invalid_request"))
    response = jsonify(
        error=error,
        error_description=refusal.message,
        message=refusal.message,
        code=refusal.code,
    )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _malformed(message: str, reason: str = "malformed") -> StsRefusal:
    return StsRefusal(MALFORMED, message, reason)


def _text(body: dict[str, Any], *path: str) -> str | None:
    value: Any = body
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise _malformed(f"{'.'.join(path)} must be a string.")
    return str(value)


def _certificate(value: str, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(
            base64.b64decode("".join(value.split()), validate=True)
        )
    except (binascii.Error, ValueError) as exc:
        raise _malformed(f"{what} must be a base64-encoded X.509 certificate (DER).") from exc


def parse_on_behalf_of(value: str | None) -> OnBehalfOf | None:
    """``OnBehalfOf``: absent/null/"" → None; a base64 certificate; or an assertion."""
    from idp.saml.xmlutil import SamlError, parse

    if value is None or not value.strip():
        return None
    text = value.strip()
    raw = text.encode()
    if not text.startswith("<"):
        try:
            raw = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _malformed("OnBehalfOf must be a base64 certificate or assertion.") from exc
        if not raw.lstrip().startswith(b"<"):
            try:
                return OnBehalfOf(certificate=x509.load_der_x509_certificate(raw))
            except ValueError as exc:
                raise _malformed("OnBehalfOf is not a certificate or an assertion.") from exc
    try:
        return OnBehalfOf(bootstrap_assertion=parse(raw))
    except SamlError as exc:
        raise _malformed(f"OnBehalfOf is not a usable assertion: {exc}") from exc


def parse_lifetime(value: Any, now: dt.datetime) -> dt.timedelta | None:
    """Minutes (number), or an expiry in KOMBIT's or ISO format; None: the default."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(minutes=float(value))
    if isinstance(value, dict):
        value = value.get("expires")
    if isinstance(value, str):
        text = value.strip()
        for parse in (
            lambda t: dt.datetime.strptime(t, LIFETIME_FORMAT).replace(tzinfo=dt.UTC),
            lambda t: dt.datetime.fromisoformat(t.replace("Z", "+00:00")),
        ):
            try:
                expires = parse(text)
            except ValueError:
                continue
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=dt.UTC)
            return expires - now
    raise _malformed("Lifetime must be minutes or an expiry time.")


def build_request(body: Any, certificate: x509.Certificate, now: dt.datetime) -> IssueRequest:
    if not isinstance(body, dict):
        raise _malformed("The request body must be a JSON object.")
    body = lower_keys(body)
    request_type = _text(body, "requesttype")
    if request_type and request_type != REQUEST_TYPE:
        raise _malformed(f"RequestType must be {REQUEST_TYPE}.")
    token_type = _text(body, "tokentype")
    if token_type and token_type != TOKEN_TYPE:
        raise _malformed(f"TokenType must be {TOKEN_TYPE}.")
    use_key = _text(body, "usekey")
    if use_key and _certificate(use_key, "UseKey") != certificate:
        raise _malformed(
            "UseKey must be the certificate presented in TLS (the token is bound to it).",
            "usekey_mismatch",
        )
    applies_to = _text(body, "appliesto", "endpointreference", "address")
    if applies_to is None:
        applies_to = _text(body, "appliesto")
    if not applies_to:
        raise _malformed("AppliesTo.EndpointReference.Address (the service's entityID) is missing.")
    context = body.get("anvenderkontekst")
    cvr = _text(body, "anvenderkontekst", "cvr") if isinstance(context, dict) else None
    if cvr is None and isinstance(context, str | int):
        cvr = str(context)
    if not cvr:
        raise _malformed("AnvenderKontekst.Cvr (the municipality's CVR) is missing.", "bad_cvr")
    on_behalf_of = body.get("onbehalfof")
    if on_behalf_of is not None and not isinstance(on_behalf_of, str):
        raise _malformed("OnBehalfOf must be a string or null.")
    return IssueRequest(
        certificate=certificate,
        applies_to=applies_to,
        cvr=cvr,
        lifetime=parse_lifetime(body.get("lifetime"), now),
        on_behalf_of=parse_on_behalf_of(on_behalf_of),
        protocol=REST,
    )


def issue() -> Response:
    """The view of ``POST /runtime/api/rest/wstrust/v1/issue``."""
    sts = current_sts()
    certificate = client_certificate(sts.settings)
    try:
        if certificate is None:
            raise StsRefusal(
                UNKNOWN_CONFIGURATION,
                "No TLS client certificate was presented. Call this endpoint with the "
                "system's registered certificate (mutual TLS).",
                "no_certificate",
            )
        if (request.content_length or 0) > MAX_BODY:
            raise _malformed("The request body is too large.")
        body = request.get_json(force=True, silent=True)
        req = build_request(body, certificate, sts.now())
    except StsRefusal as refusal:
        record_refusal(sts, protocol=REST, refusal=refusal, certificate=certificate)
        return error_response(refusal)
    try:
        issued = issue_assertion(sts, req)
    except StsRefusal as refusal:
        return error_response(refusal)
    response = jsonify(
        RequestedSecurityToken={"Assertion": base64.b64encode(issued.xml).decode("ascii")},
        AppliesTo={"EndpointReference": {"Address": issued.applies_to}},
        KeyType=KEY_TYPE,
        RequestType=REQUEST_TYPE,
        TokenType=TOKEN_TYPE,
        Lifetime=issued.not_on_or_after.astimezone(dt.UTC).strftime(LIFETIME_FORMAT),
    )
    response.headers["Cache-Control"] = "no-store"
    return response
