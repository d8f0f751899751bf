"""The form of the 503 (idp/outages.py), per kind of caller, without stopping anything.

The real outages are in test_faults.py; this checks each answer's shape on a small app
whose views raise what the drivers raise when PostgreSQL or Redis is gone.
"""

from __future__ import annotations

import psycopg
import pytest
import redis
from flask import Flask, Response
from sqlalchemy import exc as sa_exc

from idp.outages import install_outages

ERRORS = {
    "sqlalchemy": sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused")),
    "psycopg": psycopg.OperationalError("server closed the connection unexpectedly"),
    "redis": redis.exceptions.ConnectionError("Connection refused"),
    "timeout": TimeoutError(),
}


def page(key: str, status: int) -> Response:
    return Response(f"<h1>{key}: prøv igen om et øjeblik</h1>", status, mimetype="text/html")


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    install_outages(app, page)

    for prefix in ("/oidc/token", "/api/v1/things", "/saml/sso"):
        for name, error in ERRORS.items():

            def view(error: Exception = error) -> str:
                raise error

            app.add_url_rule(f"{prefix}/{name}", f"{prefix}-{name}", view, methods=["GET"])
    return app


@pytest.mark.parametrize("error", sorted(ERRORS))
def test_oauth_endpoints_answer_rfc6749_json(app: Flask, error: str) -> None:
    answer = app.test_client().get(f"/oidc/token/{error}")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.get_json()["error"] == "temporarily_unavailable"
    assert "try again" in answer.get_json()["error_description"]


@pytest.mark.parametrize("error", sorted(ERRORS))
def test_the_api_answers_problem_json(app: Flask, error: str) -> None:
    answer = app.test_client().get(f"/api/v1/things/{error}")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["status"] == 503 and "try again" in answer.get_json()["detail"]


@pytest.mark.parametrize("error", sorted(ERRORS))
def test_browsers_get_the_page(app: Flask, error: str) -> None:
    answer = app.test_client().get(f"/saml/sso/{error}", headers={"Accept": "text/html"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.mimetype == "text/html"
    assert "service_unavailable" in answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_details_go_to_the_log_not_to_the_caller(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    answer = app.test_client().get("/oidc/token/psycopg")
    assert "server closed" not in answer.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.name == "sts.outage"]
    assert record.dependency == "database"  # type: ignore[attr-defined]
    assert "server closed the connection" in record.cause  # type: ignore[attr-defined]


def test_every_503_gets_retry_after(app: Flask) -> None:
    app.add_url_rule("/busy", "busy", lambda: Response("try again shortly", 503))
    assert app.test_client().get("/busy").headers["Retry-After"] == "5"
