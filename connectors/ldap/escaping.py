"""Escaping for LDAP filters (RFC 4515) and DN attribute values (RFC 4514), and GUIDs.

Every value that reaches a filter comes from a user or from the directory itself (a DN
used in the in-chain matching rule), so nothing is put into a filter unescaped.
"""

from __future__ import annotations

import uuid

_FILTER_SPECIAL = {"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\x00": r"\00"}
_DN_SPECIAL = frozenset('"+,;<>\\=')


def escape_filter_value(value: str) -> str:
    """Escape an assertion value for a search filter (RFC 4515 section 3)."""
    return "".join(_FILTER_SPECIAL.get(char, char) for char in value)


def escape_dn_value(value: str) -> str:
    """Escape an attribute value for use in a DN (RFC 4514 section 2.4)."""
    out: list[str] = []
    for index, char in enumerate(value):
        if char == "\x00":
            out.append(r"\00")
        elif (
            char in _DN_SPECIAL
            or (index == 0 and char in " #")
            or (index == len(value) - 1 and char == " ")
        ):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def guid_to_uuid(raw: bytes) -> str:
    """AD objectGUID (little-endian byte layout) to the canonical UUID string."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def guid_filter_value(value: str) -> str:
    """A UUID string as the escaped binary value that matches objectGUID in a filter."""
    return "".join(f"\\{byte:02x}" for byte in uuid.UUID(value).bytes_le)


def sid_to_string(raw: bytes) -> str:
    """A binary SID to its S-1-5-21-... form."""
    revision = raw[0]
    count = raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = [int.from_bytes(raw[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return "S-" + "-".join(str(part) for part in (revision, authority, *subs))


def sid_filter_value(sid: str) -> str:
    """An S-1-... SID string as the escaped binary value that matches objectSid."""
    parts = sid.split("-")
    revision, authority, subs = int(parts[1]), int(parts[2]), [int(p) for p in parts[3:]]
    raw = bytes([revision, len(subs)]) + authority.to_bytes(6, "big")
    raw += b"".join(sub.to_bytes(4, "little") for sub in subs)
    return "".join(f"\\{byte:02x}" for byte in raw)
