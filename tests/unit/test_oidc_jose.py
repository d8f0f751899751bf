"""The strict JWT verifier (RFC 8725): each rule on its own."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from idp.oidc.jose import MAX_TOKEN_BYTES, TokenRejected, sign, verify

RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
ISS, AUD = "https://idp.test", "client"


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "sub": "u", "iat": now, "exp": now + 60, **extra}


def check(token: str, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"typ": "JWT", "issuer": ISS, "audience": AUD}
    options.update(kwargs)
    return verify(token, [RSA, EC], **options).claims


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_algorithms_verify(alg: str) -> None:
    assert check(sign(claims(), RSA, alg, "JWT"))["sub"] == "u"


def test_es256_verifies() -> None:
    assert check(sign(claims(), EC, "ES256", "JWT"))["sub"] == "u"


def test_sign_refuses_an_algorithm_that_does_not_fit_the_key() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        sign(claims(), RSA, "ES256", "JWT")


def test_alg_none_is_refused() -> None:
    token = f"{b64({'alg': 'none', 'kid': 'rsa-1', 'typ': 'JWT'})}.{b64(claims())}."
    with pytest.raises(TokenRejected, match="alg none"):
        check(token)


def test_hmac_is_refused_before_any_key_is_used() -> None:
    secret = OctKey.import_key(b"secret-" * 8)
    token = jwt.encode({"alg": "HS256", "kid": "rsa-1"}, claims(), secret, algorithms=["HS256"])
    with pytest.raises(TokenRejected, match="not allowed"):
        check(token, typ=None)


def test_algorithm_outside_the_allow_list_is_refused() -> None:
    token = sign(claims(), RSA, "PS256", "JWT")
    with pytest.raises(TokenRejected, match="not allowed"):
        check(token, algorithms=("RS256",))


def test_algorithm_must_fit_the_key_type() -> None:
    token = sign(claims(), EC, "ES256", "JWT")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    header["kid"] = "rsa-1"
    forged = ".".join([b64(header), *token.split(".")[1:]])
    with pytest.raises(TokenRejected, match="does not fit"):
        check(forged)


def test_unknown_kid_is_refused() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "who"})
    with pytest.raises(TokenRejected, match="unknown kid"):
        check(sign(claims(), key, "RS256", "JWT"))


def test_missing_kid_is_refused() -> None:
    token = jwt.encode({"alg": "RS256", "typ": "JWT"}, claims(), RSA, algorithms=["RS256"])
    with pytest.raises(TokenRejected, match="kid missing"):
        check(token)


def test_right_kid_wrong_key_is_a_bad_signature() -> None:
    with pytest.raises(TokenRejected, match="bad signature"):
        check(sign(claims(), OTHER, "RS256", "JWT"))


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_key_carrying_headers_are_refused(name: str) -> None:
    value: Any = {"jwk": RSA.as_dict(private=False), "x5c": ["MIIB"]}.get(name, "https://e.test")
    token = jwt.encode(
        {"alg": "RS256", "kid": "rsa-1", "typ": "JWT", name: value},
        claims(),
        RSA,
        algorithms=["RS256"],
    )
    with pytest.raises(TokenRejected, match=f"{name}|compact"):
        check(token)


def test_wrong_typ_is_refused() -> None:
    with pytest.raises(TokenRejected, match="typ"):
        check(sign(claims(), RSA, "RS256", "at+jwt"))


def test_typ_accepts_the_application_prefix_case_insensitively() -> None:
    check(sign(claims(), RSA, "RS256", "application/AT+JWT"), typ="at+jwt")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"iss": "https://evil.test"}, "issuer"),
        ({"aud": "someone"}, "audience"),
        ({"aud": ["someone", 7]}, "audience"),
        ({"exp": -120}, "expired"),
        ({"nbf": +120}, "not yet"),
        ({"iat": +120}, "future"),
        ({"exp": "tomorrow"}, "not a number"),
    ],
)
def test_claims_are_checked(override: dict[str, Any], message: str) -> None:
    # Times are offsets from now, computed when the test runs (not at collection).
    override = {
        key: int(time.time()) + value
        if key in ("exp", "nbf", "iat") and isinstance(value, int)
        else value
        for key, value in override.items()
    }
    with pytest.raises(TokenRejected, match=message):
        check(sign(claims(**override), RSA, "RS256", "JWT"))


def test_leeway_is_bounded_and_applied() -> None:
    token = sign(claims(exp=int(time.time()) - 30), RSA, "RS256", "JWT")
    check(token, leeway=60)
    with pytest.raises(TokenRejected, match="expired"):
        check(token, leeway=0)


def test_expiry_may_be_ignored_for_hints_only_on_request() -> None:
    token = sign(claims(exp=int(time.time()) - 3600), RSA, "RS256", "JWT")
    assert check(token, check_expiry=False)["sub"] == "u"


def test_audience_list_matches_any() -> None:
    check(sign(claims(aud=["x", AUD]), RSA, "RS256", "JWT"))


def test_required_claims_must_be_present() -> None:
    with pytest.raises(TokenRejected, match="jti"):
        check(sign(claims(), RSA, "RS256", "JWT"), require=("jti",))


def test_oversized_tokens_are_refused_unparsed() -> None:
    with pytest.raises(TokenRejected, match="16 KiB"):
        check("a" * (MAX_TOKEN_BYTES + 1))


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "....", "é.é.é", "eyJ9.eyJ9.x"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(TokenRejected):
        check(garbage)


def test_unknown_crit_is_refused() -> None:
    header = {"alg": "none", "kid": "rsa-1", "crit": ["exp"]}
    with pytest.raises(TokenRejected):
        check(f"{b64(header)}.{b64(claims())}.")
