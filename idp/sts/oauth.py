"""C: KOMBIT's OAuth endpoint: ``client_credentials`` over mTLS → a PS256 holder-of-key JWT.

``POST /runtime/api/rest/oauth/v1/issue`` (REFERENCE-KOMBIT-STS.md §5, §9.3). Parameters
come from the query string, a form body or a JSON body (all three are seen in KOMBIT's
own samples); where several carry one, the body wins over the query.

- ``grant_type``: ``client_credentials`` (absent is tolerated);
- ``client_id``: accepted as given (normally the service's entityID); required, as the
  KOMBIT sample shows an empty one answered with ``invalid_client``;
- ``scope=entityid:<service>,anvenderkontekst:<cvr>[,onbehalfof:<sha1 hex>]``: the SHA-1
  thumbprint names the proxied system's registered certificate.

The caller is its TLS client certificate. Response:
``{"access_token", "token_type": "Holder-of-key", "expires_in"}``. Errors are RFC 6749
JSON: ``invalid_client`` (no, unknown, expired or untrusted certificate),
``invalid_scope`` (a malformed scope, an unknown service, no approved agreement),
``unsupported_grant_type``, ``invalid_request``.

``GET /runtime/oauth2/certs.idp`` publishes the signing certificates as a JWKS with
``x5c`` (``kid`` = ``x5t`` = base64url SHA-1 thumbprint, as in KOMBIT's JWT headers):
the active key, the next one and recently retired ones, so rotation needs no downtime.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from flask import Response, jsonify, request
from joserfc.jwk import RSAKey

from certs.keys import KeyManager
from idp.oidc.mtls import client_certificate
from idp.sts import current_sts
from idp.sts.core import (
    MALFORMED,
    OAUTH,
    UNKNOWN_CONFIGURATION,
    IssueRequest,
    OnBehalfOf,
    StsRefusal,
    issue_jwt,
    record_refusal,
)

TOKEN_TYPE = "Holder-of-key"  # noqa: S105 - a URI, not a secret
_PART = re.compile(r"^(entityid|entity_id|anvenderkontekst|onbehalfof):(.+)$", re.IGNORECASE)
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_ERRORS = {
    "no_certificate": (401, "invalid_client"),
    "no_client_id": (401, "invalid_client"),
    "unknown_certificate": (401, "invalid_client"),
    "expired_certificate": (401, "invalid_client"),
    "untrusted_certificate": (401, "invalid_client"),
    "revoked_certificate": (401, "invalid_client"),
    "unsupported_grant_type": (400, "unsupported_grant_type"),
    "bad_scope": (400, "invalid_scope"),
    "bad_cvr": (400, "invalid_scope"),
    "no_applies_to": (400, "invalid_scope"),
    "unknown_service": (400, "invalid_scope"),
    "unknown_proxied": (400, "invalid_scope"),
    "no_agreement": (400, "invalid_scope"),
    "not_approved": (400, "invalid_scope"),
    "no_on_behalf_of": (400, "invalid_scope"),
    "audit_failed": (503, "temporarily_unavailable"),
    "unexpected": (500, "server_error"),
}


def error_response(refusal: StsRefusal) -> Response:
    status, error = _ERRORS.get(refusal.reason, (400, "invalid_request"))
    response = jsonify(error=error, error_description=refusal.message)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return response


def parameters() -> dict[str, str]:
    """Query, then form, then JSON body (later ones win); only string values."""
    found: dict[str, str] = {}
    sources: list[Any] = [request.args, request.form]
    if request.is_json or (request.data[:1] == b"{"):
        body = request.get_json(force=True, silent=True)
        if isinstance(body, dict):
            sources.append(body)
    for source in sources:
        for key in source:
            value = source.get(key)
            if isinstance(value, str):
                found[str(key).lower()] = value
    return found


def parse_scope(scope: str) -> tuple[str, str, str | None]:
    """(entity ID, CVR, on-behalf-of SHA-1 hex or None) from KOMBIT's scope grammar."""
    found: dict[str, str] = {}
    for part in (p for p in re.split(r"[,\s]+", scope.strip()) if p):
        match = _PART.match(part)
        if match is None:
            continue  # other scope values (openid and the like) are ignored
        name = match.group(1).lower().replace("_", "")
        if name in found:
            raise StsRefusal(MALFORMED, f"The scope names {name} twice.", "bad_scope")
        found[name] = match.group(2).strip()
    if not found.get("entityid") or not found.get("anvenderkontekst"):
        raise StsRefusal(
            MALFORMED,
            "The scope must be entityid:<service entityID>,anvenderkontekst:<CVR> "
            "(optionally ,onbehalfof:<SHA-1 thumbprint>).",
            "bad_scope",
        )
    obo = found.get("onbehalfof")
    if obo is not None and not _SHA1.match(obo):
        raise StsRefusal(
            MALFORMED,
            "onbehalfof must be the SHA-1 thumbprint (40 hex digits) of the proxied "
            "system's certificate.",
            "bad_scope",
        )
    return found["entityid"], found["anvenderkontekst"], obo


def _request(certificate: x509.Certificate | None) -> IssueRequest:
    sts = current_sts()
    if certificate is None:
        raise StsRefusal(
            UNKNOWN_CONFIGURATION,
            "No TLS client certificate was presented. Call this endpoint with the system's "
            "registered certificate (mutual TLS).",
            "no_certificate",
        )
    params = parameters()
    grant_type = params.get("grant_type")
    if grant_type and grant_type != "client_credentials":
        raise StsRefusal(
            MALFORMED, "Only grant_type=client_credentials is supported.", "unsupported_grant_type"
        )
    if not params.get("client_id", "").strip():
        raise StsRefusal(
            MALFORMED,
            "client_id is missing: send the service's entityID as client_id.",
            "no_client_id",
        )
    entity_id, cvr, obo = parse_scope(params.get("scope", ""))
    on_behalf_of = None
    if obo is not None:
        proxied = sts.registry.lookup_sha1(sts.database, obo)
        if proxied is None:
            raise StsRefusal(
                UNKNOWN_CONFIGURATION,
                f"No system has a registered certificate with the thumbprint {obo}.",
                "unknown_proxied",
            )
        on_behalf_of = OnBehalfOf(certificate=proxied)
    return IssueRequest(
        certificate=certificate,
        applies_to=entity_id,
        cvr=cvr,
        lifetime=None,
        on_behalf_of=on_behalf_of,
        protocol=OAUTH,
    )


def issue() -> Response:
    """The view of ``POST /runtime/api/rest/oauth/v1/issue``."""
    sts = current_sts()
    certificate = client_certificate(sts.settings)
    try:
        req = _request(certificate)
    except StsRefusal as refusal:
        record_refusal(sts, protocol=OAUTH, refusal=refusal, certificate=certificate)
        return error_response(refusal)
    try:
        issued = issue_jwt(sts, req)
    except StsRefusal as refusal:
        return error_response(refusal)
    response = jsonify(
        access_token=issued.token, token_type=TOKEN_TYPE, expires_in=issued.expires_in
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def certificate_jwk(certificate: x509.Certificate) -> dict[str, Any]:
    """One JWK with ``x5c``; ``kid`` = ``x5t`` = base64url SHA-1 of the certificate."""
    public_pem = certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    x5t = _b64url(certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - KOMBIT's kid
    key = RSAKey.import_key(public_pem).as_dict(private=False)
    der = certificate.public_bytes(serialization.Encoding.DER)
    key.update(
        kid=x5t,
        use="sig",
        alg="PS256",
        x5t=x5t,
        **{"x5t#S256": _b64url(certificate.fingerprint(hashes.SHA256()))},
        x5c=[base64.b64encode(der).decode("ascii")],
    )
    return key


def certs() -> Response:
    """The view of ``GET /runtime/oauth2/certs.idp``."""
    sts = current_sts()
    manager = KeyManager(sts.settings.data_dir, issuer=sts.settings.base_url)
    with sts.database.session() as session:
        pems = [row.certificate_pem for row in manager.published(session) if row.kty == "RSA"]
    keys = [certificate_jwk(x509.load_pem_x509_certificate(pem.encode())) for pem in pems]
    response = jsonify(keys=keys)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
