"""verifier.jwt.verify: claims, binding, and keys from OIDC discovery with caching."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from tests import verifier_factory as f
from verifier import InvalidToken, jwt
from verifier._http import Fetched
from verifier.jwt import JwksCache, certificate_thumbprint


def verify(token: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("jwks", f.jwks())
    return jwt.verify(token, issuer=f.JWT_ISSUER, audience=f.JWT_AUDIENCE, **kwargs)


def reason(token: str, **kwargs: Any) -> str:
    with pytest.raises(InvalidToken) as error:
        verify(token, **kwargs)
    return error.value.reason


# --- the happy paths -------------------------------------------------------------------


def test_valid_ps256_token_returns_its_claims() -> None:
    claims = f.claims()
    assert verify(f.make_jwt(claims)) == claims


def test_valid_rs256_token_is_accepted_by_an_rsa_key_without_alg() -> None:
    assert verify(f.make_jwt(alg="RS256"))["sub"] == "caseworker@ballerup.test"


def test_valid_es256_token_is_accepted_by_a_p256_key() -> None:
    keys = f.jwks(f.public_jwk(f.ec_keypair(), "ec-1"))
    token = f.make_jwt(keypair=f.ec_keypair(), kid="ec-1", alg="ES256")
    assert verify(token, jwks=keys)["iss"] == f.JWT_ISSUER


def test_key_is_chosen_by_kid_among_several() -> None:
    keys = f.jwks(f.public_jwk(f.attacker(), "old"), f.public_jwk(f.idp(), "idp-1"))
    assert verify(f.make_jwt(), jwks=keys)


def test_typ_with_application_prefix_matches() -> None:
    assert verify(f.make_jwt(typ="application/at+jwt"))


def test_other_token_type_can_be_asked_for() -> None:
    assert verify(f.make_jwt(typ="JWT"), token_type="JWT")


def test_audience_list_containing_us_is_accepted() -> None:
    assert verify(f.make_jwt(f.claims(aud=["https://other.test", f.JWT_AUDIENCE])))


def test_privileges_from_a_verified_token() -> None:
    from verifier.privileges import from_priv

    claims = verify(f.make_jwt())
    assert from_priv(claims["priv"]).allows(f.LAES_SAG, cvr=f.CVR, kle="27.35.04")


# --- claims ----------------------------------------------------------------------------


def test_wrong_issuer_is_rejected() -> None:
    assert reason(f.make_jwt(f.claims(iss="https://evil.test"))) == "wrong_issuer"


def test_wrong_audience_is_rejected() -> None:
    assert reason(f.make_jwt(f.claims(aud="https://sapa.test/api"))) == "wrong_audience"


def test_missing_audience_is_rejected() -> None:
    assert reason(f.make_jwt(f.claims(aud=None))) == "wrong_audience"


def test_expired_token_is_rejected() -> None:
    now = int(time.time())
    assert reason(f.make_jwt(f.claims(exp=now - 31, iat=now - 600, nbf=now - 600))) == "expired"


def test_expired_within_leeway_is_accepted() -> None:
    now = int(time.time())
    assert verify(f.make_jwt(f.claims(exp=now - 10, iat=now - 600, nbf=now - 600)))


def test_leeway_is_configurable_down_to_zero() -> None:
    now = int(time.time())
    token = f.make_jwt(f.claims(exp=now - 5, iat=now - 600, nbf=now - 600))
    assert reason(token, leeway=0) == "expired"


def test_leeway_above_sixty_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="leeway"):
        verify(f.make_jwt(), leeway=61)


def test_not_yet_valid_token_is_rejected() -> None:
    now = int(time.time())
    assert reason(f.make_jwt(f.claims(nbf=now + 120))) == "not_yet_valid"


def test_token_issued_in_the_future_is_rejected() -> None:
    now = int(time.time())
    assert reason(f.make_jwt(f.claims(iat=now + 120, nbf=None))) == "not_yet_valid"


def test_token_without_exp_is_rejected() -> None:
    assert reason(f.make_jwt(f.claims(exp=None))) == "missing_claim"


def test_token_without_iat_is_rejected() -> None:
    assert reason(f.make_jwt(f.claims(iat=None))) == "missing_claim"


def test_boolean_exp_is_rejected() -> None:
    assert reason(f.make_jwt(f.claims(exp=True))) == "malformed"


def test_exactly_one_key_source_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        jwt.verify(f.make_jwt(), issuer=f.JWT_ISSUER, audience=f.JWT_AUDIENCE)


# --- certificate binding (RFC 8705) ----------------------------------------------------


def bound_token() -> str:
    client = f.rsa_keypair("client")
    return f.make_jwt(f.claims(cnf={"x5t#S256": certificate_thumbprint(client.cert)}))


def test_bound_token_with_its_certificate_is_accepted() -> None:
    assert verify(bound_token(), client_cert=f.rsa_keypair("client").cert)


def test_bound_token_accepts_pem_and_der_certificates() -> None:
    client = f.rsa_keypair("client")
    assert verify(bound_token(), client_cert=client.cert_pem)
    assert verify(bound_token(), client_cert=client.cert_der)
    assert verify(bound_token(), client_cert=client.cert_pem.decode())


def test_bound_token_with_another_certificate_is_rejected() -> None:
    assert reason(bound_token(), client_cert=f.attacker().cert) == "cnf_mismatch"


def test_bound_token_without_a_certificate_is_rejected() -> None:
    assert reason(bound_token()) == "cnf_mismatch"


def test_unbound_token_with_a_certificate_is_rejected() -> None:
    assert reason(f.make_jwt(), client_cert=f.rsa_keypair("client").cert) == "cnf_mismatch"


# --- discovery and the JWKS cache ------------------------------------------------------


class IssuerServer(BaseHTTPRequestHandler):
    """Discovery and JWKS on 127.0.0.1, counting requests."""

    documents: ClassVar[dict[str, tuple[dict[str, Any], str]]] = {}
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        type(self).hits[self.path] = type(self).hits.get(self.path, 0) + 1
        document, cache_control = type(self).documents[self.path]
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", cache_control)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def issuer_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), IssuerServer)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    IssuerServer.hits = {}
    IssuerServer.documents = {
        "/.well-known/openid-configuration": (
            {"issuer": f.JWT_ISSUER, "jwks_uri": base + "/jwks"},
            "max-age=3600",
        ),
        "/jwks": (f.jwks(), "public, max-age=600"),
    }
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setattr(jwt, "DEFAULT_CACHE", JwksCache())
    yield base + "/.well-known/openid-configuration"
    server.shutdown()
    server.server_close()


def test_keys_are_fetched_from_discovery(issuer_server: str) -> None:
    assert verify(f.make_jwt(), jwks=None, discovery_url=issuer_server)


def test_jwks_is_cached_between_verifications(issuer_server: str) -> None:
    for _ in range(3):
        verify(f.make_jwt(), jwks=None, discovery_url=issuer_server)
    assert IssuerServer.hits == {"/.well-known/openid-configuration": 1, "/jwks": 1}


def test_discovery_for_another_issuer_is_rejected(issuer_server: str) -> None:
    document, cache = IssuerServer.documents["/.well-known/openid-configuration"]
    IssuerServer.documents["/.well-known/openid-configuration"] = (
        {**document, "issuer": "https://evil.test"},
        cache,
    )
    assert reason(f.make_jwt(), jwks=None, discovery_url=issuer_server) == "wrong_issuer"


def test_plain_http_discovery_to_a_remote_host_is_refused() -> None:
    cache = JwksCache()
    with pytest.raises(InvalidToken) as error:
        cache.key_set("http://idp.example/.well-known/openid-configuration", issuer=f.JWT_ISSUER)
    assert error.value.reason == "jwks_unavailable"


class FakeIssuer:
    """A fetcher for JwksCache that serves whatever the test sets, with a manual clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.jwks: dict[str, Any] = f.jwks()
        self.jwks_cache_control = "max-age=600"
        self.fetches: list[str] = []

    def fetch(self, url: str) -> Fetched:
        self.fetches.append(url)
        if url.endswith("openid-configuration"):
            document = {"issuer": f.JWT_ISSUER, "jwks_uri": "https://idp.test/jwks"}
            return Fetched(json.dumps(document).encode(), {"cache-control": "max-age=86400"})
        return Fetched(json.dumps(self.jwks).encode(), {"cache-control": self.jwks_cache_control})

    def jwks_fetches(self) -> int:
        return sum(1 for url in self.fetches if url.endswith("/jwks"))


DISCOVERY = "https://idp.test/.well-known/openid-configuration"


@pytest.fixture
def fake_issuer(monkeypatch: pytest.MonkeyPatch) -> FakeIssuer:
    issuer = FakeIssuer()
    monkeypatch.setattr(
        jwt, "DEFAULT_CACHE", JwksCache(fetch=issuer.fetch, clock=lambda: issuer.now)
    )
    return issuer


def test_jwks_is_refetched_after_its_max_age(fake_issuer: FakeIssuer) -> None:
    verify(f.make_jwt(), jwks=None, discovery_url=DISCOVERY)
    fake_issuer.now += 601
    verify(f.make_jwt(), jwks=None, discovery_url=DISCOVERY)
    assert fake_issuer.jwks_fetches() == 2


def test_jwks_with_no_cache_is_refetched_every_time(fake_issuer: FakeIssuer) -> None:
    fake_issuer.jwks_cache_control = "no-cache"
    verify(f.make_jwt(), jwks=None, discovery_url=DISCOVERY)
    fake_issuer.now += 1
    verify(f.make_jwt(), jwks=None, discovery_url=DISCOVERY)
    assert fake_issuer.jwks_fetches() == 2


def test_unknown_kid_refetches_the_jwks_once(fake_issuer: FakeIssuer) -> None:
    verify(f.make_jwt(), jwks=None, discovery_url=DISCOVERY)
    fake_issuer.now += 31
    fake_issuer.jwks = f.jwks(
        f.public_jwk(f.idp(), "idp-1"), f.public_jwk(f.rsa_keypair("new"), "idp-2")
    )
    token = f.make_jwt(keypair=f.rsa_keypair("new"), kid="idp-2")
    assert verify(token, jwks=None, discovery_url=DISCOVERY)
    assert fake_issuer.jwks_fetches() == 2


def test_unknown_kid_refetch_is_rate_limited(fake_issuer: FakeIssuer) -> None:
    verify(f.make_jwt(), jwks=None, discovery_url=DISCOVERY)
    fake_issuer.now += 31
    for _ in range(5):
        assert (
            reason(f.make_jwt(kid="made-up"), jwks=None, discovery_url=DISCOVERY) == "unknown_kid"
        )
        fake_issuer.now += 1
    assert fake_issuer.jwks_fetches() == 2


def test_unknown_kid_right_after_a_fetch_does_not_refetch(fake_issuer: FakeIssuer) -> None:
    verify(f.make_jwt(), jwks=None, discovery_url=DISCOVERY)
    assert reason(f.make_jwt(kid="made-up"), jwks=None, discovery_url=DISCOVERY) == "unknown_kid"
    assert fake_issuer.jwks_fetches() == 1


def test_unreachable_issuer_is_reported_as_jwks_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(url: str) -> Fetched:
        raise OSError("connection refused")

    monkeypatch.setattr(jwt, "DEFAULT_CACHE", JwksCache(fetch=down))
    assert reason(f.make_jwt(), jwks=None, discovery_url=DISCOVERY) == "jwks_unavailable"
