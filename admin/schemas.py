"""JSON Schemas of the admin API's request and response bodies.

Built on the catalogue's own schema (``policies/catalogue.schema.json``): a request body
uses the catalogue's field names and rules, so the API, the OpenAPI document and
``stsctl import`` agree. :func:`check_body` validates a body before any rule or query
sees it and reports every bad field as a JSON pointer.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from admin.errors import Invalid
from store.catalogue import catalogue_schema

Schema = dict[str, Any]
_TEXT = {"type": "string", "maxLength": 2000}
_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _rewrite(value: Any) -> Any:
    """The catalogue's ``#/$defs/x`` references as OpenAPI's ``#/components/schemas/x``."""
    if isinstance(value, dict):
        return {
            key: (
                item.replace("#/$defs/", "#/components/schemas/")
                if key == "$ref" and isinstance(item, str)
                else _rewrite(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(item) for item in value]
    return value


def _without(schema: Schema, *names: str, required: tuple[str, ...] | None = None) -> Schema:
    result = copy.deepcopy(schema)
    for name in names:
        result["properties"].pop(name, None)
    if required is not None:
        result["required"] = list(required)
    else:
        result["required"] = [r for r in result.get("required", []) if r not in names]
    if not result["required"]:
        del result["required"]
    return result


def _list_of(item: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {"items": {"type": "array", "items": item}, "next_cursor": _NULLABLE_STRING},
    }


@cache
def components() -> dict[str, Schema]:
    """``components/schemas`` of the OpenAPI document: catalogue defs plus the API's own."""
    catalogue = catalogue_schema()
    defs = {name: _rewrite(schema) for name, schema in catalogue["$defs"].items()}
    schemas: dict[str, Schema] = dict(defs)
    schemas["Catalogue"] = _rewrite({k: v for k, v in catalogue.items() if k != "$defs"})
    schemas["Catalogue"].pop("$schema", None)
    schemas["Catalogue"].pop("$id", None)

    jfr = defs["jobfunktionsrolle"]
    schemas["JobfunktionsrolleBody"] = _without(jfr, required=("name",))
    schemas["Jobfunktionsrolle"] = {
        "type": "object",
        "required": ["id", "cvr", "name", "description", "delegated_to", "grants"],
        "properties": {
            "id": _STRING,
            "cvr": _STRING,
            "name": _STRING,
            "description": _STRING,
            "delegated_to": {"type": "array", "items": _STRING},
            "grants": {"type": "array", "items": _ref("grant")},
        },
    }
    assignment = copy.deepcopy(defs["assignment"])
    assignment["properties"]["id"] = _ref("uuid")
    schemas["AssignmentBody"] = _without(assignment, required=("role",))
    patch = _without(assignment, required=())
    for name in ("valid_from", "valid_to", "case_number"):  # null clears (merge patch)
        patch["properties"][name] = {"anyOf": [patch["properties"][name], {"type": "null"}]}
    schemas["AssignmentPatch"] = patch
    schemas["Assignment"] = {
        "type": "object",
        "required": ["id", "cvr", "role", "inherit", "except_users", "constraints"],
        "properties": {
            "id": _STRING,
            "cvr": _STRING,
            "role": _STRING,
            "user": _STRING,
            "group": _STRING,
            "org_unit": _STRING,
            "valid_from": _NULLABLE_STRING,
            "valid_to": _NULLABLE_STRING,
            "case_number": _NULLABLE_STRING,
            "inherit": {"type": "boolean"},
            "except_users": {"type": "array", "items": _STRING},
            "constraints": {"type": "object"},
        },
    }
    schemas["ServiceaftaleRequest"] = _without(
        defs["serviceaftale"], "status", required=("cvr", "anvendersystem", "service")
    )
    schemas["ServiceaftaleRequest"]["properties"]["comment"] = _TEXT
    schemas["Serviceaftale"] = {
        "type": "object",
        "required": ["id", "cvr", "anvendersystem", "service", "roles", "status"],
        "properties": {
            "id": _STRING,
            "cvr": _STRING,
            "anvendersystem": _STRING,
            "service": _STRING,
            "roles": {"type": "array", "items": _STRING},
            "constraints": {"type": "object"},
            "on_behalf_of": {"type": "boolean"},
            "status": {"enum": ["requested", "approved", "rejected", "revoked"]},
            "requested_by": _NULLABLE_STRING,
            "decided_by": _NULLABLE_STRING,
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "status": _STRING,
                        "at": _STRING,
                        "actor": _STRING,
                        "comment": _STRING,
                    },
                },
            },
        },
    }
    schemas["Decision"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"comment": _TEXT},
    }
    fagsystem = _without(defs["fagsystem"], "saml", "oidc_clients", required=("name", "kind"))
    schemas["FagsystemBody"] = fagsystem
    schemas["Fagsystem"] = {
        "type": "object",
        "required": ["id", "name", "kind", "personal_data", "min_loa", "roles"],
        "properties": {
            "id": _STRING,
            "name": _STRING,
            "entity_id": _NULLABLE_STRING,
            "kind": {"type": "array", "items": _STRING},
            "personal_data": {"type": "boolean"},
            "min_loa": _STRING,
            "constraint_types": {"type": "array", "items": {"type": "object"}},
            "roles": {"type": "array", "items": {"type": "object"}},
            "saml": {"type": "array", "items": _ref("SamlServiceProvider")},
            "oidc_clients": {"type": "array", "items": _ref("OidcClient")},
        },
    }
    schemas["SamlServiceProvider"] = {
        "type": "object",
        "required": ["entity_id"],
        "properties": {"entity_id": _STRING, "metadata_source": _NULLABLE_STRING},
    }
    schemas["MetadataUrl"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {"url": {**defs["url"], "maxLength": 1000}},
    }
    # KOMBIT STS: a fagsystem's certificates (admin/service/fagsystemer.py, docs/sts.md)
    schemas["CertificatesBody"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["certificates"],
        "properties": {
            "certificates": {
                "type": "array",
                "maxItems": 20,
                "items": {"type": "string", "minLength": 1, "maxLength": 20000},
            }
        },
    }
    schemas["SystemCertificate"] = {
        "type": "object",
        "required": ["sha256", "subject", "not_before", "not_after"],
        "properties": {
            "sha256": _STRING,
            "sha1": _STRING,
            "subject": _STRING,
            "not_before": {"type": "string", "format": "date-time"},
            "not_after": {"type": "string", "format": "date-time"},
        },
    }
    schemas["OidcClientBody"] = _without(
        defs["oidc_client"], "client_secret_env", "admin_roles", required=()
    )
    schemas["OidcClient"] = {
        "type": "object",
        "required": ["client_id", "fagsystem"],
        "properties": {
            "client_id": _STRING,
            "fagsystem": _STRING,
            "client_secret": {"type": "string", "description": "Only in the POST response."},
        },
    }
    schemas["AdminRoleBody"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["role"],
        "properties": {
            "role": {
                "enum": [
                    "administrator",
                    "brugeradministrator",
                    "jobfunktionsrolleadministrator",
                    "godkender",
                    "organisation_redaktoer",
                ]
            },
            "user": {"type": "string", "minLength": 1, "maxLength": 256},
            "user_cvr": defs["cvr"],
            "client": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        "oneOf": [{"required": ["user"]}, {"required": ["client"]}],
    }
    schemas["AdminRole"] = {
        "type": "object",
        "required": ["id", "role"],
        "properties": {
            "id": {"type": "integer"},
            "role": _STRING,
            "cvr": _STRING,
            "fagsystem": _STRING,
            "user": {"type": "object"},
            "client": _STRING,
            "granted_by": _NULLABLE_STRING,
            "granted_at": _NULLABLE_STRING,
        },
    }
    schemas["Municipality"] = {
        "type": "object",
        "required": ["cvr", "name", "domain"],
        "properties": {"cvr": _STRING, "name": _STRING, "domain": _STRING},
    }
    schemas["User"] = {
        "type": "object",
        "required": ["username", "cvr", "uuid", "name", "disabled"],
        "properties": {
            "username": _STRING,
            "cvr": _STRING,
            "uuid": _STRING,
            "name": _STRING,
            "given_name": _NULLABLE_STRING,
            "surname": _NULLABLE_STRING,
            "email": _NULLABLE_STRING,
            "org_unit": _NULLABLE_STRING,
            "kle": {"type": "array", "items": _STRING},
            "source": _STRING,
            "disabled": {"type": "boolean"},
        },
    }
    schemas["DisabledBody"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["disabled"],
        "properties": {"disabled": {"type": "boolean"}},
    }
    schemas["ActivationCodeBody"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reset": {"type": "boolean"}},
    }
    schemas["ActivationCode"] = {
        "type": "object",
        "required": ["username", "cvr", "code", "expires_at", "reset"],
        "properties": {
            "username": _STRING,
            "cvr": _STRING,
            "code": {"type": "string", "description": "Shown in this response only."},
            "expires_at": {"type": "string", "format": "date-time"},
            "reset": {"type": "boolean"},
        },
    }
    schemas["Privileges"] = {
        "type": "object",
        "required": ["user_id", "username", "cvr", "fagsystem", "on", "groups", "notes"],
        "properties": {
            "user_id": _STRING,
            "username": _STRING,
            "cvr": _STRING,
            "fagsystem": _STRING,
            "on": _STRING,
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["privilege", "scope", "constraints"],
                    "properties": {
                        "privilege": _STRING,
                        "scope": _STRING,
                        "constraints": {"type": "array", "items": {"type": "object"}},
                        "sources": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
            "notes": {"type": "array", "items": _STRING},
        },
    }
    schemas["AuditEvent"] = {
        "type": "object",
        "required": ["id", "at", "actor", "action", "outcome"],
        "properties": {
            "id": {"type": "integer"},
            "at": _STRING,
            "actor": _STRING,
            "action": _STRING,
            "object_type": _NULLABLE_STRING,
            "object_id": _NULLABLE_STRING,
            "cvr": _NULLABLE_STRING,
            "outcome": _STRING,
            "request_id": _NULLABLE_STRING,
            "details": {"type": "object"},
        },
    }
    schemas["ImportResult"] = {
        "type": "object",
        "required": ["dry_run", "changed", "report"],
        "properties": {
            "dry_run": {"type": "boolean"},
            "changed": {"type": "boolean"},
            "report": {"type": "object"},
        },
    }
    schemas["Me"] = {
        "type": "object",
        "required": ["principal", "roles"],
        "properties": {
            "principal": {
                "type": "object",
                "required": ["kind", "id"],
                "properties": {
                    "kind": {"enum": ["user", "client"]},
                    "id": _STRING,
                    "cvr": _NULLABLE_STRING,
                    "loa": _NULLABLE_STRING,
                },
            },
            "roles": {"type": "array", "items": {"type": "object"}},
        },
    }
    schemas["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": _STRING,
            "title": _STRING,
            "status": {"type": "integer"},
            "detail": _STRING,
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pointer", "detail"],
                    "properties": {"pointer": _STRING, "detail": _STRING},
                },
            },
        },
    }
    for name, item in (
        ("Jobfunktionsrolle", "Jobfunktionsrolle"),
        ("Assignment", "Assignment"),
        ("Serviceaftale", "Serviceaftale"),
        ("Fagsystem", "Fagsystem"),
        ("User", "User"),
        ("AuditEvent", "AuditEvent"),
    ):
        schemas[f"{name}List"] = _list_of(_ref(item))
    return schemas


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": components()}}
    return Draft202012Validator(schema)


def check_body(name: str, body: Any) -> dict[str, Any]:
    """``body`` if it fits schema ``name``; otherwise Invalid naming every bad field."""
    errors = sorted(_validator(name).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        problems = []
        for error in errors:
            pointer = "".join(
                "/" + str(part).replace("~", "~0").replace("/", "~1")
                for part in error.absolute_path
            )
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = set(error.schema.get("properties", {}))
                problems += [
                    (f"{pointer}/{name}", "unknown field")
                    for name in sorted(set(error.instance) - known)
                ]
            else:
                problems.append((pointer, str(error.message)[:300]))
        raise Invalid("the request body is not valid", problems)
    assert isinstance(body, dict)
    return body
