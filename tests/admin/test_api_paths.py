"""Every path of the admin API through the real app: what it answers and what it changes."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select

from store.models import AuditEvent, Jobfunktionsrolle, OidcClient, Serviceaftale
from tests.admin_kit import (
    JFR_A,
    KLE,
    KY_ROLE,
    KY_SERVICE_ROLE,
    KY_WRITE,
    SAPA_ROLE,
    A,
    ApiWorld,
    B,
    pointers,
    problem,
)

NEW_JFR = "http://a.test/roles/jobrole/ny/1"


def _events(world: ApiWorld, action: str) -> list[AuditEvent]:
    with world.database.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_openapi_document_is_public_and_names_every_path(api: ApiWorld) -> None:
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = set(response.get_json()["paths"])
    assert {
        "/me",
        "/municipalities",
        "/fagsystemer",
        "/fagsystemer/{id}",
        "/fagsystemer/{id}/saml-metadata",
        "/fagsystemer/{id}/oidc-clients",
        "/municipalities/{cvr}/admin-roles",
        "/municipalities/{cvr}/admin-roles/{id}",
        "/catalogue",
        "/municipalities/{cvr}/jobfunktionsroller",
        "/municipalities/{cvr}/jobfunktionsroller/{id}",
        "/municipalities/{cvr}/assignments",
        "/municipalities/{cvr}/assignments/{id}",
        "/municipalities/{cvr}/users",
        "/municipalities/{cvr}/users/{username}/privileges",
        "/municipalities/{cvr}/users/{username}/disabled",
        "/municipalities/{cvr}/users/{username}/mfa-activation-code",
        "/serviceaftaler",
        "/serviceaftaler/{id}",
        "/serviceaftaler/{id}/approve",
        "/serviceaftaler/{id}/reject",
        "/serviceaftaler/{id}/revoke",
        "/audit",
    } <= paths


def test_without_a_token_the_api_answers_401_with_www_authenticate(api: ApiWorld) -> None:
    response = api.call("GET", "/me", None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert problem(response)["status"] == 401


def test_a_token_for_a_fagsystem_is_not_a_token_for_the_api(api: ApiWorld) -> None:
    response = api.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": "https://ky.test", "cvr": A},
        auth=("sapa-system", "admin-api-test-secret"),
    )
    assert response.status_code == 200, response.get_json()
    system_token = response.get_json()["access_token"]
    refused = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {system_token}"})
    assert refused.status_code == 401


def test_me_names_the_client_and_its_roles(api: ApiWorld) -> None:
    body = api.call("GET", "/me", "a-godkender").get_json()
    assert body["principal"] == {"kind": "client", "id": "a-godkender"}
    assert body["roles"] == [{"role": "godkender", "cvr": A}]
    supplier = api.call("GET", "/me", "sapa-lev").get_json()
    assert supplier["roles"] == [{"role": "leverandoeradministrator", "fagsystem": "SAPA"}]


def test_a_revoked_role_stops_working_at_the_next_request(api: ApiWorld) -> None:
    assert (
        api.call(
            "GET", f"/municipalities/{A}/jobfunktionsroller", "a-brugeradministrator"
        ).status_code
        == 200
    )
    grants = api.call("GET", f"/municipalities/{A}/admin-roles", "a-administrator").get_json()
    [grant] = [g for g in grants["items"] if g.get("client") == "a-brugeradministrator"]
    assert (
        api.call(
            "DELETE", f"/municipalities/{A}/admin-roles/{grant['id']}", "a-administrator"
        ).status_code
        == 204
    )
    after = api.call("GET", f"/municipalities/{A}/jobfunktionsroller", "a-brugeradministrator")
    assert after.status_code in (403, 404)


def test_municipalities_lists_only_those_the_caller_may_see(api: ApiWorld) -> None:
    own = api.call("GET", "/municipalities", "a-administrator").get_json()["items"]
    assert [m["cvr"] for m in own] == [A]
    everything = api.call("GET", "/municipalities", "ops").get_json()["items"]
    assert {m["cvr"] for m in everything} == {A, B}


def test_fagsystemer_are_listed_with_roles_and_constraint_types(api: ApiWorld) -> None:
    page = api.call("GET", "/fagsystemer?limit=2", "a-jobfunktionsrolleadministrator").get_json()
    assert [s["id"] for s in page["items"]] == ["ADMIN", "KY"]
    ky = page["items"][1]
    assert {r["id"] for r in ky["roles"]} == {KY_ROLE, KY_WRITE, KY_SERVICE_ROLE}
    assert ky["constraint_types"][0]["id"] == KLE
    rest = api.call("GET", f"/fagsystemer?limit=2&cursor={page['next_cursor']}", "ops").get_json()
    assert [s["id"] for s in rest["items"]] == ["ORG", "SAPA"] and rest["next_cursor"] is None
    one = api.call("GET", "/fagsystemer/SAPA", "ops").get_json()
    assert {c["client_id"] for c in one["oidc_clients"]} == {"sapa-system", "sapa-lev"}
    assert all("client_secret_hash" not in c for c in one["oidc_clients"])


def test_a_supplier_changes_its_own_fagsystem_and_not_another(api: ApiWorld) -> None:
    body = {
        "name": "SAPA 2",
        "kind": ["brugervendt", "anvender"],
        "entity_id": "https://sapa.test",
        "roles": [
            {"id": SAPA_ROLE, "name": "Overblik"},
            {"id": "http://sapa.test/roles/usersystemrole/ny/1", "name": "Ny"},
        ],
    }
    response = api.call("PUT", "/fagsystemer/SAPA", "sapa-lev", json=body)
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["roles"]) == 2 and response.get_json()["name"] == "SAPA 2"
    assert api.call("PUT", "/fagsystemer/KY", "sapa-lev", json=body).status_code == 403
    [event] = _events(api, "fagsystem.updated")
    assert event.actor == "sapa-lev" and event.details["before"]["name"] == "SAPA"


def test_a_role_in_use_cannot_be_removed_from_a_fagsystem(api: ApiWorld) -> None:
    body = {"name": "KY", "kind": ["brugervendt", "service"], "entity_id": "https://ky.test"}
    response = api.call("PUT", "/fagsystemer/KY", "ky-lev", json=body)
    assert response.status_code == 409
    assert KY_ROLE in problem(response)["detail"]


def test_only_an_operator_creates_a_fagsystem(api: ApiWorld) -> None:
    body = {"name": "Nyt system", "kind": "service", "entity_id": "https://nyt.test"}
    assert api.call("PUT", "/fagsystemer/NYT", "sapa-lev", json=body).status_code == 403
    created = api.call("PUT", "/fagsystemer/NYT", "ops", json=body)
    assert created.status_code == 201 and created.headers["Location"].endswith("/fagsystemer/NYT")


def test_saml_metadata_is_registered_from_xml(api: ApiWorld) -> None:
    metadata = (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="https://sapa.test/saml"><md:SPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        'Location="https://sapa.test/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>'
    )
    response = api.call(
        "PUT",
        "/fagsystemer/SAPA/saml-metadata",
        "sapa-lev",
        data=metadata,
        content_type="application/samlmetadata+xml",
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["entity_id"] == "https://sapa.test/saml"
    bad = api.call(
        "PUT",
        "/fagsystemer/SAPA/saml-metadata",
        "sapa-lev",
        data="<!DOCTYPE x [<!ENTITY e 'x'>]><x>&e;</x>",
        content_type="application/samlmetadata+xml",
    )
    assert bad.status_code == 422
    assert (
        api.call(
            "PUT",
            "/fagsystemer/SAPA/saml-metadata",
            "sapa-lev",
            data="x",
            content_type="text/plain",
        ).status_code
        == 415
    )


def test_a_registered_client_gets_its_secret_once_and_it_works(api: ApiWorld) -> None:
    response = api.call(
        "POST",
        "/fagsystemer/SAPA/oidc-clients",
        "sapa-lev",
        json={"client_id": "sapa-new", "grant_types": ["client_credentials"]},
    )
    assert response.status_code == 201, response.get_json()
    secret = response.get_json()["client_secret"]
    with api.database.session() as session:
        stored = session.get(OidcClient, "sapa-new")
        assert stored is not None and secret not in (stored.client_secret_hash or "")
    assert secret not in api.call("GET", "/fagsystemer/SAPA", "ops").get_data(as_text=True)
    token = api.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": "https://ky.test", "cvr": A},
        auth=("sapa-new", secret),
    )
    assert token.status_code == 200, token.get_json()


def test_admin_roles_are_granted_listed_and_revoked_in_the_own_municipality(api: ApiWorld) -> None:
    granted = api.call(
        "POST", f"/municipalities/{A}/admin-roles", "a-administrator",
        json={"role": "godkender", "user": "karen"},
    )  # fmt: skip
    assert granted.status_code == 201, granted.get_json()
    grant = granted.get_json()
    assert grant["role"] == "godkender" and grant["cvr"] == A
    listed = api.call("GET", f"/municipalities/{A}/admin-roles", "a-administrator").get_json()
    assert grant["id"] in {g["id"] for g in listed["items"]}
    assert api.call(
        "POST", f"/municipalities/{B}/admin-roles", "a-administrator",
        json={"role": "godkender", "user": "bo"},
    ).status_code == 404  # fmt: skip
    assert _events(api, "admin.role.granted")[0].actor == "a-administrator"


def test_nobody_grants_a_role_to_themselves(api: ApiWorld) -> None:
    response = api.call(
        "POST", f"/municipalities/{A}/admin-roles", "a-administrator",
        json={"role": "godkender", "client": "a-administrator"},
    )  # fmt: skip
    assert response.status_code == 403


def test_catalogue_export_of_the_own_municipality(api: ApiWorld) -> None:
    exported = api.call("GET", f"/catalogue?cvr={A}", "a-administrator").get_json()
    assert [m["cvr"] for m in exported["municipalities"]] == [A]
    assert api.call("GET", f"/catalogue?cvr={B}", "a-administrator").status_code == 404
    assert api.call("GET", "/catalogue", "a-administrator").status_code == 403


def test_catalogue_dry_run_reports_and_changes_nothing(api: ApiWorld) -> None:
    data = {
        "version": 1,
        "jobfunktionsroller": [
            {"id": NEW_JFR, "cvr": A, "name": "Ny", "grants": [{"role": KY_WRITE}]}
        ],
    }
    dry = api.call("POST", "/catalogue?dry_run=true", "ops", json=data)
    assert dry.status_code == 200, dry.get_json()
    assert (
        dry.get_json()["changed"] and dry.get_json()["report"]["created"]["jobfunktionsrolle"] == 1
    )
    with api.database.session() as session:
        assert session.get(Jobfunktionsrolle, NEW_JFR) is None
    real = api.call("POST", "/catalogue?dry_run=false", "ops", json=data)
    assert real.status_code == 200
    with api.database.session() as session:
        assert session.get(Jobfunktionsrolle, NEW_JFR) is not None
    invalid = api.call(
        "POST", "/catalogue", "ops", json={"version": 1, "users": [{"username": "x"}]}
    )
    assert invalid.status_code == 422 and pointers(invalid)


def test_jobfunktionsroller_are_created_read_replaced_and_deleted(api: ApiWorld) -> None:
    base = f"/municipalities/{A}/jobfunktionsroller"
    who = "a-jobfunktionsrolleadministrator"
    body = {"id": NEW_JFR, "name": "Ny rolle", "grants": [{"role": KY_WRITE}]}
    created = api.call("POST", base, who, json=body)
    assert created.status_code == 201, created.get_json()
    location = created.headers["Location"]
    assert location.endswith(f"{base}/{quote(NEW_JFR, safe='')}") or NEW_JFR in location
    path = f"{base}/{quote(NEW_JFR, safe='')}"
    assert api.call("GET", path, who).get_json()["name"] == "Ny rolle"
    assert api.call("POST", base, who, json=body).status_code == 409
    replaced = api.call("PUT", path, who, json={**body, "name": "Omdøbt"})
    assert replaced.status_code == 200 and replaced.get_json()["name"] == "Omdøbt"
    [event] = _events(api, "jfr.updated")
    assert (
        event.details["before"]["name"] == "Ny rolle" and event.details["after"]["name"] == "Omdøbt"
    )
    assert api.call("DELETE", path, who).status_code == 204
    assert api.call("GET", path, who).status_code == 404


def test_a_jobfunktionsrolle_without_an_id_gets_one(api: ApiWorld) -> None:
    created = api.call(
        "POST", f"/municipalities/{A}/jobfunktionsroller", "a-jobfunktionsrolleadministrator",
        json={"name": "Uden id", "grants": []},
    )  # fmt: skip
    assert created.status_code == 201
    assert created.get_json()["id"].startswith("urn:uuid:")


def test_an_assigned_jobfunktionsrolle_cannot_be_deleted(api: ApiWorld) -> None:
    path = f"/municipalities/{A}/jobfunktionsroller/{quote(JFR_A, safe='')}"
    response = api.call("DELETE", path, "a-jobfunktionsrolleadministrator")
    assert response.status_code == 409 and "assigned" in problem(response)["detail"]


def test_assignments_are_created_filtered_patched_and_deleted(api: ApiWorld) -> None:
    base = f"/municipalities/{A}/assignments"
    who = "a-brugeradministrator"
    created = api.call(
        "POST", base, who,
        json={"user": "karen", "role": JFR_A, "valid_from": "2026-01-01", "valid_to": "2026-12-31"},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert created.headers["Location"].endswith(f"{base}/{item['id']}")
    karen = api.call("GET", f"{base}?user=karen", who).get_json()["items"]
    assert [a["id"] for a in karen] == [item["id"]]
    assert api.call("GET", f"{base}?user=karen&valid_on=2027-06-01", who).get_json()["items"] == []
    patched = api.call("PATCH", f"{base}/{item['id']}", who, json={"valid_to": "2027-12-31"})
    assert patched.status_code == 200 and patched.get_json()["valid_to"] == "2027-12-31"
    assert [
        a["id"]
        for a in api.call("GET", f"{base}?valid_on=2027-06-01&user=karen", who).get_json()["items"]
    ] == [item["id"]]
    cleared = api.call("PATCH", f"{base}/{item['id']}", who, json={"valid_from": None})
    assert cleared.status_code == 200 and cleared.get_json()["valid_from"] is None
    assert cleared.get_json()["valid_to"] == "2027-12-31"
    moved = api.call("PATCH", f"{base}/{item['id']}", who, json={"user": "anne"})
    assert moved.status_code == 422 and pointers(moved) == {"/user"}
    assert api.call("DELETE", f"{base}/{item['id']}", who).status_code == 204
    assert api.call("GET", f"{base}/{item['id']}", who).status_code == 404
    assert [e.action for e in _events(api, "assignment.deleted")] == ["assignment.deleted"]


def test_assignments_page_with_a_cursor(api: ApiWorld) -> None:
    base = f"/municipalities/{A}/assignments"
    for number in range(5):
        response = api.call(
            "POST", base, "a-brugeradministrator",
            json={"user": "karen", "role": JFR_A, "case_number": f"c-{number}"},
        )  # fmt: skip
        assert response.status_code == 201
    seen: list[str] = []
    cursor = ""
    while True:
        page = api.call("GET", f"{base}?limit=2{cursor}", "a-brugeradministrator").get_json()
        seen += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 6 and seen == sorted(seen)


def test_user_search_by_name_username_and_uuid(api: ApiWorld) -> None:
    who = "a-brugeradministrator"
    base = f"/municipalities/{A}/users"
    assert [u["username"] for u in api.call("GET", f"{base}?q=kar", who).get_json()["items"]] == [
        "karen"
    ]
    assert [
        u["username"] for u in api.call("GET", f"{base}?q=andersen", who).get_json()["items"]
    ] == ["anne"]
    anne = api.user_id("anne")
    assert [
        u["username"] for u in api.call("GET", f"{base}?q={anne}", who).get_json()["items"]
    ] == ["anne"]
    assert api.call("GET", f"{base}?q=%25", who).get_json()["items"] == []
    everyone = api.call("GET", base, who).get_json()["items"]
    assert [u["username"] for u in everyone] == ["anne", "karen"]


def test_privileges_are_explained_in_the_stsctl_json_shape(api: ApiWorld) -> None:
    base = f"/municipalities/{A}/users/anne/privileges"
    plain = api.call("GET", f"{base}?fagsystem=KY", "a-brugeradministrator").get_json()
    [group] = plain["groups"]
    assert group["privilege"] == KY_ROLE and "sources" not in group
    assert group["constraints"] == [{"name": KLE, "values": ["27.*"]}]
    explained = api.call(
        "GET", f"{base}?fagsystem=KY&explain=true", "a-brugeradministrator"
    ).get_json()
    [source] = explained["groups"][0]["sources"]
    assert source["jfr_id"] == JFR_A
    later = api.call("GET", f"{base}?fagsystem=KY&date=2020-01-01", "a-brugeradministrator")
    assert later.status_code == 200
    assert api.call("GET", f"{base}?fagsystem=NOPE", "a-brugeradministrator").status_code == 422
    assert (
        api.call(
            "GET",
            f"/municipalities/{A}/users/ghost/privileges?fagsystem=KY",
            "a-brugeradministrator",
        ).status_code
        == 404
    )


def test_serviceaftale_lifecycle_request_approve_revoke(api: ApiWorld) -> None:
    body = {"cvr": A, "anvendersystem": "SAPA", "service": "KY", "roles": [KY_SERVICE_ROLE]}
    requested = api.call("POST", "/serviceaftaler", "sapa-lev", json={**body, "id": "sa-new"})
    assert requested.status_code == 201, requested.get_json()
    assert requested.get_json()["status"] == "requested"
    assert requested.headers["Location"].endswith("/serviceaftaler/sa-new")
    pending = api.call("GET", f"/serviceaftaler?cvr={A}&status=requested", "a-godkender").get_json()
    assert [a["id"] for a in pending["items"]] == ["sa-new", "sa-requested-a"]
    approved = api.call(
        "POST", "/serviceaftaler/sa-new/approve", "a-godkender", json={"comment": "ok"}
    )
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert approved.get_json()["decided_by"] == "a-godkender"
    assert api.call("POST", "/serviceaftaler/sa-new/approve", "a-godkender2").status_code == 409
    revoked = api.call("POST", "/serviceaftaler/sa-new/revoke", "a-administrator", json={})
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    history = api.call("GET", "/serviceaftaler/sa-new", "sapa-lev").get_json()["history"]
    assert [h["status"] for h in history] == ["requested", "approved", "revoked"]
    assert [h["comment"] for h in history][:2] == ["", "ok"]
    assert {e.action for e in _events(api, "serviceaftale.approved")} == {"serviceaftale.approved"}


def test_a_new_serviceaftale_never_starts_approved(api: ApiWorld) -> None:
    body = {"cvr": A, "anvendersystem": "SAPA", "service": "KY", "status": "approved"}
    response = api.call("POST", "/serviceaftaler", "ops", json=body)
    assert response.status_code == 422 and pointers(response) == {"/status"}
    with api.database.session() as session:
        approved = select(Serviceaftale.id).where(Serviceaftale.status == "approved")
        assert set(session.scalars(approved)) == {"sa-approved-a", "sa-approved-b"}


def test_four_eyes_the_requester_never_approves_even_as_godkender(api: ApiWorld) -> None:
    body = {"cvr": A, "anvendersystem": "SAPA", "service": "KY", "roles": [KY_SERVICE_ROLE]}
    assert (
        api.call("POST", "/serviceaftaler", "ops", json={**body, "id": "sa-ops"}).status_code == 201
    )
    refused = api.call("POST", "/serviceaftaler/sa-ops/approve", "ops")
    assert refused.status_code == 403 and "four-eyes" in problem(refused)["detail"]
    also_refused = api.call("POST", "/serviceaftaler/sa-ops/reject", "ops")
    assert also_refused.status_code == 403
    assert api.call("POST", "/serviceaftaler/sa-ops/approve", "a-godkender").status_code == 200


def test_a_godkender_of_another_municipality_cannot_see_or_decide(api: ApiWorld) -> None:
    body = {"id": "sa-x", "cvr": A, "anvendersystem": "SAPA", "service": "KY"}
    assert api.call("POST", "/serviceaftaler", "sapa-lev", json=body).status_code == 201
    assert api.call("GET", "/serviceaftaler/sa-x", "b-godkender").status_code == 404
    assert api.call("POST", "/serviceaftaler/sa-x/approve", "b-godkender").status_code == 404
    visible = api.call("GET", "/serviceaftaler", "b-godkender").get_json()["items"]
    assert {a["id"] for a in visible} == {"sa-approved-b", "sa-requested-b"}


def test_audit_search_by_actor_and_object_and_as_csv(api: ApiWorld) -> None:
    body = {"id": "sa-audit", "cvr": A, "anvendersystem": "SAPA", "service": "KY"}
    api.call("POST", "/serviceaftaler", "sapa-lev", json=body)
    api.call("POST", "/serviceaftaler/sa-audit/reject", "a-godkender", json={"comment": "nej"})
    by_actor = api.call("GET", f"/audit?cvr={A}&actor=a-godkender", "a-administrator").get_json()
    assert [e["action"] for e in by_actor["items"]] == ["serviceaftale.rejected"]
    event = by_actor["items"][0]
    assert (
        event["details"]["comment"] == "nej" and event["details"]["before"]["status"] == "requested"
    )
    by_object = api.call("GET", "/audit?object=sa-audit", "a-administrator").get_json()
    assert [e["action"] for e in by_object["items"]] == [
        "serviceaftale.rejected",
        "serviceaftale.requested",
    ]
    csv = api.call(
        "GET", "/audit?object=sa-audit", "a-administrator", headers={"Accept": "text/csv"}
    )
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("id,at,actor,action") and len(lines) == 3
    assert api.call("GET", f"/audit?cvr={B}", "a-administrator").status_code == 404
    assert api.call("GET", "/audit?since=yesterday", "a-administrator").status_code == 422


def test_a_supplier_cannot_approve_its_own_request_through_a_client_it_registered(
    api: ApiWorld,
) -> None:
    body = {"id": "sa-self", "cvr": A, "anvendersystem": "SAPA", "service": "KY"}
    assert api.call("POST", "/serviceaftaler", "sapa-lev", json=body).status_code == 201
    sock = api.call(
        "POST", "/fagsystemer/SAPA/oidc-clients", "sapa-lev",
        json={"client_id": "sock", "grant_types": ["client_credentials"]},
    )  # fmt: skip
    assert sock.status_code == 201
    godkender = {"role": "godkender", "client": "sock"}
    granted = api.call("POST", f"/municipalities/{A}/admin-roles", "ops", json=godkender)
    assert granted.status_code == 201  # an operator may give it one
    # ... and a client of the asking system never approves, whatever role it was given.
    response = api.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": "http://idp.test/api/v1"},
        auth=("sock", sock.get_json()["client_secret"]),
    )
    token = response.get_json()["access_token"]
    refused = api.client.post(
        "/api/v1/serviceaftaler/sa-self/approve",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403 and "four-eyes" in problem(refused)["detail"]


def test_a_supplier_gives_no_role_to_its_own_systems_clients(api: ApiWorld) -> None:
    with api.database.session() as session:
        from store.models import AdminRoleAssignment

        session.add(
            AdminRoleAssignment(
                client_id="sapa-lev", role="administrator", cvr=A, holder="client:sapa-lev", scope=A
            )
        )
    response = api.call(
        "POST", f"/municipalities/{A}/admin-roles", "sapa-lev",
        json={"role": "godkender", "client": "sapa-system"},
    )  # fmt: skip
    assert response.status_code == 403


def test_the_audit_csv_quotes_cells_a_spreadsheet_would_run(api: ApiWorld) -> None:
    body = {"id": '=HYPERLINK("http://evil.test")', "cvr": A, "anvendersystem": "SAPA",
            "service": "KY"}  # fmt: skip
    assert api.call("POST", "/serviceaftaler", "sapa-lev", json=body).status_code == 201
    csv = api.call("GET", f"/audit?cvr={A}", "a-administrator", headers={"Accept": "text/csv"})
    text = csv.get_data(as_text=True)
    assert "'=HYPERLINK" in text and ',"=HYPERLINK' not in text and ",=HYPERLINK" not in text


def test_a_forged_cursor_is_422_not_a_server_error(api: ApiWorld) -> None:
    import base64
    import json as json_module

    for values in (["-id", None, {"a": 1}], ["username", [1], "x"], ["-id", "x", "y"]):
        cursor = base64.urlsafe_b64encode(json_module.dumps(values).encode()).decode()
        for path in ("/audit", f"/municipalities/{A}/users?sort=username"):
            sep = "&" if "?" in path else "?"
            response = api.call("GET", f"{path}{sep}cursor={cursor}", "ops")
            assert response.status_code == 422, (values, path, response.get_json())


def test_deeply_nested_json_is_400(api: ApiWorld) -> None:
    nested = "[" * 200_000 + "]" * 200_000
    response = api.call(
        "POST", "/serviceaftaler", "ops", data=nested, content_type="application/json"
    )
    assert response.status_code == 400


def test_audit_since_with_an_offset_means_that_instant(api: ApiWorld) -> None:
    import datetime as dt

    body = {"id": "sa-tz", "cvr": A, "anvendersystem": "SAPA", "service": "KY"}
    assert api.call("POST", "/serviceaftaler", "sapa-lev", json=body).status_code == 201
    now = dt.datetime.now(dt.UTC)
    before = (now - dt.timedelta(minutes=30)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    after = (now + dt.timedelta(minutes=30)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    from urllib.parse import quote as q

    found = api.call("GET", f"/audit?object=sa-tz&since={q(before.isoformat())}", "ops")
    assert [e["object_id"] for e in found.get_json()["items"]] == ["sa-tz"]
    none = api.call("GET", f"/audit?object=sa-tz&since={q(after.isoformat())}", "ops")
    assert none.get_json()["items"] == []
