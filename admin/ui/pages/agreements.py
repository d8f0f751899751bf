"""Serviceaftaler in KOMBIT's words: Anmod om serviceaftale, Afventer godkendelse, Godkend,
Afvis, Tilbagekald. Who may do what, and four-eyes, are the service layer's; a refusal
of a decision is shown on the agreement's own page."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from admin.errors import Conflict, Forbidden, Invalid, NotFound
from admin.service import agreements, fagsystemer, municipalities
from admin.ui import forms
from admin.ui.messages import FormErrors
from admin.ui.texts import t
from admin.ui.web import actor, blueprint, ctx, page

TABS = ("requested", "approved", "rejected", "revoked")
DECISIONS = {"godkend": "approve", "afvis": "reject", "tilbagekald": "revoke"}


@blueprint.get("/serviceaftaler")
def agreement_list() -> ResponseReturnValue:
    status = request.args.get("status", "requested")
    if status not in TABS:
        status = "requested"
    result = agreements.list_agreements(
        ctx(),
        actor(),
        forms.paging(request.args),
        status=status,
        cvr=request.args.get("cvr") or None,
    )
    return page(
        "admin/agreements.html",
        result=result,
        status=status,
        tabs=TABS,
        names=_system_names(),
        requested=request.args.get("anmodet", ""),
    )


def _system_names() -> dict[str, str]:
    systems = forms.all_items(lambda p: fagsystemer.list_fagsystemer(ctx(), actor(), p))
    return {system["id"]: system["name"] for system in systems}


def _request_context(values: dict[str, Any], errors: FormErrors) -> dict[str, Any]:
    systems = forms.all_items(lambda p: fagsystemer.list_fagsystemer(ctx(), actor(), p))
    mine = actor().admin.fagsystemer()
    anvendere = [
        s
        for s in systems
        if "anvender" in s["kind"] and (actor().admin.is_operator or s["id"] in mine)
    ]
    services = [s for s in systems if "service" in s["kind"]]
    chosen = next((s for s in services if s["id"] == values.get("service")), None)
    return {
        "values": values,
        "errors": errors,
        "anvendere": [(s["id"], f"{s['name']} ({s['id']})") for s in anvendere],
        "services": services,
        "service": chosen,
        "kommuner": [
            (m["cvr"], f"{m['name']} ({m['cvr']})")
            for m in municipalities.list_municipalities(ctx(), actor())
        ],
    }


@blueprint.route("/serviceaftaler/ny", methods=["GET", "POST"])
def agreement_new() -> ResponseReturnValue:
    """Anmod om serviceaftale (a Leverandøradministrator for its anvendersystem)."""
    errors = FormErrors()
    source = request.form if request.method == "POST" else request.args
    values: dict[str, Any] = {
        "anvendersystem": forms.text(source, "anvendersystem"),
        "service": forms.text(source, "service"),
        "cvr": forms.text(source, "cvr"),
        "roles": source.getlist("roles"),
        "on_behalf_of": source.get("on_behalf_of") == "on",
        "comment": forms.text(source, "comment"),
        "constraints": {
            forms.text(source, f"sc-{j}-id"): forms.text(source, f"sc-{j}")
            for j in range(50)
            if f"sc-{j}-id" in source
        },
    }
    if request.method == "GET" or request.form.get("action") == "choose":
        return page("admin/agreement_form.html", **_request_context(values, errors))
    context = _request_context(values, errors)
    constraint_uris = [c["id"] for c in (context["service"] or {}).get("constraint_types", [])]
    body: dict[str, Any] = {
        "cvr": values["cvr"],
        "anvendersystem": values["anvendersystem"],
        "service": values["service"],
        "roles": values["roles"],
        "on_behalf_of": values["on_behalf_of"],
        "comment": values["comment"],
    }
    constraints = {
        uri: forms.split_values(text) for uri, text in values["constraints"].items() if text
    }
    if constraints:
        body["constraints"] = constraints
    for name in ("cvr", "anvendersystem", "service"):
        if not body[name]:
            errors.add(name, t("field.required"))
    if not errors:
        try:
            created = agreements.request_agreement(ctx(), actor(), body)
        except (Invalid, Conflict, Forbidden) as exc:

            def field_for(parts: list[str]) -> str | None:
                if not parts:
                    return None
                if parts[0] in ("cvr", "anvendersystem", "service", "comment"):
                    return parts[0]
                if parts[0] == "roles":
                    return "roles"
                if parts[0] == "constraints" and len(parts) > 1 and parts[1] in constraint_uris:
                    return f"sc-{constraint_uris.index(parts[1])}"
                return None

            errors.add_error(exc, field_for)
            if isinstance(exc, Forbidden):
                errors.fields.setdefault("anvendersystem", []).extend(errors.general)
                errors.general.clear()
        else:
            return redirect(url_for(".agreement_show", aftale_id=created["id"], anmodet=1), 303)
    return page("admin/agreement_form.html", 422, **context)


def _show(aftale_id: str, *, errors: FormErrors | None = None, status: int = 200) -> Any:
    item = agreements.get_agreement(ctx(), actor(), aftale_id)
    return page(
        "admin/agreement.html",
        status,
        item=item,
        names=_system_names(),
        errors=errors or FormErrors(),
        done=request.args.get("udfald", ""),
        requested=request.args.get("anmodet") == "1",
    )


@blueprint.get("/serviceaftaler/<aftale_id>")
def agreement_show(aftale_id: str) -> ResponseReturnValue:
    return _show(aftale_id)


@blueprint.post("/serviceaftaler/<aftale_id>/<verb>")
def agreement_decide(aftale_id: str, verb: str) -> ResponseReturnValue:
    """Godkend, Afvis or Tilbagekald, with a comment."""
    decision = DECISIONS.get(verb)
    if decision is None:
        raise NotFound("no such decision")
    comment = forms.text(request.form, "comment")
    try:
        agreements.decide(ctx(), actor(), aftale_id, decision, comment)
    except (Forbidden, Conflict, Invalid) as exc:
        errors = FormErrors()
        errors.add_error(exc, lambda parts: "comment" if parts[:1] == ["comment"] else None)
        return _show(aftale_id, errors=errors, status=exc.status)
    return redirect(url_for(".agreement_show", aftale_id=aftale_id, udfald=decision), 303)
