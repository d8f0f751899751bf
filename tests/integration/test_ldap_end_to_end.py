"""An Active Directory user end to end, against the real Samba DC (issue 4's last lines).

One world per module: the app's settings point at the session's Samba DC, the directory
is synchronised (``DirectorySync(...).run(full=True)``, what ``stsctl ad sync --full``
does) and a small catalogue is imported whose jobfunktionsrolle is assigned to the AD
group ``GG-Niveau1`` by objectGUID. Anna is in that group three levels down
(Anna ∈ GG-Niveau3 ∈ GG-Niveau2 ∈ GG-Niveau1), so her privileges come only through the
synchronised nesting. Every test builds its own app on that world (own in-process state,
so own SSO sessions and throttle) and drives the real login pages with the AD password.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from lxml import etree
from signxml import XMLVerifier
from sqlalchemy import select
from werkzeug.test import TestResponse

from app import create_app, initialise, setup_keys, setup_store
from authz.bpp import decode_bpp
from authz.priv import decode_priv
from connectors.chain import ChainDirectory
from connectors.ldap import open_directory
from connectors.ldap.sync import DirectorySync
from idp.i18n import MESSAGES
from idp.saml.constants import ATTR_PRIVILEGES, SAML
from settings import Settings, load_settings
from store.catalogue import import_catalogue
from store.db import Database
from store.models import AuditEvent, User
from tests.integration.conftest import ldap_environment
from tests.integration.samba import CVR, SambaDC, Seed
from tests.login_kit import FAST_ARGON2, Browser, login_of
from tests.oidc_kit import pkce
from tests.saml_kit import (
    SpKeys,
    attributes,
    authn_request,
    redirect_query,
    response_of,
    sp_metadata,
)

SP_ENTITY = "https://ky.ad.test/saml/metadata"
FAGSYSTEM_ENTITY = "https://ky.ad.test"
CLIENT = "ky-ad"
REDIRECT = "https://ky.ad.test/callback"
ROLE = "http://ky.ad.test/roles/usersystemrole/laes_sag/1"
OTHER_ROLE = "http://ky.ad.test/roles/usersystemrole/udbetal/1"
JFR = "http://sts.test/roles/jobrole/sagsbehandler_ad/1"
OTHER_JFR = "http://sts.test/roles/jobrole/udbetaler_ad/1"
DEAD_URL = "ldaps://127.0.0.1:1"  # nothing listens: connection refused at once
GENERIC = MESSAGES["da"]["password.wrong"]


@dataclass(frozen=True)
class AdWorld:
    settings: Settings
    anna_id: str  # Anna's objectGUID, read from the DC
    sp_xml: str


def object_guid(dc: SambaDC, dn: str) -> str:
    admin = dc.admin()
    try:
        admin.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["objectGUID"])
        raw = admin.response[0]["raw_attributes"]["objectGUID"][0]
    finally:
        admin.unbind()
    return str(uuid.UUID(bytes_le=raw))


def catalogue(level1: str, unrelated: str, sp_xml: str) -> dict[str, Any]:
    return {
        "version": 1,
        "fagsystemer": [
            {
                "id": "KYAD",
                "name": "KY (AD-test)",
                "entity_id": FAGSYSTEM_ENTITY,
                "kind": "brugervendt",
                "saml": [{"metadata": sp_xml}],
                "oidc_clients": [
                    {
                        "client_id": CLIENT,
                        "redirect_uris": [REDIRECT],
                        "token_endpoint_auth_method": "none",
                        "grant_types": ["authorization_code"],
                    }
                ],
                "roles": [
                    {"id": ROLE, "name": "Læs sag"},
                    {"id": OTHER_ROLE, "name": "Udbetal"},
                ],
            }
        ],
        "jobfunktionsroller": [
            {"id": JFR, "cvr": CVR, "name": "Sagsbehandler (AD)", "grants": [{"role": ROLE}]},
            {"id": OTHER_JFR, "cvr": CVR, "name": "Udbetaler", "grants": [{"role": OTHER_ROLE}]},
        ],
        "assignments": [
            # Anna is in GG-Niveau1 three levels down; the other group is not hers.
            {"group": level1, "cvr": CVR, "role": JFR},
            {"group": unrelated, "cvr": CVR, "role": OTHER_JFR},
        ],
    }


@pytest.fixture(scope="module")
def ad_world(
    samba_dc: SambaDC, samba_seed: Seed, tmp_path_factory: pytest.TempPathFactory
) -> AdWorld:
    root = tmp_path_factory.mktemp("ad-e2e")
    env = ldap_environment(
        samba_dc,
        samba_seed,
        STS_DATA_DIR=str(root / "var"),
        STS_DEMO_LOGIN_PAGE="true",
        STS_LOG_LEVEL="WARNING",
        **FAST_ARGON2,
    )
    settings = load_settings(env)
    database = setup_store(settings)
    initialise(settings, database, setup_keys(settings))
    directory = open_directory(settings)
    try:
        summary = DirectorySync(directory, database).run(full=True)
    finally:
        directory.close()
    assert summary.mode == "full" and summary.created > samba_seed.bulk_count // 2
    level1 = object_guid(samba_dc, samba_seed.groups["level1"])
    sp_xml = sp_metadata(SP_ENTITY, SpKeys.generate("ky-ad"))
    data = catalogue(level1, samba_seed.groups["unrelated"], sp_xml)
    import_catalogue(database, data, actor="test")
    anna_id = object_guid(samba_dc, samba_seed.users["anna"].dn)
    database.dispose()
    return AdWorld(settings, anna_id, sp_xml)


def _close(app: Flask) -> None:
    directory = login_of(app).directory
    for member in getattr(directory, "directories", [directory]):
        close = getattr(member, "close", None)
        if close is not None:
            close()
    app.extensions["sts"].database.dispose()


@pytest.fixture
def app(ad_world: AdWorld) -> Iterator[Flask]:
    application = create_app(ad_world.settings)
    application.config["TESTING"] = True
    yield application
    _close(application)


@pytest.fixture
def dead_app(ad_world: AdWorld) -> Iterator[Flask]:
    """The same world with every domain controller unreachable."""
    settings = ad_world.settings.model_copy(update={"ldap_urls": [DEAD_URL]})
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    _close(application)


def unreachable_directory(settings: Settings) -> ChainDirectory:
    from connectors.local import LocalDirectory
    from idp.login.services import password_hashing

    dead = open_directory(settings.model_copy(update={"ldap_urls": [DEAD_URL]}))
    local = LocalDirectory(Database(settings.effective_database_url), password_hashing(settings))
    return ChainDirectory([dead, local])


def password_login(browser: Browser, username: str, password: str) -> TestResponse:
    """On the password page the fagsystem sent us to: type and submit."""
    page = browser.text()
    assert 'name="password"' in page, page
    return browser.submit(username=username, password=password)


def resume_url(response: TestResponse) -> str:
    match = re.search(r'href="(/login/resume\?flow=[^"]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1).replace("&amp;", "&")


def login_audit(app: Flask) -> list[AuditEvent]:
    with app.extensions["sts"].database.session() as db:
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "login.password").order_by(AuditEvent.id)
        ).all()
        db.expunge_all()
        return list(events)


# -- the login pages ----------------------------------------------------------------------


def test_ad_user_logs_in_through_the_login_pages(
    app: Flask, ad_world: AdWorld, samba_seed: Seed
) -> None:
    browser = Browser(app.test_client())
    browser.start()
    password_login(browser, "anna.jensen", samba_seed.password)
    assert browser.cookie() is not None  # the SSO session
    browser.finish()
    result = browser.result()
    assert result["user"] == ad_world.anna_id  # the objectGUID is the user id
    assert (result["username"], result["cvr"], result["loa"]) == ("anna.jensen", CVR, "Low")
    with app.extensions["sts"].database.session() as db:
        stored = db.get(User, ad_world.anna_id)
        assert stored is not None and stored.source == "ad"
    assert login_audit(app)[-1].outcome == "success"


def test_ad_user_may_type_the_upn_too(app: Flask, ad_world: AdWorld, samba_seed: Seed) -> None:
    browser = Browser(app.test_client())
    browser.start()
    password_login(browser, "anna.jensen@sts.test", samba_seed.password)
    browser.finish()
    assert browser.result()["user"] == ad_world.anna_id


def test_wrong_ad_password_and_disabled_account_get_the_same_generic_answer(
    app: Flask, samba_seed: Seed
) -> None:
    # walt.gruppe: one bad password stays under the DC's lockout threshold of three.
    for username, password in (
        ("walt.gruppe", "Not-the-password-1"),
        ("dora.deaktiv", samba_seed.password),  # disabled in AD, right password
        ("ingen.saadan", samba_seed.password),  # unknown everywhere
    ):
        browser = Browser(app.test_client())
        browser.start()
        answer = password_login(browser, username, password)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200 and 'name="password"' in text
        assert GENERIC in text  # the same words for all three
        assert MESSAGES["da"]["error.account_unusable.title"] not in text  # no state shown
        assert browser.cookie() is None
    reasons = [(e.actor, e.outcome, e.details["reason"]) for e in login_audit(app)[-3:]]
    assert reasons == [
        ("walt.gruppe", "failure", "bad_password"),
        ("dora.deaktiv", "failure", "disabled"),  # the precise reason: audit log only
        ("ingen.saadan", "failure", "unknown_user"),
    ]


def test_readiness_reports_a_reachable_directory(app: Flask) -> None:
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready"
    assert ready.get_json()["checks"]["directory"] == "ok"


def test_unreachable_directory_shows_its_page_and_readiness_is_degraded(
    dead_app: Flask, samba_seed: Seed
) -> None:
    browser = Browser(dead_app.test_client())
    browser.start()
    answer = password_login(browser, "anna.jensen", samba_seed.password)
    assert answer.status_code == 503
    assert MESSAGES["da"]["error.directory_unavailable.title"] in answer.get_data(as_text=True)
    assert browser.cookie() is None
    [event] = login_audit(dead_app)[-1:]
    assert (event.outcome, event.details["reason"]) == ("error", "directory_unavailable")
    ready = dead_app.test_client().get("/readyz")
    assert ready.status_code == 200  # still in the load balancer
    body = ready.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["directory"].startswith("failed")
    assert {k: v for k, v in body["checks"].items() if k != "directory"} == {
        "database": "ok",
        "state": "ok",
        "keys": "ok",
    }


def test_existing_sso_session_keeps_working_while_the_directory_is_down(
    app: Flask, ad_world: AdWorld, samba_seed: Seed
) -> None:
    browser = Browser(app.test_client())
    browser.start()
    password_login(browser, "anna.jensen", samba_seed.password)
    browser.finish()
    first = browser.result()
    # The directory goes away (every DC unreachable) while Anna's session lives.
    services = login_of(app)
    live = services.directory
    services.directory = unreachable_directory(ad_world.settings)
    try:
        assert app.test_client().get("/readyz").get_json()["status"] == "degraded"
        # A second fagsystem: no password page, the same session and user.
        browser.start(fagsystem="ksd")
        assert 'name="password"' not in browser.text()
        second = browser.result()
        assert second["user"] == ad_world.anna_id == first["user"]
        assert second["session"] == first["session"]
        # Someone without a session meets the "directory unavailable" page.
        stranger = Browser(app.test_client())
        stranger.start()
        assert password_login(stranger, "bo.chef", samba_seed.password).status_code == 503
    finally:
        _close_directory(services.directory)
        services.directory = live


def _close_directory(directory: Any) -> None:
    for member in getattr(directory, "directories", []):
        if hasattr(member, "close"):
            member.close()
        if hasattr(member, "database"):
            member.database.dispose()


# -- SAML -----------------------------------------------------------------------------------


def test_saml_assertion_for_an_ad_user_carries_the_group_granted_privilege(
    app: Flask, ad_world: AdWorld, samba_seed: Seed
) -> None:
    client = app.test_client()
    started = client.get("/saml/sso?" + redirect_query(authn_request(SP_ENTITY)))
    assert started.status_code in (302, 303), started.get_data(as_text=True)
    browser = Browser(client)
    browser.get(started.headers["Location"])
    password_login(browser, "anna.jensen", samba_seed.password)
    action, response, _fields = response_of(browser.finish())
    assert action == "https://ky.ad.test/saml/acs"
    services = app.extensions["sts"]
    with services.database.session() as db:
        pem = services.keys.active(db, "RSA").certificate_pem
    XMLVerifier().verify(etree.tostring(response), x509_cert=pem)  # raises unless signed
    assertion = response.find(f"{{{SAML}}}Assertion")
    assert assertion is not None
    XMLVerifier().verify(etree.tostring(assertion), x509_cert=pem)
    assert assertion.findtext(f".//{{{SAML}}}NameID") == ad_world.anna_id
    groups = decode_bpp(attributes(assertion)[ATTR_PRIVILEGES][0])
    assert [g.privilege for g in groups] == [ROLE]  # not OTHER_ROLE: not her group
    assert groups[0].scope == f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"


# -- OpenID Connect -------------------------------------------------------------------------


def _to_client(client: Any, response: TestResponse) -> str:
    """Follow our own redirects until one leaves for the client; return its Location."""
    for _ in range(10):
        location = str(response.headers.get("Location", ""))
        if location.startswith(REDIRECT) or not location:
            return location
        response = client.get(location)
    raise AssertionError("too many redirects")


def test_oidc_code_flow_for_an_ad_user_carries_the_group_granted_privilege(
    app: Flask, ad_world: AdWorld, samba_seed: Seed
) -> None:
    client = app.test_client()
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st",
        "nonce": "nn",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    started = client.get("/oidc/authorize?" + urlencode(params))
    browser = Browser(client)
    browser.get(started.headers["Location"])
    done = password_login(browser, "anna.jensen", samba_seed.password)
    location = _to_client(client, client.get(resume_url(done)))
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == "st" and "code" in query, location
    tokens = client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": CLIENT,
        },
    )
    assert tokens.status_code == 200, tokens.get_json()
    keys = KeySet.import_key_set(client.get("/oidc/jwks").get_json())
    access = jwt.decode(tokens.get_json()["access_token"], keys).claims
    assert access["sub"] == ad_world.anna_id and access["aud"] == FAGSYSTEM_ENTITY
    assert access["cvr"] == CVR
    groups = decode_priv(access["priv"])
    assert [g.privilege for g in groups] == [ROLE]
    assert groups[0].scope == f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"
    id_token = jwt.decode(tokens.get_json()["id_token"], keys).claims
    assert id_token["sub"] == ad_world.anna_id and id_token["nonce"] == "nn"


def test_catalogue_group_reference_by_dn_resolves_like_the_guid(
    ad_world: AdWorld, samba_seed: Seed
) -> None:
    """The same assignment written with the DN instead of the objectGUID is one row."""
    database = Database(ad_world.settings.effective_database_url)
    try:
        data = catalogue(
            samba_seed.groups["level1"], samba_seed.groups["unrelated"], ad_world.sp_xml
        )
        report = import_catalogue(database, data, actor="test")
        assert not report.changed, report.summary()
    finally:
        database.dispose()
