"""Jobfunktionsroller: list, show (with who holds them), compose, change, delete.

The composer lists every fagsystem's brugersystemroller; a chosen role gets a value for
each constraint type it uses: fixed values, a dynamic rule or postponed to the
assignment. Form fields are numbered (``g-3``, ``g-3-c-1-fixed``) with the role's and
the constraint type's URIs in the form itself, so a post is read without guessing.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from admin.errors import Conflict, Invalid
from admin.service import assignments, fagsystemer, jfr
from admin.service.paging import Paging
from admin.ui import forms
from admin.ui.messages import FormErrors
from admin.ui.web import actor, blueprint, ctx, page
from store.catalogue.common import KLE_DYNAMIC, ORGENHED_DYNAMIC

DYNAMIC_BY_KIND = {"kle": sorted(KLE_DYNAMIC), "orgenhed": sorted(ORGENHED_DYNAMIC)}
MODES = ("fixed", "dynamic", "postponed")


def composer(systems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fagsystemer with their roles numbered for the form, each role's constraint types."""
    index = 0
    result = []
    for system in systems:
        kinds = {c["id"]: c for c in system["constraint_types"]}
        roles = []
        for role in system["roles"]:
            constraints = []
            for number, uri in enumerate(role["constraints"]):
                ctype = kinds.get(uri, {"id": uri, "name": uri, "kind": "text", "values": None})
                constraints.append(
                    {
                        "j": number,
                        "uri": uri,
                        "name": ctype.get("name") or uri,
                        "kind": ctype.get("kind"),
                        "values": ctype.get("values") or [],
                        "dynamic": DYNAMIC_BY_KIND.get(str(ctype.get("kind")), []),
                    }
                )
            roles.append({**role, "index": index, "constraint_fields": constraints})
            index += 1
        result.append({**system, "roles": roles})
    return result


class ComposedForm:
    """A posted JFR form as a service body, with the way back from errors to fields."""

    def __init__(self, form: MultiDict[str, str], errors: FormErrors) -> None:
        self.origin: list[int] = []  # grant number → form role index
        self.ctype_field: dict[tuple[int, str], int] = {}
        grants = []
        indices = sorted(int(key[2:]) for key in form if key.startswith("g-") and key[2:].isdigit())
        for i in indices:
            role = forms.text(form, f"g-{i}")
            constraints: dict[str, Any] = {}
            j = 0
            while f"g-{i}-c-{j}-id" in form:
                uri = forms.text(form, f"g-{i}-c-{j}-id")
                self.ctype_field[(i, uri)] = j
                mode = form.get(f"g-{i}-c-{j}-mode", "fixed")
                if mode == "dynamic":
                    constraints[uri] = {"dynamic": forms.text(form, f"g-{i}-c-{j}-dynamic")}
                elif mode == "postponed":
                    constraints[uri] = {"postponed": True}
                else:
                    values = forms.split_values(forms.text(form, f"g-{i}-c-{j}-fixed"))
                    constraints[uri] = {"fixed": values}
                j += 1
            grant: dict[str, Any] = {"role": role}
            if constraints:
                grant["constraints"] = constraints
            grants.append(grant)
            self.origin.append(i)
        self.body: dict[str, Any] = {
            "name": forms.text(form, "name"),
            "description": forms.text(form, "description"),
            "delegated_to": forms.split_names(forms.text(form, "delegated_to")),
            "grants": grants,
        }
        if forms.text(form, "jfr_id"):
            self.body["id"] = forms.text(form, "jfr_id")
        self.errors = errors

    def field_for(self, parts: list[str]) -> str | None:
        if not parts:
            return None
        head = parts[0]
        if head == "id":
            return "jfr_id"
        if head in ("name", "description", "delegated_to"):
            return head
        if head != "grants" or len(parts) < 2 or not parts[1].isdigit():
            return None
        number = int(parts[1])
        if number >= len(self.origin):
            return None
        i = self.origin[number]
        rest = parts[2:]
        if len(rest) >= 2 and rest[0] == "constraints" and (i, rest[1]) in self.ctype_field:
            j = self.ctype_field[(i, rest[1])]
            mode = rest[2] if len(rest) > 2 else ""
            return f"g-{i}-c-{j}-{mode if mode in ('fixed', 'dynamic') else 'mode'}"
        return f"g-{i}"


def _grants_by_role(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {grant["role"]: grant.get("constraints", {}) for grant in body.get("grants", [])}


def _systems() -> list[dict[str, Any]]:
    return forms.all_items(lambda p: fagsystemer.list_fagsystemer(ctx(), actor(), p))


def _form_page(
    cvr: str,
    body: dict[str, Any],
    errors: FormErrors,
    *,
    existing: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return page(
        "admin/jfr_form.html",
        status,
        cvr=cvr,
        body=body,
        chosen=_grants_by_role(body),
        systems=composer(_systems()),
        errors=errors,
        existing=existing,
        modes=MODES,
    )


@blueprint.get("/kommuner/<cvr>/jobfunktionsroller")
def jfr_list(cvr: str) -> ResponseReturnValue:
    result = jfr.list_jfrs(ctx(), actor(), cvr, forms.paging(request.args, sort="name"))
    return page("admin/jfr_list.html", cvr=cvr, result=result)


@blueprint.route("/kommuner/<cvr>/jobfunktionsroller/ny", methods=["GET", "POST"])
def jfr_new(cvr: str) -> ResponseReturnValue:
    jfr.list_jfrs(ctx(), actor(), cvr, Paging(limit=1))  # 404 before showing a form
    errors = FormErrors()
    if request.method == "GET":
        return _form_page(cvr, {"name": "", "grants": []}, errors)
    composed = ComposedForm(request.form, errors)
    try:
        created = jfr.create_jfr(ctx(), actor(), cvr, composed.body)
    except (Invalid, Conflict) as exc:
        errors.add_error(exc, composed.field_for)
        return _form_page(cvr, composed.body, errors, status=422)
    return redirect(url_for(".jfr_show", cvr=cvr, id=created["id"], saved=1), 303)


@blueprint.get("/kommuner/<cvr>/jobfunktionsrolle")
def jfr_show(cvr: str) -> ResponseReturnValue:
    role_id = request.args.get("id", "")
    item = jfr.get_jfr(ctx(), actor(), cvr, role_id)
    holders = assignments.list_assignments(
        ctx(), actor(), cvr, forms.paging(request.args, limit=100), role=role_id
    )
    names = {
        role["id"]: (system["name"], role["name"])
        for system in _systems()
        for role in system["roles"]
    }
    return page(
        "admin/jfr_show.html",
        cvr=cvr,
        item=item,
        holders=holders,
        names=names,
        saved=request.args.get("saved") == "1",
        error=None,
    )


@blueprint.route("/kommuner/<cvr>/jobfunktionsrolle/rediger", methods=["GET", "POST"])
def jfr_edit(cvr: str) -> ResponseReturnValue:
    role_id = request.args.get("id", "")
    existing = jfr.get_jfr(ctx(), actor(), cvr, role_id)
    errors = FormErrors()
    if request.method == "GET":
        return _form_page(cvr, existing, errors, existing=existing)
    composed = ComposedForm(request.form, errors)
    composed.body.pop("id", None)
    try:
        jfr.replace_jfr(ctx(), actor(), cvr, role_id, composed.body)
    except (Invalid, Conflict) as exc:
        errors.add_error(exc, composed.field_for)
        return _form_page(cvr, composed.body, errors, existing=existing, status=422)
    return redirect(url_for(".jfr_show", cvr=cvr, id=role_id, saved=1), 303)


@blueprint.post("/kommuner/<cvr>/jobfunktionsrolle/slet")
def jfr_delete(cvr: str) -> ResponseReturnValue:
    role_id = request.args.get("id", "")
    try:
        jfr.delete_jfr(ctx(), actor(), cvr, role_id)
    except Conflict as exc:
        errors = FormErrors()
        errors.add_error(exc)
        item = jfr.get_jfr(ctx(), actor(), cvr, role_id)
        holders = assignments.list_assignments(ctx(), actor(), cvr, Paging(limit=100), role=role_id)
        return page(
            "admin/jfr_show.html",
            409,
            cvr=cvr,
            item=item,
            holders=holders,
            names={},
            saved=False,
            error=errors.general[0],
        )
    return redirect(url_for(".jfr_list", cvr=cvr, deleted=1), 303)
