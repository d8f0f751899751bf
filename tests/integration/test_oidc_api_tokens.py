"""Access tokens for the administration API (audience ``<base>/api/v1``, RFC 8707).

An integration gets one with ``client_credentials`` and ``resource`` alone when it holds an
administrative role; a person gets one in the code flow from a client allowed to ask
(``STS_ADMIN_API_USER_CLIENTS``). ``authenticate_api_request`` takes those and nothing else.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from app import create_app, setup_keys
from idp.oidc.api_bearer import (
    ApiBearer,
    ApiTokenError,
    api_audience,
    authenticate_api_request,
)
from idp.oidc.jose import sign
from store.db import Database
from store.models import AdminRoleAssignment, AuditEvent, Fagsystem, User
from tests.conftest import _truncate
from tests.oidc_kit import (
    ANNE,
    CLIENT_CERT,
    CLIENT_CERT_PEM,
    CVR,
    ISSUER,
    KY,
    ORG,
    ORG_ROLE,
    OTHER_CERT_PEM,
    REDIRECT,
    OidcWorld,
    attach,
    authorize,
    basic,
    build_template,
    decode,
    logged_in_tokens,
    login_result,
    make_world,
    oidc_settings,
    query,
    redeem,
    seed,
    thumbprint,
    token,
)

API = f"{ISSUER}/api/v1"
USER_CLIENTS = "ky-web,ky-pkjwt"  # allowed to ask for a person's API token; ky-post is not
KOMBIT_CLAIMS = ("cvr", "priv", "spec_ver")


def grant_admin_roles(database: Database) -> None:
    """sapa-system is a Godkender of CVR, sapa-mtls an Administrator; ky-system has none."""
    with database.session() as session:
        for client_id, role in (("sapa-system", "godkender"), ("sapa-mtls", "administrator")):
            session.add(
                AdminRoleAssignment(
                    role=role,
                    cvr=CVR,
                    client_id=client_id,
                    holder=f"client:{client_id}",
                    scope=CVR,
                )
            )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oidc-api") / "template"
    build_template(path)
    database = Database(oidc_settings(path).effective_database_url)
    grant_admin_roles(database)
    database.dispose()
    return path


@pytest.fixture
def world(template: Path, tmp_path: Path) -> OidcWorld:
    return make_world(template, tmp_path / "var", STS_ADMIN_API_USER_CLIENTS=USER_CLIENTS)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(
    request: pytest.FixtureRequest, template: Path, tmp_path: Path
) -> Iterator[OidcWorld]:
    """The world on SQLite and on PostgreSQL (role lookup and audit in the token's transaction)."""
    if request.param == "sqlite":
        yield make_world(template, tmp_path / "var", STS_ADMIN_API_USER_CLIENTS=USER_CLIENTS)
        return
    url = request.getfixturevalue("postgres_schema_url")
    database = Database(url)
    _truncate(database)
    seed(database)
    grant_admin_roles(database)
    data_dir = tmp_path / "var"
    shutil.copytree(template, data_dir)
    settings = oidc_settings(
        data_dir, STS_DATABASE_URL=url, STS_ADMIN_API_USER_CLIENTS=USER_CLIENTS
    )
    with database.session() as session:
        setup_keys(settings).ensure_keys(session)
    database.dispose()
    yield attach(create_app(settings))


def system_token(world: OidcWorld, client_id: str = "sapa-system", **form: Any) -> Any:
    return world.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic(client_id),
    )


def audit_events(world: OidcWorld, action: str) -> list[AuditEvent]:
    with world.database.session() as session:
        query_ = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query_))


def bearer(world: OidcWorld, authorization: str | None, **environ: str) -> ApiBearer:
    headers = {} if authorization is None else {"Authorization": authorization}
    with world.app.test_request_context("/api/v1/me", headers=headers, environ_base=dict(environ)):
        return authenticate_api_request(authorization)


def refused(world: OidcWorld, authorization: str | None, **environ: str) -> ApiTokenError:
    with pytest.raises(ApiTokenError) as caught:
        bearer(world, authorization, **environ)
    return caught.value


def api_client_token(world: OidcWorld, client_id: str = "sapa-system") -> str:
    response = system_token(world, client_id, resource=API)
    assert response.status_code == 200, response.get_json()
    value: str = response.get_json()["access_token"]
    return value


def person_tokens(world: OidcWorld, client_id: str = "ky-web") -> dict[str, Any]:
    return logged_in_tokens(world, client_id, resource=API)


def forged(world: OidcWorld, key: Any = None, alg: str = "RS256", **changes: Any) -> str:
    """A token shaped like a client's API token, signed with our key unless told otherwise."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "sapa-system",
        "aud": API,
        "client_id": "sapa-system",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": f"forged-{now}-{len(changes)}",
        "principal": "client",
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return sign(claims, key or world.provider.keys.signing_key(alg), alg, "at+jwt")


# -- client_credentials for the API ----------------------------------------------------------


def test_the_api_audience_is_the_base_url_with_api_v1(world: OidcWorld) -> None:
    assert api_audience(world.settings) == API


def test_a_client_with_an_administrative_role_gets_an_api_token(any_world: OidcWorld) -> None:
    response = system_token(any_world, resource=API)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer" and "refresh_token" not in body
    assert body["expires_in"] == any_world.settings.oidc_system_token_seconds
    decoded = decode(any_world, body["access_token"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert set(claims) == {
        "iss", "sub", "aud", "client_id", "iat", "nbf", "exp", "jti", "principal",
    }  # fmt: skip
    assert claims["aud"] == API and claims["sub"] == claims["client_id"] == "sapa-system"
    assert claims["principal"] == "client" and claims["iss"] == ISSUER
    issued = audit_events(any_world, "oidc.token.issue")[-1]
    assert issued.actor == "oidc-client:sapa-system" and issued.cvr is None
    assert issued.details["aud"] == API and issued.details["form"] == "api"
    assert issued.details["admin_roles"] == [f"godkender@{CVR}"]

    who = bearer(any_world, f"Bearer {body['access_token']}")
    assert (who.kind, who.client_id, who.user_id, who.loa) == ("client", "sapa-system", None, None)
    assert who.claims["jti"] == claims["jti"]


def test_a_client_without_an_administrative_role_is_refused_and_audited(
    any_world: OidcWorld,
) -> None:
    response = system_token(any_world, "ky-system", resource=API)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "unauthorized_client"
    assert "holds no administrative role" in body["error_description"]
    assert "access_token" not in body
    event = audit_events(any_world, "oidc.token.refuse")[-1]
    assert event.outcome == "refused" and event.actor == "oidc-client:ky-system"
    assert event.details["error"] == "unauthorized_client"
    assert event.details["refusal"] == "no administrative role"
    assert event.details["service"] == API and event.details["form"] == "api"
    assert not [e for e in audit_events(any_world, "oidc.token.issue") if e.details["aud"] == API]


def test_a_role_taken_away_means_no_new_token(world: OidcWorld) -> None:
    assert system_token(world, resource=API).status_code == 200
    with world.database.session() as session:
        for row in session.scalars(
            select(AdminRoleAssignment).where(AdminRoleAssignment.client_id == "sapa-system")
        ):
            session.delete(row)
    assert system_token(world, resource=API).get_json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    "form",
    [
        {"resource": API, "cvr": CVR},
        {"resource": API, "scope": f"entityid:{ORG},anvenderkontekst:{CVR}"},
        {"resource": [API, ORG], "cvr": CVR},
    ],
    ids=["with-cvr", "with-kombit-scope", "with-a-second-resource"],
)
def test_the_api_resource_with_anything_naming_a_target_is_an_invalid_request(
    world: OidcWorld, form: dict[str, Any]
) -> None:
    response = system_token(world, **form)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    event = audit_events(world, "oidc.token.refuse")[-1]
    assert event.details["error"] == "invalid_request"


def test_the_cvr_refusal_says_why(world: OidcWorld) -> None:
    response = system_token(world, resource=API, cvr=CVR)
    assert "leave out cvr" in response.get_json()["error_description"]


def test_a_client_without_client_credentials_gets_no_api_token(world: OidcWorld) -> None:
    response = system_token(world, "ky-web", resource=API)
    assert response.get_json()["error"] == "unauthorized_client"


def test_a_wrong_secret_gets_no_api_token(world: OidcWorld) -> None:
    response = world.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": API},
        headers=basic("sapa-system", "wrong"),
    )
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_a_service_token_is_unchanged(world: OidcWorld) -> None:
    """sapa-system holds an administrative role now; its KOMBIT tokens do not change."""
    response = system_token(world, resource=ORG, cvr=CVR)
    assert response.status_code == 200, response.get_json()
    claims = decode(world, response.get_json()["access_token"]).claims
    assert set(claims) == {
        "iss", "sub", "aud", "client_id", "iat", "nbf", "exp", "jti", "cvr", "spec_ver", "priv",
    }  # fmt: skip
    assert claims["aud"] == ORG and claims["cvr"] == CVR and claims["sub"] == "sapa-system"
    assert ORG_ROLE in base64.b64decode(claims["priv"]).decode()
    kombit = system_token(world, scope=f"entityid:{ORG},anvenderkontekst:{CVR}")
    assert decode(world, kombit.get_json()["access_token"]).claims["aud"] == ORG
    assert refused(world, f"Bearer {response.get_json()['access_token']}").error == "invalid_token"


def test_an_mtls_client_gets_a_certificate_bound_api_token(world: OidcWorld) -> None:
    response = world.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "client_id": "sapa-mtls", "resource": API},
        environ_base={"SSL_CLIENT_CERT": CLIENT_CERT_PEM},
    )
    assert response.status_code == 200, response.get_json()
    access = response.get_json()["access_token"]
    claims = decode(world, access).claims
    assert claims["cnf"] == {"x5t#S256": thumbprint(CLIENT_CERT)} and claims["aud"] == API
    who = bearer(world, f"Bearer {access}", SSL_CLIENT_CERT=CLIENT_CERT_PEM)
    assert who.kind == "client" and who.client_id == "sapa-mtls"
    assert refused(world, f"Bearer {access}").error == "invalid_token"
    other = refused(world, f"Bearer {access}", SSL_CLIENT_CERT=OTHER_CERT_PEM)
    assert "another client certificate" in other.description


# -- a person's token for the API (code flow) ----------------------------------------------------


def test_resource_on_the_authorization_request_gives_a_person_an_api_token(
    any_world: OidcWorld,
) -> None:
    tokens = person_tokens(any_world)
    claims = decode(any_world, tokens["access_token"]).claims
    assert claims["aud"] == API and claims["sub"] == ANNE and claims["client_id"] == "ky-web"
    assert claims["principal"] == "user" and claims["loa"] == "Substantial"
    assert claims["auth_time"] <= time.time() and claims["acr"].endswith("/Substantial")
    assert claims["cvr"] == CVR
    assert not {"priv", "spec_ver", "act"} & set(claims)
    id_token = decode(any_world, tokens["id_token"]).claims
    assert id_token["aud"] == "ky-web" and id_token["sub"] == ANNE
    who = bearer(any_world, f"Bearer {tokens['access_token']}")
    assert (who.kind, who.client_id, who.user_id, who.loa) == (
        "user", "ky-web", ANNE, "Substantial",
    )  # fmt: skip
    issued = audit_events(any_world, "oidc.token.issue")[-1]
    assert issued.details["aud"] == API and issued.details["sub"] == ANNE


def test_resource_on_the_token_request_alone_gives_an_api_token(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    response = token(
        world,
        grant_type="authorization_code",
        code=query(flow.response)["code"],
        redirect_uri=REDIRECT,
        code_verifier=flow.verifier,
        resource=API,
    )
    assert response.status_code == 200, response.get_json()
    claims = decode(world, response.get_json()["access_token"]).claims
    assert claims["aud"] == API and claims["principal"] == "user"


def test_resource_on_both_requests_gives_an_api_token(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world, resource=API)
    response = token(
        world,
        grant_type="authorization_code",
        code=query(flow.response)["code"],
        redirect_uri=REDIRECT,
        code_verifier=flow.verifier,
        resource=API,
    )
    assert decode(world, response.get_json()["access_token"]).claims["aud"] == API


def test_without_resource_nothing_changes(world: OidcWorld) -> None:
    claims = decode(world, logged_in_tokens(world)["access_token"]).claims
    assert claims["aud"] == KY and claims["cvr"] == CVR and "priv" in claims
    assert "principal" not in claims and claims["spec_ver"]
    own = decode(world, logged_in_tokens(world, resource=KY)["access_token"]).claims
    assert own["aud"] == KY and "priv" in own


def test_refresh_keeps_the_api_resource(world: OidcWorld) -> None:
    tokens = person_tokens(world)
    first = decode(world, tokens["access_token"]).claims
    refreshed = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    body = refreshed.get_json()
    claims = decode(world, body["access_token"]).claims
    assert claims["aud"] == API and claims["principal"] == "user" and "priv" not in claims
    assert claims["sub"] == ANNE and claims["auth_time"] == first["auth_time"]
    assert bearer(world, f"Bearer {body['access_token']}").kind == "user"
    again = token(
        world, grant_type="refresh_token", refresh_token=body["refresh_token"], resource=API
    )
    assert decode(world, again.get_json()["access_token"]).claims["aud"] == API


def test_a_refresh_cannot_change_the_resource_and_does_not_spend_the_token(
    world: OidcWorld,
) -> None:
    tokens = person_tokens(world)
    switched = token(
        world, grant_type="refresh_token", refresh_token=tokens["refresh_token"], resource=KY
    )
    assert switched.status_code == 400 and switched.get_json()["error"] == "invalid_target"
    still = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert still.status_code == 200, still.get_json()
    assert decode(world, still.get_json()["access_token"]).claims["aud"] == API


def test_a_fagsystem_grant_cannot_be_refreshed_into_an_api_token(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world)
    widened = token(
        world, grant_type="refresh_token", refresh_token=tokens["refresh_token"], resource=API
    )
    assert widened.get_json()["error"] == "invalid_target"
    still = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert decode(world, still.get_json()["access_token"]).claims["aud"] == KY


def test_an_api_grant_cannot_be_redeemed_for_the_fagsystem(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world, resource=API)
    response = token(
        world,
        grant_type="authorization_code",
        code=query(flow.response)["code"],
        redirect_uri=REDIRECT,
        code_verifier=flow.verifier,
        resource=KY,
    )
    assert response.get_json()["error"] == "invalid_target"
    assert audit_events(world, "oidc.token.refuse")[-1].details["error"] == "invalid_target"


def test_an_unknown_resource_on_the_authorization_request_is_invalid_target(
    world: OidcWorld,
) -> None:
    world.login.next_login = login_result()
    flow = authorize(world, resource="https://nope.test/api")
    assert flow.response.status_code == 302
    params = query(flow.response)
    assert params["error"] == "invalid_target" and params["state"] == flow.state
    assert params["iss"] == ISSUER and "code" not in params
    assert world.login.requests == []  # refused before anyone logs in


def test_an_unknown_resource_on_the_token_request_is_refused_before_the_code_is_spent(
    world: OidcWorld,
) -> None:
    world.login.next_login = login_result()
    flow = authorize(world)
    code = query(flow.response)["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": flow.verifier,
    }
    bad = token(world, **form, resource=f"{ISSUER}/api/v2")
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_target"
    assert audit_events(world, "oidc.token.refuse")[-1].details["error"] == "invalid_target"
    assert redeem(world, flow).status_code == 200


def test_a_client_not_allowed_to_ask_for_the_api_is_refused(world: OidcWorld) -> None:
    world.login.next_login = login_result()
    flow = authorize(world, "ky-post", resource=API)
    params = query(flow.response)
    assert params["error"] == "invalid_target" and "may not ask" in params["error_description"]
    world.login.next_login = login_result()
    plain = authorize(world, "ky-post")
    response = token(
        world,
        "ky-post",
        grant_type="authorization_code",
        code=query(plain.response)["code"],
        redirect_uri=REDIRECT,
        code_verifier=plain.verifier,
        resource=API,
    )
    assert response.get_json()["error"] == "invalid_target"


def test_without_the_setting_no_client_may_ask(template: Path, tmp_path: Path) -> None:
    world = make_world(template, tmp_path / "var")
    world.login.next_login = login_result()
    assert query(authorize(world, resource=API).response)["error"] == "invalid_target"


def test_a_disabled_user_gets_no_new_api_token(world: OidcWorld) -> None:
    tokens = person_tokens(world)
    with world.database.session() as session:
        user = session.get(User, ANNE)
        assert user is not None
        user.disabled = True
    response = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert response.get_json()["error"] == "invalid_grant"


def test_a_fagsystem_named_like_the_api_gets_no_token_the_api_takes(world: OidcWorld) -> None:
    with world.database.session() as session:
        ky = session.get(Fagsystem, "KY")
        assert ky is not None
        ky.entity_id = API
    world.provider.clients.invalidate()
    world.login.next_login = login_result()
    flow = authorize(world)
    response = redeem(world, flow)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_target"
    assert "reserved for the administration API" in response.get_json()["error_description"]


# -- authenticate_api_request refuses everything else ------------------------------------------


def test_no_authorization_header_is_an_invalid_request(world: OidcWorld) -> None:
    assert refused(world, None).error == "invalid_request"
    assert refused(world, "").error == "invalid_request"


@pytest.mark.parametrize(
    "header", ["Basic c2FwYS1zeXN0ZW06eA==", "Bearer", "Bearer  ", "Bearer a b", "Token abc"]
)
def test_another_scheme_or_a_malformed_header_is_an_invalid_request(
    world: OidcWorld, header: str
) -> None:
    assert refused(world, header).error == "invalid_request"


def test_the_scheme_is_case_insensitive(world: OidcWorld) -> None:
    assert bearer(world, f"bearer {api_client_token(world)}").kind == "client"


@pytest.mark.parametrize("value", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_garbage_is_an_invalid_token(world: OidcWorld, value: str) -> None:
    error = refused(world, f"Bearer {value}")
    assert error.error == "invalid_token" and error.description


def test_an_expired_token_is_refused(world: OidcWorld) -> None:
    now = int(time.time())
    expired = forged(world, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    error = refused(world, f"Bearer {expired}")
    assert error.error == "invalid_token" and "expired" in error.description
    assert bearer(world, f"Bearer {forged(world)}").kind == "client"  # the shape itself passes


def test_a_token_for_a_fagsystem_is_refused(world: OidcWorld) -> None:
    user_token = logged_in_tokens(world)["access_token"]
    error = refused(world, f"Bearer {user_token}")
    assert error.error == "invalid_token" and "audience" in error.description


def test_an_id_token_is_refused(world: OidcWorld) -> None:
    id_token = person_tokens(world)["id_token"]
    error = refused(world, f"Bearer {id_token}")
    assert error.error == "invalid_token" and "typ" in error.description


def test_a_revoked_client_token_is_refused(world: OidcWorld) -> None:
    access = api_client_token(world)
    assert bearer(world, f"Bearer {access}").kind == "client"
    revoked = world.client.post(
        "/oidc/revoke", data={"token": access}, headers=basic("sapa-system")
    )
    assert revoked.status_code == 200
    assert "revoked" in refused(world, f"Bearer {access}").description


def test_a_revoked_person_token_and_a_logout_end_it(world: OidcWorld) -> None:
    tokens = person_tokens(world)
    world.client.post(
        "/oidc/revoke", data={"token": tokens["access_token"]}, headers=basic("ky-web")
    )
    assert refused(world, f"Bearer {tokens['access_token']}").error == "invalid_token"
    again = token(world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    access = again.get_json()["access_token"]
    assert bearer(world, f"Bearer {access}").kind == "user"
    world.client.get("/oidc/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert "revoked" in refused(world, f"Bearer {access}").description


def test_a_token_signed_by_another_key_is_refused(world: OidcWorld) -> None:
    kid = world.provider.keys.signing_key("RS256").kid
    assert kid
    impostor = RSAKey.generate_key(2048, parameters={"kid": kid})
    error = refused(world, f"Bearer {forged(world, key=impostor)}")
    assert error.error == "invalid_token" and "signature" in error.description
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger"})
    assert "unknown kid" in refused(world, f"Bearer {forged(world, key=stranger)}").description


def test_an_unsigned_token_is_refused(world: OidcWorld) -> None:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    kid = world.provider.keys.signing_key("RS256").kid
    claims = decode(world, api_client_token(world)).claims
    unsigned = f"{part({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{part(claims)}."
    assert "alg none" in refused(world, f"Bearer {unsigned}").description


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"principal": None}, "not for the administration API"),
        ({"principal": "admin"}, "not for the administration API"),
        ({"sub": ANNE}, "does not match"),
        ({"auth_time": 1, "loa": "Substantial"}, "does not match"),
        ({"principal": "user"}, "does not match"),
        ({"principal": "user", "sub": ANNE, "loa": "High"}, "does not match"),
        ({"act": {"sub": "sapa-web"}}, "exchanged"),
        ({"aud": [API, KY]}, "administration API alone"),
        ({"aud": KY}, "audience"),
        ({"iss": "https://other.test"}, "issuer"),
        ({"jti": None}, "jti missing"),
    ],
)
def test_a_token_whose_claims_do_not_fit_is_refused(
    world: OidcWorld, changes: dict[str, Any], why: str
) -> None:
    """Even signed with our key: only what the API grants write passes."""
    error = refused(world, f"Bearer {forged(world, **changes)}")
    assert error.error == "invalid_token" and why in error.description, error.description


def test_a_person_token_signed_es256_passes(world: OidcWorld) -> None:
    claims = {"principal": "user", "sub": ANNE, "client_id": "ky-web"}
    access = forged(world, alg="ES256", auth_time=int(time.time()), loa="Substantial", **claims)
    who = bearer(world, f"Bearer {access}")
    assert (who.kind, who.user_id, who.loa) == ("user", ANNE, "Substantial")


def test_error_descriptions_are_safe_for_a_header(world: OidcWorld) -> None:
    """The description may quote the token (an unknown kid); the API puts it in a header."""
    odd = RSAKey.generate_key(2048, parameters={"kid": 'a"b\\c\u00e6'})
    error = refused(world, f"Bearer {forged(world, key=odd)}")
    assert "unknown kid" in error.description
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in error.description)
