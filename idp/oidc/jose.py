"""Signing and strict verification of JWTs (RFC 7515, RFC 7519, with the RFC 8725 BCP).

Every JWT this provider reads goes through :func:`verify`: ``id_token_hint``, RFC 7523
client assertions, RFC 8693 subject tokens and access tokens presented at userinfo and
introspection. It refuses, before any signature work, what RFC 8725 and the CVE history
of JWT libraries warn about: ``alg: none``, HMAC algorithms (the "HS256 signed with the
RSA public key" confusion), an algorithm not allowed for the key, a missing or unknown
``kid``, keys carried or pointed to by the token itself (``jku``, ``x5u``, ``jwk``,
``x5c``), unknown ``crit`` extensions, the wrong ``typ`` and oversized tokens. Claims are
then checked for issuer, audience and lifetime with a bounded leeway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

MAX_TOKEN_BYTES = 16 * 1024
# Asymmetric algorithms only, each with the key type it needs.
ALGORITHM_KEY_TYPES: Mapping[str, str] = {
    "RS256": "RSA",
    "PS256": "RSA",
    "ES256": "EC",
}
SIGNING_ALGORITHMS = tuple(ALGORITHM_KEY_TYPES)
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c")

Key = RSAKey | ECKey


class TokenRejected(Exception):
    """A JWT failed verification; the message says why (for logs and error descriptions)."""


@dataclass(frozen=True)
class Verified:
    """A verified JWT: its protected header and its claims."""

    header: dict[str, Any]
    claims: dict[str, Any]


def sign(claims: Mapping[str, Any], key: Key, alg: str, typ: str) -> str:
    """Sign ``claims`` as a compact JWS with ``kid`` and ``typ`` in the header."""
    if ALGORITHM_KEY_TYPES.get(alg) != key.key_type:
        raise ValueError(f"algorithm {alg} does not fit a {key.key_type} key")
    header = {"alg": alg, "typ": typ, "kid": key.kid}
    return jwt.encode(header, dict(claims), key, algorithms=[alg])


def unverified_header(token: str) -> dict[str, Any]:
    """The header, for routing only (never trusted); raises :class:`TokenRejected`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("token missing or larger than 16 KiB")
    try:
        obj = jws.extract_compact(token.encode("ascii"))
    except (JoseError, UnicodeEncodeError, ValueError) as exc:
        raise TokenRejected("not a compact JWS") from exc
    return dict(obj.headers())


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload without any check: only to find which client's keys to verify with."""
    unverified_header(token)
    try:
        obj = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise TokenRejected("payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise TokenRejected("payload is not a JSON object")
    return claims


def _typ_matches(actual: Any, expected: str) -> bool:
    if not isinstance(actual, str):
        return False
    # RFC 7515 §4.1.9: "application/" may be omitted; media types are case-insensitive.
    return actual.lower().removeprefix("application/") == expected.lower()


def _find_key(keys: KeySet | Iterable[Key], kid: str) -> Key | None:
    for key in keys.keys if isinstance(keys, KeySet) else keys:
        if key.kid == kid and isinstance(key, RSAKey | ECKey):
            return key
    return None


def verify(
    token: str,
    keys: KeySet | Iterable[Key],
    *,
    typ: str | Collection[str] | None,
    issuer: str | None,
    audience: str | Collection[str] | None,
    algorithms: Collection[str] = SIGNING_ALGORITHMS,
    leeway: int = 60,
    require: Collection[str] = ("exp", "iat"),
    check_expiry: bool = True,
    now: float | None = None,
) -> Verified:
    """Verify ``token`` against ``keys``; return header and claims or raise TokenRejected.

    ``typ`` None means "any or none" (RFC 7523 assertions have no registered ``typ``);
    ``check_expiry`` False is only for ``id_token_hint``, which may have expired.
    """
    header = unverified_header(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise TokenRejected("unsigned tokens (alg none) are not accepted")
    if alg not in ALGORITHM_KEY_TYPES or alg not in algorithms:
        raise TokenRejected(f"algorithm {alg!r} is not allowed")
    present = [name for name in _FORBIDDEN_HEADERS if name in header]
    if present:
        raise TokenRejected(f"header parameters {', '.join(present)} are not accepted")
    if "crit" in header:
        raise TokenRejected("unknown critical header parameters")
    if typ is not None:
        expected = [typ] if isinstance(typ, str) else list(typ)
        if not any(_typ_matches(header.get("typ"), wanted) for wanted in expected):
            raise TokenRejected(f"typ {header.get('typ')!r} is not {' or '.join(expected)}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected("kid missing")
    key = _find_key(keys, kid)
    if key is None:
        raise TokenRejected(f"unknown kid {kid!r}")
    if ALGORITHM_KEY_TYPES[alg] != key.key_type:
        raise TokenRejected(f"algorithm {alg} does not fit the {key.key_type} key {kid}")
    try:
        decoded = jwt.decode(token, key, algorithms=[alg])
    except JoseError as exc:
        raise TokenRejected(f"bad signature or payload ({exc.error})") from exc
    claims = dict(decoded.claims)
    _check_claims(claims, issuer, audience, leeway, require, check_expiry, now)
    return Verified(header=dict(decoded.header), claims=claims)


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(f"claim {name} is not a number")
    return float(value)


def _check_claims(
    claims: dict[str, Any],
    issuer: str | None,
    audience: str | Collection[str] | None,
    leeway: int,
    require: Collection[str],
    check_expiry: bool,
    now: float | None,
) -> None:
    moment = time.time() if now is None else now
    for name in require:
        if name not in claims:
            raise TokenRejected(f"claim {name} missing")
    if issuer is not None and claims.get("iss") != issuer:
        raise TokenRejected("wrong issuer")
    if audience is not None:
        wanted = {audience} if isinstance(audience, str) else set(audience)
        given = claims.get("aud")
        given_set = {given} if isinstance(given, str) else set(given or [])
        if not all(isinstance(item, str) for item in given_set) or not wanted & given_set:
            raise TokenRejected("wrong audience")
    exp = _number(claims, "exp")
    if check_expiry and exp is not None and exp + leeway < moment:
        raise TokenRejected("expired")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf - leeway > moment:
        raise TokenRejected("not yet valid")
    iat = _number(claims, "iat")
    if iat is not None and iat - leeway > moment:
        raise TokenRejected("issued in the future")
