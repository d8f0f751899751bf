"""The OpenAPI 3.1 document of the admin API: every path, body, response and error.

Request and response schemas come from :mod:`admin.schemas` (which builds on the
catalogue's JSON Schema); every operation lists every status it can answer, each error
as ``application/problem+json``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from admin.schemas import components

_ERRORS = {
    "400": "The request could not be read (e.g. invalid JSON).",
    "401": "No valid access token for this API (see WWW-Authenticate).",
    "403": "The caller may see the object but not do this.",
    "404": "No such object, or one the caller may not see.",
    "405": "Method not allowed.",
    "409": "Conflicts with the current state (exists already, in use, already decided).",
    "413": "The body is larger than 1 MiB.",
    "415": "Unsupported media type.",
    "422": "Invalid: the errors list names each field by JSON pointer.",
    "429": "Too many requests; see Retry-After.",
    "503": "A database or cache is unavailable; try again.",
}
_TEXT = {"type": "string"}
_HEADERS = {
    "401": ("WWW-Authenticate", 'Bearer realm="/api/v1", error="…" (RFC 6750, RFC 9470)'),
    "405": ("Allow", "The methods the path has."),
    "429": ("Retry-After", "Seconds until the caller may try again."),
    "503": ("Retry-After", "Seconds until a retry makes sense."),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_CERTIFICATES = {  # a fagsystem's KOMBIT STS certificates
    "type": "object",
    "required": ["items"],
    "properties": {"items": {"type": "array", "items": _ref("SystemCertificate")}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


_CVR = _param("cvr", "path", "The municipality's CVR number.", type="string", pattern="^[0-9]{8}$")
_PAGING = [
    _param("cursor", "query", "From next_cursor of the previous page.", type="string"),
    _param("limit", "query", "Items per page.", type="integer", minimum=1, maximum=500),
    _param("sort", "query", "A sortable field, prefixed with - for descending.", type="string"),
]


def _operation(
    summary: str,
    ok: tuple[str, dict[str, Any]] | None,
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    security: bool = True,
    tag: str,
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if ok is not None:
        code, response = ok
        responses[code] = response
    for code, description in _ERRORS.items():
        responses[code] = {
            "description": description,
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
        if code in _HEADERS:
            name, text = _HEADERS[code]
            responses[code]["headers"] = {name: {"description": text, "schema": {"type": "string"}}}
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    if not security:
        operation["security"] = []
    return operation


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _no_content(description: str) -> tuple[str, dict[str, Any]]:
    return "204", {"description": description}


def _with_created(operation: dict[str, Any]) -> dict[str, Any]:
    """A PUT that may create: 201 with the same body as its 200."""
    operation["responses"]["201"] = {**operation["responses"]["200"], "description": "Created."}
    return operation


def _paths() -> dict[str, Any]:
    m = "/municipalities/{cvr}"
    jfr_id = _param("id", "path", "The jobfunktionsrolle's id (URL-encoded URI).")
    assignment_id = _param("id", "path", "The assignment's id.")
    aftale_id = _param("id", "path", "The serviceaftale's id.")
    fagsystem_id = _param("id", "path", "The fagsystem's id.")
    decision = {
        "required": False,
        "content": {"application/json": {"schema": _ref("Decision")}},
    }
    paths: dict[str, Any] = {
        "/openapi.json": {
            "get": _operation(
                "This document.",
                ("200", _json({"type": "object"}, "The OpenAPI 3.1 document.")),
                security=False,
                tag="meta",
            )
        },
        "/me": {
            "get": _operation(
                "The caller and the administrative roles it holds now.",
                ("200", _json(_ref("Me"), "The principal and its roles.")),
                tag="meta",
            )
        },
        "/municipalities": {
            "get": _operation(
                "The municipalities the caller may see.",
                (
                    "200",
                    _json(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": _ref("Municipality")}
                            },
                        },
                        "Municipalities.",
                    ),
                ),
                tag="municipalities",
            )
        },
        "/fagsystemer": {
            "get": _operation(
                "Fagsystemer with their roles and constraint types.",
                ("200", _json(_ref("FagsystemList"), "A page of fagsystemer.")),
                parameters=_PAGING,
                tag="fagsystemer",
            )
        },
        "/fagsystemer/{id}": {
            "get": _operation(
                "One fagsystem, with its SAML SPs and OIDC clients (no secrets).",
                ("200", _json(_ref("Fagsystem"), "The fagsystem.")),
                parameters=[fagsystem_id],
                tag="fagsystemer",
            ),
            "put": _with_created(
                _operation(
                    "Leverandøradministrator: replace roles and constraint types "
                    "(an operator may create a fagsystem).",
                    ("200", _json(_ref("Fagsystem"), "The fagsystem as stored.")),
                    parameters=[fagsystem_id],
                    body=_body("FagsystemBody"),
                    tag="fagsystemer",
                ),
            ),
        },
        "/fagsystemer/{id}/saml-metadata": {
            "put": _operation(
                "Register or replace a SAML SP from its metadata (XML, or a URL fetched once).",
                ("200", _json(_ref("SamlServiceProvider"), "The SP as registered.")),
                parameters=[fagsystem_id],
                body={
                    "required": True,
                    "content": {
                        "application/samlmetadata+xml": {"schema": _TEXT},
                        "application/json": {"schema": _ref("MetadataUrl")},
                    },
                },
                tag="fagsystemer",
            )
        },
        "/fagsystemer/{id}/certificates": {  # KOMBIT STS drop-in
            "get": _operation(
                "The certificates registered to the fagsystem for the KOMBIT STS endpoints.",
                ("200", _json(_CERTIFICATES, "The certificates.")),
                parameters=[fagsystem_id],
                tag="fagsystemer",
            ),
            "put": _operation(
                "Leverandøradministrator: replace the fagsystem's certificates (PEM); "
                "list the old and the new one to rotate without downtime.",
                ("200", _json(_CERTIFICATES, "The certificates as registered.")),
                parameters=[fagsystem_id],
                body=_body("CertificatesBody"),
                tag="fagsystemer",
            ),
        },
        "/fagsystemer/{id}/oidc-clients": {
            "post": _operation(
                "Register an OIDC client; a generated secret is in this response only.",
                ("201", _json(_ref("OidcClient"), "The client (and its secret).")),
                parameters=[fagsystem_id],
                body=_body("OidcClientBody"),
                tag="fagsystemer",
            )
        },
        f"{m}/admin-roles": {
            "get": _operation(
                "Administrative roles held in the municipality.",
                (
                    "200",
                    _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("AdminRole")}},
                        },
                        "The roles.",
                    ),
                ),
                parameters=[_CVR],
                tag="admin-roles",
            ),
            "post": _operation(
                "Give a user or an OIDC client an administrative role (never oneself).",
                ("201", _json(_ref("AdminRole"), "The role as granted.")),
                parameters=[_CVR],
                body=_body("AdminRoleBody"),
                tag="admin-roles",
            ),
        },
        f"{m}/admin-roles/{{id}}": {
            "delete": _operation(
                "Take an administrative role back.",
                _no_content("Revoked."),
                parameters=[_CVR, _param("id", "path", "The role's id.", type="integer")],
                tag="admin-roles",
            )
        },
        "/catalogue": {
            "get": _operation(
                "Export the catalogue (CATALOGUE.md format), one municipality or all.",
                ("200", _json(_ref("Catalogue"), "The catalogue.")),
                parameters=[
                    _param("cvr", "query", "Only this municipality.", type="string"),
                ],
                tag="catalogue",
            ),
            "post": _operation(
                "Import a catalogue (operators); with dry_run, report and change nothing.",
                ("200", _json(_ref("ImportResult"), "What changed (or would change).")),
                parameters=[
                    _param("dry_run", "query", "true: validate and report only.", type="boolean")
                ],
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("Catalogue")},
                        "application/yaml": {"schema": _TEXT},
                    },
                },
                tag="catalogue",
            ),
        },
        f"{m}/jobfunktionsroller": {
            "get": _operation(
                "The municipality's jobfunktionsroller.",
                ("200", _json(_ref("JobfunktionsrolleList"), "A page of roles.")),
                parameters=[_CVR, *_PAGING],
                tag="jobfunktionsroller",
            ),
            "post": _operation(
                "Compose a jobfunktionsrolle (an id is generated when left out).",
                ("201", _json(_ref("Jobfunktionsrolle"), "The new role.")),
                parameters=[_CVR],
                body=_body("JobfunktionsrolleBody"),
                tag="jobfunktionsroller",
            ),
        },
        f"{m}/jobfunktionsroller/{{id}}": {
            "get": _operation(
                "One jobfunktionsrolle.",
                ("200", _json(_ref("Jobfunktionsrolle"), "The role.")),
                parameters=[_CVR, jfr_id],
                tag="jobfunktionsroller",
            ),
            "put": _operation(
                "Replace a jobfunktionsrolle (grants, delegation, texts).",
                ("200", _json(_ref("Jobfunktionsrolle"), "The role as stored.")),
                parameters=[_CVR, jfr_id],
                body=_body("JobfunktionsrolleBody"),
                tag="jobfunktionsroller",
            ),
            "delete": _operation(
                "Delete a jobfunktionsrolle that nobody is assigned.",
                _no_content("Deleted."),
                parameters=[_CVR, jfr_id],
                tag="jobfunktionsroller",
            ),
        },
        f"{m}/assignments": {
            "get": _operation(
                "Assignments (tildelinger) of the municipality.",
                ("200", _json(_ref("AssignmentList"), "A page of assignments.")),
                parameters=[
                    _CVR,
                    _param("user", "query", "Username (or user id).", type="string"),
                    _param("role", "query", "Jobfunktionsrolle id.", type="string"),
                    _param("valid_on", "query", "Valid on this day.", type="string", format="date"),
                    *_PAGING,
                ],
                tag="assignments",
            ),
            "post": _operation(
                "Assign a jobfunktionsrolle to a user, group or org unit.",
                ("201", _json(_ref("Assignment"), "The new assignment.")),
                parameters=[_CVR],
                body=_body("AssignmentBody"),
                tag="assignments",
            ),
        },
        f"{m}/assignments/{{id}}": {
            "get": _operation(
                "One assignment.",
                ("200", _json(_ref("Assignment"), "The assignment.")),
                parameters=[_CVR, assignment_id],
                tag="assignments",
            ),
            "patch": _operation(
                "Change dates, case number, inheritance, exceptions or postponed values.",
                ("200", _json(_ref("Assignment"), "The assignment as stored.")),
                parameters=[_CVR, assignment_id],
                body=_body("AssignmentPatch"),
                tag="assignments",
            ),
            "delete": _operation(
                "Remove an assignment.",
                _no_content("Removed."),
                parameters=[_CVR, assignment_id],
                tag="assignments",
            ),
        },
        f"{m}/users": {
            "get": _operation(
                "Find people by name, username or id.",
                ("200", _json(_ref("UserList"), "A page of users.")),
                parameters=[
                    _CVR,
                    _param("q", "query", "Search text.", type="string", maxLength=200),
                    *_PAGING,
                ],
                tag="users",
            )
        },
        f"{m}/users/{{username}}/privileges": {
            "get": _operation(
                "What a token for the fagsystem would carry for the user (and why).",
                ("200", _json(_ref("Privileges"), "Privilege groups.")),
                parameters=[
                    _CVR,
                    _param("username", "path", "The user's username."),
                    {
                        **_param("fagsystem", "query", "Fagsystem id.", type="string"),
                        "required": True,
                    },
                    _param(
                        "date", "query", "Resolve as of this day.", type="string", format="date"
                    ),
                    _param("explain", "query", "Name the sources of each group.", type="boolean"),
                ],
                tag="users",
            )
        },
        f"{m}/users/{{username}}/disabled": {
            "put": _operation(
                "Brugeradministrator: disable a user (every session and refresh token of "
                "theirs ends at once, on every server) or enable them again.",
                ("200", _json(_ref("User"), "The user as stored.")),
                parameters=[_CVR, _param("username", "path", "The user's username (or id).")],
                body=_body("DisabledBody"),
                tag="users",
            )
        },
        f"{m}/users/{{username}}/mfa-activation-code": {
            "post": _operation(
                "Brugeradministrator: a one-time code with which the user enrols TOTP (shown "
                "in this response only; an earlier unused code is withdrawn). With reset "
                "(lost phone) the user's TOTP and recovery codes are removed and every "
                "session of theirs ends first.",
                ("201", _json(_ref("ActivationCode"), "The code and when it expires.")),
                parameters=[_CVR, _param("username", "path", "The user's username (or id).")],
                body={
                    "required": False,
                    "content": {"application/json": {"schema": _ref("ActivationCodeBody")}},
                },
                tag="users",
            )
        },
        "/serviceaftaler": {
            "get": _operation(
                "Service agreements the caller may see.",
                ("200", _json(_ref("ServiceaftaleList"), "A page of agreements.")),
                parameters=[
                    _param("cvr", "query", "Municipality.", type="string"),
                    _param(
                        "status",
                        "query",
                        "Status.",
                        type="string",
                        enum=["requested", "approved", "rejected", "revoked"],
                    ),
                    _param("anvendersystem", "query", "Calling system.", type="string"),
                    _param("service", "query", "Service.", type="string"),
                    *_PAGING,
                ],
                tag="serviceaftaler",
            ),
            "post": _operation(
                "Anmod om serviceaftale: a new agreement, always requested.",
                ("201", _json(_ref("Serviceaftale"), "The requested agreement.")),
                body=_body("ServiceaftaleRequest"),
                tag="serviceaftaler",
            ),
        },
        "/serviceaftaler/{id}": {
            "get": _operation(
                "One agreement with its history.",
                ("200", _json(_ref("Serviceaftale"), "The agreement.")),
                parameters=[aftale_id],
                tag="serviceaftaler",
            )
        },
    }
    for verb, summary in (
        ("approve", "Godkend (a Godkender of the CVR, never the requester)."),
        ("reject", "Afvis (a Godkender of the CVR, never the requester)."),
        ("revoke", "Tilbagekald (a Godkender or the Administrator of the CVR)."),
    ):
        paths[f"/serviceaftaler/{{id}}/{verb}"] = {
            "post": _operation(
                summary,
                ("200", _json(_ref("Serviceaftale"), "The agreement after the decision.")),
                parameters=[aftale_id],
                body=decision,
                tag="serviceaftaler",
            )
        }
    paths["/audit"] = {
        "get": _operation(
            "Search the audit trail, newest first (Accept: text/csv for CSV).",
            (
                "200",
                {
                    "description": "A page of events.",
                    "content": {
                        "application/json": {"schema": _ref("AuditEventList")},
                        "text/csv": {"schema": _TEXT},
                    },
                },
            ),
            parameters=[
                _param("cvr", "query", "Municipality.", type="string"),
                _param("actor", "query", "Client id or username (exact).", type="string"),
                _param("action", "query", "Action (exact).", type="string"),
                _param("object", "query", "Object id (exact).", type="string"),
                _param("since", "query", "From this date or date-time.", type="string"),
                _param("until", "query", "Until this date (inclusive) or time.", type="string"),
                _param("cursor", "query", "From next_cursor of the previous page.", type="string"),
                _param(
                    "limit", "query", "Events per page.", type="integer", minimum=1, maximum=500
                ),
            ],
            tag="audit",
        )
    }
    return paths


@cache
def document(base_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Adgangsstyring administration API",
            "version": "1",
            "description": (
                "Administrative roles, jobfunktionsroller, assignments, serviceaftaler with "
                "four-eyes approval, explained privileges and the audit trail. Sign in with an "
                f"access token for the resource {base_url.rstrip('/')}/api/v1."
            ),
        },
        "servers": [{"url": base_url.rstrip("/") + "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
