"""System tokens (client_credentials with service agreements), client authentication by
private_key_jwt and mTLS, certificate-bound tokens, and RFC 8693 on-behalf-of exchange."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app import create_app, setup_keys
from authz.priv import decode_priv
from store.db import Database
from store.models import AuditEvent, Serviceaftale
from tests.conftest import _truncate
from tests.oidc_kit import (
    ANNE,
    CLIENT_CERT,
    CLIENT_CERT_PEM,
    CVR,
    KY,
    KY_ROLE,
    KY_SERVICE_ROLE,
    ORG,
    ORG_ROLE,
    OTHER_CERT_PEM,
    OTHER_CVR,
    SAPA,
    OidcWorld,
    attach,
    basic,
    build_template,
    client_assertion,
    decode,
    logged_in_tokens,
    make_world,
    oidc_settings,
    seed,
    thumbprint,
)

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oidc") / "template"
    build_template(path)
    return path


@pytest.fixture
def world(template: Path, tmp_path: Path) -> OidcWorld:
    return make_world(template, tmp_path / "var")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(
    request: pytest.FixtureRequest, template: Path, tmp_path: Path
) -> Iterator[OidcWorld]:
    """The same world on SQLite and on PostgreSQL (agreements and audit in one transaction)."""
    if request.param == "sqlite":
        yield make_world(template, tmp_path / "var")
        return
    url = request.getfixturevalue("postgres_schema_url")
    database = Database(url)
    _truncate(database)
    seed(database)
    data_dir = tmp_path / "var"
    shutil.copytree(template, data_dir)
    settings = oidc_settings(data_dir, STS_DATABASE_URL=url)
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
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


# -- client_credentials gated by service agreements --


def test_resource_and_cvr_give_a_token_for_the_service(any_world: OidcWorld) -> None:
    response = system_token(any_world, resource=ORG, cvr=CVR)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body and body["token_type"] == "Bearer"
    token = decode(any_world, body["access_token"])
    assert token.header["typ"] == "at+jwt"
    claims = token.claims
    assert claims["aud"] == ORG and claims["cvr"] == CVR and claims["sub"] == "sapa-system"
    groups = decode_priv(claims["priv"])
    assert [g.privilege for g in groups] == [ORG_ROLE]
    assert groups[0].scope.endswith(CVR)
    assert [(c.name, c.value) for c in groups[0].constraints] == [("urn:x:fysiskslet", "Nej")]
    issued = audit_events(any_world, "oidc.token.issue")
    assert issued[-1].details["agreement"] == "sa-sapa-org"
    assert issued[-1].actor == "oidc-client:sapa-system" and issued[-1].cvr == CVR


def test_an_agreement_role_that_is_not_the_services_is_left_out_of_the_token(
    world: OidcWorld,
) -> None:
    with world.database.session() as db:
        aftale = db.get(Serviceaftale, "sa-sapa-org")
        assert aftale is not None
        aftale.roles = [ORG_ROLE, KY_ROLE]  # KY's role, named in an agreement with ORG
    response = system_token(world, resource=ORG, cvr=CVR)
    assert response.status_code == 200, response.get_json()
    groups = decode_priv(decode(world, response.get_json()["access_token"]).claims["priv"])
    assert [g.privilege for g in groups] == [ORG_ROLE]


def test_kombit_scope_form_gives_the_same_token(world: OidcWorld) -> None:
    response = system_token(world, scope=f"entityid:{ORG},anvenderkontekst:{CVR}")
    claims = decode(world, response.get_json()["access_token"]).claims
    assert claims["aud"] == ORG and claims["cvr"] == CVR
    spelled = system_token(world, scope=f"entity_id:{ORG},anvenderkontekst:{CVR}")
    assert spelled.status_code == 200


@pytest.mark.parametrize(
    ("client_id", "form", "error", "refusal"),
    [
        ("ky-system", {"resource": ORG, "cvr": CVR}, "unauthorized_client", "not approved"),
        ("sapa-system", {"resource": ORG, "cvr": OTHER_CVR}, "unauthorized_client", "not approved"),
        ("anon-system", {"resource": ORG, "cvr": CVR}, "unauthorized_client", "not approved"),
        ("sapa-system", {"resource": ORG, "cvr": "99999999"}, "unauthorized_client", "no service"),
        ("ky-system", {"resource": SAPA, "cvr": CVR}, "unauthorized_client", "no service"),
        ("sapa-system", {"resource": "https://nope.test", "cvr": CVR}, "invalid_target", None),
        ("sapa-system", {"scope": f"entityid:https://nope.test,anvenderkontekst:{CVR}"},
         "invalid_scope", None),
        ("sapa-system", {}, "invalid_scope", None),
        ("sapa-system", {"scope": f"entityid:{ORG}"}, "invalid_scope", None),
        ("sapa-system", {"resource": ORG}, "invalid_request", None),
        ("sapa-system", {"resource": ORG, "cvr": "1234"}, "invalid_request", None),
    ],
)  # fmt: skip
def test_no_approved_agreement_no_token_and_the_refusal_is_audited(
    any_world: OidcWorld, client_id: str, form: dict[str, str], error: str, refusal: str | None
) -> None:
    response = system_token(any_world, client_id, **form)
    assert response.status_code in (400, 401)
    body = response.get_json()
    assert body["error"] == error and body["error_description"]
    refused = audit_events(any_world, "oidc.token.refuse")
    assert refused and refused[-1].outcome == "refused"
    assert refused[-1].details["error"] == error
    if refusal:
        assert refusal in refused[-1].details["refusal"]


def test_client_without_the_grant_type_is_unauthorized(world: OidcWorld) -> None:
    response = system_token(world, "ky-web", resource=ORG, cvr=CVR)
    assert response.get_json()["error"] == "unauthorized_client"


def test_public_client_cannot_use_client_credentials(world: OidcWorld) -> None:
    response = world.client.post(
        "/oidc/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "ky-public",
            "resource": ORG,
            "cvr": CVR,
        },
    )
    assert response.get_json()["error"] == "invalid_client"


def test_conflicting_scope_and_resource_are_refused(world: OidcWorld) -> None:
    response = system_token(
        world, resource=ORG, cvr=CVR, scope=f"entityid:{KY},anvenderkontekst:{CVR}"
    )
    assert response.get_json()["error"] == "invalid_request"


def test_audit_chain_still_verifies_after_issues_and_refusals(world: OidcWorld) -> None:
    from store.audit import verify_chain

    system_token(world, resource=ORG, cvr=CVR)
    system_token(world, "ky-system", resource=ORG, cvr=CVR)
    with world.database.session() as session:
        assert verify_chain(session) is None


# -- private_key_jwt --


def pkjwt_token(world: OidcWorld, assertion: str, **form: Any) -> Any:
    return world.client.post(
        "/oidc/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION,
            "client_assertion": assertion,
            **form,
        },
    )


def test_private_key_jwt_authenticates(world: OidcWorld) -> None:
    from tests.oidc_kit import set_client

    set_client(world, "ky-pkjwt", fagsystem_id="SAPA")
    response = pkjwt_token(world, client_assertion(), resource=ORG, cvr=CVR)
    assert response.status_code == 200, response.get_json()


def test_private_key_jwt_assertion_replay_is_refused(world: OidcWorld) -> None:
    from tests.oidc_kit import set_client

    set_client(world, "ky-pkjwt", fagsystem_id="SAPA")
    assertion = client_assertion()
    assert pkjwt_token(world, assertion, resource=ORG, cvr=CVR).status_code == 200
    replay = pkjwt_token(world, assertion, resource=ORG, cvr=CVR)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_client"


def test_private_key_jwt_with_the_wrong_audience_is_refused(world: OidcWorld) -> None:
    response = pkjwt_token(world, client_assertion(audience="https://other.test"))
    assert response.get_json()["error"] == "invalid_client"


def test_private_key_jwt_that_lives_too_long_is_refused(world: OidcWorld) -> None:
    import time

    response = pkjwt_token(world, client_assertion(exp=int(time.time()) + 3600))
    assert response.get_json()["error"] == "invalid_client"


def test_private_key_jwt_works_in_the_code_flow(world: OidcWorld) -> None:
    from tests.oidc_kit import REDIRECT, authorize, login_result, query

    world.login.next_login = login_result()
    flow = authorize(world, "ky-pkjwt")
    response = world.client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": query(flow.response)["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": flow.verifier,
            "client_assertion_type": ASSERTION,
            "client_assertion": client_assertion(),
        },
    )
    assert response.status_code == 200 and response.get_json()["id_token"]


# -- mTLS and certificate-bound tokens --


def mtls_token(world: OidcWorld, environ: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return world.client.post(
        "/oidc/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sapa-mtls",
            "resource": ORG,
            "cvr": CVR,
        },
        environ_base=environ or {},
        **kwargs,
    )


def test_tls_client_auth_from_the_connection_binds_the_token(world: OidcWorld) -> None:
    response = mtls_token(world, {"SSL_CLIENT_CERT": CLIENT_CERT_PEM})
    assert response.status_code == 200, response.get_json()
    claims = decode(world, response.get_json()["access_token"]).claims
    assert claims["cnf"] == {"x5t#S256": thumbprint(CLIENT_CERT)}
    introspected = world.client.post(
        "/oidc/introspect",
        data={"token": response.get_json()["access_token"], "client_id": "sapa-mtls"},
        environ_base={"SSL_CLIENT_CERT": CLIENT_CERT_PEM},
    ).get_json()
    assert introspected["cnf"] == claims["cnf"]


def test_tls_client_auth_with_another_certificate_is_refused(world: OidcWorld) -> None:
    response = mtls_token(world, {"SSL_CLIENT_CERT": OTHER_CERT_PEM})
    assert response.get_json()["error"] == "invalid_client"


def test_tls_client_auth_without_a_certificate_is_refused(world: OidcWorld) -> None:
    assert mtls_token(world).get_json()["error"] == "invalid_client"


def test_certificate_header_is_read_only_from_a_trusted_proxy(
    template: Path, tmp_path: Path
) -> None:
    world = make_world(
        template,
        tmp_path / "var",
        STS_TLS_CLIENT_CERT_HEADER="X-SSL-Client-Cert",
        STS_TLS_TRUSTED_PROXIES="10.0.0.0/8",
    )
    header = {"X-SSL-Client-Cert": quote(CLIENT_CERT_PEM)}
    trusted = mtls_token(world, {"REMOTE_ADDR": "10.1.2.3"}, headers=header)
    assert trusted.status_code == 200
    untrusted = mtls_token(world, {"REMOTE_ADDR": "192.0.2.7"}, headers=header)
    assert untrusted.get_json()["error"] == "invalid_client"


def test_certificate_header_is_read_from_a_trusted_proxy_that_forwards_the_client_address(
    template: Path, tmp_path: Path
) -> None:
    world = make_world(
        template,
        tmp_path / "var",
        STS_TLS_CLIENT_CERT_HEADER="X-SSL-Client-Cert",
        STS_TLS_TRUSTED_PROXIES="10.0.0.0/8",
    )
    header = {"X-SSL-Client-Cert": quote(CLIENT_CERT_PEM), "X-Forwarded-For": "203.0.113.9"}
    trusted = mtls_token(world, {"REMOTE_ADDR": "10.1.2.3"}, headers=header)
    assert trusted.status_code == 200


# -- token exchange (on behalf of a user) --


def exchange(world: OidcWorld, subject: str, client_id: str = "sapa-web", **form: Any) -> Any:
    return world.client.post(
        "/oidc/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS,
            "resource": KY,
            **form,
        },
        headers=basic(client_id),
    )


def test_exchange_gives_the_users_privileges_for_the_target_with_act(any_world: OidcWorld) -> None:
    user_token = logged_in_tokens(any_world, "sapa-web")["access_token"]
    response = exchange(any_world, user_token)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["issued_token_type"] == ACCESS and "refresh_token" not in body
    claims = decode(any_world, body["access_token"]).claims
    assert claims["aud"] == KY and claims["sub"] == ANNE and claims["cvr"] == CVR
    assert claims["act"] == {"sub": "sapa-web"}
    assert [g.privilege for g in decode_priv(claims["priv"])] == [KY_ROLE]
    assert KY_SERVICE_ROLE not in claims["priv"]
    assert claims["exp"] <= decode(any_world, user_token).claims["exp"]
    assert audit_events(any_world, "oidc.token.issue")[-1].details["on_behalf_of"] == ANNE


def test_exchange_needs_an_agreement_with_on_behalf_of(world: OidcWorld) -> None:
    user_token = logged_in_tokens(world, "sapa-web")["access_token"]
    response = exchange(world, user_token, resource=ORG)
    assert response.get_json()["error"] == "unauthorized_client"
    assert "on-behalf-of" in response.get_json()["error_description"]


def test_exchange_refuses_a_token_issued_to_another_fagsystem(world: OidcWorld) -> None:
    ky_token = logged_in_tokens(world, "ky-web")["access_token"]
    assert exchange(world, ky_token).get_json()["error"] == "invalid_grant"


def test_exchange_refuses_an_id_token_as_subject(world: OidcWorld) -> None:
    id_token = logged_in_tokens(world, "sapa-web")["id_token"]
    assert exchange(world, id_token).get_json()["error"] == "invalid_grant"


def test_exchange_refuses_a_system_token_as_subject(world: OidcWorld) -> None:
    system = system_token(world, "sapa-system", resource=SAPA, cvr=CVR)
    assert system.status_code == 400  # SAPA is no service here; use an exchange-looking token
    response = exchange(world, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert response.get_json()["error"] == "invalid_grant"


def test_exchange_refuses_a_revoked_subject_token(world: OidcWorld) -> None:
    user_token = logged_in_tokens(world, "sapa-web")["access_token"]
    world.client.post("/oidc/revoke", data={"token": user_token}, headers=basic("sapa-web"))
    assert exchange(world, user_token).get_json()["error"] == "invalid_grant"


def test_exchanged_token_dies_with_the_users_grant(world: OidcWorld) -> None:
    tokens = logged_in_tokens(world, "sapa-web")
    exchanged = exchange(world, tokens["access_token"]).get_json()["access_token"]
    world.client.get("/oidc/logout", query_string={"id_token_hint": tokens["id_token"]})
    result = world.client.post(
        "/oidc/introspect", data={"token": exchanged}, headers=basic("ky-system")
    )
    assert result.get_json() == {"active": False}
