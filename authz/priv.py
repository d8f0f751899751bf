"""The JSON ``priv`` claim of KOMBIT-style JWTs.

``priv`` is standard base64 of the UTF-8 JSON document
``{"privilegegroups": [{"privilege": <uri>, "scope": "urn:dk:gov:saml:cvrNumberIdentifier:<cvr>",
"constraints": [{"name": <uri>, "value": "<v1>,<v2>"}]}]}`` (DOMAIN.md; the constraint
entry's shape is not published, so it mirrors OIO-BPP: one entry per type, values
comma-joined).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from authz.bpp import GroupsLike, _check_group, _groups
from authz.errors import CodecError
from authz.model import Constraint, PrivilegeGroup

MAX_DOCUMENT = 1 << 20


def priv_document(source: GroupsLike) -> dict[str, Any]:
    """The (not yet encoded) JSON document."""
    groups = []
    for group in _groups(source):
        _check_group(group)
        groups.append(
            {
                "privilege": group.privilege,
                "scope": group.scope,
                "constraints": [{"name": c.name, "value": c.value} for c in group.constraints],
            }
        )
    return {"privilegegroups": groups}


def encode_priv(source: GroupsLike) -> str:
    """The ``priv`` claim value: base64 of the compact UTF-8 JSON document."""
    text = json.dumps(priv_document(source), separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _document(data: str | bytes | dict[str, Any]) -> Any:
    if isinstance(data, dict):
        return data
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    raw = raw.strip()
    if len(raw) > MAX_DOCUMENT:
        raise CodecError("priv claim too large")
    if not raw.startswith(b"{"):
        compact = b"".join(raw.split())
        compact += b"=" * (-len(compact) % 4)
        try:
            if b"-" in compact or b"_" in compact:
                raw = base64.urlsafe_b64decode(compact)
            else:
                raw = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CodecError("priv claim is neither JSON nor base64") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"priv claim is not JSON: {exc}") from exc


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CodecError(f"{what} must be a non-empty string")
    return value.strip()


def decode_priv(data: str | bytes | dict[str, Any]) -> list[PrivilegeGroup]:
    """Privilege groups from a ``priv`` claim (base64, raw JSON text, or the parsed dict)."""
    document = _document(data)
    if not isinstance(document, dict) or not isinstance(document.get("privilegegroups"), list):
        raise CodecError('priv claim must be an object with a "privilegegroups" list')
    groups: list[PrivilegeGroup] = []
    for item in document["privilegegroups"]:
        if not isinstance(item, dict):
            raise CodecError("a privilege group must be an object")
        entries = item.get("constraints", [])
        if not isinstance(entries, list):
            raise CodecError("constraints must be a list")
        constraints = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise CodecError("a constraint must be an object")
            value = entry.get("value", "")
            if not isinstance(value, str):
                raise CodecError("a constraint value must be a string")
            values = tuple(v.strip() for v in value.split(",") if v.strip())
            constraints.append(Constraint(_string(entry.get("name"), "constraint name"), values))
        groups.append(
            PrivilegeGroup(
                _string(item.get("privilege"), "privilege"),
                _string(item.get("scope"), "scope"),
                tuple(constraints),
            )
        )
    return groups


__all__ = ["decode_priv", "encode_priv", "priv_document"]
