"""The shared issuing core: on-behalf-of, bootstrap tokens, audit before token, and a
revocation that reaches every node within a second (PostgreSQL + Redis, two apps)."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from app import create_app, setup_keys
from authz.bpp import decode_bpp
from idp.sts import EXTENSION
from idp.sts.assertion import build_bootstrap_token
from idp.sts.core import REST, IssueRequest, OnBehalfOf, StsRefusal, issue_assertion
from store.db import Database
from store.models import AuditEvent
from tests.conftest import _truncate
from tests.sts.kit import (
    ANNE,
    CVR,
    EXT_ROLE,
    JSON_PATH,
    OAUTH_PATH,
    SERVICE,
    StsWorld,
    pki,
    seed,
    set_agreement_status,
    sts_settings,
    tls,
)
from tests.sts.test_json_endpoint import post, request_body

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def attribute(assertion: etree._Element, name: str) -> str:
    for element in assertion.iter(f"{{{SAML}}}Attribute"):
        if element.get("Name") == name:
            return element.findtext(f"{{{SAML}}}AttributeValue") or ""
    raise AssertionError(f"no attribute {name}")


def request(world: StsWorld, **kwargs: object) -> IssueRequest:
    values: dict[str, object] = {
        "certificate": world.pki.sapa.cert,
        "applies_to": SERVICE,
        "cvr": CVR,
        "lifetime": None,
        "on_behalf_of": None,
        "protocol": REST,
        **kwargs,
    }
    return IssueRequest(**values)  # type: ignore[arg-type]


def issue(world: StsWorld, req: IssueRequest) -> etree._Element:
    with world.app.test_request_context():
        return issue_assertion(world.sts, req).element


def test_proxy_on_behalf_of_names_the_proxied_system(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    assertion = issue(
        sts_world,
        request(sts_world, certificate=pki.proxy.cert, on_behalf_of=OnBehalfOf(pki.ext.cert)),
    )
    name_id = assertion.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID") or ""
    assert "External (funktionscertifikat)" in name_id  # the proxied system is the subject
    privileges = decode_bpp(attribute(assertion, "dk:gov:saml:attribute:Privileges_intermediate"))
    assert [g.privilege for g in privileges] == [EXT_ROLE]  # the proxied system's agreement


def test_proxy_on_behalf_of_needs_the_callers_right(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    with pytest.raises(StsRefusal) as caught:
        issue(
            sts_world,
            request(sts_world, certificate=pki.noobo.cert, on_behalf_of=OnBehalfOf(pki.ext.cert)),
        )
    assert caught.value.reason == "no_on_behalf_of" and caught.value.code == "101"


def test_a_bootstrap_token_from_our_idp_gives_the_users_privileges(sts_world: StsWorld) -> None:
    now = dt.datetime.now(dt.UTC)
    with sts_world.app.app_context():
        bootstrap = build_bootstrap_token(sts_world.sts, user_id=ANNE, cvr=CVR, now=now)
    req = request(
        sts_world,
        certificate=sts_world.pki.proxy.cert,
        on_behalf_of=OnBehalfOf(bootstrap_assertion=bootstrap),
    )
    assertion = issue(sts_world, req)
    assert assertion.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID") == ANNE
    privileges = decode_bpp(attribute(assertion, "dk:gov:saml:attribute:Privileges_intermediate"))
    assert [g.privilege for g in privileges] == [EXT_ROLE]
    # the same token through the JSON door, base64 in OnBehalfOf
    import base64

    body = request_body(
        sts_world.pki.proxy, OnBehalfOf=base64.b64encode(etree.tostring(bootstrap)).decode()
    )
    assert post(sts_world, body, sts_world.pki.proxy).status_code == 200


@pytest.mark.parametrize("change", ["tampered", "expired", "foreign_issuer"])
def test_a_bootstrap_token_that_is_not_ours_or_not_valid_is_refused(
    sts_world: StsWorld, change: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    when = now - dt.timedelta(hours=9) if change == "expired" else now
    with sts_world.app.app_context():
        bootstrap = build_bootstrap_token(sts_world.sts, user_id=ANNE, cvr=CVR, now=when)
    if change == "tampered":
        for value in bootstrap.iter(f"{{{SAML}}}AttributeValue"):
            if value.text == CVR:
                value.text = "11111111"
    if change == "foreign_issuer":
        issuer = bootstrap.find(f"{{{SAML}}}Issuer")
        assert issuer is not None
        issuer.text = "https://evil.test/runtime"
    req = request(
        sts_world,
        certificate=sts_world.pki.proxy.cert,
        on_behalf_of=OnBehalfOf(bootstrap_assertion=bootstrap),
    )
    with pytest.raises(StsRefusal) as caught:
        issue(sts_world, req)
    assert caught.value.reason in ("bad_bootstrap", "bootstrap_expired")


def test_no_token_leaves_before_its_audit_event_is_written(
    sts_world: StsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import idp.sts.core as core

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(core, "_write", broken)
    response = post(sts_world, request_body(sts_world.pki.sapa), sts_world.pki.sapa)
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "temporarily_unavailable" and "RequestedSecurityToken" not in body


# -- revocation on every node ----------------------------------------------------------------


@pytest.fixture
def two_nodes(
    postgres_schema_url: str, redis_state: object, tmp_path: Path, sts_template: Path
) -> Iterator[tuple[StsWorld, StsWorld]]:
    """Two apps (as two servers) on one PostgreSQL database and one Redis."""
    from tests.conftest import redis_url

    database = Database(postgres_schema_url)
    _truncate(database)
    seed(database)
    data_dir = tmp_path / "var"  # shared, as the servers of one installation share keys
    shutil.copytree(sts_template, data_dir)
    settings = sts_settings(
        data_dir, STS_DATABASE_URL=postgres_schema_url, STS_REDIS_URL=redis_url()
    )
    with database.session() as session:
        setup_keys(settings).ensure_keys(session)
    worlds = []
    for _node in ("a", "b"):
        app = create_app(settings)
        worlds.append(StsWorld(app, app.test_client(), pki()))
    database.dispose()
    yield worlds[0], worlds[1]
    for world in worlds:
        world.app.extensions[EXTENSION].database.dispose()


def test_a_revocation_stops_every_node_within_a_second(
    two_nodes: tuple[StsWorld, StsWorld],
) -> None:
    a, b = two_nodes
    sapa = a.pki.sapa
    oauth = {"client_id": SERVICE, "scope": f"entityid:{SERVICE},anvenderkontekst:{CVR}"}
    for node in (a, b):  # both nodes have the approval cached
        assert post(node, request_body(sapa), sapa).status_code == 200
        assert node.client.post(OAUTH_PATH, data=oauth, environ_base=tls(sapa)).status_code == 200
    set_agreement_status(a, "sa-sapa-demo", "revoked")  # decided on node a, announced
    deadline = time.monotonic() + 1.0
    refused = False
    while time.monotonic() < deadline:
        json_status = post(b, request_body(sapa), sapa).status_code
        oauth_status = b.client.post(OAUTH_PATH, data=oauth, environ_base=tls(sapa)).status_code
        if json_status == 403 and oauth_status == 400:
            refused = True
            break
        time.sleep(0.05)
    assert refused, "node b still issued tokens 1 s after the revocation"
    with b.database.session() as session:
        outcomes = [
            e.outcome
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("sts.token.%"))
            )
        ]
    assert outcomes.count("success") >= 4 and "failure" in outcomes
    assert JSON_PATH  # the JSON door is the one python-serviceplatformen uses


def test_without_trust_anchors_start_up_warns(
    sts_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import idp.sts

    warnings: list[str] = []
    monkeypatch.setattr(idp.sts.log, "warning", lambda message, *a: warnings.append(message))
    data_dir = tmp_path / "var"
    shutil.copytree(sts_template, data_dir)
    app = create_app(sts_settings(data_dir, STS_SYSTEM_CA_FILES="", STS_SYSTEM_CRL_FILES=""))
    assert any("STS_SYSTEM_CA_FILES is not set" in message for message in warnings)
    # registration alone then admits a certificate from an unknown CA (registered to SAPA)
    world = StsWorld(app, app.test_client(), pki())
    assert post(world, request_body(world.pki.untrusted), world.pki.untrusted).status_code == 200


def test_an_unreadable_ca_file_stops_start_up_with_the_variable_named(
    sts_template: Path, tmp_path: Path
) -> None:
    from settings import SettingsError

    data_dir = tmp_path / "var"
    shutil.copytree(sts_template, data_dir)
    with pytest.raises(SettingsError, match="STS_SYSTEM_CA_FILES"):
        create_app(sts_settings(data_dir, STS_SYSTEM_CA_FILES=str(tmp_path / "missing.pem")))
