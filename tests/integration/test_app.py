"""The application factory, health endpoints, request ids and JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask

from app import create_app, initialise, setup_keys, setup_store
from idp.logs import JsonFormatter
from settings import Settings, load_settings


@pytest.fixture
def app(settings: Settings) -> Flask:
    initialise(settings, setup_store(settings), setup_keys(settings))
    return create_app(settings)


def test_healthz_answers_ok(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_every_check(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "state": "ok", "keys": "ok"}


def test_readyz_is_503_without_keys(settings: Settings) -> None:
    from store import migrate

    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.effective_database_url)
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert "stsctl init" in response.get_json()["checks"]["keys"]


def test_readyz_is_503_when_redis_is_down(tmp_path) -> None:
    settings = load_settings(
        {"STS_DATA_DIR": str(tmp_path), "STS_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    initialise(settings, setup_store(settings), setup_keys(settings))
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["state"].startswith("failed: StateUnavailable")


def test_request_id_is_generated_and_echoed(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 32


def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(app: Flask) -> None:
    client = app.test_client()
    assert (
        client.get("/healthz", headers={"X-Request-ID": "lb-123"}).headers["X-Request-ID"]
        == "lb-123"
    )
    hostile = client.get("/healthz", headers={"X-Request-ID": "a b;<x>"}).headers["X-Request-ID"]
    assert hostile != "a b;<x>" and len(hostile) == 32


def test_access_log_is_json_with_the_request_id(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sts.access"):
        app.test_client().get("/healthz", headers={"X-Request-ID": "trace-me"})
    record = next(r for r in caplog.records if r.name == "sts.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-me"
    assert line["status"] == 200
    assert line["msg"] == "GET /healthz 200"


def test_session_cookie_is_httponly_lax_and_secure_under_https(tmp_path) -> None:
    plain = create_app(load_settings({"STS_DATA_DIR": str(tmp_path / "a")}))
    secure = create_app(
        load_settings(
            {"STS_DATA_DIR": str(tmp_path / "b"), "STS_BASE_URL": "https://idp.kommune.dk"}
        )
    )
    assert plain.config["SESSION_COOKIE_HTTPONLY"] is True
    assert plain.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert plain.config["SESSION_COOKIE_SECURE"] is False
    assert secure.config["SESSION_COOKIE_SECURE"] is True


def test_secret_key_is_created_once_with_owner_only_mode(settings: Settings) -> None:
    first = create_app(settings).config["SECRET_KEY"]
    second = create_app(settings).config["SECRET_KEY"]
    assert first == second and len(first) >= 48
    assert (settings.data_dir / "secret_key").stat().st_mode & 0o077 == 0


def test_metrics_count_requests_by_endpoint(app: Flask) -> None:
    client = app.test_client()
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'sts_http_requests_total{endpoint="health.healthz",method="GET",status="200"}' in body
    assert "sts_http_request_seconds_bucket" in body


# -- the client address behind a trusted proxy (STS_TLS_TRUSTED_PROXIES) --


def _address_app(tmp_path, **env: str) -> Flask:
    from flask import request

    settings = load_settings({"STS_DATA_DIR": str(tmp_path / "var"), **env})
    initialise(settings, setup_store(settings), setup_keys(settings))
    app = create_app(settings)
    app.add_url_rule("/test/address", "test_address", lambda: request.remote_addr or "")
    return app


def test_the_client_address_comes_from_x_forwarded_for_via_a_trusted_proxy(tmp_path) -> None:
    client = _address_app(tmp_path, STS_TLS_TRUSTED_PROXIES="10.0.0.0/8").test_client()
    response = client.get(
        "/test/address",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"},  # only the last hop counts
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert response.get_data(as_text=True) == "203.0.113.9"


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path) -> None:
    client = _address_app(tmp_path, STS_TLS_TRUSTED_PROXIES="10.0.0.0/8").test_client()
    response = client.get(
        "/test/address",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.get_data(as_text=True) == "192.0.2.7"
