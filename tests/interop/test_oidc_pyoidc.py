"""Interoperability with an independent relying-party library: pyoidc (``oic``).

The provider runs as a real HTTP server in a thread; pyoidc discovers it, runs the code
flow with PKCE, verifies the ID token against the published JWKS and calls userinfo,
all with its own implementation of the specifications.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from idp.oidc.claims import ACR_PREFIX
from tests.oidc_kit import (
    ANNE,
    CVR,
    REDIRECT,
    SECRET,
    OidcWorld,
    build_template,
    login_result,
    make_world,
)

oic = pytest.importorskip("oic.oic")
from oic import rndstr  # noqa: E402
from oic.oic.message import AuthorizationResponse, RegistrationResponse  # noqa: E402
from oic.utils.authn.client import CLIENT_AUTHN_METHOD  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, OidcWorld]]:
    base = tmp_path_factory.mktemp("oidc-interop")
    build_template(base / "template")
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    world = make_world(base / "template", base / "var", STS_BASE_URL=issuer)
    server = make_server("127.0.0.1", port, world.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer, world
    finally:
        server.shutdown()


def _rp(issuer: str, client_id: str = "ky-web") -> Any:
    client = oic.Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(issuer)
    client.store_registration_info(
        RegistrationResponse(
            client_id=client_id,
            client_secret=SECRET,
            redirect_uris=[REDIRECT],
            token_endpoint_auth_method="client_secret_basic",
        )
    )
    client.redirect_uris = [REDIRECT]
    return client


def _code_flow(issuer: str, client: Any, **extra: Any) -> tuple[Any, str, str]:
    state, nonce = rndstr(), rndstr()
    pkce_args, verifier = client.add_code_challenge()
    args = {
        "client_id": client.client_id,
        "response_type": "code",
        "scope": ["openid", "profile", "email"],
        "nonce": nonce,
        "redirect_uri": REDIRECT,
        "state": state,
        **pkce_args,
        **extra,
    }
    request = client.construct_AuthorizationRequest(request_args=args)
    url = request.request(client.authorization_endpoint)
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    authorization = client.parse_response(
        AuthorizationResponse, info=urlsplit(location).query, sformat="urlencoded"
    )
    assert authorization["state"] == state
    assert authorization["iss"] == issuer
    tokens = client.do_access_token_request(
        state=state,
        request_args={
            "code": authorization["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        authn_method="client_secret_basic",
    )
    return tokens, state, nonce


def test_pyoidc_discovers_the_provider(live: tuple[str, OidcWorld]) -> None:
    issuer, _world = live
    client = _rp(issuer)
    info = client.provider_info
    assert info["issuer"] == issuer
    assert info["code_challenge_methods_supported"] == ["S256"]
    assert client.keyjar.get_issuer_keys(issuer)  # JWKS fetched and parsed


def test_pyoidc_runs_the_code_flow_verifies_the_id_token_and_reads_userinfo(
    live: tuple[str, OidcWorld],
) -> None:
    issuer, world = live
    world.login.session = None
    world.login.next_login = login_result()
    client = _rp(issuer)
    tokens, state, nonce = _code_flow(issuer, client)
    id_token = tokens["id_token"]  # pyoidc has verified signature, iss, aud and expiry
    assert id_token["iss"] == issuer and id_token["aud"] == ["ky-web"]
    assert id_token["sub"] == ANNE and id_token["nonce"] == nonce
    assert id_token["acr"] == ACR_PREFIX + "Substantial"
    userinfo = client.do_user_info_request(state=state, method="GET")
    assert userinfo["sub"] == ANNE and userinfo["cvr"] == CVR
    assert userinfo["email"] == "anne@demo.dk"
    posted = client.do_user_info_request(state=state, method="POST")
    assert posted["sub"] == ANNE


def test_pyoidc_verifies_ps256_id_tokens(live: tuple[str, OidcWorld]) -> None:
    issuer, world = live
    world.login.session = login_result()
    client = _rp(issuer, "ky-ps256")
    tokens, _state, _nonce = _code_flow(issuer, client)
    assert tokens["id_token"].jws_header["alg"] == "PS256"


def test_pyoidc_refreshes_with_rotation(live: tuple[str, OidcWorld]) -> None:
    issuer, world = live
    world.login.session = login_result()
    client = _rp(issuer)
    tokens, state, _nonce = _code_flow(issuer, client)
    first_refresh = tokens["refresh_token"]
    refreshed = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert refreshed["refresh_token"] != first_refresh
    assert refreshed["access_token"] != tokens["access_token"]


def test_pyoidc_prompt_none_without_session_gets_login_required(
    live: tuple[str, OidcWorld],
) -> None:
    issuer, world = live
    world.login.session = None
    client = _rp(issuer)
    state = rndstr()
    pkce_args, _verifier = client.add_code_challenge()
    request = client.construct_AuthorizationRequest(
        request_args={
            "response_type": "code",
            "scope": ["openid"],
            "nonce": rndstr(),
            "redirect_uri": REDIRECT,
            "state": state,
            "prompt": "none",
            **pkce_args,
        }
    )
    response = requests.get(
        request.request(client.authorization_endpoint), allow_redirects=False, timeout=10
    )
    error = client.parse_response(
        AuthorizationResponse,
        info=urlsplit(response.headers["Location"]).query,
        sformat="urlencoded",
    )
    assert error["error"] == "login_required" and error["state"] == state
