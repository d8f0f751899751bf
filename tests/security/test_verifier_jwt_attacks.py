"""Hostile JWTs the verifier SDK must reject (SECURITY.md, "JWT")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests import verifier_factory as f
from verifier import InvalidToken, jwt


def reason(token: str, **kwargs: Any) -> str:
    kwargs.setdefault("jwks", f.jwks())
    with pytest.raises(InvalidToken) as error:
        jwt.verify(token, issuer=f.JWT_ISSUER, audience=f.JWT_AUDIENCE, **kwargs)
    return error.value.reason


def header(**values: Any) -> dict[str, Any]:
    return {"typ": "at+jwt", "kid": "idp-1", **values}


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_rejected(alg: str) -> None:
    assert reason(f.unsigned_jwt(header(alg=alg), f.claims())) == "alg_not_allowed"


def test_missing_alg_is_rejected() -> None:
    assert reason(f.unsigned_jwt(header(), f.claims(), b"x")) == "alg_not_allowed"


def test_hs256_signed_with_the_rsa_public_key_is_rejected() -> None:
    public_pem = (
        f.idp()
        .key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned = f.unsigned_jwt(header(alg="HS256"), f.claims()).rsplit(".", 1)[0]
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    token = unsigned + "." + f.b64url(signature)
    assert reason(token) == "alg_not_allowed"


def test_hs256_with_an_oct_key_in_the_jwks_is_rejected() -> None:
    secret = b"shared-secret-shared-secret-1234"
    keys = {"keys": [{"kty": "oct", "kid": "idp-1", "k": f.b64url(secret)}]}
    unsigned = f.unsigned_jwt(header(alg="HS256"), f.claims()).rsplit(".", 1)[0]
    token = unsigned + "." + f.b64url(hmac.new(secret, unsigned.encode(), hashlib.sha256).digest())
    assert reason(token, jwks=keys) == "alg_not_allowed"


def test_algorithm_outside_the_keys_declared_alg_is_rejected() -> None:
    keys = f.jwks(f.public_jwk(f.idp(), "idp-1", alg="PS256"))
    assert reason(f.make_jwt(alg="RS256"), jwks=keys) == "alg_not_allowed"


def test_rsa_key_without_alg_does_not_allow_rs512() -> None:
    assert reason(f.make_jwt(alg="RS512")) == "alg_not_allowed"


def test_ec_algorithm_with_an_rsa_key_is_rejected() -> None:
    token = f.make_jwt(keypair=f.ec_keypair(), alg="ES256")
    assert reason(token) == "alg_not_allowed"


def test_unknown_kid_is_rejected() -> None:
    assert reason(f.make_jwt(kid="someone-else")) == "unknown_kid"


def test_missing_kid_is_rejected() -> None:
    assert reason(f.make_jwt(kid=None)) == "unknown_kid"


def test_token_signed_by_another_key_with_our_kid_is_rejected() -> None:
    assert reason(f.make_jwt(keypair=f.attacker())) == "bad_signature"


def test_tampered_payload_is_rejected() -> None:
    head, _, signature = f.make_jwt().split(".")
    forged = f.b64url(json.dumps(f.claims(sub="admin@ballerup.test")).encode())
    assert reason(f"{head}.{forged}.{signature}") == "bad_signature"


def test_stripped_signature_is_rejected() -> None:
    head, payload, _ = f.make_jwt().split(".")
    assert reason(f"{head}.{payload}.") == "bad_signature"


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.test/jwks"},
        {"x5u": "https://evil.test/cert.pem"},
    ],
)
def test_key_url_headers_are_rejected_even_when_the_signature_is_ours(
    extra: dict[str, str],
) -> None:
    assert reason(f.make_jwt(extra_header=extra)) == "forbidden_header"


def test_embedded_jwk_header_is_rejected() -> None:
    embedded = f.public_jwk(f.attacker(), "idp-1")
    token = f.make_jwt(keypair=f.attacker(), extra_header={"jwk": embedded})
    assert reason(token) == "forbidden_header"


def test_jku_pointing_at_an_attacker_jwks_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(url: str) -> Any:
        raise AssertionError(f"fetched {url}")

    monkeypatch.setattr("verifier._http.http_get", no_network)
    token = f.make_jwt(keypair=f.attacker(), extra_header={"jku": "https://evil.test/jwks"})
    assert reason(token) == "forbidden_header"


@pytest.mark.parametrize("crit", [["exp"], ["http://evil.test/ext"], []])
def test_crit_header_is_rejected(crit: list[str]) -> None:
    token = f.hand_signed_jwt(
        header(alg="PS256", crit=crit, **{"http://evil.test/ext": 1}), f.claims()
    )
    assert reason(token) == "unknown_crit"


def test_id_token_used_as_access_token_is_rejected() -> None:
    assert reason(f.make_jwt(typ="JWT")) == "wrong_typ"


def test_token_without_typ_is_rejected() -> None:
    assert reason(f.make_jwt(typ=None)) == "wrong_typ"


def test_access_token_used_where_another_type_is_expected_is_rejected() -> None:
    assert reason(f.make_jwt(), token_type="logout+jwt") == "wrong_typ"


def test_oversized_token_is_rejected_before_parsing() -> None:
    token = f.make_jwt(f.claims(padding="x" * 16 * 1024))
    assert reason(token) == "too_large"


def test_encrypted_token_is_rejected() -> None:
    assert reason("a.b.c.d.e") == "malformed"


def test_padded_base64_segments_are_rejected() -> None:
    head, payload, signature = f.make_jwt().split(".")
    assert reason(f"{head}=.{payload}.{signature}") == "malformed"


def test_header_that_is_not_json_is_rejected() -> None:
    token = base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode() + ".e30.sig"
    assert reason(token) == "malformed"


def test_non_base64url_characters_in_a_segment_are_rejected() -> None:
    head, payload, signature = f.make_jwt().split(".")
    assert reason(f"{head}.{payload[:10]}!{payload[10:]}.{signature}") == "malformed"
