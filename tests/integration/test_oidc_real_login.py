"""The code flow through the real login pages and SSO session of ``idp.login``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from joserfc import jwt
from werkzeug.test import TestResponse

from idp.oidc.claims import ACR_PREFIX
from store.models import User
from tests.login_kit import PASSWORD, csrf_of, hashing
from tests.oidc_kit import (
    ANNE,
    REDIRECT,
    backchannel_receiver,
    basic,
    build_template,
    make_world,
    oidc_settings,
    pkce,
    server_keys,
    set_client,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oidc") / "template"
    build_template(path)
    settings = oidc_settings(path)
    from store.db import Database

    database = Database(settings.effective_database_url)
    with database.session() as session:
        user = session.get(User, ANNE)
        assert user is not None
        user.password_hash = hashing(settings).hash(PASSWORD)
    database.dispose()
    return path


def _authorize(client: FlaskClient, **extra: str) -> tuple[str, TestResponse]:
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": "ky-web",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st",
        "nonce": "nn",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return verifier, client.get("/oidc/authorize?" + urlencode(params))


def _follow_to_client(client: FlaskClient, response: TestResponse) -> str:
    """Follow our own redirects until one leaves for the client; return its Location."""
    for _ in range(10):
        location = response.headers.get("Location", "")
        if location.startswith(REDIRECT):
            return str(location)
        if not location:
            return ""
        response = client.get(location)
    raise AssertionError("too many redirects")


def test_code_flow_through_the_login_pages_then_sso_then_logout(
    template: Path, tmp_path: Path
) -> None:
    world = make_world(template, tmp_path / "var", scripted=False)
    client = world.client
    with backchannel_receiver() as (uri, received):
        set_client(world, "ky-web", backchannel_logout_uri=uri)
        verifier, response = _authorize(client)
        page = client.get(response.headers["Location"], follow_redirects=True)
        assert 'name="password"' in page.get_data(as_text=True)
        done = client.post(
            page.request.url,
            data={"csrf_token": csrf_of(page), "username": "anne", "password": PASSWORD},
            follow_redirects=True,
        )
        match = re.search(r'href="(/login/resume\?flow=[^"]+)"', done.get_data(as_text=True))
        assert match, done.get_data(as_text=True)
        location = _follow_to_client(client, client.get(match.group(1).replace("&amp;", "&")))
        assert "code=" in location and "iss=" in location
        code = location.split("code=")[1].split("&")[0]
        tokens = client.post(
            "/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            headers=basic("ky-web"),
        ).get_json()
        claims = jwt.decode(tokens["id_token"], server_keys(world)).claims
        assert claims["sub"] == ANNE and claims["sid"] and claims["loa"] == "Low"

        _verifier, silent = _authorize(client, prompt="none")
        assert "code=" in _follow_to_client(client, silent)

        client.get("/oidc/logout", query_string={"id_token_hint": tokens["id_token"]})
        assert len(received) == 1
        assert jwt.decode(received[0], server_keys(world)).claims["sid"] == claims["sid"]

        _verifier, after = _authorize(client, prompt="none")
        assert "error=login_required" in _follow_to_client(client, after)


def test_step_up_through_the_login_for_acr_values(template: Path, tmp_path: Path) -> None:
    world = make_world(template, tmp_path / "var", scripted=False)
    _verifier, response = _authorize(world.client, acr_values=ACR_PREFIX + "High")
    # High cannot be reached here: the client is told, no login page is shown.
    assert "error=access_denied" in _follow_to_client(world.client, response)
