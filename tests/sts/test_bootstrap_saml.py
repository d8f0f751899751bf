"""The SAML IdP's bootstrap token (``STS_SAML_BOOTSTRAP_TOKEN``), exchanged at the STS.

A fagsystem that got a user's assertion from our IdP finds the bootstrap token in the
``https://data.gov.dk/model/core/eid/bootstrapToken`` attribute and exchanges it at the
JSON endpoint (``OnBehalfOf``) for a system token on the user's behalf.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from lxml import etree

from idp.saml.constants import SAML
from settings import Settings, load_settings
from store.models import Serviceaftale, SystemRole
from tests.saml_kit import SpKeys, World, attributes, authn_request, make_world, redirect_query
from tests.saml_kit import response_of as saml_response_of
from tests.sts.kit import CVR, JSON_PATH, KeyPair, pki, tls
from tests.sts.test_json_endpoint import request_body

BOOTSTRAP = "https://data.gov.dk/model/core/eid/bootstrapToken"
KY_SP = "https://ky.test/sp"
SERVICE = "https://svc.test/service/1"
ROLE = "https://svc.test/roles/servicesystemrole/laes/1"


@pytest.fixture(scope="module")
def sp_keys() -> SpKeys:
    return SpKeys.generate("ky")


def world_with(tmp_path: Path, sp_keys: SpKeys, **env: str) -> World:
    settings: Settings = load_settings({"STS_DATA_DIR": str(tmp_path / "var"), **env})
    world = make_world(settings)
    world.add_sp(KY_SP, sp_keys, fagsystem="ky")
    from idp.sts.certificates import register_certificate
    from store.models import Fagsystem

    with world.app.extensions["sts"].database.session() as session:
        session.add(Fagsystem(id="svc", name="Service", entity_id=SERVICE, kinds=["service"]))
        session.flush()
        session.add(SystemRole(id=ROLE, fagsystem_id="svc", name="Læs"))
        session.add(
            Serviceaftale(
                id="sa-ky-svc",
                cvr=CVR,
                anvendersystem_id="ky",
                service_id="svc",
                roles=[ROLE],
                on_behalf_of=True,
                status="approved",
            )
        )
        register_certificate(session, "ky", pki().sapa.cert)
    return world


def sso_assertion(world: World, sp_keys: SpKeys) -> etree._Element:
    query = redirect_query(authn_request(KY_SP), keys=sp_keys, relay_state="rs")
    first = world.client.get("/saml/sso?" + query)
    assert first.status_code == 303, first.get_data(as_text=True)
    _action, response, _fields = saml_response_of(world.login(first.headers["Location"]))
    assertion = response.find(f"{{{SAML}}}Assertion")
    assert assertion is not None
    return assertion


def test_the_assertion_carries_a_bootstrap_token_the_sts_exchanges(
    tmp_path: Path, sp_keys: SpKeys
) -> None:
    world = world_with(tmp_path, sp_keys, STS_SAML_BOOTSTRAP_TOKEN="true")
    (value,) = attributes(sso_assertion(world, sp_keys))[BOOTSTRAP]
    bootstrap = etree.fromstring(base64.b64decode(value))
    assert bootstrap.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID") == world.user_id
    caller: KeyPair = pki().sapa  # registered to ky above
    body = request_body(caller, service=SERVICE, OnBehalfOf=value)
    response = world.client.post(JSON_PATH, json=body, environ_base=tls(caller))
    assert response.status_code == 200, response.get_json()
    token = etree.fromstring(
        base64.b64decode(response.get_json()["RequestedSecurityToken"]["Assertion"])
    )
    assert token.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID") == world.user_id
    # a bootstrap token changed to name another user no longer verifies: refused
    name_id = bootstrap.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID")
    assert name_id is not None
    name_id.text = "someone-else"
    tampered = base64.b64encode(etree.tostring(bootstrap)).decode()
    refused = world.client.post(
        JSON_PATH, json={**body, "OnBehalfOf": tampered}, environ_base=tls(caller)
    )
    assert refused.status_code == 400 and "RequestedSecurityToken" not in refused.get_json()
    assert "bootstrap token is not accepted" in refused.get_json()["error_description"]


def test_without_the_setting_there_is_no_bootstrap_token(tmp_path: Path, sp_keys: SpKeys) -> None:
    world = world_with(tmp_path, sp_keys)
    assert BOOTSTRAP not in attributes(sso_assertion(world, sp_keys))
