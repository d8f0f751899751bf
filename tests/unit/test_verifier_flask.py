"""verifier.flask: login helpers put verified privileges in the session; the decorator guards."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Flask, abort, session
from flask.testing import FlaskClient

from tests import verifier_factory as f
from verifier import InvalidToken
from verifier.flask import (
    SESSION_USER,
    authenticate_bearer,
    login_saml,
    logout,
    require_privilege,
)


def user_cvr(**_: Any) -> str | None:
    user = session.get(SESSION_USER)
    return user["cvr"] if user else None


def create_app() -> Flask:
    app = Flask(__name__)
    app.secret_key = "test-only"

    @app.post("/saml/acs")
    def acs() -> str:
        try:
            assertion = login_saml(
                idp_metadata=f.metadata(),
                sp_entity_id=f.SP_ENTITY_ID,
                acs_url=f.ACS_URL,
                request_id=f.REQUEST_ID,
            )
        except InvalidToken:
            abort(403)
        return assertion.name_id

    @app.post("/logout")
    def sign_out() -> str:
        logout()
        return "bye"

    @app.get("/mark")
    def mark() -> str:
        session["planted"] = "by attacker"
        return "ok"

    @app.get("/planted")
    def planted() -> str:
        return str(session.get("planted"))

    @app.get("/cases/<kle>")
    @require_privilege(f.LAES_SAG, cvr_from=user_cvr, kle=lambda kle, **_: kle)
    def case(kle: str) -> str:
        return f"case {kle}"

    @app.get("/no-kle")
    @require_privilege(f.LAES_SAG, cvr_from=user_cvr, kle=lambda **_: None)
    def no_kle() -> str:
        return "should not be reached"

    @app.get("/api/cases/<kle>")
    def api_case(kle: str) -> str:
        authenticate_bearer(issuer=f.JWT_ISSUER, audience=f.JWT_AUDIENCE, jwks=f.jwks())
        return guarded_api(kle=kle)

    @require_privilege(f.LAES_SAG, cvr_from=f.CVR, kle=lambda kle, **_: kle)
    def guarded_api(kle: str) -> str:
        return f"api case {kle}"

    return app


@pytest.fixture
def client() -> FlaskClient:
    return create_app().test_client()


def sign_in(client: FlaskClient) -> Any:
    return client.post("/saml/acs", data={"SAMLResponse": f.signed_response()})


def test_saml_login_returns_the_verified_user(client: FlaskClient) -> None:
    response = sign_in(client)
    assert response.status_code == 200
    assert response.text == "caseworker@ballerup.test"


def test_view_runs_when_the_privilege_and_constraint_hold(client: FlaskClient) -> None:
    sign_in(client)
    assert client.get("/cases/27.35.04").status_code == 200


def test_view_is_forbidden_outside_the_kle_constraint(client: FlaskClient) -> None:
    sign_in(client)
    assert client.get("/cases/28.01.01").status_code == 403


def test_view_is_forbidden_without_login(client: FlaskClient) -> None:
    assert client.get("/cases/27.35.04").status_code == 403


def test_view_is_forbidden_when_a_constraint_getter_gives_none(client: FlaskClient) -> None:
    sign_in(client)
    assert client.get("/no-kle").status_code == 403


def test_invalid_saml_response_signs_nobody_in(client: FlaskClient) -> None:
    forged = f.encode(f.response(f.sign(f.assertion(), f.attacker())))
    assert client.post("/saml/acs", data={"SAMLResponse": forged}).status_code == 403
    assert client.get("/cases/27.35.04").status_code == 403


def test_login_clears_the_previous_session(client: FlaskClient) -> None:
    client.get("/mark")
    sign_in(client)
    assert client.get("/planted").text == "None"


def test_logout_forgets_the_privileges(client: FlaskClient) -> None:
    sign_in(client)
    client.post("/logout")
    assert client.get("/cases/27.35.04").status_code == 403


def test_bearer_token_with_the_privilege_is_allowed(client: FlaskClient) -> None:
    headers = {"Authorization": f"Bearer {f.make_jwt()}"}
    assert client.get("/api/cases/27.35.04", headers=headers).status_code == 200


def test_bearer_token_outside_its_constraint_is_forbidden(client: FlaskClient) -> None:
    headers = {"Authorization": f"Bearer {f.make_jwt()}"}
    assert client.get("/api/cases/28.01.01", headers=headers).status_code == 403


def test_missing_bearer_token_is_unauthorized_with_a_challenge(client: FlaskClient) -> None:
    response = client.get("/api/cases/27.35.04")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_invalid_bearer_token_is_unauthorized(client: FlaskClient) -> None:
    headers = {"Authorization": f"Bearer {f.make_jwt(keypair=f.attacker())}"}
    response = client.get("/api/cases/27.35.04", headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
