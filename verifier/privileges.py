"""Privileges in our tokens, one model for both wire forms, and the question a fagsystem asks.

* OIO-BPP (the SAML attribute ``privilegesIntermediate``): XML, base64 in the token;
  namespace ``http://itst.dk/oiosaml/basic_privilege_profile`` or
  ``http://digst.dk/oiosaml/basic_privilege_profile``; ``Constraint`` before or after
  ``Privilege``; several values of one constraint are one comma-separated string.
* ``priv`` (JWT claim): base64 of ``{"privilegegroups": [{"privilege": ..., "scope": ...,
  "constraints": [{"name": ..., "value": ...}]}]}``.

:meth:`PrivilegeSet.allows` fails closed: a privilege group carrying a constraint the
caller gave no value for grants nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from verifier._xml import full_text, parse_untrusted
from verifier.errors import InvalidToken

BPP_NAMESPACES = (
    "http://itst.dk/oiosaml/basic_privilege_profile",
    "http://digst.dk/oiosaml/basic_privilege_profile",
)
CVR_SCOPE_PREFIX = "urn:dk:gov:saml:cvrNumberIdentifier:"

KLE = "http://sts.kombit.dk/constraints/KLE/1"
ORGENHED = "http://sts.kombit.dk/constraints/orgenhed/1"
ITSYSTEM = "http://sts.kombit.dk/constraints/itsystem/1"
NO_KLE = "99.99.99"

#: Python-friendly keyword names for :meth:`PrivilegeSet.allows`.
CONSTRAINT_KEYWORDS: Mapping[str, str] = MappingProxyType(
    {"kle": KLE, "orgenhed": ORGENHED, "itsystem": ITSYSTEM}
)

MAX_PRIVILEGES_SIZE = 512 * 1024
_KLE_CODE = re.compile(r"^(\d{2})(?:\.(\d{2})(?:\.(\d{2}))?)?(?:\.\*)?$")


@dataclass(frozen=True)
class PrivilegeGroup:
    """One privilege (a brugersystemrolle URI) in one scope, with its data constraints.

    ``constraints`` maps a constraint type URI to its values (the comma-separated string
    split up), e.g. ``{KLE: ("27.*", "32.01.02")}``.
    """

    privilege: str
    scope: str
    constraints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def cvr(self) -> str | None:
        """The municipality's CVR when the scope is a CVR scope, else None."""
        if self.scope.startswith(CVR_SCOPE_PREFIX):
            return self.scope.removeprefix(CVR_SCOPE_PREFIX)
        return None


class PrivilegeSet:
    """The privileges of one token: iterate for the groups, ask with :meth:`allows`."""

    def __init__(self, groups: Iterable[PrivilegeGroup] = ()) -> None:
        self._groups = tuple(groups)

    def __iter__(self) -> Iterator[PrivilegeGroup]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def __repr__(self) -> str:
        return f"PrivilegeSet({list(self._groups)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivilegeSet) and self._groups == other._groups

    def __hash__(self) -> int:
        return hash(tuple((g.privilege, g.scope) for g in self._groups))

    def roles(self, *, cvr: str | None = None) -> frozenset[str]:
        """The privilege URIs held, optionally only those scoped to ``cvr``."""
        return frozenset(g.privilege for g in self._groups if cvr is None or g.cvr == cvr)

    def allows(
        self,
        role: str,
        *,
        cvr: str,
        constraints: Mapping[str, str] | None = None,
        **constraint_values: str,
    ) -> bool:
        """True when one group grants ``role`` for ``cvr`` and all its constraints hold.

        Give the object's value for each constraint type: ``kle="27.35.04"``,
        ``orgenhed="<unit uuid>"``, ``itsystem=...``, or any type by URI with
        ``constraints={"http://.../constraints/x/1": "value"}`` (value-list semantics:
        the value must be one of the granted values). A group with a constraint type
        that has no value here grants nothing (fail closed).
        """
        wanted = _constraint_arguments(constraints, constraint_values)
        return any(
            group.privilege == role and group.cvr == cvr and _satisfied(group, wanted)
            for group in self._groups
        )

    def has_privilege(
        self,
        role: str,
        *,
        cvr: str,
        constraints: Mapping[str, str] | None = None,
        **constraint_values: str,
    ) -> bool:
        """Alias of :meth:`allows`."""
        return self.allows(role, cvr=cvr, constraints=constraints, **constraint_values)


def _constraint_arguments(
    by_uri: Mapping[str, str] | None, by_keyword: Mapping[str, str]
) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for keyword, value in by_keyword.items():
        uri = CONSTRAINT_KEYWORDS.get(keyword)
        if uri is None:
            known = ", ".join(sorted(CONSTRAINT_KEYWORDS))
            raise TypeError(
                f"unknown constraint keyword {keyword!r} (known: {known}; "
                "give other types as constraints={uri: value})"
            )
        wanted[uri] = value
    for uri, value in (by_uri or {}).items():
        if uri in wanted and wanted[uri] != value:
            raise TypeError(f"two different values given for constraint {uri}")
        wanted[uri] = value
    for uri, value in wanted.items():
        if not isinstance(value, str):
            raise TypeError(f"constraint value for {uri} must be a string, not {type(value)}")
    return wanted


def _satisfied(group: PrivilegeGroup, wanted: Mapping[str, str]) -> bool:
    for uri, granted in group.constraints.items():
        value = wanted.get(uri)
        if value is None:
            return False
        if uri == KLE:
            if not kle_covers(granted, value):
                return False
        elif uri == ORGENHED:
            if value.strip().lower() not in {g.lower() for g in granted}:
                return False
        elif value.strip() not in granted:
            return False
    return True


def _kle_parts(code: str) -> tuple[str, ...] | None:
    text = code.strip()
    match = _KLE_CODE.match(text)
    if match is None:
        return None
    parts = tuple(p for p in match.groups() if p is not None)
    if len(parts) == 3 and text.endswith(".*"):
        return None
    if parts == ("99", "99", "99"):
        return None
    return parts


def kle_covers(granted: Iterable[str], code: str) -> bool:
    """True when KLE ``code`` lies inside a granted code (``27.*`` covers ``27.35.04``).

    ``99.99.99`` (the "no KLE" value) and anything that is not a KLE code cover nothing.
    """
    target = _kle_parts(code)
    if target is None:
        return False
    for value in granted:
        parts = _kle_parts(value)
        if parts is not None and target[: len(parts)] == parts:
            return True
    return False


def _split_values(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _group(
    privilege: str, scope: str, constraints: Mapping[str, tuple[str, ...]]
) -> PrivilegeGroup:
    if not privilege.strip() or not scope.strip():
        raise InvalidToken("privileges_invalid", "privilege and scope must not be empty")
    return PrivilegeGroup(privilege.strip(), scope.strip(), MappingProxyType(dict(constraints)))


def _decode_base64(data: str | bytes) -> bytes:
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    raw = b"".join(raw.split())
    if len(raw) > MAX_PRIVILEGES_SIZE * 4 // 3 + 4:
        raise InvalidToken("too_large", "privileges too large")
    try:
        if b"-" in raw or b"_" in raw:
            return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("privileges_invalid", "privileges are not valid base64") from exc


def from_bpp(xml_or_base64: str | bytes) -> PrivilegeSet:
    """Parse OIO-BPP XML, given as XML or as the base64 found in the SAML attribute."""
    data = xml_or_base64.encode("utf-8") if isinstance(xml_or_base64, str) else xml_or_base64
    stripped = data.lstrip()
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:]
    xml = stripped if stripped.startswith(b"<") else _decode_base64(stripped)
    root = parse_untrusted(xml, max_size=MAX_PRIVILEGES_SIZE)
    qname = _qname(root)
    if qname[1] != "PrivilegeList" or qname[0] not in BPP_NAMESPACES:
        raise InvalidToken("privileges_invalid", f"root element {root.tag} is not an OIO-BPP list")
    groups: list[PrivilegeGroup] = []
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if _qname(child) not in ((None, "PrivilegeGroup"), (qname[0], "PrivilegeGroup")):
            raise InvalidToken("privileges_invalid", f"unexpected element {child.tag}")
        groups.extend(_bpp_group(child, qname[0]))
    return PrivilegeSet(groups)


def _qname(element: Any) -> tuple[str | None, str]:
    tag = element.tag
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def _bpp_group(element: Any, namespace: str) -> list[PrivilegeGroup]:
    scope = element.get("Scope")
    if not scope:
        raise InvalidToken("privileges_invalid", "PrivilegeGroup without Scope")
    privileges: list[str] = []
    constraints: dict[str, tuple[str, ...]] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = _qname(child)
        if name[0] not in (None, namespace):
            raise InvalidToken("privileges_invalid", f"unexpected element {child.tag}")
        if name[1] == "Privilege":
            privileges.append(full_text(child).strip())
        elif name[1] == "Constraint":
            uri = (child.get("Name") or "").strip()
            if not uri:
                raise InvalidToken("privileges_invalid", "Constraint without Name")
            if uri in constraints:
                raise InvalidToken("privileges_invalid", f"constraint {uri} given twice in a group")
            constraints[uri] = _split_values(full_text(child))
        else:
            raise InvalidToken("privileges_invalid", f"unexpected element {child.tag}")
    if not privileges:
        raise InvalidToken("privileges_invalid", "PrivilegeGroup without Privilege")
    # The generic profile allows several Privilege elements sharing scope and constraints.
    return [_group(p, scope, constraints) for p in privileges]


def from_priv(claim: str | bytes | Mapping[str, Any]) -> PrivilegeSet:
    """Parse the JWT ``priv`` claim: base64 of JSON (or the decoded JSON object)."""
    if isinstance(claim, Mapping):
        document: Any = claim
    else:
        raw = _decode_base64(claim)
        if len(raw) > MAX_PRIVILEGES_SIZE:
            raise InvalidToken("too_large", "privileges too large")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidToken("privileges_invalid", "priv is not base64 of JSON") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("privilegegroups"), list):
        raise InvalidToken("privileges_invalid", "priv has no privilegegroups list")
    groups: list[PrivilegeGroup] = []
    for entry in document["privilegegroups"]:
        if not isinstance(entry, Mapping):
            raise InvalidToken("privileges_invalid", "a privilege group is not an object")
        privilege, scope = entry.get("privilege"), entry.get("scope")
        if not isinstance(privilege, str) or not isinstance(scope, str):
            raise InvalidToken("privileges_invalid", "privilege and scope must be strings")
        constraints: dict[str, tuple[str, ...]] = {}
        for item in entry.get("constraints") or []:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise InvalidToken("privileges_invalid", "constraint needs a name")
            name, value = item["name"].strip(), item.get("value")
            if name in constraints:
                raise InvalidToken("privileges_invalid", f"constraint {name} given twice")
            if isinstance(value, str):
                constraints[name] = _split_values(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                constraints[name] = tuple(v.strip() for v in value if v.strip())
            else:
                raise InvalidToken("privileges_invalid", f"constraint {name} has no string value")
        groups.append(_group(privilege, scope, constraints))
    return PrivilegeSet(groups)
