"""The ``claims`` request parameter (OIDC Core §5.5) is not supported, and says so.

Discovery advertises ``claims_parameter_supported: false`` (OIDC Discovery §3), and an
authorization request that carries ``claims`` anyway is answered exactly as without it
(RFC 6749 §3.1: unrecognised parameters are ignored): no error, and no claim it asks for
appears in the ID token. NSIS levels are asked for with ``acr_values``; the RP checks
``acr`` in the ID token.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idp.loa import LoA
from idp.oidc.claims import ACR_PREFIX
from tests.oidc_kit import (
    CVR,
    OidcWorld,
    build_template,
    decode,
    logged_in_tokens,
    login_result,
    make_world,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oidc") / "template"
    build_template(path)
    return path


@pytest.fixture
def world(template: Path, tmp_path: Path) -> OidcWorld:
    return make_world(template, tmp_path / "var")


ASKING = json.dumps(
    {
        "id_token": {
            "email": {"essential": True},
            "name": None,
            "acr": {"essential": True, "values": [ACR_PREFIX + "Substantial"]},
        },
        "userinfo": {"given_name": {"essential": True}},
    }
)


def test_discovery_says_the_claims_parameter_is_not_supported(world: OidcWorld) -> None:
    document = world.client.get("/.well-known/openid-configuration").get_json()
    assert document["claims_parameter_supported"] is False


@pytest.mark.parametrize("claims", [ASKING, "{not json"], ids=["asking", "malformed"])
def test_a_claims_parameter_is_ignored_not_refused(world: OidcWorld, claims: str) -> None:
    world.login.session = login_result(LoA.LOW)
    plain = decode(world, logged_in_tokens(world)["id_token"]).claims
    asked = decode(world, logged_in_tokens(world, claims=claims)["id_token"]).claims
    assert set(asked) == set(plain)  # nothing the parameter asked for was added
    assert "email" not in asked and "name" not in asked
    assert asked["acr"] == ACR_PREFIX + "Low"  # the session's level, not the one asked for
    assert asked["cvr"] == CVR
