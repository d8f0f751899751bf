"""Verify a JWT access token from our identity provider (RFC 7519, RFC 8725, RFC 9068).

Everything in the header is checked before any key is touched: the algorithm must be
on the chosen key's allow-list (never ``none``, never HMAC), ``typ`` must be the
expected token type, and headers that point at other keys (``jku``, ``x5u``, ``jwk``)
or ask for extensions (``crit``) reject the token. Keys come only from the JWKS the
caller gives or from the issuer's OIDC discovery document.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jwk, jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from verifier import _http
from verifier.errors import InvalidToken

__all__ = ["DEFAULT_LEEWAY", "MAX_LEEWAY", "MAX_TOKEN_SIZE", "JwksCache", "verify"]

MAX_TOKEN_SIZE = 16 * 1024
DEFAULT_LEEWAY = 30
MAX_LEEWAY = 60

#: Algorithms a key may ever be used with. HMAC and "none" are never accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_RSA_ALGORITHMS = frozenset({"RS256", "PS256"})
_EC_ALGORITHMS = {
    "P-256": frozenset({"ES256"}),
    "P-384": frozenset({"ES384"}),
    "P-521": frozenset({"ES512"}),
}
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")
#: Headers that name a key to use instead of ours: never fetched, never trusted.
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk"})

CertificateLike = str | bytes | x509.Certificate


def verify(
    token: str | bytes,
    *,
    issuer: str,
    audience: str,
    jwks: Mapping[str, Any] | None = None,
    discovery_url: str | None = None,
    token_type: str = "at+jwt",  # noqa: S107 - a JWT typ, not a password
    client_cert: CertificateLike | None = None,
    leeway: int = DEFAULT_LEEWAY,
) -> dict[str, Any]:
    """The token's claims, after checking signature, header, issuer, audience and time.

    Give the keys either as a JWKS document (``jwks``) or as the issuer's OIDC
    discovery URL (``discovery_url``, fetched and cached, see :class:`JwksCache`).
    ``token_type`` is compared with the ``typ`` header (``at+jwt`` matches
    ``application/at+jwt``). With ``client_cert`` (the mTLS client certificate, PEM,
    DER or a ``cryptography`` certificate) the token must be bound to it by
    ``cnf.x5t#S256``; a bound token presented without a certificate is rejected.

    Raises :class:`verifier.InvalidToken` with a ``reason`` when anything is wrong.
    """
    if (jwks is None) == (discovery_url is None):
        raise ValueError("give exactly one of jwks= or discovery_url=")
    if not 0 <= leeway <= MAX_LEEWAY:
        raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
    raw = token.encode("ascii", "replace") if isinstance(token, str) else token
    raw = raw.strip()
    if len(raw) > MAX_TOKEN_SIZE:
        raise InvalidToken("too_large", f"token of {len(raw)} bytes exceeds {MAX_TOKEN_SIZE}")
    header = _header(raw)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS:
        raise InvalidToken("alg_not_allowed", f"algorithm {alg!r} is not accepted")
    _check_typ(header, token_type)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("unknown_kid", "token has no kid")

    if jwks is not None:
        key_set = jwks
        key = _find_key(key_set, kid)
    else:
        assert discovery_url is not None
        key = DEFAULT_CACHE.key(discovery_url, issuer=issuer, kid=kid)
    if key is None:
        raise InvalidToken("unknown_kid", f"no signing key with kid {kid!r}")
    if alg not in key.algorithms:
        raise InvalidToken(
            "alg_not_allowed", f"key {kid!r} is not for {alg} (allowed: {sorted(key.algorithms)})"
        )
    claims = _verified_payload(raw, key, alg)
    _check_claims(claims, issuer=issuer, audience=audience, leeway=leeway)
    _check_binding(claims, client_cert)
    return claims


# --- header -----------------------------------------------------------------------------


def _b64url(segment: bytes) -> bytes:
    if not _BASE64URL.fullmatch(segment):
        raise InvalidToken("malformed", "token segments must be unpadded base64url")
    try:
        return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed", "token segment is not base64url") from exc


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidToken("malformed", f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken("malformed", f"{what} is not a JSON object")
    return value


def _header(raw: bytes) -> dict[str, Any]:
    parts = raw.split(b".")
    if len(parts) != 3:
        raise InvalidToken("malformed", "not a compact JWS (encrypted or broken token)")
    if not all(_BASE64URL.fullmatch(part) for part in parts):
        raise InvalidToken("malformed", "token segments must be unpadded base64url")
    header = _json_object(_b64url(parts[0]), "header")
    forbidden = FORBIDDEN_HEADERS.intersection(header)
    if forbidden:
        raise InvalidToken("forbidden_header", f"header {sorted(forbidden)} would name another key")
    if "crit" in header:
        raise InvalidToken("unknown_crit", f"critical header extensions {header['crit']!r}")
    if header.get("b64") is not None or header.get("zip") is not None:
        raise InvalidToken("malformed", "b64/zip headers are not accepted")
    return header


def _normalised_typ(value: str) -> str:
    value = value.strip().lower()
    return value.removeprefix("application/")


def _check_typ(header: Mapping[str, Any], expected: str) -> None:
    typ = header.get("typ")
    if not isinstance(typ, str) or _normalised_typ(typ) != _normalised_typ(expected):
        raise InvalidToken("wrong_typ", f"typ {typ!r}, expected {expected!r}")


# --- keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    kid: str
    key: Any
    algorithms: frozenset[str]


def _allowed_algorithms(entry: Mapping[str, Any]) -> frozenset[str]:
    declared = entry.get("alg")
    if declared is not None:
        return frozenset({declared}) & ASYMMETRIC_ALGORITHMS
    kty = entry.get("kty")
    if kty == "RSA":
        return _RSA_ALGORITHMS
    if kty == "EC":
        return _EC_ALGORITHMS.get(str(entry.get("crv")), frozenset())
    return frozenset()


def _find_key(key_set: Mapping[str, Any], kid: str) -> _Key | None:
    """The signature key with ``kid``; None when absent, ambiguous or unusable."""
    entries = key_set.get("keys")
    if not isinstance(entries, list):
        raise InvalidToken("jwks_unavailable", "JWKS document has no keys list")
    matches = [
        e
        for e in entries
        if isinstance(e, Mapping) and e.get("kid") == kid and e.get("use", "sig") == "sig"
    ]
    if len(matches) != 1:
        return None
    entry = dict(matches[0])
    if entry.get("kty") not in ("RSA", "EC") or "d" in entry:
        return None
    algorithms = _allowed_algorithms(entry)
    if not algorithms:
        return None
    try:
        key = jwk.import_key(entry)
    except (JoseError, ValueError, TypeError):
        return None
    return _Key(kid, key, algorithms)


class JwksCache:
    """Keys from OIDC discovery, cached by the HTTP cache headers.

    The discovery document and the JWKS are each kept for their ``Cache-Control:
    max-age`` (``default_max_age`` when absent, at most ``max_max_age``). An unknown
    ``kid`` refetches the JWKS once, at most once per ``refetch_interval`` seconds per
    issuer, so a stream of tokens with made-up kids cannot make us hammer the issuer.
    """

    def __init__(
        self,
        *,
        fetch: _http.Fetcher | None = None,
        clock: Callable[[], float] = time.monotonic,
        refetch_interval: float = 30.0,
        default_max_age: float = 300.0,
        max_max_age: float = 86400.0,
    ) -> None:
        self._fetch = fetch or _http.http_get
        self._clock = clock
        self.refetch_interval = refetch_interval
        self.default_max_age = default_max_age
        self.max_max_age = max_max_age
        self._lock = threading.Lock()
        self._discovery: dict[str, tuple[str, float]] = {}
        self._jwks: dict[str, tuple[Mapping[str, Any], float, float]] = {}

    def clear(self) -> None:
        with self._lock:
            self._discovery.clear()
            self._jwks.clear()

    def _get_json(self, url: str) -> tuple[dict[str, Any], float]:
        try:
            fetched = self._fetch(url)
        except (OSError, ValueError) as exc:
            raise InvalidToken("jwks_unavailable", f"cannot fetch {url}: {exc}") from exc
        try:
            document = json.loads(fetched.body)
        except ValueError as exc:
            raise InvalidToken("jwks_unavailable", f"{url} did not return JSON") from exc
        if not isinstance(document, dict):
            raise InvalidToken("jwks_unavailable", f"{url} did not return a JSON object")
        age = _http.max_age(fetched.headers, default=self.default_max_age, ceiling=self.max_max_age)
        return document, self._clock() + age

    def _jwks_uri(self, discovery_url: str, issuer: str) -> str:
        cached = self._discovery.get(discovery_url)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        document, expires = self._get_json(discovery_url)
        if document.get("issuer") != issuer:
            raise InvalidToken(
                "wrong_issuer",
                f"discovery document is for issuer {document.get('issuer')!r}, not {issuer!r}",
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise InvalidToken("jwks_unavailable", "discovery document has no jwks_uri")
        self._discovery[discovery_url] = (jwks_uri, expires)
        return jwks_uri

    def _load(self, discovery_url: str, issuer: str) -> Mapping[str, Any]:
        document, expires = self._get_json(self._jwks_uri(discovery_url, issuer))
        self._jwks[discovery_url] = (document, expires, self._clock())
        return document

    def key_set(self, discovery_url: str, *, issuer: str) -> Mapping[str, Any]:
        """The current JWKS document for the issuer behind ``discovery_url``."""
        with self._lock:
            cached = self._jwks.get(discovery_url)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
            return self._load(discovery_url, issuer)

    def key(self, discovery_url: str, *, issuer: str, kid: str) -> _Key | None:
        key = _find_key(self.key_set(discovery_url, issuer=issuer), kid)
        if key is not None:
            return key
        with self._lock:
            cached = self._jwks.get(discovery_url)
            if cached is not None and self._clock() - cached[2] < self.refetch_interval:
                return _find_key(cached[0], kid)
            return _find_key(self._load(discovery_url, issuer), kid)


#: The process-wide cache :func:`verify` uses for ``discovery_url``.
DEFAULT_CACHE = JwksCache()


# --- signature and claims ---------------------------------------------------------------


def _verified_payload(raw: bytes, key: _Key, alg: str) -> dict[str, Any]:
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = MAX_TOKEN_SIZE
    registry.max_payload_length = MAX_TOKEN_SIZE
    try:
        compact = jws.deserialize_compact(raw, key.key, algorithms=[alg], registry=registry)
    except JoseError as exc:
        raise InvalidToken(
            "bad_signature", f"signature does not verify with key {key.kid!r}"
        ) from exc
    return _json_object(compact.payload, "payload")


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidToken("missing_claim", f"claim {name!r} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("malformed", f"claim {name!r} is not a number")
    return float(value)


def _check_claims(claims: Mapping[str, Any], *, issuer: str, audience: str, leeway: int) -> None:
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong_issuer", f"iss {claims.get('iss')!r}, expected {issuer!r}")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise InvalidToken("wrong_audience", f"aud {aud!r} does not include {audience!r}")
    now = time.time()
    exp = _number(claims, "exp", required=True)
    assert exp is not None
    if now - leeway >= exp:
        raise InvalidToken("expired", "token has expired")
    nbf = _number(claims, "nbf", required=False)
    if nbf is not None and now + leeway < nbf:
        raise InvalidToken("not_yet_valid", "token is not valid yet (nbf)")
    iat = _number(claims, "iat", required=True)
    assert iat is not None
    if now + leeway < iat:
        raise InvalidToken("not_yet_valid", "token was issued in the future (iat)")


def _certificate_der(cert: CertificateLike) -> bytes:
    if isinstance(cert, x509.Certificate):
        return cert.public_bytes(Encoding.DER)
    data = cert.encode("ascii") if isinstance(cert, str) else cert
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return x509.load_der_x509_certificate(data).public_bytes(Encoding.DER)


def certificate_thumbprint(cert: CertificateLike) -> str:
    """RFC 8705 ``x5t#S256``: base64url SHA-256 of the certificate's DER bytes."""
    digest = hashlib.sha256(_certificate_der(cert)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check_binding(claims: Mapping[str, Any], client_cert: CertificateLike | None) -> None:
    cnf = claims.get("cnf")
    bound = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
    if cnf is not None and not isinstance(bound, str):
        raise InvalidToken("cnf_mismatch", "unsupported cnf confirmation method")
    if client_cert is None:
        if bound is not None:
            raise InvalidToken("cnf_mismatch", "token is bound to a client certificate; none given")
        return
    if bound is None:
        raise InvalidToken(
            "cnf_mismatch", "a client certificate was given but the token is not bound"
        )
    if not hmac.compare_digest(
        bound.encode("ascii", "replace"), certificate_thumbprint(client_cert).encode()
    ):
        raise InvalidToken("cnf_mismatch", "token is bound to another client certificate")
