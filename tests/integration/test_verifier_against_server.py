"""The fagsystem SDK accepts what the real server issues, checked only with what the
server publishes (``/saml/metadata``, ``/oidc/jwks``), as a fagsystem would.

SAML responses come from ``/saml/sso`` for a registered SP (plain and encrypted); JWTs
from ``/oidc/token``: client_credentials under an approved service agreement, a user's
access and ID tokens from the code flow (RS256, PS256, ES256), and an on-behalf-of
token exchange. ``stsctl token inspect`` verifies the same tokens from the database keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from settings import Settings
from tests import oidc_kit
from tests.saml_kit import CVR, SpKeys, World, authn_request, make_world, redirect_query
from verifier import InvalidToken, jwt
from verifier.privileges import from_priv
from verifier.replay import MemoryReplayCache
from verifier.saml import verify_response

SP = "https://ky.test/sp"
ACS = "https://ky.test/acs"
SP_ROLE = "http://ky.test/roles/usersystemrole/laes/1"  # what saml_kit's privileges stub grants
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


# -- SAML -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sp_keys() -> SpKeys:
    return SpKeys.generate("ky")


@pytest.fixture
def saml_world(settings: Settings) -> World:
    return make_world(settings)


def sso(world: World, keys: SpKeys) -> tuple[str, str]:
    """(request ID, posted SAMLResponse) after a signed AuthnRequest and a login."""
    request = authn_request(SP)
    first = world.client.get("/saml/sso?" + redirect_query(request, keys=keys, relay_state="r"))
    assert first.status_code == 303, first.get_data(as_text=True)
    answer = world.login(first.headers["Location"])
    html = answer.get_data(as_text=True)
    assert re.search(rf'action="{re.escape(ACS)}"', html), html
    posted = re.search(r'name="SAMLResponse" value="([^"]+)"', html)
    assert posted, html
    return str(request.get("ID")), posted.group(1)


def idp_metadata(world: World) -> bytes:
    response = world.client.get("/saml/metadata")
    assert response.status_code == 200
    return response.get_data()


def test_verifier_accepts_the_sso_response_for_a_registered_sp(
    saml_world: World, sp_keys: SpKeys
) -> None:
    saml_world.add_sp(SP, sp_keys, fagsystem="ky", require_signed_requests=True)
    request_id, posted = sso(saml_world, sp_keys)
    cache = MemoryReplayCache()
    metadata = idp_metadata(saml_world)
    assertion = verify_response(
        posted,
        idp_metadata=metadata,
        sp_entity_id=SP,
        acs_url=ACS,
        request_id=request_id,
        replay_cache=cache,
    )
    assert assertion.name_id == saml_world.user_id
    assert assertion.issuer == "http://127.0.0.1:8000/saml/metadata"
    assert assertion.cvr == CVR and assertion.loa == "Low"
    assert assertion.attribute("https://data.gov.dk/model/core/eid/fullName") == "Anna Andersen"
    assert assertion.privileges.allows(SP_ROLE, cvr=CVR)
    assert not assertion.privileges.allows(SP_ROLE, cvr="11111111")
    # The same response twice is a replay; for another SP or ACS it is not ours.
    with pytest.raises(InvalidToken) as replay:
        verify_response(
            posted,
            idp_metadata=metadata,
            sp_entity_id=SP,
            acs_url=ACS,
            request_id=request_id,
            replay_cache=cache,
        )
    assert replay.value.reason == "replay"
    with pytest.raises(InvalidToken) as wrong:
        verify_response(
            posted, idp_metadata=metadata, sp_entity_id="https://ksd.test/sp", acs_url=ACS,
            request_id=request_id, replay_cache=MemoryReplayCache(),
        )  # fmt: skip
    assert wrong.value.reason == "wrong_audience"


def test_verifier_decrypts_an_encrypted_assertion(saml_world: World, sp_keys: SpKeys) -> None:
    saml_world.add_sp(SP, sp_keys, fagsystem="ky", encrypt_assertion=True)
    request_id, posted = sso(saml_world, sp_keys)
    metadata = idp_metadata(saml_world)
    common: dict[str, Any] = {
        "idp_metadata": metadata,
        "sp_entity_id": SP,
        "acs_url": ACS,
        "request_id": request_id,
    }
    with pytest.raises(InvalidToken) as without_key:
        verify_response(posted, replay_cache=MemoryReplayCache(), **common)
    assert without_key.value.reason == "decryption_failed"
    assertion = verify_response(
        posted, decryption_key=sp_keys.key_pem, replay_cache=MemoryReplayCache(), **common
    )
    assert assertion.name_id == saml_world.user_id
    assert assertion.privileges.allows(SP_ROLE, cvr=CVR)


def test_token_inspect_verifies_a_saml_response(
    saml_world: World, sp_keys: SpKeys, settings: Settings
) -> None:
    saml_world.add_sp(SP, sp_keys, fagsystem="ky")
    _request_id, posted = sso(saml_world, sp_keys)
    env = {"STS_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(main, ["token", "inspect", posted], env=env)
    assert result.exit_code == 0, result.output
    assert "valid:" in result.output and saml_world.user_id in result.output
    assert SP_ROLE in result.output and "privileges: 1 group(s)" in result.output
    tampered = CliRunner().invoke(
        main, ["token", "inspect", posted, "--acs-url", "https://evil.test/acs"], env=env
    )
    assert tampered.exit_code == 1 and "INVALID: wrong_destination" in tampered.output


# -- OpenID Connect / OAuth ----------------------------------------------------------------


@pytest.fixture(scope="module")
def oidc_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oidc") / "template"
    oidc_kit.build_template(path)
    return path


@pytest.fixture
def oidc_world(oidc_template: Path, tmp_path: Path) -> oidc_kit.OidcWorld:
    return oidc_kit.make_world(oidc_template, tmp_path / "var")


def published_jwks(world: oidc_kit.OidcWorld) -> dict[str, Any]:
    document: dict[str, Any] = world.client.get("/oidc/jwks").get_json()
    return document


def test_verifier_accepts_a_client_credentials_token(oidc_world: oidc_kit.OidcWorld) -> None:
    response = oidc_world.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": oidc_kit.ORG, "cvr": oidc_kit.CVR},
        headers=oidc_kit.basic("sapa-system"),
    )
    assert response.status_code == 200, response.get_json()
    claims = jwt.verify(
        response.get_json()["access_token"],
        issuer=oidc_kit.ISSUER,
        audience=oidc_kit.ORG,
        jwks=published_jwks(oidc_world),
    )
    assert claims["sub"] == "sapa-system" and claims["cvr"] == oidc_kit.CVR
    privileges = from_priv(claims["priv"])
    # The agreement's constraint comes with the servicesystemrolle: fail closed without it.
    assert privileges.allows(
        oidc_kit.ORG_ROLE, cvr=oidc_kit.CVR, constraints={"urn:x:fysiskslet": "Nej"}
    )
    assert not privileges.allows(oidc_kit.ORG_ROLE, cvr=oidc_kit.CVR)


@pytest.mark.parametrize("client_id", ["ky-web", "ky-ps256", "ky-es256"])
def test_verifier_accepts_the_users_access_and_id_token_from_the_code_flow(
    oidc_world: oidc_kit.OidcWorld, client_id: str
) -> None:
    tokens = oidc_kit.logged_in_tokens(oidc_world, client_id)
    keys = published_jwks(oidc_world)
    claims = jwt.verify(
        tokens["access_token"], issuer=oidc_kit.ISSUER, audience=oidc_kit.KY, jwks=keys
    )
    assert claims["sub"] == oidc_kit.ANNE and claims["loa"] == "Substantial"
    assert from_priv(claims["priv"]).allows(oidc_kit.KY_ROLE, cvr=oidc_kit.CVR)
    id_claims = jwt.verify(
        tokens["id_token"], issuer=oidc_kit.ISSUER, audience=client_id, jwks=keys, token_type="JWT"
    )
    assert id_claims["sub"] == oidc_kit.ANNE
    # Neither passes as the other.
    with pytest.raises(InvalidToken) as confused:
        jwt.verify(tokens["id_token"], issuer=oidc_kit.ISSUER, audience=client_id, jwks=keys)
    assert confused.value.reason == "wrong_typ"
    with pytest.raises(InvalidToken) as other_audience:
        jwt.verify(
            tokens["access_token"], issuer=oidc_kit.ISSUER, audience=oidc_kit.SAPA, jwks=keys
        )
    assert other_audience.value.reason == "wrong_audience"


def test_verifier_accepts_an_exchanged_token_at_the_target_service(
    oidc_world: oidc_kit.OidcWorld,
) -> None:
    user_token = oidc_kit.logged_in_tokens(oidc_world, "sapa-web")["access_token"]
    response = oidc_world.client.post(
        "/oidc/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": user_token,
            "subject_token_type": ACCESS,
            "audience": oidc_kit.KY,
        },
        headers=oidc_kit.basic("sapa-web"),
    )
    assert response.status_code == 200, response.get_json()
    claims = jwt.verify(
        response.get_json()["access_token"],
        issuer=oidc_kit.ISSUER,
        audience=oidc_kit.KY,
        jwks=published_jwks(oidc_world),
    )
    assert claims["sub"] == oidc_kit.ANNE and claims["act"] == {"sub": "sapa-web"}
    assert from_priv(claims["priv"]).allows(oidc_kit.KY_ROLE, cvr=oidc_kit.CVR)


def test_token_inspect_verifies_a_jwt_with_the_database_keys(
    oidc_world: oidc_kit.OidcWorld,
) -> None:
    tokens = oidc_kit.logged_in_tokens(oidc_world, "ky-web")
    env = {
        "STS_DATA_DIR": str(oidc_world.settings.data_dir),
        "STS_BASE_URL": oidc_kit.ISSUER,
    }
    runner = CliRunner()
    result = runner.invoke(main, ["token", "inspect", tokens["access_token"]], env=env)
    assert result.exit_code == 0, result.output
    assert "JWT (typ at+jwt" in result.output and oidc_kit.KY_ROLE in result.output
    assert re.search(rf"sub\s+{oidc_kit.ANNE}", result.output)
    id_token = runner.invoke(main, ["token", "inspect", tokens["id_token"]], env=env)
    assert id_token.exit_code == 0 and "typ JWT" in id_token.output, id_token.output
    wrong = runner.invoke(
        main, ["token", "inspect", tokens["access_token"], "--issuer", "https://evil.test"], env=env
    )
    assert wrong.exit_code == 1 and "INVALID: wrong_issuer" in wrong.output
    assert "claims (NOT verified)" in wrong.output
