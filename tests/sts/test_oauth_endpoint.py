"""C: the OAuth endpoint (PS256 holder-of-key JWT) and the certificate publication.

The JWT is verified as a KOMBIT REST service does: PS256 only, against the keys from
``/runtime/oauth2/certs.idp``, then ``cnf.x5t#S256`` against the TLS client certificate.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.sts.kit import (
    CERTS_PATH,
    CVR,
    EXT_ROLE,
    OAUTH_PATH,
    OTHER_CVR,
    OTHER_SERVICE,
    SERVICE,
    SERVICE_ROLE,
    KeyPair,
    StsWorld,
    set_agreement_status,
    tls,
)


def scope(service: str = SERVICE, cvr: str = CVR, obo: str | None = None) -> str:
    value = f"entityid:{service},anvenderkontekst:{cvr}"
    return value + (f",onbehalfof:{obo}" if obo else "")


def form(**extra: str) -> dict[str, str]:
    return {"client_id": SERVICE, "grant_type": "client_credentials", "scope": scope(), **extra}


def jwks(world: StsWorld) -> dict[str, Any]:
    response = world.client.get(CERTS_PATH)
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def verify(world: StsWorld, token: str, client: KeyPair) -> dict[str, Any]:
    keys = KeySet.import_key_set(jwks(world))  # type: ignore[arg-type]
    decoded = jwt.decode(token, keys, algorithms=["PS256"])
    assert decoded.header["alg"] == "PS256" and decoded.header["typ"] == "JWT"
    assert decoded.header["kid"] == decoded.header["x5t"]
    claims = dict(decoded.claims)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(client.der).digest()).rstrip(b"=")
    assert claims["cnf"] == {"x5t#S256": thumbprint.decode()}
    return claims


def priv(claims: dict[str, Any]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = json.loads(base64.b64decode(claims["priv"]))["privilegegroups"]
    return groups


@pytest.mark.parametrize("encoding", ["query", "form", "json"])
def test_every_parameter_encoding_gives_a_holder_of_key_jwt(
    sts_world: StsWorld, encoding: str
) -> None:
    pki = sts_world.pki
    kwargs: dict[str, Any] = {"query": {"query_string": form()}, "form": {"data": form()}}.get(
        encoding, {"json": form()}
    )
    response = sts_world.client.post(OAUTH_PATH, environ_base=tls(pki.sapa), **kwargs)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Holder-of-key" and body["expires_in"] == 28800
    claims = verify(sts_world, body["access_token"], pki.sapa)
    assert claims["iss"] == "https://sts.test/runtime/"  # KOMBIT's trailing slash
    assert claims["aud"] == SERVICE and claims["sub"] == SERVICE and claims["cvr"] == CVR
    assert claims["exp"] - claims["iat"] == 28800
    groups = priv(claims)
    assert [g["privilege"] for g in groups] == [SERVICE_ROLE]
    assert groups[0]["scope"] == f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"
    assert groups[0]["constraints"] == [{"name": "urn:x:fysiskslet", "value": "Nej"}]


def test_the_jwt_is_bound_to_the_presenting_certificate(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    response = sts_world.client.post(OAUTH_PATH, data=form(), environ_base=tls(pki.sapa))
    token = response.get_json()["access_token"]
    with pytest.raises(AssertionError):
        verify(sts_world, token, pki.sapa_next)  # another certificate: cnf does not match


def test_the_published_certificates_are_the_signing_ones(sts_world: StsWorld) -> None:
    keys = jwks(sts_world)["keys"]
    signing = sts_world.signing_certificate()
    published = [x509.load_der_x509_certificate(base64.b64decode(k["x5c"][0])) for k in keys]
    assert signing in published
    for key, certificate in zip(keys, published, strict=True):
        sha1 = hashlib.sha1(certificate.public_bytes(Encoding.DER), usedforsecurity=False).digest()
        assert key["kid"] == key["x5t"] == base64.urlsafe_b64encode(sha1).rstrip(b"=").decode()
        assert key["kty"] == "RSA" and "d" not in key


def test_proxy_on_behalf_of_carries_the_proxied_systems_privileges(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    sha1 = hashlib.sha1(pki.ext.der, usedforsecurity=False).hexdigest()
    response = sts_world.client.post(
        OAUTH_PATH, data=form(scope=scope(obo=sha1)), environ_base=tls(pki.proxy)
    )
    assert response.status_code == 200, response.get_json()
    claims = verify(sts_world, response.get_json()["access_token"], pki.proxy)
    assert [g["privilege"] for g in priv(claims)] == [EXT_ROLE]


def test_on_behalf_of_without_the_right_is_refused(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    sha1 = hashlib.sha1(pki.ext.der, usedforsecurity=False).hexdigest()
    response = sts_world.client.post(
        OAUTH_PATH, data=form(scope=scope(obo=sha1)), environ_base=tls(pki.noobo)
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"
    assert "access_token" not in response.get_json()


# -- refusals (RFC 6749 JSON) ---------------------------------------------------------------


def _error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"] == error and body["error_description"]
    assert "access_token" not in body
    assert response.headers["Cache-Control"] == "no-store"


def test_without_a_certificate_the_client_is_invalid(sts_world: StsWorld) -> None:
    _error(sts_world.client.post(OAUTH_PATH, data=form()), 401, "invalid_client")


@pytest.mark.parametrize("who", ["unknown", "expired", "untrusted", "revoked"])
def test_an_untrusted_certificate_is_an_invalid_client(sts_world: StsWorld, who: str) -> None:
    pair = getattr(sts_world.pki, who)
    _error(
        sts_world.client.post(OAUTH_PATH, data=form(), environ_base=tls(pair)),
        401,
        "invalid_client",
    )


def test_an_empty_client_id_is_an_invalid_client(sts_world: StsWorld) -> None:
    response = sts_world.client.post(
        OAUTH_PATH, data=form(client_id=""), environ_base=tls(sts_world.pki.sapa)
    )
    _error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "value",
    [
        scope(cvr=OTHER_CVR),  # agreement only requested
        scope(service=OTHER_SERVICE),  # no agreement
        scope(service=SERVICE + "/"),  # not the entityID
        f"entityid:{SERVICE}",  # no anvenderkontekst
        f"anvenderkontekst:{CVR}",  # no entityid
        f"entityid:{SERVICE},anvenderkontekst:{CVR},anvenderkontekst:{OTHER_CVR}",
        scope(cvr="12"),
        scope(obo="not-a-thumbprint"),
        scope(obo="0" * 40),  # no such registered certificate
        "",
    ],
)
def test_no_agreement_or_a_bad_scope_is_an_invalid_scope(sts_world: StsWorld, value: str) -> None:
    response = sts_world.client.post(
        OAUTH_PATH, data=form(scope=value), environ_base=tls(sts_world.pki.sapa)
    )
    _error(response, 400, "invalid_scope")


def test_another_grant_type_is_unsupported(sts_world: StsWorld) -> None:
    response = sts_world.client.post(
        OAUTH_PATH, data=form(grant_type="password"), environ_base=tls(sts_world.pki.sapa)
    )
    _error(response, 400, "unsupported_grant_type")


def test_a_revoked_agreement_is_refused_at_once(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    assert (
        sts_world.client.post(OAUTH_PATH, data=form(), environ_base=tls(pki.sapa)).status_code
        == 200
    )
    set_agreement_status(sts_world, "sa-sapa-demo", "revoked")
    response = sts_world.client.post(OAUTH_PATH, data=form(), environ_base=tls(pki.sapa))
    _error(response, 400, "invalid_scope")
