"""Bad input in every form of the fagsystem, audit, key and catalogue pages: a message at
the field, in Danish (and in English after the switch), never a 500, nothing changed.

(The role, assignment, agreement and explain forms are covered in their own files.)
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.test import TestResponse

from admin.actor import command_line
from admin.service import assignments, fagsystemer, jfr, keys
from admin.service.context import ServiceContext
from admin.service.paging import Paging
from admin.ui.messages import translate
from tests.admin_kit import KLE, KY_ROLE, A
from tests.admin_ui.kit import UiWorld, field_error

CTYPES = "/admin/fagsystemer/SAPA/dataafgraensninger"
ROLES = "/admin/fagsystemer/SAPA/roller"
SAML = "/admin/fagsystemer/SAPA/saml-metadata"
CLIENTS = "/admin/fagsystemer/SAPA/klienter"
ATTRIBUTES = "/admin/fagsystemer/SAPA/egenskaber"
NOT_AN_SP = b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>'
CLIENT = {"token_endpoint_auth_method": "client_secret_basic", "grant_types": "client_credentials"}


@dataclass
class Case:
    """One bad value in one form, and what is said about it at which field."""

    who: str
    url: str
    form: dict[str, Any]
    field: str
    danish: str
    english: str
    get: bool = False
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)


CASES = {
    "ctype_without_id": Case(
        "lars",
        CTYPES,
        {"ctype_id": "", "ctype_name": "X", "ctype_kind": "kle"},
        "ctype_id",
        "Skal udfyldes.",
        "should be non-empty",
    ),
    "ctype_of_unknown_kind": Case(
        "lars",
        CTYPES,
        {"ctype_id": "http://sapa.test/c/1", "ctype_name": "X", "ctype_kind": "nej"},
        "ctype_kind",
        "nej er ikke en af de tilladte værdier.",
        "'nej' is not one of",
    ),
    "value_list_without_values": Case(
        "lars",
        CTYPES,
        {"ctype_id": "http://sapa.test/c/1", "ctype_name": "X", "ctype_kind": "values"},
        "ctype_values",
        "En dataafgrænsning af typen værdiliste skal have tilladte værdier.",
        "a constraint type of kind values needs a values list",
    ),
    "broken_regular_expression": Case(
        "lars",
        CTYPES,
        {
            "ctype_id": "http://sapa.test/c/1",
            "ctype_name": "X",
            "ctype_kind": "text",
            "ctype_regex": "([",
        },
        "ctype_regex",
        "Det er ikke et gyldigt regulært udtryk.",
        "not a valid regular expression",
    ),
    "ctype_name_too_long": Case(
        "lars",
        CTYPES,
        {"ctype_id": "http://sapa.test/c/1", "ctype_name": "x" * 400, "ctype_kind": "kle"},
        "ctype_name",
        "Teksten er for lang.",
        "'xxxx",
    ),
    "role_without_name": Case(
        "lars",
        ROLES,
        {"role_id": "http://sapa.test/roles/usersystemrole/ny/1", "role_name": ""},
        "role_name",
        "Skal udfyldes.",
        "should be non-empty",
    ),
    "role_id_of_another_fagsystem": Case(
        "lars",
        ROLES,
        {"role_id": KY_ROLE, "role_name": "Stjålet"},
        "role_id",
        "Tilhører allerede fagsystemet KY.",
        "already belongs to fagsystem KY",
    ),
    "role_with_undeclared_constraint_type": Case(
        "lars",
        ROLES,
        {
            "role_id": "http://sapa.test/roles/usersystemrole/ny/1",
            "role_name": "Ny",
            "role_constraints": KLE,
        },
        "role_constraints",
        f"Dataafgrænsningen {KLE} er ikke erklæret i fagsystemet; tilføj den først.",
        f"unknown constraint type {KLE}; declare it in constraint_types",
    ),
    "fagsystem_without_name": Case(
        "lars",
        ATTRIBUTES,
        {"system_name": "", "system_kind": "anvender", "system_min_loa": "Low"},
        "system_name",
        "Skal udfyldes.",
        "should be non-empty",
    ),
    "fagsystem_without_kind": Case(
        "lars",
        ATTRIBUTES,
        {"system_name": "SAPA", "system_min_loa": "Low"},
        "system_kind",
        "Vælg mindst én art.",
        "Choose at least one kind.",
    ),
    "unknown_assurance_level": Case(
        "lars",
        ATTRIBUTES,
        {"system_name": "SAPA", "system_kind": "anvender", "system_min_loa": "Ultra"},
        "system_min_loa",
        "Ultra er ikke en af de tilladte værdier.",
        "'Ultra' is not one of",
    ),
    "saml_without_file_or_url": Case(
        "lars",
        SAML,
        {},
        "metadata",
        "Vælg en metadatafil eller skriv adressen.",
        "Choose a metadata file or write its address.",
    ),
    "saml_url_of_another_scheme": Case(
        "lars",
        SAML,
        {"url": "file:///etc/passwd"},
        "url",
        "Kun adresser med http:// eller https:// kan hentes.",
        "only http:// and https:// URLs",
    ),
    "saml_url_that_does_not_answer": Case(
        "lars",
        SAML,
        {"url": "http://127.0.0.1:9/metadata"},
        "url",
        "Metadata kunne ikke hentes; tjek adressen.",
        "check the URL",
    ),
    "saml_file_that_is_not_xml": Case(
        "lars",
        SAML,
        {},
        "metadata",
        "Filen er ikke gyldig XML.",
        "not well-formed XML",
        files={"metadata": b"<md:EntityDescriptor"},
    ),
    "saml_file_that_is_not_one_sp": Case(
        "lars",
        SAML,
        {},
        "metadata",
        "Metadata skal have ét md:EntityDescriptor som rodelement (én tjenesteudbyder ad gangen).",
        "must have one md:EntityDescriptor",
        files={"metadata": NOT_AN_SP},
    ),
    "saml_file_that_is_not_text": Case(
        "lars",
        SAML,
        {},
        "metadata",
        "Filen er ikke UTF-8-tekst.",
        "The file is not UTF-8 text.",
        files={"metadata": b"\xff\xfe<"},
    ),
    "client_without_grant_type": Case(
        "lars",
        CLIENTS,
        {"token_endpoint_auth_method": "client_secret_basic"},
        "grant_types",
        "Vælg mindst én grant type.",
        "choose at least one grant type",
    ),
    "code_flow_without_redirect_uri": Case(
        "lars",
        CLIENTS,
        {**CLIENT, "grant_types": "authorization_code"},
        "redirect_uris",
        "authorization_code kræver mindst én redirect-URI.",
        "authorization_code needs at least one redirect URI",
    ),
    "redirect_uri_that_is_not_a_url": Case(
        "lars",
        CLIENTS,
        {**CLIENT, "redirect_uris": "javascript:alert(1)"},
        "redirect_uris",
        "javascript:alert(1) har ikke det rigtige format.",
        "does not match",
    ),
    "unknown_authentication_method": Case(
        "lars",
        CLIENTS,
        {**CLIENT, "token_endpoint_auth_method": "magi"},
        "token_endpoint_auth_method",
        "magi er ikke en af de tilladte værdier.",
        "'magi' is not one of",
    ),
    "client_id_taken": Case(
        "lars",
        CLIENTS,
        {**CLIENT, "client_id": "sapa-system"},
        "client_id",
        "Klienten sapa-system findes allerede.",
        "client sapa-system exists already",
    ),
    "audit_date_that_is_not_a_date": Case(
        "ole",
        "/admin/revisionslog?since=i+går",
        {},
        "since",
        "Skriv en dato som 2026-12-31.",
        "YYYY-MM-DD or an ISO 8601 date-time",
        get=True,
    ),
    "audit_export_with_a_bad_date": Case(
        "ole",
        "/admin/revisionslog?until=2026-13-01&format=csv",
        {},
        "until",
        "Skriv en dato som 2026-12-31.",
        "YYYY-MM-DD or an ISO 8601 date-time",
        get=True,
    ),
    "audit_cvr_that_is_not_a_cvr": Case(
        "ole",
        "/admin/revisionslog?cvr=kommune+a&format=json",
        {},
        "cvr",
        "Skriv et CVR-nummer med 8 cifre.",
        "Write a CVR number of 8 digits.",
        get=True,
    ),
    "audit_cvr_not_administered": Case(
        "alma",
        "/admin/revisionslog?cvr=11111111",
        {},
        "cvr",
        "Du kan ikke se revisionsloggen for kommune 11111111.",
        "You may not see the audit log of municipality 11111111.",
        get=True,
    ),
    "unknown_key_type": Case(
        "ole",
        "/admin/noegler/roter",
        {"kty": "DSA"},
        "kty",
        "Vælg en af: RSA, EC.",
        "one of RSA, EC",
    ),
    "catalogue_missing": Case(
        "ole",
        "/admin/katalog/import",
        {},
        "catalogue",
        "Vælg en katalogfil.",
        "Choose a catalogue file.",
    ),
    "catalogue_that_is_not_yaml": Case(
        "ole",
        "/admin/katalog/import",
        {},
        "catalogue",
        "Filen kan ikke læses som et katalog: Filen k.yaml er hverken gyldig YAML eller JSON.",
        "k.yaml is not valid YAML or JSON",
        files={"catalogue": b"version: [1"},
    ),
    "catalogue_with_an_unknown_key": Case(
        "ole",
        "/admin/katalog/import",
        {},
        "catalogue",
        "/: Ukendte felter: 'kommuner'. Tilladte felter er assignments, fagsystemer, "
        "jobfunktionsroller, municipalities, serviceaftaler, users, version.",
        "unknown key(s) 'kommuner'",
        files={"catalogue": b"version: 1\nkommuner: []\n"},
    ),
    "catalogue_with_a_missing_member": Case(
        "ole",
        "/admin/katalog/import",
        {},
        "catalogue",
        "/municipalities/0/name: Skal udfyldes.",
        "'name' is a required property",
        files={"catalogue": b"version: 1\nmunicipalities:\n- {cvr: '22222222', domain: c.test}\n"},
    ),
    "catalogue_naming_an_unknown_role": Case(
        "ole",
        "/admin/katalog/import",
        {},
        "catalogue",
        "/jobfunktionsroller/0/grants/0/role: Brugersystemrollen http://nope/1 findes ikke.",
        "unknown role http://nope/1",
        files={
            "catalogue": b"version: 1\njobfunktionsroller:\n- id: http://a.test/roles/jobrole/ny/1\n"
            b"  cvr: '29189846'\n  name: Ny\n  grants: [{role: 'http://nope/1'}]\n"
        },
    ),
}


def _service(ui: UiWorld) -> ServiceContext:
    core = ui.app.extensions["sts"]
    return ServiceContext(core.database, core.state, core.settings)


def state(ui: UiWorld) -> dict[str, Any]:
    """What the forms above could change."""
    ctx, who = _service(ui), command_line()
    return {
        "fagsystemer": [fagsystemer.get_fagsystem(ctx, who, f) for f in ("KY", "SAPA")],
        "keys": keys.list_keys(ctx, who, ui.app.extensions["sts"].keys),
        "jfrs": jfr.list_jfrs(ctx, who, A, Paging()).items,
        "assignments": assignments.list_assignments(ctx, who, A, Paging()).items,
    }


def send(ui: UiWorld, case: Case, *, english: bool = False) -> TestResponse:
    browser = ui.sign_in(case.who)
    if english:
        browser.get("/admin/?lang=en")
    if case.get:
        return browser.client.get(case.url)
    data: dict[str, Any] = dict(case.form)
    for name, content in case.files.items():
        data[name] = (io.BytesIO(content), "k.yaml" if name == "catalogue" else "m.xml")
    return ui.post(browser, case.url, data)


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_named_at_its_field_in_danish(ui: UiWorld, name: str) -> None:
    case = CASES[name]
    response = send(ui, case)
    assert response.status_code in (404, 422), response.status_code
    assert field_error(response, case.field) == case.danish


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_named_at_its_field_in_english_after_the_switch(
    ui: UiWorld, name: str
) -> None:
    case = CASES[name]
    response = send(ui, case, english=True)
    assert response.status_code in (404, 422), response.status_code
    assert case.english in field_error(response, case.field)


@pytest.mark.parametrize("name", CASES)
def test_bad_input_changes_nothing(ui: UiWorld, name: str) -> None:
    before = state(ui)
    send(ui, CASES[name])
    assert state(ui) == before


def test_a_catalogue_that_no_longer_fits_when_applied_changes_nothing_and_says_why(
    ui: UiWorld,
) -> None:
    browser = ui.sign_in("ole")
    new_role = (
        b"version: 1\njobfunktionsroller:\n- id: http://a.test/roles/jobrole/ny/1\n"
        b"  cvr: '29189846'\n  name: Ny\n  grants: [{role: 'http://sapa.test/roles/usersystemrole/overblik/1'}]\n"
    )
    preview = ui.post(
        browser, "/admin/katalog/import", {"catalogue": (io.BytesIO(new_role), "k.yaml")}
    )
    token = preview.get_data(as_text=True).split('name="token" value="')[1].split('"')[0]
    ui.post(
        browser,
        "/admin/fagsystemer/SAPA/roller/fjern",
        {"role_id": "http://sapa.test/roles/usersystemrole/overblik/1"},
    )
    before = state(ui)
    response = ui.post(browser, "/admin/katalog/anvend", {"token": token})
    assert response.status_code == 409
    assert field_error(response, "catalogue").startswith("Kataloget kunne ikke anvendes")
    assert "Brugersystemrollen http://sapa.test/roles/usersystemrole/overblik/1 findes ikke." in (
        field_error(response, "catalogue")
    )
    assert state(ui) == before


def test_every_message_these_forms_can_produce_has_a_danish_wording(ui: UiWorld) -> None:
    """The service's and the catalogue validator's sentences the forms above can show."""
    produced = [
        "'' should be non-empty",
        "'' does not match '^[a-z]+:'",
        "'nej' is not one of ['kle', 'orgenhed', 'values', 'text']",
        "a constraint type of kind values needs a values list",
        "values is only for kind values, not kle",
        "regex is only for kind text, not kle",
        "not a valid regular expression: missing ), unterminated subpattern at position 0",
        "'" + "x" * 299,
        "role http://x/1 already belongs to fagsystem KY",
        "unknown constraint type http://x/c; declare it in constraint_types",
        "duplicate role id http://x/1 (first at fagsystemer[0].roles[0])",
        "a service needs an entity_id (the audience of its tokens)",
        "entity_id https://x already belongs to fagsystem KY",
        "roles still in use cannot be removed: http://x/1 (used by 1 jobfunktionsrolle grant(s))",
        "only http:// and https:// URLs are fetched; check the URL",
        "<urlopen error [Errno 111] Connection refused>; check the URL",
        "metadata must not contain a DTD or entity declarations",
        "metadata is not well-formed XML: unclosed token: line 1, column 0",
        "metadata must have one md:EntityDescriptor as its root element (found x)",
        "the EntityDescriptor has no entityID attribute",
        "the metadata has no SPSSODescriptor; is it an SP's metadata?",
        "SAML entityID https://x already belongs to fagsystem KY",
        "client x exists already",
        "client_id x already belongs to fagsystem KY",
        "client_secret_basic needs client_secret_env: the variable holding the secret",
        "choose at least one grant type",
        "authorization_code needs at least one redirect URI",
        "only the Leverandøradministrator of KY (or an operator) may change it",
        "YYYY-MM-DD or an ISO 8601 date-time",
        "one of RSA, EC",
        "k.yaml is not valid YAML or JSON: while parsing",
        "k.yaml must hold a mapping with 'version: 1' at the top",
        "expected an object",
        "unknown key(s) 'x'; allowed keys are a, b",
        "'1' is not a CVR number; write it as 8 digits in quotes",
        "unknown municipality 22222222; add it under municipalities",
        "unknown fagsystem X; add it under fagsystemer",
        "unknown role http://x/1; it must be a role of a fagsystem",
        "give exactly one of fixed, dynamic or postponed",
        "x is synchronised from AD; remove it from the file",
        "stored with uuid u-1; a user's uuid cannot change",
        "uuid u-1 belongs to another user",
        "manager 'x' is not a user of municipality 29189846",
        "org unit u-1 already belongs to municipality 29189846",
        "jobfunktionsrolle http://x/1 belongs to municipality 29189846",
        "the operator role is never given in a catalogue; give it with `stsctl admin grant`",
        "unknown administrative role 'x'; it must be one of a, b",
        "godkender is held for a municipality: add its cvr",
        "leverandoeradministrator is held for a fagsystem: add its id",
        "godkender is held for a municipality, not a fagsystem; remove fagsystem",
        "'x' is not a 'uri'",
    ]
    with ui.app.test_request_context("/admin/"):
        untranslated = [m for m in produced if translate(m).startswith("Ugyldig værdi")]
    assert untranslated == []
