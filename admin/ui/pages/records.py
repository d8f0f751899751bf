"""Revisionslog (search and CSV/JSON export), the catalogue (export; import with a preview
of what would change, then apply), and the front page (what needs me)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import yaml
from flask import Response, request
from flask.typing import ResponseReturnValue

from admin.errors import AdminError, Invalid, NotFound
from admin.service import agreements, audit_log, municipalities, overview
from admin.service import catalogue as catalogue_service
from admin.service.paging import MAX_LIMIT, Paging
from admin.ui import forms
from admin.ui.messages import REQUIRED, FormErrors, translate
from admin.ui.texts import t
from admin.ui.web import actor, admin_session, blueprint, ctx, home_cvr, page
from authz.admin import can
from idp.context import current_services
from store.catalogue import CatalogueInvalid, parse_text

AUDIT_FILTERS = ("cvr", "actor", "action", "object", "since", "until")
_CVR = re.compile(r"^\d{8}$")
MAX_CATALOGUE = 1024 * 1024
PREVIEW_SECONDS = 15 * 60


# -- front page ----------------------------------------------------------------------------


@blueprint.get("/")
def home() -> ResponseReturnValue:
    """Forside: pending approvals (with a count), recently changed roles, assignments ending."""
    who = actor()
    pending = agreements.list_agreements(ctx(), who, Paging(limit=100), status="requested")
    to_decide = [a for a in pending.items if can(who.admin, "approve", "serviceaftale", a["cvr"])]
    cvr = home_cvr()
    recent: list[dict[str, Any]] = []
    expiring: list[dict[str, Any]] = []
    if cvr is not None:
        try:
            recent = overview.recent_jfrs(ctx(), who, cvr)
        except AdminError:
            recent = []
        try:
            expiring = overview.expiring_assignments(ctx(), who, cvr)
        except AdminError:
            expiring = []
    return page(
        "admin/home.html",
        pending=pending.items,
        to_decide=to_decide,
        recent=recent,
        expiring=expiring,
        cvr=cvr,
        kommuner=municipalities.list_municipalities(ctx(), who)
        if not who.admin.fagsystemer() or who.admin.cvrs()
        else [],
    )


# -- audit ---------------------------------------------------------------------------------


def _audit_query(limit: int, errors: FormErrors) -> Any:
    """The search, or None when a filter is wrong (``errors`` then says which)."""
    args = {name: (request.args.get(name) or "").strip() or None for name in AUDIT_FILTERS}
    for name in ("since", "until"):
        args[name] = forms.iso_date(args[name])
    cvr = args["cvr"]
    if cvr is not None and not _CVR.match(cvr):
        errors.add("cvr", t("audit.cvr_format"))
        return None
    return audit_log.search(
        ctx(),
        actor(),
        forms.paging(request.args, limit=limit),
        cvr=args["cvr"],
        actor_name=args["actor"],
        action=args["action"],
        object_id=args["object"],
        since=args["since"],
        until=args["until"],
    )


@blueprint.get("/revisionslog")
def audit_search() -> ResponseReturnValue:
    """Revisionslog: filter by actor, object, municipality, time and action; export."""
    export = request.args.get("format")
    errors = FormErrors()
    status = 422
    try:
        result = _audit_query(MAX_LIMIT if export else 50, errors)
    except Invalid as exc:
        errors.add_error(
            exc, lambda parts: parts[0] if parts and parts[0] in AUDIT_FILTERS else None
        )
    except NotFound:  # a municipality whose log this person may not read: nothing shown
        errors.add("cvr", t("audit.cvr_unknown", cvr=request.args.get("cvr", "")[:20]))
        status = 404
    if errors:
        return page("admin/audit.html", status, result=None, errors=errors, filters=AUDIT_FILTERS)
    if export == "csv":
        return _download(_csv(result.items), "text/csv", "revisionslog.csv", result.next_cursor)
    if export == "json":
        body = json.dumps(result.as_dict(), ensure_ascii=False, indent=1)
        return _download(body, "application/json", "revisionslog.json", result.next_cursor)
    return page("admin/audit.html", result=result, errors=errors, filters=AUDIT_FILTERS)


def _csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(audit_log.csv_rows(items))
    return out.getvalue()


def _download(body: str, mimetype: str, filename: str, next_cursor: str | None) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if next_cursor:
        args = {**request.args.to_dict(), "cursor": next_cursor}
        response.headers["Link"] = f'<{request.path}?{urlencode(args)}>; rel="next"'
    return response


# -- catalogue -----------------------------------------------------------------------------


def _preview_key(token: str) -> str:
    return f"admin-ui:import:{admin_session().id}:{token}"


@blueprint.get("/katalog")
def catalogue() -> ResponseReturnValue:
    return page(
        "admin/catalogue.html",
        kommuner=municipalities.list_municipalities(ctx(), actor()),
        errors=FormErrors(),
        report=None,
        token=None,
    )


@blueprint.get("/katalog/eksport")
def catalogue_export() -> ResponseReturnValue:
    cvr = request.args.get("cvr") or None
    data = catalogue_service.export(ctx(), actor(), cvr)
    name = f"katalog-{cvr or 'alle'}-{dt.date.today().isoformat()}"
    if request.args.get("format") == "json":
        return _download(
            json.dumps(data, ensure_ascii=False, indent=2), "application/json", f"{name}.json", None
        )
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return _download(text, "application/yaml", f"{name}.yaml", None)


@blueprint.post("/katalog/import")
def catalogue_preview() -> ResponseReturnValue:
    """Dry run: what the file would change; the file is kept briefly to apply it."""
    errors = FormErrors()
    upload = request.files.get("catalogue")
    data: Any = None
    if upload is None or not upload.filename:
        errors.add("catalogue", t("catalogue.missing"))
    else:
        raw = upload.read(MAX_CATALOGUE + 1)
        try:
            if len(raw) > MAX_CATALOGUE:
                errors.add("catalogue", t("catalogue.too_big"))
            else:
                data = parse_text(raw.decode("utf-8"), source=upload.filename)
        except CatalogueInvalid as exc:
            for problem in exc.errors:
                detail = translate(problem.message)[:300]
                errors.add("catalogue", t("catalogue.unreadable", detail=detail))
        except (UnicodeDecodeError, ValueError):
            errors.add("catalogue", t("catalogue.not_text"))
    report = None
    token = None
    if not errors:
        try:
            report = catalogue_service.import_file(ctx(), actor(), data, dry_run=True)
        except Invalid as exc:
            _catalogue_problems(exc, errors)
        else:
            token = secrets.token_urlsafe(16)
            current_services().state.set(
                _preview_key(token), json.dumps(data).encode(), PREVIEW_SECONDS
            )
    return page(
        "admin/catalogue.html",
        422 if errors else 200,
        kommuner=municipalities.list_municipalities(ctx(), actor()),
        errors=errors,
        report=report,
        token=token,
    )


def _catalogue_problems(exc: Invalid, errors: FormErrors) -> None:
    """Each problem of the file, where it is (a missing member named in the place)."""
    for pointer, message in exc.errors or [("", exc.detail)]:
        required = REQUIRED.match(message)
        where = f"{pointer}/{required.group(1)}" if required else pointer
        errors.add("catalogue", f"{where or '/'}: {translate(message)}")


@blueprint.post("/katalog/anvend")
def catalogue_apply() -> ResponseReturnValue:
    token = request.form.get("token", "")
    raw = current_services().state.pop(_preview_key(token)) if token.isascii() else None
    if raw is None:
        errors = FormErrors()
        errors.add("catalogue", t("catalogue.preview_expired"))
        return page(
            "admin/catalogue.html",
            409,
            kommuner=municipalities.list_municipalities(ctx(), actor()),
            errors=errors,
            report=None,
            token=None,
        )
    try:
        result = catalogue_service.import_file(ctx(), actor(), json.loads(raw), dry_run=False)
    except Invalid as exc:  # the world changed since the preview; nothing was applied
        errors = FormErrors()
        errors.add("catalogue", t("catalogue.apply_failed"))
        _catalogue_problems(exc, errors)
        return page(
            "admin/catalogue.html",
            409,
            kommuner=municipalities.list_municipalities(ctx(), actor()),
            errors=errors,
            report=None,
            token=None,
        )
    return page(
        "admin/catalogue.html",
        kommuner=municipalities.list_municipalities(ctx(), actor()),
        errors=FormErrors(),
        report=result,
        token=None,
        applied=True,
    )
