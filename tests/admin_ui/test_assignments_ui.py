"""Brugere og tildelinger in the UI: find a person, assign with dates and a case number,
assign to several users at once, change and remove, and explain a person's access."""

from __future__ import annotations

import re

from admin.actor import command_line
from admin.service import assignments, jfr
from admin.service.context import ServiceContext
from admin.service.paging import Paging
from tests.admin_kit import JFR_A, JFR_B, KY_ROLE, KY_WRITE, A, B
from tests.admin_ui.kit import UiWorld, field_error


def _held(ui: UiWorld, username: str) -> list[dict[str, object]]:
    core = ui.app.extensions["sts"]
    ctx = ServiceContext(core.database, core.state, core.settings)
    return assignments.list_assignments(ctx, command_line(), A, Paging(), user=username).items


def test_searching_finds_a_person_by_part_of_the_name(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    page = browser.get(f"/admin/kommuner/{A}/brugere?q=kristen").get_data(as_text=True)
    assert re.findall(r'class="user-row">\s*<td><a href="[^"]+">([a-z]+)</a>', page) == ["karen"]


def test_the_search_answers_a_fragment_for_search_as_you_type(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    response = browser.client.get(f"/admin/kommuner/{A}/brugere?q=kar&partial=1")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "karen" in body and "<html" not in body


def test_a_role_is_assigned_with_dates_and_a_case_number(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    ui.post(
        browser,
        f"/admin/kommuner/{A}/tildelinger/ny",
        {
            "role": JFR_A,
            "subject": "user",
            "users": "karen",
            "valid_from": "01-02-2026",
            "valid_to": "2026-12-31",
            "case_number": "26-004711",
        },
    )
    assert browser.page_url().endswith(f"/admin/kommuner/{A}/brugere/karen?saved=1")
    (held,) = _held(ui, "karen")
    assert (held["role"], held["valid_from"], held["valid_to"], held["case_number"]) == (
        JFR_A,
        "2026-02-01",
        "2026-12-31",
        "26-004711",
    )


def test_several_users_are_assigned_in_one_go(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    ui.post(
        browser,
        f"/admin/kommuner/{A}/tildelinger/ny",
        {"role": JFR_A, "subject": "user", "users": "karen\njens, gorm", "case_number": "26-9"},
    )
    assert "oprettet=3" in browser.page_url()
    assert all(len(_held(ui, name)) == 1 for name in ("karen", "jens", "gorm"))


def test_an_unknown_user_in_a_bulk_assignment_is_named_and_the_rest_are_assigned(
    ui: UiWorld,
) -> None:
    browser = ui.sign_in("birgit")
    response = ui.post(
        browser,
        f"/admin/kommuner/{A}/tildelinger/ny",
        {"role": JFR_A, "subject": "user", "users": "karen, nemo"},
    )
    assert response.status_code == 422
    assert field_error(response, "users") == "nemo: Brugeren nemo findes ikke i kommune 29189846."
    assert "Tildelt til: karen" in response.get_data(as_text=True)
    assert len(_held(ui, "karen")) == 1


def test_a_date_that_is_not_a_date_is_named_at_its_field(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    response = ui.post(
        browser,
        f"/admin/kommuner/{A}/tildelinger/ny",
        {"role": JFR_A, "subject": "user", "users": "karen", "valid_to": "31. december"},
    )
    assert response.status_code == 422
    assert field_error(response, "valid_to") == "Skriv en dato som 2026-12-31 eller 31-12-2026."
    assert _held(ui, "karen") == []


def test_an_end_before_the_start_is_named_in_danish_and_in_english(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    form = {
        "role": JFR_A,
        "subject": "user",
        "users": "karen",
        "valid_from": "2026-12-31",
        "valid_to": "2026-01-01",
    }
    danish = ui.post(browser, f"/admin/kommuner/{A}/tildelinger/ny", form)
    assert field_error(danish, "valid_to") == "Startdatoen ligger efter slutdatoen."
    browser.get("/admin/?lang=en")
    english = ui.post(browser, f"/admin/kommuner/{A}/tildelinger/ny", form)
    assert field_error(english, "valid_to") == "valid_from is after valid_to"


def test_a_missing_role_and_missing_users_are_named(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    response = ui.post(browser, f"/admin/kommuner/{A}/tildelinger/ny", {"subject": "user"})
    assert field_error(response, "role") == "Skal udfyldes."
    assert field_error(response, "users") == "Skal udfyldes."


def test_an_assignment_is_changed_and_removed(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    (held,) = _held(ui, "anne")
    ui.post(
        browser,
        f"/admin/kommuner/{A}/tildelinger/{held['id']}",
        {"valid_to": "2027-06-30", "case_number": "26-1"},
    )
    assert _held(ui, "anne")[0]["valid_to"] == "2027-06-30"
    ui.post(browser, f"/admin/kommuner/{A}/tildelinger/{held['id']}/slet", {})
    assert _held(ui, "anne") == []


def test_explain_access_traces_each_group_and_shows_the_token(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    page = browser.get(
        f"/admin/kommuner/{A}/brugere/anne/adgang?fagsystem=KY&dato=2026-06-01"
    ).get_data(as_text=True)
    assert f"<code>{KY_ROLE}</code>" in page
    assert "Sagsbehandler A" in page and "27.*" in page
    assert 'id="bpp"' in page and "PrivilegeList" in page and '"privilegegroups"' in page


def test_explain_access_without_a_fagsystem_names_the_field(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    response = browser.client.get(f"/admin/kommuner/{A}/brugere/anne/adgang?dato=i+morgen")
    assert response.status_code == 422
    assert field_error(response, "dato").startswith("Skriv en dato")


def test_emptying_the_dates_and_the_case_number_clears_them(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    (held,) = _held(ui, "anne")
    url = f"/admin/kommuner/{A}/tildelinger/{held['id']}"
    ui.post(browser, url, {"valid_from": "2026-01-01", "valid_to": "2027-06-30"})
    assert _held(ui, "anne")[0]["valid_to"] == "2027-06-30"
    response = ui.post(browser, url, {"valid_from": "", "valid_to": "", "case_number": ""})
    assert response.status_code == 200
    (after,) = _held(ui, "anne")
    assert (after["valid_from"], after["valid_to"], after["case_number"]) == (None, None, None)


def test_a_field_left_as_it_was_is_kept(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    (held,) = _held(ui, "anne")
    ui.post(
        browser,
        f"/admin/kommuner/{A}/tildelinger/{held['id']}",
        {"valid_to": "2027-06-30", "case_number": "26-1"},
    )
    assert _held(ui, "anne")[0]["case_number"] == "26-1"


def _delegate_b_role_to_a(ui: UiWorld) -> str:
    core = ui.app.extensions["sts"]
    ctx = ServiceContext(core.database, core.state, core.settings)
    role = "http://b.test/roles/jobrole/delt/1"
    jfr.create_jfr(
        ctx,
        command_line(),
        B,
        {
            "id": role,
            "name": "Delt skriverolle",
            "delegated_to": [A],
            "grants": [{"role": KY_WRITE}],
        },
    )
    return role


def test_a_role_delegated_by_another_municipality_is_offered_in_the_form(ui: UiWorld) -> None:
    role = _delegate_b_role_to_a(ui)
    browser = ui.sign_in("birgit")
    page = browser.get(f"/admin/kommuner/{A}/tildelinger/ny").get_data(as_text=True)
    assert f'<option value="{role}">Delt skriverolle (delegeret fra kommune {B})</option>' in page


def test_a_role_delegated_by_another_municipality_is_assigned_from_the_form(ui: UiWorld) -> None:
    role = _delegate_b_role_to_a(ui)
    browser = ui.sign_in("birgit")
    ui.post(
        browser,
        f"/admin/kommuner/{A}/tildelinger/ny",
        {"role": role, "subject": "user", "users": "karen", "case_number": "26-7"},
    )
    assert browser.page_url().endswith(f"/admin/kommuner/{A}/brugere/karen?saved=1")
    assert [(a["role"], a["case_number"]) for a in _held(ui, "karen")] == [(role, "26-7")]


def test_a_role_not_delegated_to_the_municipality_is_not_offered(ui: UiWorld) -> None:
    browser = ui.sign_in("birgit")
    page = browser.get(f"/admin/kommuner/{A}/tildelinger/ny").get_data(as_text=True)
    assert JFR_B not in page
