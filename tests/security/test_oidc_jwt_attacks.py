"""SECURITY.md, JWT section: every forged token is refused on every path that reads one.

Paths: ``id_token_hint`` at the authorization and logout endpoints, RFC 7523 client
assertions, RFC 8693 subject tokens, bearer tokens at userinfo and at introspection.
Each path first accepts a well-formed token (so a refusal means the attack was caught,
not that the harness is broken), then refuses each attack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc.jwk import RSAKey

from tests.oidc_kit import (
    ANNE,
    CVR,
    ISSUER,
    LOGOUT_REDIRECT,
    RP_KEY,
    SAPA,
    OidcWorld,
    authorize,
    basic,
    build_template,
    login_result,
    make_world,
    query,
)

ATTACKER = RSAKey.generate_key(2048, parameters={"kid": "attacker"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _hmac(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _sign(header: dict[str, Any], claims: dict[str, Any], key: RSAKey) -> str:
    """Sign by hand: JOSE libraries refuse to produce some of these headers at all."""
    hashes_for = {"RS256": hashes.SHA256(), "RS512": hashes.SHA512()}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    private = key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes_for[header["alg"]])
    return f"{signing_input}.{_b64(signature)}"


# -- the paths --


class Path_:
    """One place that reads a JWT: how to build a good one, and whether one was accepted."""

    typ: str | None = "JWT"

    def __init__(self, world: OidcWorld) -> None:
        self.world = world

    @property
    def key(self) -> RSAKey:
        key = self.world.provider.keys.signing_key("RS256")
        assert isinstance(key, RSAKey)
        return key

    def claims(self) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": ISSUER, "sub": ANNE, "aud": "ky-web", "iat": now, "exp": now + 300}

    def accepted(self, token: str) -> bool:
        raise NotImplementedError


class AuthorizeHint(Path_):
    def accepted(self, token: str) -> bool:
        self.world.login.session = login_result()
        params = query(authorize(self.world, prompt="none", id_token_hint=token).response)
        return "code" in params


class LogoutHint(Path_):
    def accepted(self, token: str) -> bool:
        self.world.login.session = login_result()
        response = self.world.client.get(
            "/oidc/logout",
            query_string={"id_token_hint": token, "post_logout_redirect_uri": LOGOUT_REDIRECT},
        )
        return response.status_code == 302


class ClientAssertion(Path_):
    typ = None

    @property
    def key(self) -> RSAKey:
        return RP_KEY

    def claims(self) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": "ky-pkjwt",
            "sub": "ky-pkjwt",
            "aud": ISSUER + "/oidc/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(8),
        }

    def accepted(self, token: str) -> bool:
        response = self.world.client.post(
            "/oidc/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": "unknown",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": token,
            },
        )
        # Authenticated clients get as far as the refresh token (invalid_grant).
        return bool(response.get_json()["error"] == "invalid_grant")


class AccessTokenPath(Path_):
    typ = "at+jwt"

    def claims(self) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": ISSUER,
            "sub": ANNE,
            "aud": SAPA,
            "client_id": "sapa-web",
            "scope": "openid",
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(8),
            "cvr": CVR,
            "loa": "Substantial",
            "auth_time": now - 10,
        }


class SubjectToken(AccessTokenPath):
    def accepted(self, token: str) -> bool:
        response = self.world.client.post(
            "/oidc/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": token,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "resource": "https://ky.demo.test",
            },
            headers=basic("sapa-web"),
        )
        return response.status_code == 200


class Userinfo(AccessTokenPath):
    def accepted(self, token: str) -> bool:
        response = self.world.client.get(
            "/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code == 200


class Introspection(AccessTokenPath):
    def accepted(self, token: str) -> bool:
        response = self.world.client.post(
            "/oidc/introspect", data={"token": token}, headers=basic("sapa-web")
        )
        return bool(response.get_json()["active"])


PATHS = [AuthorizeHint, LogoutHint, ClientAssertion, SubjectToken, Userinfo, Introspection]


# -- the attacks --

Attack = Callable[[Path_], str]


def _header(path: Path_, **extra: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "RS256", "kid": path.key.kid}
    if path.typ:
        header["typ"] = path.typ
    header.update(extra)
    return header


def good(path: Path_) -> str:
    return _sign(_header(path), path.claims(), path.key)


def alg_none(path: Path_) -> str:
    return _unsigned(_header(path, alg="none"), path.claims())


def hs256_with_the_rsa_public_key(path: Path_) -> str:
    public_pem = path.key.as_pem(private=False)
    return _hmac(_header(path, alg="HS256"), path.claims(), public_pem)


def algorithm_not_allowed(path: Path_) -> str:
    return _sign(_header(path, alg="RS512"), path.claims(), path.key)


def unknown_kid(path: Path_) -> str:
    return _sign(_header(path, kid="attacker"), path.claims(), ATTACKER)


def attacker_key_under_a_known_kid(path: Path_) -> str:
    return _sign(_header(path), path.claims(), ATTACKER)


def embedded_jwk(path: Path_) -> str:
    jwk = ATTACKER.as_dict(private=False)
    return _sign(_header(path, kid="attacker", jwk=jwk), path.claims(), ATTACKER)


def jku_header(path: Path_) -> str:
    header = _header(path, kid="attacker", jku="https://evil.test/jwks")
    return _sign(header, path.claims(), ATTACKER)


def x5u_header(path: Path_) -> str:
    return _sign(_header(path, x5u="https://evil.test/cert.pem"), path.claims(), path.key)


def unknown_crit(path: Path_) -> str:
    header = _header(path, crit=["urn:evil"], **{"urn:evil": True})
    return _sign(header, path.claims(), path.key)


def wrong_typ(path: Path_) -> str:
    typ = "JWT" if path.typ == "at+jwt" else "at+jwt"
    return _sign(_header(path, typ=typ), path.claims(), path.key)


def logout_typ(path: Path_) -> str:
    return _sign(_header(path, typ="logout+jwt"), path.claims(), path.key)


def wrong_issuer(path: Path_) -> str:
    claims = path.claims()
    claims["iss"] = "https://evil.test" if claims["iss"] == ISSUER else "other-client"
    return _sign(_header(path), claims, path.key)


def wrong_audience(path: Path_) -> str:
    return _sign(_header(path), {**path.claims(), "aud": "https://evil.test"}, path.key)


def expired(path: Path_) -> str:
    now = int(time.time())
    return _sign(_header(path), {**path.claims(), "iat": now - 7200, "exp": now - 3600}, path.key)


def not_yet_valid(path: Path_) -> str:
    now = int(time.time())
    claims = {**path.claims(), "nbf": now + 3600, "iat": now + 3600, "exp": now + 7200}
    return _sign(_header(path), claims, path.key)


def oversized(path: Path_) -> str:
    return _sign(_header(path), {**path.claims(), "pad": "x" * 20000}, path.key)


def tampered_payload(path: Path_) -> str:
    head, _payload, signature = good(path).split(".")
    claims = {**path.claims(), "sub": "someone-else"}
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


ATTACKS: dict[str, Attack] = {
    attack.__name__: attack
    for attack in (
        alg_none,
        hs256_with_the_rsa_public_key,
        algorithm_not_allowed,
        unknown_kid,
        attacker_key_under_a_known_kid,
        embedded_jwk,
        jku_header,
        x5u_header,
        unknown_crit,
        wrong_typ,
        logout_typ,
        wrong_issuer,
        wrong_audience,
        expired,
        not_yet_valid,
        oversized,
        tampered_payload,
    )
}
# Attack/path pairs that do not apply, so they are not generated (rather than skipped):
# - an expired ID token is still a valid id_token_hint (RP-Initiated Logout §2, OIDC Core
#   §3.1.2.1), so "expired" is no attack on the two hint paths;
# - userinfo and introspection answer for each of the provider's own access tokens,
#   whichever fagsystem they are for (the audience is the resource server's check), so
#   "wrong_audience" is no attack there.
NOT_APPLICABLE = {
    ("AuthorizeHint", "expired"),
    ("LogoutHint", "expired"),
    ("Userinfo", "wrong_audience"),
    ("Introspection", "wrong_audience"),
}
FORGERIES = [
    pytest.param(path_cls, attack, id=f"{attack}-{path_cls.__name__}")
    for path_cls in PATHS
    for attack in ATTACKS
    if (path_cls.__name__, attack) not in NOT_APPLICABLE
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> OidcWorld:
    base = tmp_path_factory.mktemp("oidc-attacks")
    build_template(base / "template")
    return make_world(base / "template", base / "var")


@pytest.mark.parametrize("path_cls", PATHS, ids=lambda cls: cls.__name__)
def test_a_well_formed_token_is_accepted(world: OidcWorld, path_cls: type[Path_]) -> None:
    path = path_cls(world)
    assert path.accepted(good(path))


@pytest.mark.parametrize(("path_cls", "attack"), FORGERIES)
def test_forged_token_is_refused(world: OidcWorld, path_cls: type[Path_], attack: str) -> None:
    path = path_cls(world)
    assert not path.accepted(ATTACKS[attack](path))


def test_client_assertion_replay_is_refused(world: OidcWorld) -> None:
    path = ClientAssertion(world)
    token = good(path)
    assert path.accepted(token)
    assert not path.accepted(token)


def test_unsigned_id_token_hint_never_reaches_the_login(world: OidcWorld) -> None:
    path = AuthorizeHint(world)
    world.login.requests.clear()
    world.login.session = login_result()
    params = query(authorize(world, id_token_hint=alg_none(path)).response)
    assert params["error"] == "invalid_request"
    assert world.login.requests == []
