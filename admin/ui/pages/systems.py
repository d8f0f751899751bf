"""Fagsystemer for their Leverandøradministrator: SAML metadata (file or URL), OIDC clients
(a generated secret is shown once, on the answer to the form, and never again), roles and
constraint types; and the signing keys for operators."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from admin.errors import Conflict, Forbidden, Invalid
from admin.service import fagsystemer, keys
from admin.ui import forms
from admin.ui.messages import FormErrors, all_messages, pointer_parts, translate
from admin.ui.texts import t
from admin.ui.web import actor, blueprint, ctx, page
from certs.keys import KEY_TYPES

KINDS = ("kle", "orgenhed", "values", "text")
SYSTEM_KINDS = ("brugervendt", "service", "anvender")
LOAS = ("Low", "Substantial", "High")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANTS = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)
MAX_METADATA = 512 * 1024


@blueprint.get("/fagsystemer")
def system_list() -> ResponseReturnValue:
    result = fagsystemer.list_fagsystemer(ctx(), actor(), forms.paging(request.args))
    return page("admin/systems.html", result=result)


def _system_page(
    fagsystem_id: str,
    *,
    errors: FormErrors | None = None,
    form: str = "",
    secret: str | None = None,
    client: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    item = fagsystemer.get_fagsystem(ctx(), actor(), fagsystem_id)
    return page(
        "admin/system.html",
        status,
        item=item,
        errors=errors or FormErrors(),
        form=form,
        values=request.form if request.method == "POST" else {},
        secret=secret,
        client=client,
        kind_options=[(kind, t(f"kind.{kind}")) for kind in KINDS],
        system_kinds=SYSTEM_KINDS,
        loa_options=[(loa, t(f"loa.{loa}")) for loa in LOAS],
        auth_options=[(method, method) for method in AUTH_METHODS],
        grants=GRANTS,
        saved=request.args.get("gemt", ""),
    )


@blueprint.get("/fagsystemer/<fagsystem_id>")
def system_show(fagsystem_id: str) -> ResponseReturnValue:
    return _system_page(fagsystem_id)


@blueprint.post("/fagsystemer/<fagsystem_id>/saml-metadata")
def system_metadata(fagsystem_id: str) -> ResponseReturnValue:
    errors = FormErrors()
    upload = request.files.get("metadata")
    url = forms.text(request.form, "url")
    xml = None
    if upload is not None and upload.filename:
        raw = upload.read(MAX_METADATA + 1)
        try:
            xml = raw.decode("utf-8")
        except UnicodeDecodeError:
            errors.add("metadata", t("system.metadata_not_text"))
        if len(raw) > MAX_METADATA:
            errors.add("metadata", t("system.metadata_too_big"))
    elif not url:
        errors.add("metadata", t("system.metadata_missing"))
    if not errors:
        try:
            if xml is not None:
                fagsystemer.put_saml_metadata(ctx(), actor(), fagsystem_id, xml=xml)
            else:
                fagsystemer.put_saml_metadata(ctx(), actor(), fagsystem_id, url=url)
        except (Invalid, Conflict, Forbidden) as exc:
            errors.add_error(exc, lambda parts: "url" if parts[:1] == ["url"] else "metadata")
    if errors:
        return _system_page(fagsystem_id, errors=errors, form="saml", status=422)
    return redirect(url_for(".system_show", fagsystem_id=fagsystem_id, gemt="saml"), 303)


@blueprint.post("/fagsystemer/<fagsystem_id>/klienter")
def system_client(fagsystem_id: str) -> ResponseReturnValue:
    """Register an OIDC client; the page that answers shows a generated secret once."""
    body: dict[str, Any] = {
        "token_endpoint_auth_method": request.form.get("token_endpoint_auth_method", ""),
        "grant_types": request.form.getlist("grant_types"),
        "redirect_uris": forms.split_names(forms.text(request.form, "redirect_uris")),
    }
    if forms.text(request.form, "client_id"):
        body["client_id"] = forms.text(request.form, "client_id")
    errors = FormErrors()
    try:
        client, secret = fagsystemer.register_client(ctx(), actor(), fagsystem_id, body)
    except Conflict as exc:  # the client id is taken
        errors.add("client_id", translate(exc.detail))
        return _system_page(fagsystem_id, errors=errors, form="client", status=422)
    except (Invalid, Forbidden) as exc:
        names = {"client_id", "token_endpoint_auth_method", "grant_types", "redirect_uris"}
        errors.add_error(exc, lambda parts: parts[0] if parts and parts[0] in names else None)
        return _system_page(fagsystem_id, errors=errors, form="client", status=422)
    return _system_page(fagsystem_id, secret=secret, client=client, status=201)


def _catalogue_body(item: dict[str, Any]) -> dict[str, Any]:
    """The fagsystem as PUT takes it (no SAML or clients; no empty optional values)."""
    body: dict[str, Any] = {
        key: item[key] for key in ("name", "kind", "personal_data", "min_loa") if key in item
    }
    if item.get("entity_id"):
        body["entity_id"] = item["entity_id"]
    body["constraint_types"] = [
        {key: value for key, value in ctype.items() if value is not None}
        for ctype in item["constraint_types"]
    ]
    body["roles"] = [
        {key: value for key, value in role.items() if value not in (None, "")}
        for role in item["roles"]
    ]
    return body


@blueprint.post("/fagsystemer/<fagsystem_id>/roller")
def system_role(fagsystem_id: str) -> ResponseReturnValue:
    """Add (or replace, same id) a brugersystemrolle or servicesystemrolle."""
    item = fagsystemer.get_fagsystem(ctx(), actor(), fagsystem_id)
    body = _catalogue_body(item)
    role: dict[str, Any] = {
        "id": forms.text(request.form, "role_id"),
        "name": forms.text(request.form, "role_name"),
        "constraints": request.form.getlist("role_constraints"),
    }
    if forms.text(request.form, "role_description"):
        role["description"] = forms.text(request.form, "role_description")
    body["roles"] = [r for r in body["roles"] if r["id"] != role["id"]] + [role]
    index = len(body["roles"]) - 1
    return _put(fagsystem_id, body, "roles", index, "role_", "role")


@blueprint.post("/fagsystemer/<fagsystem_id>/dataafgraensninger")
def system_constraint_type(fagsystem_id: str) -> ResponseReturnValue:
    """Add (or replace, same id) a constraint type (dataafgrænsningstype)."""
    item = fagsystemer.get_fagsystem(ctx(), actor(), fagsystem_id)
    body = _catalogue_body(item)
    ctype: dict[str, Any] = {
        "id": forms.text(request.form, "ctype_id"),
        "name": forms.text(request.form, "ctype_name"),
        "kind": forms.text(request.form, "ctype_kind"),
    }
    values = forms.split_values(forms.text(request.form, "ctype_values"))
    if values:
        ctype["values"] = values
    if forms.text(request.form, "ctype_regex"):
        ctype["regex"] = forms.text(request.form, "ctype_regex")
    body["constraint_types"] = [c for c in body["constraint_types"] if c["id"] != ctype["id"]]
    body["constraint_types"].append(ctype)
    index = len(body["constraint_types"]) - 1
    return _put(fagsystem_id, body, "constraint_types", index, "ctype_", "ctype")


@blueprint.post("/fagsystemer/<fagsystem_id>/egenskaber")
def system_attributes(fagsystem_id: str) -> ResponseReturnValue:
    """Change the name, kind, minimum assurance level and whether it gets personal data."""
    item = fagsystemer.get_fagsystem(ctx(), actor(), fagsystem_id)
    body = _catalogue_body(item)
    body["name"] = forms.text(request.form, "system_name")
    body["kind"] = request.form.getlist("system_kind")
    body["min_loa"] = forms.text(request.form, "system_min_loa")
    body["personal_data"] = request.form.get("system_personal_data") == "on"
    if not body["kind"]:
        errors = FormErrors()
        errors.add("system_kind", t("system.kind_required"))
        return _system_page(fagsystem_id, errors=errors, form="attributes", status=422)
    return _put(fagsystem_id, body, "", 0, "system_", "attributes")


@blueprint.post("/fagsystemer/<fagsystem_id>/roller/fjern")
def system_role_remove(fagsystem_id: str) -> ResponseReturnValue:
    """Remove a role; the service refuses one still in use, and says what uses it."""
    item = fagsystemer.get_fagsystem(ctx(), actor(), fagsystem_id)
    role_id = request.form.get("role_id", "")
    found = forms.one(item["roles"], "id", role_id, f"role {role_id} not found")
    body = _catalogue_body(item)
    body["roles"] = [role for role in body["roles"] if role["id"] != role_id]
    position = item["roles"].index(found)
    return _put(fagsystem_id, body, "roles", -1, "", "removed", at=f"remove-role-{position}")


@blueprint.post("/fagsystemer/<fagsystem_id>/dataafgraensninger/fjern")
def system_constraint_type_remove(fagsystem_id: str) -> ResponseReturnValue:
    """Remove a constraint type; refused while a role of the fagsystem still uses it."""
    item = fagsystemer.get_fagsystem(ctx(), actor(), fagsystem_id)
    ctype_id = request.form.get("ctype_id", "")
    found = forms.one(item["constraint_types"], "id", ctype_id, f"type {ctype_id} not found")
    body = _catalogue_body(item)
    body["constraint_types"] = [c for c in body["constraint_types"] if c["id"] != ctype_id]
    position = item["constraint_types"].index(found)
    at = f"remove-ctype-{position}"
    try:
        fagsystemer.put_fagsystem(ctx(), actor(), fagsystem_id, body)
    except (Invalid, Conflict, Forbidden) as exc:
        errors = FormErrors()
        for pointer, message in exc.errors or [("", exc.detail)]:
            parts = pointer_parts(pointer)
            if parts[:1] == ["roles"] and len(parts) > 1 and parts[1].isdigit():
                role = body["roles"][int(parts[1])]  # a role still declares the type
                errors.add(at, t("system.ctype_in_use", role=role.get("name", role["id"])))
            else:
                errors.add(at, translate(message))
        return _system_page(fagsystem_id, errors=errors, form="removed", status=422)
    return redirect(url_for(".system_show", fagsystem_id=fagsystem_id, gemt="removed"), 303)


def _put(
    fagsystem_id: str,
    body: dict[str, Any],
    section: str,
    index: int,
    prefix: str,
    form: str,
    *,
    at: str | None = None,
) -> ResponseReturnValue:
    """PUT the whole fagsystem; errors at the form's fields (or at ``at``, a remove button)."""
    errors = FormErrors()

    names = ("id", "name", "kind", "values", "regex", "description", "constraints", "min_loa")

    def field_for(parts: list[str]) -> str | None:
        if not section:  # the fagsystem's own attributes
            return prefix + parts[0] if parts and parts[0] in names else None
        if parts == [section, str(index)] and section == "constraint_types":
            return prefix + "values"  # the only whole-type error: a value list is missing
        if len(parts) >= 3 and parts[:2] == [section, str(index)] and parts[2] in names:
            return prefix + parts[2]
        return None

    try:
        fagsystemer.put_fagsystem(ctx(), actor(), fagsystem_id, body)
    except (Invalid, Conflict, Forbidden) as exc:
        if at is None:
            errors.add_error(exc, field_for)
        else:
            for message in all_messages(exc):
                errors.add(at, message)
        return _system_page(fagsystem_id, errors=errors, form=form, status=422)
    return redirect(url_for(".system_show", fagsystem_id=fagsystem_id, gemt=form), 303)


# -- signing keys (operators) --------------------------------------------------------------


def _manager() -> Any:
    return current_app.extensions["sts"].keys


@blueprint.get("/noegler")
def key_list() -> ResponseReturnValue:
    items = keys.list_keys(ctx(), actor(), _manager())
    return page(
        "admin/keys.html",
        items=items,
        types=KEY_TYPES,
        rotated=request.args.get("roteret"),
        errors=FormErrors(),
    )


@blueprint.post("/noegler/roter")
def key_rotate() -> ResponseReturnValue:
    kty = request.form.get("kty") or None
    try:
        keys.rotate(ctx(), actor(), _manager(), kty)
    except Invalid as exc:
        errors = FormErrors()
        errors.add_error(exc, lambda parts: "kty")
        items = keys.list_keys(ctx(), actor(), _manager())
        return page("admin/keys.html", 422, items=items, types=KEY_TYPES, errors=errors)
    return redirect(url_for(".key_list", roteret=kty or "alle"), 303)
