"""Brugere og tildelinger: find a person, see and change their assignments, assign a role
to users (several at once), an AD group or an org unit, and explain a person's access.

Search works as a plain GET form; with JavaScript the results refresh while typing
(``static/admin.js`` fetches ``?partial=1``, the same results as an HTML fragment).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from admin.errors import AdminError, Conflict, Invalid
from admin.service import assignments, fagsystemer, jfr, mfa, overview, users
from admin.service.paging import Paging
from admin.ui import forms
from admin.ui.messages import FormErrors
from admin.ui.texts import t
from admin.ui.web import actor, blueprint, ctx, page
from authz.bpp import encode_xml
from authz.model import PrivilegeResult
from authz.priv import priv_document

SUBJECTS = ("user", "group", "org_unit")


@blueprint.get("/kommuner/<cvr>/brugere")
def user_search(cvr: str) -> ResponseReturnValue:
    query = request.args.get("q", "").strip()
    errors = FormErrors()
    try:
        result = users.search_users(ctx(), actor(), cvr, forms.paging(request.args), query or None)
    except Invalid as exc:
        errors.add_error(exc, lambda parts: "q" if parts[:1] == ["q"] else None)
        result = None
    template = "admin/_user_results.html" if request.args.get("partial") == "1" else None
    return page(
        template or "admin/users.html",
        422 if errors else 200,
        cvr=cvr,
        q=query,
        result=result,
        errors=errors,
    )


def _user(cvr: str, username: str) -> dict[str, Any]:
    found = users.search_users(ctx(), actor(), cvr, Paging(limit=50), username).items
    return forms.one(found, "username", username, f"user {username} not found")


@blueprint.get("/kommuner/<cvr>/brugere/<username>")
def user_show(cvr: str, username: str) -> ResponseReturnValue:
    return _user_page(cvr, _user(cvr, username), FormErrors())


def _user_page(cvr: str, user: dict[str, Any], errors: FormErrors, code: int = 200) -> Any:
    username = user["username"]
    held = assignments.list_assignments(ctx(), actor(), cvr, Paging(limit=200), user=username)
    roles = _role_names(cvr)
    systems = forms.all_items(lambda p: fagsystemer.list_fagsystemer(ctx(), actor(), p))
    return page(
        "admin/user.html",
        code,
        cvr=cvr,
        user=user,
        held=held.items,
        roles=roles,
        systems=systems,
        today=dt.date.today().isoformat(),
        errors=errors,
    )


@blueprint.get("/kommuner/<cvr>/brugere/<username>/adgang")
def user_access(cvr: str, username: str) -> ResponseReturnValue:
    """Forklar adgang: the privilege groups, their sources, and the token attributes."""
    user = _user(cvr, username)
    errors = FormErrors()
    fagsystem = request.args.get("fagsystem", "")
    on = forms.date(request.args, "dato", errors)
    systems = forms.all_items(lambda p: fagsystemer.list_fagsystemer(ctx(), actor(), p))
    result = bpp = priv = None
    if not fagsystem:
        errors.add("fagsystem", t("field.required"))
    if not errors:
        try:
            result = users.privileges(
                ctx(),
                actor(),
                cvr,
                username,
                fagsystem,
                on=dt.date.fromisoformat(on) if on else None,
                explain=True,
            )
        except Invalid as exc:
            errors.add_error(exc, lambda parts: "fagsystem" if parts[:1] == ["fagsystem"] else None)
    if result is not None:
        groups = PrivilegeResult.from_dict(result).token_groups()
        bpp = encode_xml(groups).decode("utf-8") if groups else None
        priv = priv_document(groups)
    return page(
        "admin/access.html",
        422 if errors else 200,
        cvr=cvr,
        user=user,
        systems=systems,
        fagsystem=fagsystem,
        on=request.args.get("dato", ""),
        result=result,
        bpp=bpp,
        priv=priv,
        roles=_role_names(cvr),
        errors=errors,
    )


def _role_names(cvr: str) -> dict[str, str]:
    """The municipality's own jobfunktionsroller, then those delegated to it (marked so)."""
    names = {
        item["id"]: item["name"]
        for item in forms.all_items(lambda p: jfr.list_jfrs(ctx(), actor(), cvr, p))
    }
    for item in _delegated(cvr):
        names[item["id"]] = t("jfr.delegated_from", name=item["name"], cvr=item["cvr"])
    return names


def _delegated(cvr: str) -> list[dict[str, Any]]:
    if "admin_delegated" not in g:
        g.admin_delegated = jfr.list_delegated_jfrs(ctx(), actor(), cvr)
    found: list[dict[str, Any]] = g.admin_delegated
    return found


# -- disable, enable, second factor --------------------------------------------------------


@blueprint.post("/kommuner/<cvr>/brugere/<username>/spaerring")
def user_disable(cvr: str, username: str) -> ResponseReturnValue:
    """Spær (or lift the block): disabling ends every session of the person at once, so the
    form asks for an explicit confirmation first."""
    user = _user(cvr, username)
    disable = request.form.get("disabled") == "1"
    if disable and request.form.get("confirm") != "on":
        errors = FormErrors()
        errors.add("confirm", t("user.disable_confirm_needed"))
        return _user_page(cvr, user, errors, 422)
    users.set_disabled(ctx(), actor(), cvr, user["username"], disable)
    if disable:
        target = url_for(".user_show", cvr=cvr, username=user["username"], spaerret=1)
    else:
        target = url_for(".user_show", cvr=cvr, username=user["username"], genaabnet=1)
    return redirect(target, 303)


@blueprint.post("/kommuner/<cvr>/brugere/<username>/aktiveringskode")
def user_activation_code(cvr: str, username: str) -> ResponseReturnValue:
    """Issue a TOTP activation code (with reset: after a lost phone); shown on this page
    once, never stored in clear and never put in an address."""
    user = _user(cvr, username)
    reset = request.form.get("reset") == "on"
    if reset and request.form.get("confirm_reset") != "on":
        errors = FormErrors()
        errors.add("confirm_reset", t("user.reset_confirm_needed"))
        return _user_page(cvr, user, errors, 422)
    issued = mfa.activation_code(ctx(), actor(), cvr, user["username"], reset=reset)
    return page("admin/activation_code.html", cvr=cvr, user=user, issued=issued)


# -- assignments ---------------------------------------------------------------------------


@blueprint.get("/kommuner/<cvr>/tildelinger")
def assignment_list(cvr: str) -> ResponseReturnValue:
    errors = FormErrors()
    valid_on = forms.date(request.args, "gyldig", errors)
    result = assignments.list_assignments(
        ctx(),
        actor(),
        cvr,
        forms.paging(request.args),
        user=request.args.get("bruger") or None,
        role=request.args.get("rolle") or None,
        valid_on=dt.date.fromisoformat(valid_on) if valid_on else None,
    )
    return page(
        "admin/assignments.html",
        cvr=cvr,
        result=result,
        roles=_role_names(cvr),
        errors=errors,
        created=request.args.get("oprettet", ""),
    )


def _postponed(cvr: str, role_id: str) -> list[str]:
    """Constraint types the chosen role leaves to the assignment (empty if unknown to us)."""
    delegated = [item for item in _delegated(cvr) if item["id"] == role_id]
    try:
        item = delegated[0] if delegated else jfr.get_jfr(ctx(), actor(), cvr, role_id)
    except AdminError:  # an unknown role: the service names it when the form is sent
        return []
    return sorted(
        {
            uri
            for grant in item["grants"]
            for uri, spec in grant["constraints"].items()
            if spec.get("postponed")
        }
    )


def _assignment_fields(form: MultiDict[str, str], errors: FormErrors) -> dict[str, Any]:
    """Dates, case number, inheritance, excepted users and postponed values."""
    body: dict[str, Any] = {
        "valid_from": forms.date(form, "valid_from", errors),
        "valid_to": forms.date(form, "valid_to", errors),
        "case_number": forms.text(form, "case_number") or None,
    }
    constraints = {}
    j = 0
    while f"pc-{j}-id" in form:
        values = forms.split_values(forms.text(form, f"pc-{j}"))
        constraints[forms.text(form, f"pc-{j}-id")] = values
        j += 1
    body["constraints"] = constraints
    return body


def _field_for(postponed: list[str], subject_field: str) -> Any:
    def field_for(parts: list[str]) -> str | None:
        if not parts:
            return None
        head = parts[0]
        if head in ("valid_from", "valid_to", "case_number", "inherit", "except_users"):
            return head
        if head in SUBJECTS:
            return subject_field
        if head == "role":
            return "role"
        if head == "constraints" and len(parts) > 1 and parts[1] in postponed:
            return f"pc-{postponed.index(parts[1])}"
        return None

    return field_for


def _form_context(cvr: str, values: dict[str, Any], errors: FormErrors) -> dict[str, Any]:
    role_id = values.get("role", "")
    roles = _role_names(cvr)
    if role_id and role_id not in roles:
        roles[role_id] = role_id
    try:
        units = overview.org_units(ctx(), actor(), cvr)
    except AdminError:  # a Brugeradministrator may read them; others type the uuid
        units = []
    return {
        "cvr": cvr,
        "values": values,
        "roles": roles,
        "units": units,
        "postponed": _postponed(cvr, role_id) if role_id else [],
        "errors": errors,
    }


@blueprint.route("/kommuner/<cvr>/tildelinger/ny", methods=["GET", "POST"])
def assignment_new(cvr: str) -> ResponseReturnValue:
    """Tildel: one role to users (one or many), an AD group or an org unit."""
    assignments.list_assignments(ctx(), actor(), cvr, Paging(limit=1))  # 404 before a form
    errors = FormErrors()
    source = request.form if request.method == "POST" else request.args
    values: dict[str, Any] = {
        "role": forms.text(source, "role"),
        "subject": source.get("subject") or ("group" if source.get("group") else "user"),
        "users": forms.text(source, "users") or forms.text(source, "user"),
        "group": forms.text(source, "group"),
        "org_unit": forms.text(source, "org_unit"),
        "inherit": source.get("inherit") == "on",
        "except_users": forms.text(source, "except_users"),
        "valid_from": forms.text(source, "valid_from"),
        "valid_to": forms.text(source, "valid_to"),
        "case_number": forms.text(source, "case_number"),
        "pc": {key: forms.text(source, key) for key in source if key.startswith("pc-")},
    }
    if source.get("subject") == "org_unit" and request.method == "GET":
        values["subject"] = "org_unit"
    if request.method == "GET" or request.form.get("action") == "choose":
        return page("admin/assignment_form.html", **_form_context(cvr, values, errors))
    postponed = _postponed(cvr, values["role"])
    base = _assignment_fields(request.form, errors)
    base["role"] = values["role"]
    if not values["role"]:
        errors.add("role", t("field.required"))
    subject = values["subject"] if values["subject"] in SUBJECTS else "user"
    targets: list[dict[str, Any]] = []
    if subject == "user":
        names = forms.split_names(values["users"])
        if not names:
            errors.add("users", t("field.required"))
        targets = [{"user": name} for name in names]
    elif subject == "group":
        if not values["group"]:
            errors.add("group", t("field.required"))
        targets = [{"group": values["group"]}]
    else:
        if not values["org_unit"]:
            errors.add("org_unit", t("field.required"))
        extra: dict[str, Any] = {"org_unit": values["org_unit"], "inherit": values["inherit"]}
        excepted = forms.split_names(values["except_users"])
        if excepted:
            extra["except_users"] = excepted
        targets = [extra]
    if errors:
        return page("admin/assignment_form.html", 422, **_form_context(cvr, values, errors))
    subject_field = {"user": "users", "group": "group", "org_unit": "org_unit"}[subject]
    created: list[str] = []
    failed: list[str] = []
    for target in targets:
        body = {key: value for key, value in {**base, **target}.items() if value is not None}
        if not body.get("constraints"):
            body.pop("constraints", None)
        try:
            item = assignments.create_assignment(ctx(), actor(), cvr, body)
        except (Invalid, Conflict) as exc:
            who = target.get("user")
            before = len(errors.fields.get(subject_field, []))
            errors.add_error(exc, _field_for(postponed, subject_field))
            if who is not None:
                failed.append(who)
                found = errors.fields.get(subject_field, [])
                for index in range(before, len(found)):
                    found[index] = f"{who}: {found[index]}"
            continue
        created.append(item.get("user") or item.get("group") or item.get("org_unit") or "")
    if errors:
        values["users"] = "\n".join(failed)
        context = _form_context(cvr, values, errors)
        return page("admin/assignment_form.html", 422, created=created, **context)
    if subject == "user" and len(created) == 1:
        return redirect(url_for(".user_show", cvr=cvr, username=created[0], saved=1), 303)
    return redirect(
        url_for(".assignment_list", cvr=cvr, rolle=values["role"], oprettet=len(created)), 303
    )


@blueprint.route("/kommuner/<cvr>/tildelinger/<assignment_id>", methods=["GET", "POST"])
def assignment_show(cvr: str, assignment_id: str) -> ResponseReturnValue:
    item = assignments.get_assignment(ctx(), actor(), cvr, assignment_id)
    postponed = sorted(set(_postponed(cvr, item["role"])) | set(item["constraints"]))
    errors = FormErrors()
    saved = False
    if request.method == "POST":
        change = _assignment_fields(request.form, errors)
        if item.get("org_unit"):
            change["inherit"] = request.form.get("inherit") == "on"
            change["except_users"] = forms.split_names(forms.text(request.form, "except_users"))
        # An emptied date or case number is sent as null, which clears it (merge patch).
        if not errors:
            try:
                item = assignments.update_assignment(ctx(), actor(), cvr, assignment_id, change)
                saved = True
            except (Invalid, Conflict) as exc:
                errors.add_error(exc, _field_for(postponed, "case_number"))
        if errors:
            item = {**item, **{k: v for k, v in change.items() if k != "constraints"}}
            item["valid_from"] = forms.text(request.form, "valid_from")
            item["valid_to"] = forms.text(request.form, "valid_to")
    return page(
        "admin/assignment.html",
        422 if errors else 200,
        cvr=cvr,
        item=item,
        postponed=postponed,
        roles=_role_names(cvr),
        errors=errors,
        saved=saved,
    )


@blueprint.post("/kommuner/<cvr>/tildelinger/<assignment_id>/slet")
def assignment_delete(cvr: str, assignment_id: str) -> ResponseReturnValue:
    item = assignments.get_assignment(ctx(), actor(), cvr, assignment_id)
    assignments.delete_assignment(ctx(), actor(), cvr, assignment_id)
    if item.get("user"):
        return redirect(url_for(".user_show", cvr=cvr, username=item["user"], removed=1), 303)
    return redirect(url_for(".assignment_list", cvr=cvr, rolle=item["role"]), 303)
