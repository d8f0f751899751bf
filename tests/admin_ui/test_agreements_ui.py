"""Serviceaftaler in the UI, in KOMBIT's words: Anmod om serviceaftale; the Godkender sees
it under "Afventer godkendelse"; Godkend / Afvis with a comment; Tilbagekald. Four-eyes
holds whatever roles the requester has."""

from __future__ import annotations

import re

from tests.admin_kit import ORG, ORG_ROLE, SECRET, A
from tests.admin_ui.kit import UiWorld, field_error
from tests.login_kit import Browser


def _request(ui: UiWorld, browser: Browser, **extra: str) -> str:
    ui.post(
        browser,
        "/admin/serviceaftaler/ny",
        {
            "anvendersystem": "SAPA",
            "service": "ORG",
            "cvr": A,
            "roles": ORG_ROLE,
            "comment": "Overblik over organisationen",
            **extra,
        },
    )
    match = re.search(r"/admin/serviceaftaler/(sa-[0-9a-f-]+)\?anmodet=1", browser.page_url())
    assert match, browser.page_url()
    return match.group(1)


def _system_token_status(ui: UiWorld) -> int:
    response = ui.app.test_client().post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": ORG, "cvr": A},
        auth=("sapa-system", SECRET),
    )
    return response.status_code


def test_a_request_waits_under_afventer_godkendelse_with_a_count_on_the_front_page(
    ui: UiWorld,
) -> None:
    aftale = _request(ui, ui.sign_in("lars"))
    godkender = ui.sign_in("gorm")
    front = godkender.get("/admin/").get_data(as_text=True)
    assert re.search(r'id="pending-count">(\d+)<', front).group(1) == "2"  # type: ignore[union-attr]
    waiting = godkender.get("/admin/serviceaftaler").get_data(as_text=True)
    assert "Afventer godkendelse" in waiting and aftale in waiting


def test_the_requester_cannot_approve_even_as_a_godkender(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    aftale = _request(ui, browser)
    response = ui.post(browser, f"/admin/serviceaftaler/{aftale}/godkend", {"comment": "ok"})
    assert response.status_code == 403
    assert "Fire øjne" in response.get_data(as_text=True)
    assert 'data-status="requested"' in browser.get(f"/admin/serviceaftaler/{aftale}").get_data(
        as_text=True
    )


def test_approval_lets_client_credentials_succeed_and_revocation_stops_it(ui: UiWorld) -> None:
    aftale = _request(ui, ui.sign_in("lars"))
    assert _system_token_status(ui) != 200
    godkender = ui.sign_in("gorm")
    ui.post(godkender, f"/admin/serviceaftaler/{aftale}/godkend", {"comment": "Godkendt"})
    assert 'data-status="approved"' in godkender.text()
    assert _system_token_status(ui) == 200
    ui.post(godkender, f"/admin/serviceaftaler/{aftale}/tilbagekald", {"comment": "Udløbet"})
    assert 'data-status="revoked"' in godkender.text()
    assert _system_token_status(ui) != 200
    history = godkender.get(f"/admin/serviceaftaler/{aftale}").get_data(as_text=True)
    assert "Godkendt" in history and "Udløbet" in history


def test_a_rejection_carries_its_comment(ui: UiWorld) -> None:
    aftale = _request(ui, ui.sign_in("lars"))
    godkender = ui.sign_in("gorm")
    ui.post(godkender, f"/admin/serviceaftaler/{aftale}/afvis", {"comment": "Ikke nødvendig"})
    page = godkender.text()
    assert 'data-status="rejected"' in page and "Ikke nødvendig" in page


def test_a_role_the_service_does_not_have_is_named_at_the_roles(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    response = ui.post(
        browser,
        "/admin/serviceaftaler/ny",
        {"anvendersystem": "SAPA", "service": "ORG", "cvr": A, "roles": "urn:x:nothing"},
    )
    assert response.status_code == 422
    assert field_error(response, "roles") == "urn:x:nothing er ikke en rolle i servicen ORG."


def test_an_empty_request_names_every_missing_field(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    response = ui.post(browser, "/admin/serviceaftaler/ny", {})
    for name in ("anvendersystem", "service", "cvr"):
        assert field_error(response, name) == "Skal udfyldes."


def test_a_supplier_cannot_ask_for_another_suppliers_system(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    response = ui.post(
        browser,
        "/admin/serviceaftaler/ny",
        {"anvendersystem": "ADMIN", "service": "ORG", "cvr": A, "roles": ORG_ROLE},
    )
    assert response.status_code == 422
    assert "leverandøradministratoren for ADMIN" in field_error(response, "anvendersystem")


def test_choosing_the_service_shows_its_roles_without_javascript(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    page = ui.post(
        browser, "/admin/serviceaftaler/ny", {"service": "ORG", "action": "choose"}
    ).get_data(as_text=True)
    assert f'value="{ORG_ROLE}"' in page
