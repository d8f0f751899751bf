"""Discovery, JWKS, userinfo, introspection, revocation, logout and key rotation."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.oidc.backchannel_logout import EVENT
from tests.oidc_kit import (
    ANNE,
    CVR,
    LOGOUT_REDIRECT,
    OidcWorld,
    authorize,
    basic,
    build_template,
    decode,
    logged_in_tokens,
    login_result,
    make_world,
    query,
    server_keys,
    set_client,
    token,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oidc") / "template"
    build_template(path)
    return path


@pytest.fixture
def world(template: Path, tmp_path: Path) -> OidcWorld:
    return make_world(template, tmp_path / "var")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# -- discovery and keys --


def test_discovery_validates_against_rfc8414_and_oidc_discovery(world: OidcWorld) -> None:
    document = world.client.get("/.well-known/openid-configuration").get_json()
    AuthorizationServerMetadata(document).validate()
    OpenIDProviderMetadata(document).validate()
    assert document == world.client.get("/.well-known/oauth-authorization-server").get_json()
    assert document["issuer"] == "http://idp.test"


def test_every_advertised_endpoint_exists(world: OidcWorld) -> None:
    document = world.client.get("/.well-known/openid-configuration").get_json()
    for name, url in document.items():
        if not (name.endswith("_endpoint") or name == "jwks_uri"):
            continue
        path = url.removeprefix(document["issuer"])
        get, post = world.client.get(path), world.client.post(path)
        assert 404 not in (get.status_code, post.status_code), name
        assert get.status_code < 500 and post.status_code < 500, name


def test_nothing_unsupported_is_advertised(world: OidcWorld) -> None:
    document = world.client.get("/.well-known/openid-configuration").get_json()
    assert document["response_types_supported"] == ["code"]
    assert "implicit" not in document["grant_types_supported"]
    assert "password" not in document["grant_types_supported"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    for key, values in document.items():
        if key.endswith("alg_values_supported"):
            assert set(values) <= {"RS256", "PS256", "ES256"}, key


def test_every_advertised_signing_algorithm_works(world: OidcWorld) -> None:
    document = world.client.get("/.well-known/openid-configuration").get_json()
    clients = {"RS256": "ky-web", "PS256": "ky-ps256", "ES256": "ky-es256"}
    for alg in document["id_token_signing_alg_values_supported"]:
        world.login.session = None
        tokens = logged_in_tokens(world, clients[alg])
        assert decode(world, tokens["id_token"]).header["alg"] == alg


def test_every_advertised_auth_method_has_a_working_client(world: OidcWorld) -> None:
    document = world.client.get("/.well-known/openid-configuration").get_json()
    from idp.oidc.clients import AUTH_METHODS

    assert set(document["token_endpoint_auth_methods_supported"]) == set(AUTH_METHODS)


def test_jwks_publishes_active_and_next_keys_without_private_parts(world: OidcWorld) -> None:
    keys = world.client.get("/oidc/jwks").get_json()["keys"]
    assert {key["kty"] for key in keys} == {"RSA", "EC"}
    assert len(keys) == 4  # active and next of each type
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig" and key["kid"]


def test_key_rotation_keeps_old_tokens_valid_until_they_expire(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    old_kid = decode(world, tokens["access_token"]).header["kid"]
    with world.database.session() as session:
        world.provider.services.keys.rotate(session, actor="test")
    world.provider.keys.invalidate()
    assert old_kid in {key["kid"] for key in world.client.get("/oidc/jwks").get_json()["keys"]}
    assert (
        world.client.get("/oidc/userinfo", headers=bearer(tokens["access_token"])).status_code
        == 200
    )
    decode(world, tokens["id_token"])  # still verifies against the published keys
    world.login.session = None
    fresh = logged_in_tokens(world)
    assert decode(world, fresh["access_token"]).header["kid"] != old_kid


# -- userinfo --


def test_userinfo_by_get_post_header_and_post_body(world: OidcWorld) -> None:
    access = logged_in_tokens(world)["access_token"]
    expected = {
        "sub": ANNE,
        "cvr": CVR,
        "name": "Anne Sagsbehandler",
        "given_name": "Anne",
        "family_name": "Sagsbehandler",
        "email": "anne@demo.dk",
    }
    assert world.client.get("/oidc/userinfo", headers=bearer(access)).get_json() == expected
    assert world.client.post("/oidc/userinfo", headers=bearer(access)).get_json() == expected
    body = world.client.post("/oidc/userinfo", data={"access_token": access})
    assert body.get_json() == expected


def test_userinfo_follows_the_scopes(world: OidcWorld) -> None:
    access = logged_in_tokens(world, scope="openid email")["access_token"]
    claims = world.client.get("/oidc/userinfo", headers=bearer(access)).get_json()
    assert claims == {"sub": ANNE, "cvr": CVR, "email": "anne@demo.dk"}


def test_userinfo_gives_no_personal_data_to_a_fagsystem_without_it(world: OidcWorld) -> None:
    access = logged_in_tokens(world, "anon-web")["access_token"]
    claims = world.client.get("/oidc/userinfo", headers=bearer(access)).get_json()
    assert claims == {"sub": ANNE, "cvr": CVR}


def test_userinfo_needs_the_openid_scope(world: OidcWorld) -> None:
    access = logged_in_tokens(world, scope="profile")["access_token"]
    response = world.client.get("/oidc/userinfo", headers=bearer(access))
    assert response.status_code == 403


def test_userinfo_refuses_an_id_token(world: OidcWorld) -> None:
    id_token = logged_in_tokens(world)["id_token"]
    response = world.client.get("/oidc/userinfo", headers=bearer(id_token))
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_userinfo_without_a_token_is_401(world: OidcWorld) -> None:
    assert world.client.get("/oidc/userinfo").status_code == 401


# -- introspection and revocation --


def test_introspection_by_the_audience_shows_the_token(world: OidcWorld) -> None:
    access = logged_in_tokens(world)["access_token"]
    result = world.client.post(
        "/oidc/introspect", data={"token": access}, headers=basic("ky-system")
    ).get_json()
    assert result["active"] is True and result["sub"] == ANNE and result["cvr"] == CVR
    assert result["client_id"] == "ky-web" and result["token_type"] == "Bearer"


def test_introspection_by_an_unrelated_client_says_inactive(world: OidcWorld) -> None:
    access = logged_in_tokens(world)["access_token"]
    result = world.client.post(
        "/oidc/introspect", data={"token": access}, headers=basic("sapa-system")
    )
    assert result.get_json() == {"active": False}


def test_introspection_needs_client_authentication(world: OidcWorld) -> None:
    access = logged_in_tokens(world)["access_token"]
    response = world.client.post("/oidc/introspect", data={"token": access})
    assert response.status_code == 401
    public = world.client.post("/oidc/introspect", data={"token": access, "client_id": "ky-public"})
    assert public.status_code in (400, 401)


def test_introspection_of_a_refresh_token(world: OidcWorld) -> None:
    refresh = logged_in_tokens(world)["refresh_token"]
    result = world.client.post(
        "/oidc/introspect", data={"token": refresh}, headers=basic("ky-web")
    ).get_json()
    assert result["active"] is True and result["token_type"] == "refresh_token"


def test_revoked_access_token_is_inactive_and_refused(world: OidcWorld) -> None:
    access = logged_in_tokens(world)["access_token"]
    response = world.client.post("/oidc/revoke", data={"token": access}, headers=basic("ky-web"))
    assert response.status_code == 200
    result = world.client.post("/oidc/introspect", data={"token": access}, headers=basic("ky-web"))
    assert result.get_json() == {"active": False}
    assert world.client.get("/oidc/userinfo", headers=bearer(access)).status_code == 401


def test_revoking_a_refresh_token_ends_its_family(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    world.client.post(
        "/oidc/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers=basic("ky-web"),
    )
    refreshed = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.get_json()["error"] == "invalid_grant"
    assert (
        world.client.get("/oidc/userinfo", headers=bearer(tokens["access_token"])).status_code
        == 401
    )


def test_revoking_an_unknown_token_answers_200(world: OidcWorld) -> None:
    response = world.client.post("/oidc/revoke", data={"token": "nope"}, headers=basic("ky-web"))
    assert response.status_code == 200


def test_a_client_cannot_revoke_another_clients_token(world: OidcWorld) -> None:
    access = logged_in_tokens(world)["access_token"]
    response = world.client.post(
        "/oidc/revoke",
        data={"token": access, "client_id": "ky-post", "client_secret": "s3cret-for-tests-only"},
    )
    assert response.status_code == 400
    assert world.client.get("/oidc/userinfo", headers=bearer(access)).status_code == 200


# -- logout --


def test_rp_logout_redirects_only_to_a_registered_uri_with_state(world: OidcWorld) -> None:
    id_token = logged_in_tokens(world)["id_token"]
    response = world.client.get(
        "/oidc/logout",
        query_string={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": LOGOUT_REDIRECT,
            "state": "xyz",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_REDIRECT + "?state=xyz"
    assert world.login.session is None


def test_rp_logout_never_redirects_to_an_unregistered_uri(world: OidcWorld) -> None:
    id_token = logged_in_tokens(world)["id_token"]
    for target in ("https://evil.test/", LOGOUT_REDIRECT + "/x", "https://rp.test/bye?x=1"):
        world.login.session = login_result()
        response = world.client.get(
            "/oidc/logout",
            query_string={"id_token_hint": id_token, "post_logout_redirect_uri": target},
        )
        assert "Location" not in response.headers, target
        assert response.status_code == 200


def test_rp_logout_without_id_token_hint_asks_first_and_never_redirects(world: OidcWorld) -> None:
    world.login.session = login_result()
    query_string = {"client_id": "ky-web", "post_logout_redirect_uri": LOGOUT_REDIRECT}
    page = world.client.get("/oidc/logout", query_string=query_string)
    assert page.status_code == 200 and world.login.session is not None
    html = page.get_data(as_text=True)
    csrf = html.split('name="csrf" value="')[1].split('"')[0]
    forged = world.client.post("/oidc/logout", data={**query_string, "csrf": "forged"})
    assert forged.status_code == 200 and world.login.session is not None
    confirmed = world.client.post("/oidc/logout", data={**query_string, "csrf": csrf})
    assert world.login.session is None
    assert "Location" not in confirmed.headers


def test_rp_logout_with_another_users_id_token_hint_asks_first(world: OidcWorld) -> None:
    attackers = logged_in_tokens(world)["id_token"]  # the attacker's own, valid hint
    world.login.session = login_result(user_id=str(uuid.uuid4()), sid="sid-victim")
    page = world.client.get(
        "/oidc/logout",
        query_string={"id_token_hint": attackers, "post_logout_redirect_uri": LOGOUT_REDIRECT},
    )
    assert page.status_code == 200 and "Location" not in page.headers
    assert world.login.session is not None and 'name="csrf"' in page.get_data(as_text=True)


def test_rp_logout_with_the_users_hint_from_another_session_asks_first(world: OidcWorld) -> None:
    earlier = logged_in_tokens(world)["id_token"]
    world.login.session = login_result(sid="sid-2")  # the same person, a later session
    page = world.client.get(
        "/oidc/logout",
        query_string={"id_token_hint": earlier, "post_logout_redirect_uri": LOGOUT_REDIRECT},
    )
    assert page.status_code == 200 and "Location" not in page.headers
    assert world.login.session is not None


def test_rp_logout_confirmed_with_another_users_hint_redirects(world: OidcWorld) -> None:
    attackers = logged_in_tokens(world)["id_token"]
    world.login.session = login_result(user_id=str(uuid.uuid4()), sid="sid-victim")
    query_string = {"id_token_hint": attackers, "post_logout_redirect_uri": LOGOUT_REDIRECT}
    page = world.client.get("/oidc/logout", query_string=query_string)
    csrf = page.get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
    confirmed = world.client.post("/oidc/logout", data={**query_string, "csrf": csrf})
    assert world.login.session is None
    assert confirmed.headers["Location"] == LOGOUT_REDIRECT


def test_rp_logout_with_a_forged_id_token_hint_is_an_error_page(world: OidcWorld) -> None:
    id_token = logged_in_tokens(world)["id_token"]
    forged = id_token[:-4] + ("AAAA" if not id_token.endswith("AAAA") else "BBBB")
    response = world.client.get(
        "/oidc/logout",
        query_string={"id_token_hint": forged, "post_logout_redirect_uri": LOGOUT_REDIRECT},
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert world.login.session is not None


def test_logout_revokes_the_sessions_grants(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    world.client.get("/oidc/logout", query_string={"id_token_hint": tokens["id_token"]})
    refreshed = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.get_json()["error"] == "invalid_grant"


def test_backchannel_logout_reaches_every_rp_of_the_session(world: OidcWorld) -> None:
    from tests.oidc_kit import backchannel_receiver

    with backchannel_receiver() as (uri, received):
        set_client(world, "ky-web", backchannel_logout_uri=uri)
        set_client(world, "sapa-web", backchannel_logout_uri=uri)
        first = logged_in_tokens(world)
        logged_in_tokens(world, "sapa-web")
        world.client.get("/oidc/logout", query_string={"id_token_hint": first["id_token"]})
        assert len(received) == 2
    keys: KeySet = server_keys(world)
    audiences = set()
    for raw in received:
        logout = jwt.decode(raw, keys, algorithms=["RS256"])
        assert logout.header["typ"] == "logout+jwt"
        claims: dict[str, Any] = logout.claims
        assert claims["iss"] == "http://idp.test" and claims["sub"] == ANNE
        assert claims["sid"] == "sid-1" and claims["events"] == {EVENT: {}}
        assert "nonce" not in claims and claims["jti"]
        audiences.add(claims["aud"])
    assert audiences == {"ky-web", "sapa-web"}


# -- bad input --


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(world: OidcWorld) -> None:
    for target in ("https://evil.test/cb", "https://rp.test/cb/", "https://rp.test/cb?x=1"):
        flow = authorize(world, redirect_uri=target)
        assert flow.response.status_code == 400, target
        assert "Location" not in flow.response.headers
        assert flow.response.mimetype == "text/html"


def test_unknown_client_gets_an_error_page(world: OidcWorld) -> None:
    flow = authorize(world, client_id="nobody")
    assert flow.response.status_code == 400 and "Location" not in flow.response.headers


def test_implicit_flow_is_refused_at_the_client_with_issuer(world: OidcWorld) -> None:
    for response_type in ("token", "id_token", "code id_token", "id_token token"):
        params = query(authorize(world, response_type=response_type).response)
        assert params["error"] == "unsupported_response_type", response_type
        assert params["iss"] == "http://idp.test"


def test_password_grant_is_refused(world: OidcWorld) -> None:
    response = token(world, grant_type="password", username="anne", password="x")
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_request_objects_are_refused(world: OidcWorld) -> None:
    params = query(authorize(world, request="eyJhbGciOiJub25lIn0.e30.").response)
    assert params["error"] == "request_not_supported"


def test_repeated_parameters_are_refused(world: OidcWorld) -> None:
    response = world.client.get(
        "/oidc/authorize?response_type=code&client_id=ky-web&client_id=ky-post"
        "&redirect_uri=https%3A%2F%2Frp.test%2Fcb&scope=openid"
    )
    assert response.status_code in (302, 400)
    assert response.status_code != 302 or query(response)["error"] == "invalid_request"


def test_no_cors_on_the_authorization_endpoint(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    assert "Access-Control-Allow-Origin" not in flow.response.headers
    preflight = world.client.options(
        "/oidc/authorize",
        headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"grant_type": ""},
        {"grant_type": "authorization_code"},
        {"grant_type": "authorization_code", "code": "x" * 5000},
        {"grant_type": "refresh_token"},
        {"grant_type": "refresh_token", "refresh_token": "\u00e6\u00f8\u00e5"},
        {"grant_type": "client_credentials", "scope": "entityid:,anvenderkontekst:"},
        {"grant_type": "client_credentials", "resource": ["a", "b"], "cvr": "12345678"},
        {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"},
        {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "x",
         "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
         "resource": "https://ky.demo.test"},
        {"grant_type": "client_credentials", "client_assertion_type":
         "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "a.b.c"},
    ],
)  # fmt: skip
def test_malformed_token_requests_get_json_errors_never_500(
    world: OidcWorld, form: dict[str, Any]
) -> None:
    for headers in ({}, basic("sapa-system")):
        response = world.client.post("/oidc/token", data=form, headers=headers)
        assert 400 <= response.status_code < 500, (form, response.get_data(as_text=True))
        assert response.is_json and response.get_json()["error"]


@pytest.mark.parametrize(
    "query_string",
    [
        "",
        "client_id=ky-web",
        "response_type=code&client_id=ky-web&redirect_uri=%zz",
        "response_type=code&client_id=%00&redirect_uri=x",
        "response_type=code&client_id=ky-web&redirect_uri=https://rp.test/cb&max_age=abc",
        "response_type=code&client_id=ky-web&redirect_uri=https://rp.test/cb&id_token_hint=x.y.z",
        "response_type=code&client_id=ky-web&redirect_uri=https://rp.test/cb&nonce=" + "n" * 5000,
    ],
)
def test_malformed_authorization_requests_never_500(world: OidcWorld, query_string: str) -> None:
    response = world.client.get("/oidc/authorize?" + query_string)
    assert response.status_code in (302, 400), response.get_data(as_text=True)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("https://rp.test/cb?")
        assert "error" in query(response)


def test_without_the_ephemeral_store_requests_fail_closed_with_503(world: OidcWorld) -> None:
    from store.ephemeral import MemoryState, StateUnavailable

    class Down(MemoryState):
        def _live(self, key: str) -> Any:
            raise StateUnavailable("Redis is not reachable")

        def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
            raise StateUnavailable("Redis is not reachable")

    world.provider.store.state = Down()
    world.login.next_login = login_result()
    flow = authorize(world)
    assert flow.response.status_code == 503 and "Location" not in flow.response.headers
    # System tokens need no ephemeral state (no code, family or replay entry).
    system = world.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": "https://org.service.test"}
        | {"cvr": CVR},
        headers=basic("sapa-system"),
    )
    assert system.status_code == 200
    refresh = token(world, grant_type="refresh_token", refresh_token="x")
    assert refresh.status_code == 503
    assert refresh.get_json()["error"] == "temporarily_unavailable"
