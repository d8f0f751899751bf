"""Bad input on every write path: a 4xx problem+json naming the fields, and nothing changed.

"Nothing changed" is checked on the whole store: the catalogue export and the number of
audit events are the same before and after each refused request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from store.catalogue import export_catalogue
from store.models import AuditEvent
from tests.admin_kit import (
    JFR_A,
    KY_SERVICE_ROLE,
    KY_WRITE,
    A,
    ApiWorld,
    B,
    make_world,
    pointers,
    problem,
)

JFRS = f"/municipalities/{A}/jobfunktionsroller"
ASSIGNMENTS = f"/municipalities/{A}/assignments"
JFR_PATH = f"{JFRS}/{quote(JFR_A, safe='')}"
LONG = "x" * 5000
FIXED = {"fixed": ["1"]}

# (who, method, path, body, status, pointers the errors must name)
CASES: list[tuple[str, str, str, Any, int, set[str]]] = [
    # jobfunktionsroller
    ("a-jobfunktionsrolleadministrator", "POST", JFRS, {"name": 7}, 422, {"/name"}),
    ("a-jobfunktionsrolleadministrator", "POST", JFRS, {"name": LONG}, 422, {"/name"}),
    ("a-jobfunktionsrolleadministrator", "POST", JFRS, {"name": "x", "cvr": B}, 422, {"/cvr"}),
    ("a-jobfunktionsrolleadministrator", "POST", JFRS, {"name": "x", "id": "no uri"}, 422, {"/id"}),
    ("a-jobfunktionsrolleadministrator", "POST", JFRS,
     {"name": "x", "grants": [{"role": "http://unknown.test/role"}]}, 422, {"/grants/0/role"}),
    ("a-jobfunktionsrolleadministrator", "POST", JFRS,
     {"name": "x", "delegated_to": ["99999999"]}, 422, {"/delegated_to/0"}),
    ("a-jobfunktionsrolleadministrator", "POST", JFRS, {"name": "x", "colour": "red"}, 422,
     {"/colour"}),
    ("a-jobfunktionsrolleadministrator", "PUT", JFR_PATH,
     {"name": "x", "grants": [{"role": KY_WRITE, "constraints": {"http://x.test/c": FIXED}}]},
     422, {"/grants/0/constraints"}),
    ("a-jobfunktionsrolleadministrator", "POST", JFRS, [], 422, {""}),
    # assignments
    ("a-brugeradministrator", "POST", ASSIGNMENTS, {"user": "ghost", "role": JFR_A}, 422,
     {"/user"}),
    ("a-brugeradministrator", "POST", ASSIGNMENTS, {"user": "karen", "role": "http://no.test/r"},
     422, {"/role"}),
    ("a-brugeradministrator", "POST", ASSIGNMENTS,
     {"user": "karen", "role": JFR_A, "valid_from": "2026-02-30"}, 422, {"/valid_from"}),
    ("a-brugeradministrator", "POST", ASSIGNMENTS,
     {"user": "karen", "role": JFR_A, "valid_from": "2027-01-01", "valid_to": "2026-01-01"},
     422, {"/valid_to"}),
    ("a-brugeradministrator", "POST", ASSIGNMENTS, {"user": "karen", "role": JFR_A,
     "valid_to": "tomorrow"}, 422, {"/valid_to"}),
    ("a-brugeradministrator", "POST", ASSIGNMENTS, {"user": "karen", "role": JFR_A,
     "inherit": "yes"}, 422, {"/inherit"}),
    ("a-brugeradministrator", "POST", ASSIGNMENTS, {"user": "karen", "role": JFR_A,
     "case_number": LONG}, 422, {"/case_number"}),
    ("a-brugeradministrator", "POST", ASSIGNMENTS, {"user": "bo", "role": JFR_A}, 422, {"/user"}),
    # serviceaftaler
    ("sapa-lev", "POST", "/serviceaftaler",
     {"cvr": "1234", "anvendersystem": "SAPA", "service": "KY"}, 422, {"/cvr"}),
    ("sapa-lev", "POST", "/serviceaftaler",
     {"cvr": "99999999", "anvendersystem": "SAPA", "service": "KY"}, 422, {"/cvr"}),
    ("sapa-lev", "POST", "/serviceaftaler",
     {"cvr": A, "anvendersystem": "SAPA", "service": "NOPE"}, 422, {"/service"}),
    ("sapa-lev", "POST", "/serviceaftaler",
     {"cvr": A, "anvendersystem": "SAPA", "service": "KY", "roles": ["http://no.test/r"]},
     422, {"/roles/0"}),
    ("sapa-lev", "POST", "/serviceaftaler",
     {"cvr": A, "anvendersystem": "SAPA", "service": "KY", "on_behalf_of": "ja"}, 422,
     {"/on_behalf_of"}),
    ("sapa-lev", "POST", "/serviceaftaler",
     {"cvr": A, "anvendersystem": "SAPA", "service": "KY", "comment": LONG}, 422, {"/comment"}),
    ("a-godkender", "POST", "/serviceaftaler/sa-requested-a/approve", {"comment": 5}, 422,
     {"/comment"}),
    ("a-godkender", "POST", "/serviceaftaler/sa-requested-a/approve", {"verdict": "yes"}, 422,
     {"/verdict"}),
    # fagsystemer
    ("sapa-lev", "PUT", "/fagsystemer/SAPA", {"name": "SAPA", "kind": "ukendt"}, 422, {"/kind"}),
    ("sapa-lev", "PUT", "/fagsystemer/SAPA",
     {"name": "SAPA", "kind": "anvender", "min_loa": "Ultra"}, 422, {"/min_loa"}),
    ("sapa-lev", "PUT", "/fagsystemer/SAPA",
     {"name": "SAPA", "kind": "anvender", "roles": [{"id": KY_SERVICE_ROLE, "name": "stjålet"}]},
     422, {"/roles/0/id"}),
    ("sapa-lev", "POST", "/fagsystemer/SAPA/oidc-clients",
     {"redirect_uris": ["javascript:alert(1)"]}, 422, {"/redirect_uris/0"}),
    ("sapa-lev", "POST", "/fagsystemer/SAPA/oidc-clients", {"client_secret_env": "X"}, 422,
     {"/client_secret_env"}),
    ("sapa-lev", "PUT", "/fagsystemer/SAPA/saml-metadata", {"url": "file:///etc/passwd"}, 422,
     {"/url"}),
    # administrative roles
    ("a-administrator", "POST", f"/municipalities/{A}/admin-roles",
     {"role": "operator", "user": "karen"}, 422, {"/role"}),
    ("a-administrator", "POST", f"/municipalities/{A}/admin-roles",
     {"role": "godkender", "user": "ghost"}, 422, {"/user"}),
    ("a-administrator", "POST", f"/municipalities/{A}/admin-roles",
     {"role": "godkender"}, 422, {""}),
    # catalogue
    ("ops", "POST", "/catalogue", {"version": 1, "users": [{"username": "x"}]}, 422,
     {"/users/0"}),
]  # fmt: skip


def _state(api: ApiWorld) -> tuple[str, int]:
    with api.database.session() as session:
        exported = json.dumps(export_catalogue(session), sort_keys=True, default=str)
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return exported, events


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status", "fields"),
    CASES,
    ids=[f"{case[1]} {case[2]} {sorted(case[5])}" for case in CASES],
)
def test_bad_input_is_refused_naming_the_fields_and_changes_nothing(
    api: ApiWorld, who: str, method: str, path: str, body: Any, status: int, fields: set[str]
) -> None:
    api.token(who)  # the token's own audit event is not part of the comparison
    before = _state(api)
    response = api.call(method, path, who, json=body)
    assert response.status_code == status, response.get_json()
    named = pointers(response)
    assert fields <= named or any(f == "" for f in fields), named
    assert problem(response)["detail"]
    assert _state(api) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", JFRS), ("PUT", JFR_PATH), ("POST", ASSIGNMENTS), ("POST", "/serviceaftaler"),
     ("PUT", "/fagsystemer/SAPA"), ("POST", "/catalogue")],
)  # fmt: skip
def test_invalid_json_is_400_and_another_media_type_415(
    api: ApiWorld, method: str, path: str
) -> None:
    api.token("ops")
    before = _state(api)
    broken = api.call(method, path, "ops", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and "JSON" in problem(broken)["detail"]
    form = api.call(method, path, "ops", data="name=x", content_type="text/plain")
    assert form.status_code == 415 and problem(form)["status"] == 415
    assert _state(api) == before


def test_a_body_over_a_mebibyte_is_413(api: ApiWorld) -> None:
    api.token("ops")
    before = _state(api)
    huge = json.dumps({"name": "x", "description": "x" * (1024 * 1024 + 10)})
    response = api.call("POST", JFRS, "ops", data=huge, content_type="application/json")
    assert response.status_code == 413 and problem(response)["status"] == 413
    assert _state(api) == before


def test_an_unknown_path_is_404_and_a_wrong_method_405_as_problems(api: ApiWorld) -> None:
    assert problem(api.call("GET", "/nothing-here", "ops"))["status"] == 404
    wrong = api.call("DELETE", "/serviceaftaler", "ops")
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert problem(wrong)["status"] == 405


def test_bad_query_parameters_are_422_naming_them(api: ApiWorld) -> None:
    for path, name in (
        (f"{ASSIGNMENTS}?valid_on=31-12-2026", "/valid_on"),
        (f"{ASSIGNMENTS}?limit=lots", "/limit"),
        (f"{ASSIGNMENTS}?limit=0", "/limit"),
        (f"{ASSIGNMENTS}?sort=password", "/sort"),
        (f"{ASSIGNMENTS}?cursor=%%%", "/cursor"),
        ("/serviceaftaler?status=maybe", "/status"),
        ("/catalogue?dry_run=perhaps", "/dry_run"),
        (f"/municipalities/{A}/users?q={'x' * 300}", "/q"),
    ):
        response = api.call("GET" if "dry_run" not in path else "POST", path, "ops", json={})
        assert response.status_code == 422, (path, response.get_json())
        assert name in pointers(response), path


def test_a_malformed_cvr_in_the_path_is_404(api: ApiWorld) -> None:
    assert api.call("GET", "/municipalities/abc/jobfunktionsroller", "ops").status_code == 404
    assert api.call("GET", "/municipalities/99999999/assignments", "ops").status_code == 404


def test_the_rate_limit_answers_429_with_retry_after(api_template: Path, tmp_path: Path) -> None:
    world = make_world(api_template, tmp_path / "limited", STS_ADMIN_API_RATE_LIMIT="3")
    try:
        answers = [world.call("GET", "/me", "ops").status_code for _ in range(5)]
        assert answers[:3] == [200, 200, 200] and answers[3:] == [429, 429]
        limited = world.call("GET", "/me", "ops")
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        assert problem(limited)["status"] == 429
    finally:
        world.database.dispose()
