"""The authorization code flow through the real app: codes, PKCE, tokens, refresh, prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from authz.priv import decode_priv
from idp.loa import LoA
from idp.oidc.claims import ACR_PREFIX
from tests.oidc_kit import (
    ANNE,
    CVR,
    KY,
    KY_ROLE,
    REDIRECT,
    OidcWorld,
    authorize,
    basic,
    build_template,
    decode,
    logged_in_tokens,
    login_result,
    make_world,
    query,
    redeem,
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


def introspect(world: OidcWorld, value: str) -> dict[str, object]:
    response = world.client.post(
        "/oidc/introspect", data={"token": value}, headers=basic("sapa-system")
    )
    own = world.client.post("/oidc/introspect", data={"token": value}, headers=basic("ky-web"))
    assert response.status_code == own.status_code == 200
    result: dict[str, object] = own.get_json()
    return result


# -- the happy path --


def test_code_response_echoes_state_and_names_the_issuer(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    assert flow.response.status_code == 302
    params = query(flow.response)
    assert flow.response.headers["Location"].startswith(REDIRECT + "?")
    assert params["state"] == flow.state
    assert params["iss"] == "http://idp.test"  # RFC 9207
    assert len(params["code"]) >= 40


def test_id_token_carries_nonce_login_facts_and_at_hash(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    id_token = decode(world, tokens["id_token"])
    claims = id_token.claims
    assert id_token.header["typ"] == "JWT" and id_token.header["kid"]
    assert claims["iss"] == "http://idp.test"
    assert claims["aud"] == "ky-web" and claims["sub"] == ANNE
    assert claims["nonce"] and claims["at_hash"]
    assert claims["acr"] == ACR_PREFIX + "Substantial"
    assert claims["sid"] == "sid-1" and claims["cvr"] == CVR
    assert set(claims["amr"]) == {"pwd", "otp"}
    assert "email" not in claims  # profile and e-mail claims come from userinfo


def test_access_token_is_rfc9068_for_the_fagsystem_with_its_privileges_only(
    world: OidcWorld,
) -> None:
    tokens = logged_in_tokens(world)
    access = decode(world, tokens["access_token"])
    assert access.header["typ"] == "at+jwt"
    claims = access.claims
    assert claims["aud"] == KY and claims["client_id"] == "ky-web"
    assert claims["cvr"] == CVR and claims["loa"] == "Substantial"
    assert claims["spec_ver"] == "1.0"
    groups = decode_priv(claims["priv"])
    assert [g.privilege for g in groups] == [KY_ROLE]  # SAPA's role is not in KY's token
    assert groups[0].scope == f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"


@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_client_registered_for_another_algorithm_gets_it(world: OidcWorld, alg: str) -> None:
    client_id = "ky-ps256" if alg == "PS256" else "ky-es256"
    tokens = logged_in_tokens(world, client_id)
    assert decode(world, tokens["id_token"]).header["alg"] == alg
    assert decode(world, tokens["access_token"]).header["alg"] == alg


def test_client_secret_post_authenticates(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world, "ky-post")
    assert tokens["token_type"] == "Bearer"


def test_public_client_redeems_with_pkce_alone(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world, "ky-public")
    assert tokens["access_token"]


def test_wrong_secret_is_invalid_client(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    code = query(flow.response)["code"]
    response = world.client.post(
        "/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        headers=basic("ky-web", "wrong"),
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


# -- codes --


def test_second_redemption_fails_and_revokes_what_the_first_issued(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    first = redeem(world, flow)
    assert first.status_code == 200
    tokens = first.get_json()
    assert introspect(world, tokens["access_token"])["active"] is True
    second = redeem(world, flow)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    assert introspect(world, tokens["access_token"]) == {"active": False}
    refreshed = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.get_json()["error"] == "invalid_grant"
    userinfo = world.client.get(
        "/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401


def test_code_issued_to_one_client_cannot_be_redeemed_by_another(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    response = redeem(world, flow, "ky-post")
    assert response.get_json()["error"] == "invalid_grant"


def test_redirect_uri_at_the_token_endpoint_must_match(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    response = token(
        world,
        grant_type="authorization_code",
        code=query(flow.response)["code"],
        redirect_uri=REDIRECT + "/other",
        code_verifier=flow.verifier,
    )
    assert response.get_json()["error"] == "invalid_grant"


# -- PKCE --


def test_pkce_is_required_even_for_confidential_clients(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world, code_challenge=None, code_challenge_method=None)
    assert flow.response.status_code == 302
    assert query(flow.response)["error"] == "invalid_request"
    assert world.login.requests == []


def test_pkce_plain_is_refused(world: OidcWorld) -> None:
    flow = authorize(world, code_challenge="a" * 43, code_challenge_method="plain")
    assert query(flow.response)["error"] == "invalid_request"


def test_pkce_without_method_is_refused(world: OidcWorld) -> None:
    flow = authorize(world, code_challenge_method=None)
    assert query(flow.response)["error"] == "invalid_request"


def test_wrong_code_verifier_is_invalid_grant(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    flow.verifier = "x" * 50
    assert redeem(world, flow).get_json()["error"] == "invalid_grant"


def test_code_verifier_without_a_challenge_is_a_downgrade(template: Path, tmp_path: Path) -> None:
    world = make_world(template, tmp_path / "var", STS_OIDC_REQUIRE_PKCE="false")
    world.login.next_login = login_result()
    flow = authorize(world, code_challenge=None, code_challenge_method=None)
    assert "code" in query(flow.response)
    response = redeem(world, flow)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_public_client_needs_pkce_even_when_not_required_for_all(
    template: Path, tmp_path: Path
) -> None:
    world = make_world(template, tmp_path / "var", STS_OIDC_REQUIRE_PKCE="false")
    flow = authorize(world, "ky-public", code_challenge=None, code_challenge_method=None)
    assert query(flow.response)["error"] == "invalid_request"


# -- refresh rotation --


def test_refresh_rotates_and_keeps_the_login(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    response = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert response.status_code == 200
    fresh = response.get_json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    old, new = decode(world, tokens["id_token"]), decode(world, fresh["id_token"])
    assert new.claims["auth_time"] == old.claims["auth_time"]
    assert decode(world, fresh["access_token"]).claims["sub"] == ANNE


def test_reused_refresh_token_revokes_the_whole_family(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    rotated = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    fresh = rotated.get_json()
    replay = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert replay.get_json()["error"] == "invalid_grant"
    after = token(world, grant_type="refresh_token", refresh_token=fresh["refresh_token"])
    assert after.get_json()["error"] == "invalid_grant"
    assert introspect(world, fresh["access_token"]) == {"active": False}


def test_refresh_token_of_another_client_is_refused(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    response = token(
        world, "ky-post", grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_the_scope(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world, scope="openid")
    response = token(
        world,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        scope="openid email",
    )
    assert response.get_json()["error"] == "invalid_scope"


# -- prompt, max_age, acr_values, hints --


def test_prompt_none_without_a_session_is_login_required(world: OidcWorld) -> None:
    flow = authorize(world, prompt="none")
    params = query(flow.response)
    assert params["error"] == "login_required"
    assert params["state"] == flow.state and params["iss"] == "http://idp.test"
    assert world.login.requests[0].passive


def test_prompt_none_with_a_session_answers_without_interaction(world: OidcWorld) -> None:
    world.login.session = login_result()
    flow = authorize(world, prompt="none")
    assert "code" in query(flow.response)


def test_prompt_login_forces_a_fresh_login(world: OidcWorld) -> None:
    world.login.session = login_result(ago=3000, sid="old")
    world.login.next_login = login_result(sid="new")
    flow = authorize(world, prompt="login")
    assert world.login.requests[0].force_authn
    tokens = redeem(world, flow).get_json()
    assert decode(world, tokens["id_token"]).claims["sid"] == "new"


def test_prompt_none_combined_with_login_is_invalid(world: OidcWorld) -> None:
    flow = authorize(world, prompt="none login")
    assert query(flow.response)["error"] == "invalid_request"


def test_max_age_reaches_the_login_and_an_old_session_is_not_reused(world: OidcWorld) -> None:
    world.login.session = login_result(ago=600, sid="old")
    world.login.next_login = login_result(sid="new")
    flow = authorize(world, max_age="60")
    assert world.login.requests[0].max_age == 60
    tokens = redeem(world, flow).get_json()
    claims = decode(world, tokens["id_token"]).claims
    assert claims["sid"] == "new" and claims["auth_time"] >= claims["iat"] - 60


def test_negative_max_age_is_invalid(world: OidcWorld) -> None:
    assert query(authorize(world, max_age="-1").response)["error"] == "invalid_request"


def test_acr_values_raise_the_required_level(world: OidcWorld) -> None:
    world.login.session = login_result(LoA.LOW)
    world.login.next_login = login_result(LoA.SUBSTANTIAL, sid="stepped-up")
    flow = authorize(world, acr_values=ACR_PREFIX + "Substantial")
    assert world.login.requests[0].min_loa is LoA.SUBSTANTIAL
    claims = decode(world, redeem(world, flow).get_json()["id_token"]).claims
    assert claims["acr"] == ACR_PREFIX + "Substantial"


def test_fagsystem_minimum_level_holds_without_acr_values(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    authorize(world, "anon-web")
    assert world.login.requests[0].min_loa is LoA.SUBSTANTIAL


def test_login_hint_and_ui_locales_reach_the_login(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    authorize(world, login_hint="anne", ui_locales="en-GB da")
    assert world.login.requests[0].login_hint == "anne"
    assert world.login.requests[0].ui_locale == "en-GB"


def test_id_token_hint_of_another_user_with_prompt_none_is_login_required(
    world: OidcWorld,
) -> None:
    tokens = logged_in_tokens(world)
    world.login.session = login_result(user_id="someone-else")
    flow = authorize(world, prompt="none", id_token_hint=tokens["id_token"])
    assert query(flow.response)["error"] == "login_required"


def test_id_token_hint_of_the_same_user_is_accepted(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    flow = authorize(world, prompt="none", id_token_hint=tokens["id_token"])
    assert "code" in query(flow.response)


def test_unknown_parameters_are_ignored(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world, frobnicate="yes", claims_locales="da")
    assert "code" in query(flow.response)


def test_unknown_scopes_are_dropped_and_order_is_kept(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world, scope="email unknown openid")
    assert tokens["scope"] == "email openid"


def test_cancelled_login_is_access_denied_at_the_client(world: OidcWorld) -> None:
    flow = authorize(world)
    assert query(flow.response)["error"] == "access_denied"


def test_authorization_request_can_be_posted(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    response = world.client.post("/oidc/authorize", data=flow.params)
    assert response.status_code == 302 and "code" in query(response)


def test_codes_and_refresh_families_live_in_redis_too(template: Path, tmp_path: Path) -> None:
    from tests.conftest import redis_url, service_missing

    try:
        import redis

        redis.Redis.from_url(redis_url()).ping()
    except Exception as exc:
        service_missing("Redis", str(exc))
    world = make_world(template, tmp_path / "var", STS_REDIS_URL=redis_url())
    assert world.provider.store.state.shared_across_processes
    world.login.next_login = login_result()
    flow = authorize(world)
    tokens = redeem(world, flow).get_json()
    assert redeem(world, flow).get_json()["error"] == "invalid_grant"
    rotated = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert rotated.get_json()["error"] == "invalid_grant"  # the code's reuse revoked the family
