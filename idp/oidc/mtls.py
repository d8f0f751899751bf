"""RFC 8705: mutual-TLS client authentication and certificate-bound access tokens.

The client certificate comes from the TLS connection (``SSL_CLIENT_CERT`` in the WSGI
environment, as mod_wsgi and several servers set it) or, behind a TLS-terminating proxy,
from the header named by ``STS_TLS_CLIENT_CERT_HEADER`` (URL-encoded PEM, as nginx's
``$ssl_client_escaped_cert``). The header is read only when the connection comes from an
address in ``STS_TLS_TRUSTED_PROXIES``; anyone else could simply send it.

``tls_client_auth`` (§2.1.2) trusts the TLS layer to have validated the chain against
the CAs it trusts, and matches the registered subject DN. When the client's registered
JWKS carries ``x5c`` certificates the presented one must also be one of them (pinning,
as in ``self_signed_tls_client_auth``).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from flask import request

from idp.proxy import peer_address
from settings import Settings

CERT_ENVIRON_KEYS = ("SSL_CLIENT_CERT", "ssl_client_cert")


def _from_trusted_proxy(settings: Settings) -> bool:
    # The peer, not the client address that idp.proxy takes from X-Forwarded-For.
    remote = peer_address()
    if not remote or not settings.tls_trusted_proxies:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    for entry in settings.tls_trusted_proxies:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_certificate(settings: Settings) -> x509.Certificate | None:
    """The certificate the client presented, or None."""
    pem: str | None = None
    for key in CERT_ENVIRON_KEYS:
        value = request.environ.get(key)
        if isinstance(value, str) and value.strip():
            pem = value
            break
    if pem is None and settings.tls_client_cert_header and _from_trusted_proxy(settings):
        raw = request.headers.get(settings.tls_client_cert_header)
        if raw:
            pem = unquote(raw)
    if not pem or len(pem) > 32 * 1024:
        return None
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None


def thumbprint(certificate: x509.Certificate) -> str:
    """``x5t#S256``: base64url SHA-256 of the DER certificate (RFC 8705 §3.1)."""
    digest = certificate.fingerprint(hashes.SHA256())
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def confirmation(certificate: x509.Certificate) -> dict[str, str]:
    return {"x5t#S256": thumbprint(certificate)}


def _normalise_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.split(","))


def _pinned(jwks: dict[str, Any] | None) -> set[bytes]:
    pinned: set[bytes] = set()
    for key in (jwks or {}).get("keys", []):
        for entry in key.get("x5c", [])[:1]:
            try:
                pinned.add(base64.b64decode(entry))
            except (ValueError, TypeError):
                continue
    return pinned


def certificate_matches(certificate: x509.Certificate, subject_dn: str | None, jwks: Any) -> bool:
    """True when ``certificate`` is the registered client's: DN, validity, pinning."""
    if not subject_dn:
        return False
    now = dt.datetime.now(dt.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return False
    if _normalise_dn(certificate.subject.rfc4514_string()) != _normalise_dn(subject_dn):
        return False
    pinned = _pinned(jwks if isinstance(jwks, dict) else None)
    der = certificate.public_bytes(serialization.Encoding.DER)
    return not pinned or der in pinned


def presented_confirmation(settings: Settings) -> dict[str, str] | None:
    certificate = client_certificate(settings)
    return confirmation(certificate) if certificate is not None else None


def authenticate_tls_client(query_client: Any, oauth_request: Any) -> Any:
    """authlib client-auth method ``tls_client_auth``: client_id + a matching certificate."""
    from idp.oidc.provider import current_provider

    client_id = oauth_request.payload.data.get("client_id")
    if not isinstance(client_id, str):
        return None
    client = query_client(client_id)
    if client is None or client.auth_method != "tls_client_auth":
        return None
    certificate = client_certificate(current_provider().services.settings)
    if certificate is None:
        return None
    if not certificate_matches(certificate, client.tls_subject_dn, client.jwks):
        return None
    oauth_request.certificate_confirmation = confirmation(certificate)
    return client
