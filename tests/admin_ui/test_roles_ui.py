"""Jobfunktionsroller in the UI: compose across fagsystemer with fixed, dynamic and
postponed constraint values, validated as the catalogue is, with messages at the field."""

from __future__ import annotations

import re

from admin.actor import command_line
from admin.service import jfr
from admin.service.context import ServiceContext
from tests.admin_kit import JFR_A, KLE, KY_ROLE, KY_WRITE, SAPA_ROLE, A
from tests.admin_ui.kit import UiWorld, field_error
from tests.login_kit import Browser


def _service(ui: UiWorld) -> ServiceContext:
    core = ui.app.extensions["sts"]
    return ServiceContext(core.database, core.state, core.settings)


def _index_of(browser: Browser, role_id: str) -> str:
    """The composer's field prefix (``g-N``) of a brugersystemrolle."""
    page = browser.get(f"/admin/kommuner/{A}/jobfunktionsroller/ny").get_data(as_text=True)
    match = re.search(rf'name="(g-\d+)" value="{re.escape(role_id)}"', page)
    assert match, f"{role_id} not offered"
    return match.group(1)


def test_a_role_is_composed_from_two_fagsystemer_with_a_kle_constraint(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    ky, sapa = _index_of(browser, KY_ROLE), _index_of(browser, SAPA_ROLE)
    ui.post(
        browser,
        f"/admin/kommuner/{A}/jobfunktionsroller/ny",
        {
            "name": "Sagsbehandler, Ydelse",
            "jfr_id": "http://a.test/roles/jobrole/ydelse/1",
            ky: KY_ROLE,
            f"{ky}-c-0-id": KLE,
            f"{ky}-c-0-mode": "fixed",
            f"{ky}-c-0-fixed": "32.*, 27.35.04",
            sapa: SAPA_ROLE,
        },
    )
    assert "saved=1" in browser.page_url()
    stored = jfr.get_jfr(_service(ui), command_line(), A, "http://a.test/roles/jobrole/ydelse/1")
    assert stored["grants"] == [
        {"role": KY_ROLE, "constraints": {KLE: {"fixed": ["32.*", "27.35.04"]}}},
        {"role": SAPA_ROLE, "constraints": {}},
    ]


def test_a_dynamic_and_a_postponed_value_are_stored_as_chosen(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    ky = _index_of(browser, KY_ROLE)
    for mode, expected in (
        ("dynamic", {"dynamic": "user_kle"}),
        ("postponed", {"postponed": True}),
    ):
        ui.post(
            browser,
            f"/admin/kommuner/{A}/jobfunktionsroller/ny",
            {
                "name": f"Rolle {mode}",
                "jfr_id": f"http://a.test/roles/jobrole/{mode}/1",
                ky: KY_ROLE,
                f"{ky}-c-0-id": KLE,
                f"{ky}-c-0-mode": mode,
                f"{ky}-c-0-dynamic": "user_kle",
            },
        )
        role = f"http://a.test/roles/jobrole/{mode}/1"
        stored = jfr.get_jfr(_service(ui), command_line(), A, role)
        assert stored["grants"][0]["constraints"] == {KLE: expected}


def test_a_wrong_kle_code_is_named_at_its_field_in_danish(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    ky = _index_of(browser, KY_ROLE)
    response = ui.post(
        browser,
        f"/admin/kommuner/{A}/jobfunktionsroller/ny",
        {"name": "Forkert", ky: KY_ROLE, f"{ky}-c-0-id": KLE, f"{ky}-c-0-fixed": "27.x"},
    )
    assert response.status_code == 422
    assert field_error(response, f"{ky}-c-0-fixed").startswith("27.x er ikke en KLE-kode")
    assert 'value="27.x"' in response.get_data(as_text=True)  # what was typed stays


def test_the_same_mistake_is_named_in_english_after_the_switch(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    browser.get("/admin/?lang=en")
    ky = _index_of(browser, KY_ROLE)
    response = ui.post(
        browser,
        f"/admin/kommuner/{A}/jobfunktionsroller/ny",
        {"name": "Wrong", ky: KY_ROLE, f"{ky}-c-0-id": KLE, f"{ky}-c-0-fixed": "27.x"},
    )
    assert "'27.x' is not a KLE code" in field_error(response, f"{ky}-c-0-fixed")


def test_a_missing_name_and_an_empty_fixed_value_are_both_named(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    ky = _index_of(browser, KY_ROLE)
    response = ui.post(
        browser,
        f"/admin/kommuner/{A}/jobfunktionsroller/ny",
        {"name": "", ky: KY_ROLE, f"{ky}-c-0-id": KLE, f"{ky}-c-0-fixed": ""},
    )
    assert response.status_code == 422
    assert field_error(response, "name") == "Skal udfyldes."
    assert field_error(response, f"{ky}-c-0-fixed") == "Skal udfyldes."
    assert 'id="error-summary"' in response.get_data(as_text=True)


def test_delegating_to_an_unknown_municipality_is_named_at_the_field(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    write = _index_of(browser, KY_WRITE)
    response = ui.post(
        browser,
        f"/admin/kommuner/{A}/jobfunktionsroller/ny",
        {"name": "Delegeret", write: KY_WRITE, "delegated_to": "12345678"},
    )
    assert field_error(response, "delegated_to") == "Kommunen 12345678 findes ikke."


def test_editing_a_role_keeps_what_is_not_changed(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    form = browser.get(f"/admin/kommuner/{A}/jobfunktionsrolle/rediger?id={JFR_A}")
    assert 'value="27.*"' in form.get_data(as_text=True)
    ky = _index_of(browser, KY_ROLE)
    ui.post(
        browser,
        f"/admin/kommuner/{A}/jobfunktionsrolle/rediger?id={JFR_A}",
        {
            "name": "Sagsbehandler A, ny",
            ky: KY_ROLE,
            f"{ky}-c-0-id": KLE,
            f"{ky}-c-0-fixed": "27.*, 29.*",
        },
    )
    stored = jfr.get_jfr(_service(ui), command_line(), A, JFR_A)
    assert stored["name"] == "Sagsbehandler A, ny"
    assert stored["grants"][0]["constraints"][KLE] == {"fixed": ["27.*", "29.*"]}


def test_the_role_page_shows_who_holds_it(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    page = browser.get(f"/admin/kommuner/{A}/jobfunktionsrolle?id={JFR_A}").get_data(as_text=True)
    assert 'class="holder"' in page and "anne" in page and "26-1" in page


def test_an_assigned_role_cannot_be_deleted_and_the_page_says_why(ui: UiWorld) -> None:
    browser = ui.sign_in("jens")
    response = ui.post(browser, f"/admin/kommuner/{A}/jobfunktionsrolle/slet?id={JFR_A}", {})
    assert response.status_code == 409
    assert "fjern tildelingerne først" in response.get_data(as_text=True)
    assert jfr.get_jfr(_service(ui), command_line(), A, JFR_A)["name"] == "Sagsbehandler A"
