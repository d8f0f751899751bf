"""Fagsystemer in the UI: change name, kind and minimum assurance level; remove a role or a
constraint type; a role or type still in use is refused, and the page says what uses it."""

from __future__ import annotations

import re
from typing import Any

from admin.actor import command_line
from admin.service import fagsystemer
from admin.service.context import ServiceContext
from tests.admin_kit import KLE, KY_ROLE, KY_SERVICE_ROLE, SAPA_ROLE
from tests.admin_ui.kit import UiWorld, field_error
from tests.login_kit import Browser


def _system(ui: UiWorld, fagsystem_id: str) -> dict[str, Any]:
    core = ui.app.extensions["sts"]
    ctx = ServiceContext(core.database, core.state, core.settings)
    return fagsystemer.get_fagsystem(ctx, command_line(), fagsystem_id)


def _button(browser: Browser, fagsystem_id: str, value: str) -> str:
    """The id of the remove button of the role or type ``value``."""
    page = browser.get(f"/admin/fagsystemer/{fagsystem_id}").get_data(as_text=True)
    match = re.search(
        rf'value="{re.escape(value)}">\s*<button type="submit" class="danger" id="([^"]+)"', page
    )
    assert match, f"no remove button for {value}"
    return match.group(1)


def test_name_kind_and_minimum_assurance_level_are_changed(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    ui.post(
        browser,
        "/admin/fagsystemer/SAPA/egenskaber",
        {
            "system_name": "SAPA Overblik",
            "system_kind": ["brugervendt", "anvender"],
            "system_min_loa": "Substantial",
        },
    )
    assert browser.page_url().endswith("/admin/fagsystemer/SAPA?gemt=attributes")
    stored = _system(ui, "SAPA")
    assert (stored["name"], stored["kind"], stored["min_loa"], stored["personal_data"]) == (
        "SAPA Overblik",
        ["anvender", "brugervendt"],
        "Substantial",
        False,
    )


def test_changing_the_attributes_keeps_the_roles(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    form = {"system_name": "SAPA", "system_kind": "anvender", "system_min_loa": "Low"}
    ui.post(browser, "/admin/fagsystemer/SAPA/egenskaber", form)
    assert [role["id"] for role in _system(ui, "SAPA")["roles"]] == [SAPA_ROLE]


def test_an_unused_role_is_removed(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    _button(browser, "SAPA", SAPA_ROLE)
    ui.post(browser, "/admin/fagsystemer/SAPA/roller/fjern", {"role_id": SAPA_ROLE})
    assert browser.page_url().endswith("/admin/fagsystemer/SAPA?gemt=removed")
    assert _system(ui, "SAPA")["roles"] == []


def test_a_role_in_a_jobfunktionsrolle_is_not_removed_and_the_page_says_so(ui: UiWorld) -> None:
    browser = ui.sign_in("ole")
    button = _button(browser, "KY", KY_ROLE)
    response = ui.post(browser, "/admin/fagsystemer/KY/roller/fjern", {"role_id": KY_ROLE})
    assert response.status_code == 422
    assert field_error(response, button) == (
        "Roller, der stadig bruges, kan ikke fjernes: "
        f"{KY_ROLE} (bruges af 1 jobfunktionsrolle(r))."
    )
    assert KY_ROLE in [role["id"] for role in _system(ui, "KY")["roles"]]


def test_a_role_in_a_serviceaftale_is_not_removed_and_the_aftale_is_named(ui: UiWorld) -> None:
    browser = ui.sign_in("ole")
    button = _button(browser, "KY", KY_SERVICE_ROLE)
    response = ui.post(browser, "/admin/fagsystemer/KY/roller/fjern", {"role_id": KY_SERVICE_ROLE})
    assert "bruges af serviceaftalen sa-approved-a" in field_error(response, button)
    assert KY_SERVICE_ROLE in [role["id"] for role in _system(ui, "KY")["roles"]]


def test_the_in_use_refusal_is_in_english_after_the_switch(ui: UiWorld) -> None:
    browser = ui.sign_in("ole")
    browser.get("/admin/?lang=en")
    button = _button(browser, "KY", KY_ROLE)
    response = ui.post(browser, "/admin/fagsystemer/KY/roller/fjern", {"role_id": KY_ROLE})
    assert field_error(response, button) == (
        f"roles still in use cannot be removed: {KY_ROLE} (used by 1 jobfunktionsrolle grant(s))"
    )


def test_a_constraint_type_a_role_uses_is_not_removed_and_the_role_is_named(ui: UiWorld) -> None:
    browser = ui.sign_in("ole")
    button = _button(browser, "KY", KLE)
    response = ui.post(browser, "/admin/fagsystemer/KY/dataafgraensninger/fjern", {"ctype_id": KLE})
    assert response.status_code == 422
    assert field_error(response, button) == (
        "Rollen Læs bruger stadig typen; fjern den fra rollen først."
    )
    assert [c["id"] for c in _system(ui, "KY")["constraint_types"]] == [KLE]


def test_an_unused_constraint_type_is_removed(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    ui.post(
        browser,
        "/admin/fagsystemer/SAPA/dataafgraensninger",
        {"ctype_id": "http://sapa.test/c/1", "ctype_name": "Afdeling", "ctype_kind": "text"},
    )
    assert len(_system(ui, "SAPA")["constraint_types"]) == 1
    ui.post(
        browser,
        "/admin/fagsystemer/SAPA/dataafgraensninger/fjern",
        {"ctype_id": "http://sapa.test/c/1"},
    )
    assert _system(ui, "SAPA")["constraint_types"] == []


def test_removing_a_role_that_is_not_there_is_a_404(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    response = ui.post(browser, "/admin/fagsystemer/SAPA/roller/fjern", {"role_id": "http://x/1"})
    assert response.status_code == 404


def test_a_supplier_cannot_remove_a_role_of_another_fagsystem(ui: UiWorld) -> None:
    browser = ui.sign_in("lars")
    response = ui.post(browser, "/admin/fagsystemer/KY/roller/fjern", {"role_id": KY_SERVICE_ROLE})
    assert response.status_code == 422
    assert KY_SERVICE_ROLE in [role["id"] for role in _system(ui, "KY")["roles"]]
