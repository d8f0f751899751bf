"""Small pieces of the provider: request parsing, claims, clients, certificates."""

from __future__ import annotations

import datetime as dt
import threading
import time
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from authlib.oauth2.rfc6749 import InvalidScopeError

from idp.loa import LoA
from idp.oidc.claims import ACR_PREFIX, acr_for, loa_from_acr_values, required_loa, userinfo_claims
from idp.oidc.client_credentials import parse_kombit_scope
from idp.oidc.clients import Client, SecretVerifier
from idp.oidc.errors import safe_description
from idp.oidc.mtls import certificate_matches, thumbprint
from store.models import User
from tests.oidc_kit import CLIENT_CERT, CLIENT_CERT_PEM, OTHER_CERT, TLS_DN


def client(**values: object) -> Client:
    base: dict[str, object] = {
        "client_id": "c",
        "fagsystem_id": "KY",
        "audience": "https://ky",
        "personal_data": True,
        "min_loa": "Low",
        "redirect_uris": ("https://rp/cb",),
        "post_logout_redirect_uris": (),
        "auth_method": "client_secret_basic",
        "secret_hash": None,
        "grant_types": ("authorization_code",),
        "jwks": None,
        "tls_subject_dn": None,
        "backchannel_logout_uri": None,
        "signing_alg": "RS256",
    }
    base.update(values)
    return Client(**base)  # type: ignore[arg-type]


# -- KOMBIT's scope form --


@pytest.mark.parametrize(
    "scope",
    [
        "entityid:https://org.test,anvenderkontekst:29189846",
        "anvenderkontekst:29189846,entityid:https://org.test",
        "entity_id:https://org.test, anvenderkontekst:29189846",
        "entityid:https://org.test anvenderkontekst:29189846",
    ],
)
def test_kombit_scope_is_parsed_in_any_order_and_spelling(scope: str) -> None:
    target = parse_kombit_scope(scope)
    assert target is not None
    assert (target.service, target.cvr, target.form) == ("https://org.test", "29189846", "kombit")


def test_a_standard_scope_is_not_kombits() -> None:
    assert parse_kombit_scope("openid profile") is None


@pytest.mark.parametrize(
    "scope",
    ["entityid:https://a", "anvenderkontekst:1", "entityid:a,entityid:b,anvenderkontekst:1"],
)
def test_an_incomplete_kombit_scope_is_invalid(scope: str) -> None:
    with pytest.raises(InvalidScopeError):
        parse_kombit_scope(scope)


# -- assurance levels --


def test_acr_values_take_the_lowest_recognised_level() -> None:
    assert loa_from_acr_values(f"{ACR_PREFIX}High {ACR_PREFIX}Substantial junk") is LoA.SUBSTANTIAL
    assert loa_from_acr_values("Low") is LoA.LOW
    assert loa_from_acr_values("urn:unknown") is None


def test_the_fagsystem_minimum_is_never_lowered() -> None:
    assert required_loa("Substantial", ACR_PREFIX + "Low") is LoA.SUBSTANTIAL
    assert required_loa("Low", ACR_PREFIX + "High") is LoA.HIGH
    assert required_loa("Low", None) is LoA.LOW


def test_acr_uri_for_a_level() -> None:
    assert acr_for("Substantial") == "https://data.gov.dk/concept/core/nsis/loa/Substantial"


# -- userinfo claims --


def test_userinfo_claims_follow_scope_and_personal_data() -> None:
    user = User(id="u", cvr="1", name="N", given_name="G", surname="S", email="e@x")
    assert userinfo_claims(user, ["openid"], True) == {"sub": "u", "cvr": "1"}
    assert userinfo_claims(user, ["profile"], True)["family_name"] == "S"
    assert userinfo_claims(user, ["profile", "email"], False) == {"sub": "u", "cvr": "1"}


# -- clients --


def test_redirect_uris_match_exactly() -> None:
    c = client()
    assert c.check_redirect_uri("https://rp/cb")
    for other in ("https://rp/cb/", "https://rp/cb?x", "https://RP/cb", "https://rp/c"):
        assert not c.check_redirect_uri(other)


def test_default_redirect_only_when_unambiguous() -> None:
    assert client().get_default_redirect_uri() == "https://rp/cb"
    assert client(redirect_uris=("a", "b")).get_default_redirect_uri() is None


def test_allowed_scope_drops_unknown_and_duplicates_keeping_order() -> None:
    assert client().get_allowed_scope("email openid x email") == "email openid"
    assert client().get_allowed_scope(None) == ""


def test_auth_method_is_the_registered_one_only() -> None:
    c = client(auth_method="private_key_jwt")
    assert c.check_endpoint_auth_method("private_key_jwt", "token")
    assert not c.check_endpoint_auth_method("client_secret_basic", "token")


def test_response_type_code_needs_the_code_grant() -> None:
    assert client().check_response_type("code")
    assert not client().check_response_type("token")
    assert not client(grant_types=("client_credentials",)).check_response_type("code")


def test_secret_verifier_checks_argon2_and_remembers_successes_only() -> None:
    stored = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("right")
    verifier = SecretVerifier()
    assert verifier.verify(stored, "right") and verifier.verify(stored, "right")
    assert not verifier.verify(stored, "wrong")
    assert not verifier.verify(None, "right") and not verifier.verify(stored, "")
    assert not verifier.verify("not-a-hash", "right")


class _GatedHasher:
    """argon2 that counts its calls and holds each one until the test opens the gate."""

    def __init__(self) -> None:
        self.real = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def verify(self, stored: str, secret: str) -> bool:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(10)
        return self.real.verify(stored, secret)


def _verify_in_threads(
    verifier: SecretVerifier, stored: str, secret: str, n: int
) -> tuple[list[threading.Thread], list[bool | None]]:
    results: list[bool | None] = [None] * n

    def run(i: int) -> None:
        results[i] = verifier.verify(stored, secret)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


@pytest.mark.parametrize(("secret", "expected"), [("right", True), ("wrong", False)])
def test_concurrent_requests_without_a_cached_success_share_one_argon2_run(
    secret: str, expected: bool
) -> None:
    # The soak's one-second stall every five minutes: each request in flight ran argon2.
    hasher = _GatedHasher()
    stored = hasher.real.hash("right")
    verifier = SecretVerifier()
    verifier._hasher = hasher  # type: ignore[assignment]
    threads, results = _verify_in_threads(verifier, stored, secret, 8)
    assert hasher.entered.wait(10)
    time.sleep(0.1)  # let the other seven arrive while the first is verifying
    hasher.gate.set()
    for t in threads:
        t.join(10)
    assert results == [expected] * 8
    assert hasher.calls == 1
    # A failure is not remembered: the next request with a wrong secret verifies again.
    assert verifier.verify(stored, secret) is expected
    assert hasher.calls == (1 if expected else 2)


def test_an_ageing_success_is_renewed_by_one_request_while_the_others_go_on() -> None:
    hasher = _GatedHasher()
    stored = hasher.real.hash("right")
    verifier = SecretVerifier(ttl=2.0, refresh=0.6)
    verifier._hasher = hasher  # type: ignore[assignment]
    hasher.gate.set()
    assert verifier.verify(stored, "right") and hasher.calls == 1
    time.sleep(1.5)  # now inside the last 0.6 s of the entry's life
    hasher.gate.clear()
    hasher.entered.clear()
    threads, results = _verify_in_threads(verifier, stored, "right", 1)
    assert hasher.entered.wait(10)  # the renewal is under way and held
    started = time.monotonic()
    assert all(verifier.verify(stored, "right") for _ in range(50))
    assert time.monotonic() - started < 0.5  # nobody waited for the renewal
    assert hasher.calls == 2
    hasher.gate.set()
    threads[0].join(10)
    assert results == [True]
    time.sleep(0.7)  # past the first entry's life: the renewed one still answers
    assert verifier.verify(stored, "right") and hasher.calls == 2


# -- certificates --


def test_certificate_matches_registered_dn() -> None:
    assert certificate_matches(CLIENT_CERT, TLS_DN, None)
    assert not certificate_matches(OTHER_CERT, TLS_DN, None)
    assert not certificate_matches(CLIENT_CERT, None, None)


def test_pinned_certificates_must_be_the_presented_one() -> None:
    import base64

    from cryptography.hazmat.primitives import serialization

    der = OTHER_CERT.public_bytes(serialization.Encoding.DER)
    pinned = {"keys": [{"kty": "RSA", "x5c": [base64.b64encode(der).decode()]}]}
    assert not certificate_matches(CLIENT_CERT, TLS_DN, pinned)
    own = CLIENT_CERT.public_bytes(serialization.Encoding.DER)
    assert certificate_matches(
        CLIENT_CERT, TLS_DN, {"keys": [{"x5c": [base64.b64encode(own).decode()]}]}
    )


def test_thumbprint_is_base64url_sha256_of_der() -> None:
    import base64
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = CLIENT_CERT.public_bytes(serialization.Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert thumbprint(CLIENT_CERT) == expected
    assert CLIENT_CERT_PEM.startswith("-----BEGIN CERTIFICATE")


def test_expired_certificate_does_not_match(monkeypatch: pytest.MonkeyPatch) -> None:
    import idp.oidc.mtls as mtls

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    monkeypatch.setattr(
        mtls, "dt", SimpleNamespace(datetime=SimpleNamespace(now=lambda tz: later), UTC=dt.UTC)
    )
    assert not certificate_matches(CLIENT_CERT, TLS_DN, None)


def test_error_descriptions_are_made_legal() -> None:
    assert safe_description('kid "x" æ\\') == "kid ?x? ??"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    from settings import SettingsError, load_settings

    assert load_settings({"STS_TLS_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).tls_trusted_proxies == [
        "10.0.0.0/8",
        "::1",
    ]
    with pytest.raises(SettingsError, match="STS_TLS_TRUSTED_PROXIES"):
        load_settings({"STS_TLS_TRUSTED_PROXIES": "proxy.example"})
