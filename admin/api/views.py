"""The REST API's routes: each reads the request, calls the service layer, writes JSON.

No rules live here (rights, validation, four-eyes and audit are the service layer's); a
route only translates query strings and bodies into arguments and results into JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, jsonify, request, url_for

from admin.actor import Actor
from admin.api import auth
from admin.api.openapi import document
from admin.api.problems import PREFIX, install_app, install_blueprint, problem
from admin.errors import AdminError, Invalid, NotFound
from admin.schemas import check_body
from admin.service import (
    agreements,
    assignments,
    audit_log,
    catalogue,
    fagsystemer,
    jfr,
    mfa,
    municipalities,
    roles,
    users,
)
from admin.service.context import ServiceContext
from admin.service.paging import DEFAULT_LIMIT, Page, Paging
from idp.context import current_services
from store.catalogue import CatalogueInvalid, parse_text

blueprint = Blueprint("admin_api", __name__, url_prefix=PREFIX)
_JSON = "application/json"
_XML = ("application/samlmetadata+xml", "application/xml", "text/xml")
_YAML = ("application/yaml", "application/x-yaml", "text/yaml")
_PUBLIC = {"admin_api.openapi"}
install_blueprint(blueprint)


def _ctx() -> ServiceContext:
    services = current_services()
    return ServiceContext(services.database, services.state, services.settings)


def _actor() -> Actor:
    actor: Actor = g.admin_actor
    return actor


@blueprint.before_request
def _sign_in() -> None:
    if request.endpoint in _PUBLIC or request.endpoint is None:
        return
    ctx = _ctx()
    g.admin_actor = auth.authenticate(ctx)
    auth.rate_limit(ctx, g.admin_actor)
    cvr = (request.view_args or {}).get("cvr")
    if cvr is not None:
        municipalities.require_exists(ctx, cvr)


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.status_code == 401:
        error = getattr(g, "auth_error", "invalid_token")
        response.headers["WWW-Authenticate"] = f'Bearer realm="{PREFIX}", error="{error}"'
    if response.status_code == 429 and getattr(g, "retry_after", None):
        response.headers["Retry-After"] = g.retry_after
    return response


@blueprint.errorhandler(auth.Unauthenticated)
def _unauthenticated(exc: auth.Unauthenticated) -> Response:
    g.auth_error = exc.error
    return problem(401, exc.detail, title=exc.title)


# -- request helpers -----------------------------------------------------------------------


def _body() -> Any:
    """The JSON request body (415 for another media type, 400 if it is not JSON)."""
    if request.mimetype != _JSON:
        raise _UnsupportedMediaType(f"send the body as {_JSON}")
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError) as exc:
        raise _BadRequest(f"the body is not valid JSON: {exc}") from exc


class _UnsupportedMediaType(AdminError):
    status = 415
    title = "Unsupported Media Type"


class _BadRequest(AdminError):
    status = 400
    title = "Bad Request"


def _paging() -> Paging:
    raw = request.args.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError as exc:
            raise Invalid("limit is not a number", [("/limit", "an integer 1-500")]) from exc
    return Paging(request.args.get("cursor") or None, limit, request.args.get("sort") or None)


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise Invalid(f"{name} is true or false", [(f"/{name}", "true or false")])
    return value in ("true", "1")


def _date(name: str) -> dt.date | None:
    value = request.args.get(name)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{name} is not a date", [(f"/{name}", "YYYY-MM-DD")]) from exc


def _page(result: Page) -> Response:
    return jsonify(result.as_dict())


def _created(item: dict[str, Any], location: str) -> Response:
    response = jsonify(item)
    response.status_code = 201
    response.headers["Location"] = location
    return response


def _no_content() -> Response:
    return Response(status=204)


def _id(value: str) -> str:
    return quote(str(value), safe="")


# -- the document and the caller -----------------------------------------------------------


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document(current_services().settings.base_url))


@blueprint.get("/me")
def me() -> Response:
    actor = _actor()
    principal: dict[str, Any] = {"kind": actor.kind, "id": actor.id}
    if actor.kind == "user":
        principal.update(cvr=actor.cvr, loa=actor.loa, user_id=actor.user_id)
    held = []
    for role, scope in actor.admin.roles:
        if scope is None:
            held.append({"role": role})
        elif scope.startswith("fagsystem:"):
            held.append({"role": role, "fagsystem": scope.removeprefix("fagsystem:")})
        else:
            held.append({"role": role, "cvr": scope})
    return jsonify({"principal": principal, "roles": held})


@blueprint.get("/municipalities")
def list_municipalities() -> Response:
    return jsonify({"items": municipalities.list_municipalities(_ctx(), _actor())})


# -- fagsystemer -------------------------------------------------------------------------------


@blueprint.get("/fagsystemer")
def list_fagsystemer() -> Response:
    return _page(fagsystemer.list_fagsystemer(_ctx(), _actor(), _paging()))


@blueprint.get("/fagsystemer/<fagsystem_id>")
def get_fagsystem(fagsystem_id: str) -> Response:
    return jsonify(fagsystemer.get_fagsystem(_ctx(), _actor(), fagsystem_id))


@blueprint.put("/fagsystemer/<fagsystem_id>")
def put_fagsystem(fagsystem_id: str) -> Response:
    item, created = fagsystemer.put_fagsystem(_ctx(), _actor(), fagsystem_id, _body())
    if created:
        return _created(item, url_for(".get_fagsystem", fagsystem_id=fagsystem_id))
    return jsonify(item)


@blueprint.put("/fagsystemer/<fagsystem_id>/saml-metadata")
def put_saml_metadata(fagsystem_id: str) -> Response:
    if request.mimetype in _XML:
        try:
            xml = request.get_data(cache=False).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadRequest("the metadata is not UTF-8 text") from exc
        item = fagsystemer.put_saml_metadata(_ctx(), _actor(), fagsystem_id, xml=xml)
    elif request.mimetype == _JSON:
        body = check_body("MetadataUrl", _body())
        item = fagsystemer.put_saml_metadata(_ctx(), _actor(), fagsystem_id, url=body["url"])
    else:
        raise _UnsupportedMediaType(
            'send SAML metadata as application/samlmetadata+xml, or {"url": ...} as JSON'
        )
    return jsonify(item)


@blueprint.get("/fagsystemer/<fagsystem_id>/certificates")
def list_certificates(fagsystem_id: str) -> Response:
    return jsonify(fagsystemer.list_certificates(_ctx(), _actor(), fagsystem_id))


@blueprint.put("/fagsystemer/<fagsystem_id>/certificates")
def put_certificates(fagsystem_id: str) -> Response:
    return jsonify(fagsystemer.put_certificates(_ctx(), _actor(), fagsystem_id, _body()))


@blueprint.post("/fagsystemer/<fagsystem_id>/oidc-clients")
def register_client(fagsystem_id: str) -> Response:
    item, secret = fagsystemer.register_client(_ctx(), _actor(), fagsystem_id, _body())
    if secret is not None:
        item = {**item, "client_secret": secret}
    return _created(item, url_for(".get_fagsystem", fagsystem_id=fagsystem_id))


# -- administrative roles ------------------------------------------------------------------


@blueprint.get("/municipalities/<cvr>/admin-roles")
def list_admin_roles(cvr: str) -> Response:
    grants = roles.list_roles(_ctx().database, _actor(), cvr=cvr)
    return jsonify({"items": [grant.as_dict() for grant in grants], "next_cursor": None})


@blueprint.post("/municipalities/<cvr>/admin-roles")
def grant_admin_role(cvr: str) -> Response:
    body = check_body("AdminRoleBody", _body())
    grant = roles.grant(
        _ctx().database,
        _actor(),
        role=body["role"],
        cvr=cvr,
        username=body.get("user"),
        user_cvr=body.get("user_cvr"),
        client_id=body.get("client"),
    )
    return _created(grant.as_dict(), url_for(".list_admin_roles", cvr=cvr) + f"#{grant.id}")


@blueprint.delete("/municipalities/<cvr>/admin-roles/<int:grant_id>")
def revoke_admin_role(cvr: str, grant_id: int) -> Response:
    if grant_id > 2**63 - 1:
        raise NotFound(f"no administrative role {grant_id}")
    roles.revoke(_ctx().database, _actor(), grant_id, cvr=cvr)
    return _no_content()


# -- catalogue ---------------------------------------------------------------------------------


@blueprint.get("/catalogue")
def export_catalogue() -> Response:
    return jsonify(catalogue.export(_ctx(), _actor(), request.args.get("cvr")))


@blueprint.post("/catalogue")
def import_catalogue() -> Response:
    dry_run = _flag("dry_run")
    if request.mimetype in _YAML:
        try:
            data = parse_text(request.get_data(cache=False).decode("utf-8"), source="request")
        except (CatalogueInvalid, UnicodeDecodeError, ValueError) as exc:
            raise _BadRequest(f"the body is not a readable catalogue: {exc}") from exc
    else:
        data = _body()
    return jsonify(catalogue.import_file(_ctx(), _actor(), data, dry_run=dry_run))


# -- jobfunktionsroller ----------------------------------------------------------------------


@blueprint.get("/municipalities/<cvr>/jobfunktionsroller")
def list_jfrs(cvr: str) -> Response:
    return _page(jfr.list_jfrs(_ctx(), _actor(), cvr, _paging()))


@blueprint.post("/municipalities/<cvr>/jobfunktionsroller")
def create_jfr(cvr: str) -> Response:
    item = jfr.create_jfr(_ctx(), _actor(), cvr, _body())
    return _created(item, url_for(".get_jfr", cvr=cvr, jfr_id=item["id"]))


@blueprint.get("/municipalities/<cvr>/jobfunktionsroller/<path:jfr_id>")
def get_jfr(cvr: str, jfr_id: str) -> Response:
    return jsonify(jfr.get_jfr(_ctx(), _actor(), cvr, jfr_id))


@blueprint.put("/municipalities/<cvr>/jobfunktionsroller/<path:jfr_id>")
def replace_jfr(cvr: str, jfr_id: str) -> Response:
    return jsonify(jfr.replace_jfr(_ctx(), _actor(), cvr, jfr_id, _body()))


@blueprint.delete("/municipalities/<cvr>/jobfunktionsroller/<path:jfr_id>")
def delete_jfr(cvr: str, jfr_id: str) -> Response:
    jfr.delete_jfr(_ctx(), _actor(), cvr, jfr_id)
    return _no_content()


# -- assignments -------------------------------------------------------------------------------


@blueprint.get("/municipalities/<cvr>/assignments")
def list_assignments(cvr: str) -> Response:
    return _page(
        assignments.list_assignments(
            _ctx(),
            _actor(),
            cvr,
            _paging(),
            user=request.args.get("user"),
            role=request.args.get("role"),
            valid_on=_date("valid_on"),
        )
    )


@blueprint.post("/municipalities/<cvr>/assignments")
def create_assignment(cvr: str) -> Response:
    item = assignments.create_assignment(_ctx(), _actor(), cvr, _body())
    return _created(item, url_for(".get_assignment", cvr=cvr, assignment_id=item["id"]))


@blueprint.get("/municipalities/<cvr>/assignments/<assignment_id>")
def get_assignment(cvr: str, assignment_id: str) -> Response:
    return jsonify(assignments.get_assignment(_ctx(), _actor(), cvr, assignment_id))


@blueprint.patch("/municipalities/<cvr>/assignments/<assignment_id>")
def update_assignment(cvr: str, assignment_id: str) -> Response:
    return jsonify(assignments.update_assignment(_ctx(), _actor(), cvr, assignment_id, _body()))


@blueprint.delete("/municipalities/<cvr>/assignments/<assignment_id>")
def delete_assignment(cvr: str, assignment_id: str) -> Response:
    assignments.delete_assignment(_ctx(), _actor(), cvr, assignment_id)
    return _no_content()


# -- users and privileges --------------------------------------------------------------------


@blueprint.get("/municipalities/<cvr>/users")
def search_users(cvr: str) -> Response:
    return _page(users.search_users(_ctx(), _actor(), cvr, _paging(), request.args.get("q")))


@blueprint.get("/municipalities/<cvr>/users/<username>/privileges")
def privileges(cvr: str, username: str) -> Response:
    fagsystem = request.args.get("fagsystem")
    if not fagsystem:
        raise Invalid("name the fagsystem", [("/fagsystem", "required: a fagsystem id")])
    return jsonify(
        users.privileges(
            _ctx(),
            _actor(),
            cvr,
            username,
            fagsystem,
            on=_date("date"),
            explain=_flag("explain"),
        )
    )


@blueprint.put("/municipalities/<cvr>/users/<username>/disabled")
def set_disabled(cvr: str, username: str) -> Response:
    body = check_body("DisabledBody", _body())
    return jsonify(users.set_disabled(_ctx(), _actor(), cvr, username, body["disabled"]))


@blueprint.post("/municipalities/<cvr>/users/<username>/mfa-activation-code")
def mfa_activation_code(cvr: str, username: str) -> Response:
    raw = _body() if request.get_data(cache=True) else {}
    body = check_body("ActivationCodeBody", raw)
    item = mfa.activation_code(_ctx(), _actor(), cvr, username, reset=body.get("reset", False))
    return _created(item, url_for(".search_users", cvr=cvr, q=username))


# -- serviceaftaler ----------------------------------------------------------------------------


@blueprint.get("/serviceaftaler")
def list_agreements() -> Response:
    return _page(
        agreements.list_agreements(
            _ctx(),
            _actor(),
            _paging(),
            cvr=request.args.get("cvr"),
            status=request.args.get("status"),
            anvendersystem=request.args.get("anvendersystem"),
            service=request.args.get("service"),
        )
    )


@blueprint.post("/serviceaftaler")
def request_agreement() -> Response:
    item = agreements.request_agreement(_ctx(), _actor(), _body())
    return _created(item, url_for(".get_agreement", aftale_id=item["id"]))


@blueprint.get("/serviceaftaler/<aftale_id>")
def get_agreement(aftale_id: str) -> Response:
    return jsonify(agreements.get_agreement(_ctx(), _actor(), aftale_id))


def _decide(aftale_id: str, decision: str) -> Response:
    raw = _body() if request.get_data(cache=True) else {}
    body = check_body("Decision", raw)
    return jsonify(
        agreements.decide(_ctx(), _actor(), aftale_id, decision, str(body.get("comment", "")))
    )


@blueprint.post("/serviceaftaler/<aftale_id>/approve")
def approve_agreement(aftale_id: str) -> Response:
    return _decide(aftale_id, "approve")


@blueprint.post("/serviceaftaler/<aftale_id>/reject")
def reject_agreement(aftale_id: str) -> Response:
    return _decide(aftale_id, "reject")


@blueprint.post("/serviceaftaler/<aftale_id>/revoke")
def revoke_agreement(aftale_id: str) -> Response:
    return _decide(aftale_id, "revoke")


# -- audit -------------------------------------------------------------------------------------


@blueprint.get("/audit")
def audit() -> Response:
    result = audit_log.search(
        _ctx(),
        _actor(),
        _paging(),
        cvr=request.args.get("cvr"),
        actor_name=request.args.get("actor"),
        action=request.args.get("action"),
        object_id=request.args.get("object"),
        since=request.args.get("since"),
        until=request.args.get("until"),
    )
    if request.accept_mimetypes.best_match([_JSON, "text/csv"]) == "text/csv":
        return _csv(result)
    return _page(result)


def _csv(result: Page) -> Response:
    out = io.StringIO()
    csv.writer(out).writerows(audit_log.csv_rows(result.items))
    response = Response(out.getvalue(), mimetype="text/csv")
    if result.next_cursor:
        response.headers["Link"] = f'<{_next_link(result.next_cursor)}>; rel="next"'
    return response


def _next_link(cursor: str) -> str:
    args: dict[str, Any] = request.args.to_dict()
    args["cursor"] = cursor
    return url_for(".audit", **args)


def setup(app: Any) -> None:
    """Register the API (blueprint and its problem+json error handling) on ``app``."""
    install_app(app)
    app.register_blueprint(blueprint)
