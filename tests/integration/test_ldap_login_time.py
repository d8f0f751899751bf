"""AD at login, against the real Samba AD DC (issue 15, "AD at login").

One world per module: groups made for this module (GG-LT-Blad ∈ GG-LT-Midt ∈ GG-LT-Top,
and GG-LT-Andet) are created in AD, then a full sync (what ``stsctl ad sync --full``
does) and a catalogue that assigns one jobfunktionsrolle to GG-LT-Top and another to
GG-LT-Andet, by objectGUID. Every test then creates its *own* person in AD (after that
sync), so the tests do not depend on each other's order, and drives the real login pages
of a real app (SAML, OIDC, the test fagsystem). No sync runs between a change in AD and
the login that must reflect it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app import create_app, initialise, setup_keys, setup_store
from authz.bpp import decode_bpp
from authz.priv import decode_priv
from connectors.ldap import open_directory
from connectors.ldap.sync import DirectorySync
from idp.i18n import MESSAGES
from idp.saml.constants import ATTR_PRIVILEGES, SAML
from settings import Settings, load_settings
from store.catalogue import import_catalogue
from store.db import Database
from store.models import AuditEvent, Group, GroupMember, OrgUnit, User
from tests.integration.conftest import ldap_environment
from tests.integration.samba import (
    CVR,
    OU_FORVALTNING,
    OU_GROUPS,
    OU_JOBCENTER,
    SambaDC,
    Seed,
    make_password,
)
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

SP_ENTITY = "https://lt.ad.test/saml/metadata"
FAGSYSTEM_ENTITY = "https://lt.ad.test"
CLIENT = "lt-ad"
REDIRECT = "https://lt.ad.test/callback"
ROLE_TOP = "http://lt.ad.test/roles/usersystemrole/laes/1"
ROLE_OTHER = "http://lt.ad.test/roles/usersystemrole/skriv/1"
JFR_TOP = "http://sts.test/roles/jobrole/lt_top/1"
JFR_OTHER = "http://sts.test/roles/jobrole/lt_andet/1"
GENERIC = MESSAGES["da"]["password.wrong"]
TAG = secrets.token_hex(3)  # this run's AD objects never collide with another module's
GROUPS = {
    "top": f"CN=GG-LT-Top-{TAG},{OU_GROUPS}",
    "middle": f"CN=GG-LT-Midt-{TAG},{OU_GROUPS}",
    "leaf": f"CN=GG-LT-Blad-{TAG},{OU_GROUPS}",
    "other": f"CN=GG-LT-Andet-{TAG},{OU_GROUPS}",
}


@dataclass(frozen=True)
class LoginWorld:
    settings: Settings
    dc: SambaDC
    password: str  # of the people the tests create


def object_guid(dc: SambaDC, dn: str) -> str:
    admin = dc.admin()
    try:
        admin.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["objectGUID"])
        raw = admin.response[0]["raw_attributes"]["objectGUID"][0]
    finally:
        admin.unbind()
    return str(uuid.UUID(bytes_le=raw))


def ad_change(dc: SambaDC, *operations: tuple[str, str, dict[str, Any]]) -> None:
    """Apply ("add" | "modify", dn, attributes or changes) as the AD Administrator."""
    admin = dc.admin()
    try:
        for kind, dn, values in operations:
            if kind == "add":
                object_class = values.pop("objectClass")
                ok = admin.add(dn, object_class, values)
            else:
                ok = admin.modify(dn, values)
            assert ok, (kind, dn, admin.result)
    finally:
        admin.unbind()


def create_person(world: LoginWorld, sam: str, ou: str = OU_JOBCENTER, group: str = "leaf") -> str:
    """A new AD account (enabled, with the world's password) in ``group``; its DN."""
    dn = f"CN={sam},{ou}"
    ad_change(
        world.dc,
        (
            "add",
            dn,
            {
                "objectClass": ["top", "person", "organizationalPerson", "user"],
                "sAMAccountName": sam,
                "givenName": "Ny",
                "sn": sam,
                "displayName": f"Ny {sam}",
                "userPrincipalName": f"{sam}@sts.test",
                "unicodePwd": f'"{world.password}"'.encode("utf-16-le"),
                "userAccountControl": "512",
            },
        ),
        ("modify", GROUPS[group], {"member": [(MODIFY_ADD, [dn])]}),
    )
    return dn


def new_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def catalogue(top: str, other: str, sp_xml: str) -> dict[str, Any]:
    return {
        "version": 1,
        "fagsystemer": [
            {
                "id": "LTAD",
                "name": "Login-tid (AD-test)",
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
                "roles": [{"id": ROLE_TOP, "name": "Læs"}, {"id": ROLE_OTHER, "name": "Skriv"}],
            }
        ],
        "jobfunktionsroller": [
            {"id": JFR_TOP, "cvr": CVR, "name": "LT top", "grants": [{"role": ROLE_TOP}]},
            {"id": JFR_OTHER, "cvr": CVR, "name": "LT andet", "grants": [{"role": ROLE_OTHER}]},
        ],
        "assignments": [
            {"group": top, "cvr": CVR, "role": JFR_TOP},
            {"group": other, "cvr": CVR, "role": JFR_OTHER},
        ],
    }


@pytest.fixture(scope="module")
def world(
    samba_dc: SambaDC, samba_seed: Seed, tmp_path_factory: pytest.TempPathFactory
) -> LoginWorld:
    ad_change(
        samba_dc,
        *(
            ("add", dn, {"objectClass": "group", "sAMAccountName": dn.split(",")[0][3:]})
            for dn in GROUPS.values()
        ),
        ("modify", GROUPS["top"], {"member": [(MODIFY_ADD, [GROUPS["middle"]])]}),
        ("modify", GROUPS["middle"], {"member": [(MODIFY_ADD, [GROUPS["leaf"]])]}),
    )
    root = tmp_path_factory.mktemp("ad-login-time")
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
        DirectorySync(directory, database).run(full=True)  # the last sync before the tests
    finally:
        directory.close()
    sp_xml = sp_metadata(SP_ENTITY, SpKeys.generate("lt-ad"))
    top, other = (object_guid(samba_dc, GROUPS[key]) for key in ("top", "other"))
    import_catalogue(database, catalogue(top, other, sp_xml), actor="test")
    database.dispose()
    return LoginWorld(settings, samba_dc, make_password())


@pytest.fixture(scope="module")
def app(world: LoginWorld) -> Iterator[Flask]:
    """One app for the module: its privilege caches stay warm between logins, as in life."""
    application = create_app(world.settings)
    application.config["TESTING"] = True
    yield application
    directory = login_of(application).directory
    for member in getattr(directory, "directories", [directory]):
        close = getattr(member, "close", None)
        if close is not None:
            close()
    application.extensions["sts"].database.dispose()


def database_of(app: Flask) -> Database:
    database: Database = app.extensions["sts"].database
    return database


def stored(app: Flask, sam: str) -> list[User]:
    with database_of(app).session() as db:
        rows = list(
            db.scalars(select(User).where(User.cvr == CVR, func.lower(User.username) == sam))
        )
        db.expunge_all()
        return rows


def direct_groups(app: Flask, user_id: str) -> set[str]:
    with database_of(app).session() as db:
        return set(
            db.scalars(
                select(Group.dn)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(GroupMember.member_user_id == user_id)
            )
        )


def saml_privileges(app: Flask, username: str, password: str) -> tuple[str, list[str]]:
    """A fresh browser signs on to the SAML SP; (NameID, privileges in the assertion)."""
    client = app.test_client()
    started = client.get("/saml/sso?" + redirect_query(authn_request(SP_ENTITY)))
    assert started.status_code in (302, 303), started.get_data(as_text=True)
    browser = Browser(client)
    browser.get(started.headers["Location"])
    answer = browser.submit(username=username, password=password)
    assert "/login/resume" in answer.get_data(as_text=True), answer.get_data(as_text=True)
    _action, response, _fields = response_of(browser.finish())
    assertion = response.find(f"{{{SAML}}}Assertion")
    assert assertion is not None
    name_id = assertion.findtext(f".//{{{SAML}}}NameID") or ""
    values = attributes(assertion).get(ATTR_PRIVILEGES, [])
    return name_id, sorted(g.privilege for v in values for g in decode_bpp(v))


def _to_client(client: Any, response: TestResponse) -> str:
    for _ in range(10):
        location = str(response.headers.get("Location", ""))
        if location.startswith(REDIRECT) or not location:
            return location
        response = client.get(location)
    raise AssertionError("too many redirects")


def oidc_privileges(app: Flask, username: str, password: str) -> tuple[str, list[str]]:
    """A fresh browser runs the OIDC code flow; (sub, privileges in the access token)."""
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
    browser.submit(username=username, password=password)
    location = _to_client(client, client.get(resume_path(browser.last)))
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert "code" in query, location
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
    return access["sub"], sorted(g.privilege for g in decode_priv(access["priv"]))


def resume_path(response: TestResponse | None) -> str:
    import re

    assert response is not None
    text = response.get_data(as_text=True)
    match = re.search(r'href="(/login/resume\?flow=[^"]+)"', text)
    assert match, text
    return match.group(1).replace("&amp;", "&")


def password_page(app: Flask, username: str, password: str) -> TestResponse:
    browser = Browser(app.test_client())
    browser.start(fagsystem="ksd")
    return browser.submit(username=username, password=password)


# -- a person created in AD after the last sync -------------------------------------------


def test_person_created_after_the_sync_signs_on_with_saml_and_gets_the_nested_groups_privileges(
    app: Flask, world: LoginWorld
) -> None:
    # In a new OU too, which the sync has not seen either.
    unit = f"OU=LT-{TAG},{OU_FORVALTNING}"
    ad_change(world.dc, ("add", unit, {"objectClass": "organizationalUnit"}))
    sam = new_name("lt.saml.")
    dn = create_person(world, sam, ou=unit)
    assert stored(app, sam) == []
    name_id, privileges = saml_privileges(app, sam, world.password)
    guid = object_guid(world.dc, dn)
    assert name_id == guid
    # Blad ∈ Midt ∈ Top: Top's role, nothing of Andet's.
    assert privileges == [ROLE_TOP]
    [user] = stored(app, sam)
    assert (user.id, user.source, user.external_id, user.disabled) == (guid, "ad", dn, False)
    assert (user.name, user.upn) == (f"Ny {sam}", f"{sam}@sts.test")
    assert direct_groups(app, guid) == {GROUPS["leaf"]}  # direct membership only, as a sync
    with database_of(app).session() as db:
        ou = db.get(OrgUnit, user.org_unit_uuid)
        assert ou is not None and ou.uuid == object_guid(world.dc, unit)
        parent = db.get(OrgUnit, ou.parent_uuid)
        assert parent is not None and parent.external_id == OU_FORVALTNING
        created = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "ad.user.created", AuditEvent.object_id == guid
            )
        ).all()
        assert len(created) == 1


def test_person_created_after_the_sync_signs_on_with_oidc(app: Flask, world: LoginWorld) -> None:
    sam = new_name("lt.oidc.")
    dn = create_person(world, sam)
    subject, privileges = oidc_privileges(app, sam, world.password)
    assert subject == object_guid(world.dc, dn)
    assert privileges == [ROLE_TOP]


def test_a_move_between_groups_in_ad_counts_at_the_next_login_without_a_sync(
    app: Flask, world: LoginWorld
) -> None:
    sam = new_name("lt.flyt.")
    dn = create_person(world, sam)
    assert saml_privileges(app, sam, world.password)[1] == [ROLE_TOP]  # caches are warm now
    ad_change(
        world.dc,
        ("modify", GROUPS["leaf"], {"member": [(MODIFY_DELETE, [dn])]}),
        ("modify", GROUPS["other"], {"member": [(MODIFY_ADD, [dn])]}),
    )
    assert saml_privileges(app, sam, world.password)[1] == [ROLE_OTHER]
    assert oidc_privileges(app, sam, world.password)[1] == [ROLE_OTHER]
    assert direct_groups(app, object_guid(world.dc, dn)) == {GROUPS["other"]}


def test_a_change_in_the_nesting_above_counts_at_the_next_login(
    app: Flask, world: LoginWorld
) -> None:
    """Blad leaves Midt in AD: the nesting the login read replaces the synced one."""
    sam = new_name("lt.nest.")
    create_person(world, sam)
    assert saml_privileges(app, sam, world.password)[1] == [ROLE_TOP]
    ad_change(
        world.dc, ("modify", GROUPS["middle"], {"member": [(MODIFY_DELETE, [GROUPS["leaf"]])]})
    )
    try:
        assert saml_privileges(app, sam, world.password)[1] == []
    finally:
        ad_change(
            world.dc, ("modify", GROUPS["middle"], {"member": [(MODIFY_ADD, [GROUPS["leaf"]])]})
        )
    assert saml_privileges(app, sam, world.password)[1] == [ROLE_TOP]


def test_disabled_in_ad_is_refused_at_the_next_login_and_marked_disabled_before_any_sync(
    app: Flask, world: LoginWorld
) -> None:
    sam = new_name("lt.stop.")
    dn = create_person(world, sam)
    browser = Browser(app.test_client())
    browser.start(fagsystem="ksd")
    browser.submit(username=sam, password=world.password)
    browser.finish()
    guid = object_guid(world.dc, dn)
    assert browser.result()["user"] == guid
    ad_change(world.dc, ("modify", dn, {"userAccountControl": [(MODIFY_REPLACE, ["514"])]}))
    refused = password_page(app, sam, world.password)  # the right password
    assert refused.status_code == 200 and GENERIC in refused.get_data(as_text=True)
    [user] = stored(app, sam)
    assert user.disabled
    with database_of(app).session() as db:
        event = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "ad.user.disabled", AuditEvent.object_id == guid
            )
        ).one()
        assert event.details["via"] == "login"
    # The SSO session of the earlier login has ended: the next fagsystem asks again.
    browser.start(fagsystem="ksd2")
    assert 'name="password"' in browser.text()
    # Enabled again in AD: a login never gives access back, the next sync does.
    ad_change(world.dc, ("modify", dn, {"userAccountControl": [(MODIFY_REPLACE, ["512"])]}))
    unusable = password_page(app, sam, world.password)
    assert unusable.status_code == 403
    assert MESSAGES["da"]["error.account_unusable.title"] in unusable.get_data(as_text=True)
    assert stored(app, sam)[0].disabled
    directory = open_directory(world.settings)
    try:
        DirectorySync(directory, database_of(app)).run()
    finally:
        directory.close()
    assert not stored(app, sam)[0].disabled
    assert "/login/resume" in password_page(app, sam, world.password).get_data(as_text=True)


def test_the_next_sync_finds_and_keeps_the_rows_the_login_wrote(
    app: Flask, world: LoginWorld
) -> None:
    sam, gone = new_name("lt.sync."), new_name("lt.syncstop.")
    create_person(world, sam)
    gone_dn = create_person(world, gone)
    assert saml_privileges(app, sam, world.password)[1] == [ROLE_TOP]
    assert saml_privileges(app, gone, world.password)[1] == [ROLE_TOP]
    ad_change(world.dc, ("modify", gone_dn, {"userAccountControl": [(MODIFY_REPLACE, ["514"])]}))
    assert GENERIC in password_page(app, gone, world.password).get_data(as_text=True)
    [before] = stored(app, sam)
    memberships = direct_groups(app, before.id)
    database = database_of(app)
    directory = open_directory(world.settings)
    try:
        summary = DirectorySync(directory, database).run()
    finally:
        directory.close()
    assert summary.conflicts == []
    [after] = stored(app, sam)
    assert after.id == before.id
    assert after.updated_at == before.updated_at  # the sync had nothing to change
    assert direct_groups(app, after.id) == memberships == {GROUPS["leaf"]}
    [still_disabled] = stored(app, gone)
    assert still_disabled.disabled
    with database.session() as db:
        duplicates = db.scalar(
            select(func.count())
            .select_from(User)
            .where(User.cvr == CVR)
            .group_by(func.lower(User.username))
            .order_by(func.count().desc())
            .limit(1)
        )
    assert duplicates == 1
