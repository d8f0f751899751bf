"""Active Directory (or another LDAP server) as the login's directory.

A login costs three round trips on warm pooled connections: find the account with the
service account (filter-escaped; by sAMAccountName, userPrincipalName or mail), one
simple bind as the user on a pooled auth connection, and one search for the transitive
groups with the in-chain matching rule. The primary group and DN → GUID look-ups for
org units and managers are cached.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ldap3 import BASE, SUBTREE, Connection

from connectors.base import AuthenticationFailed, Directory, DirectoryUnavailable, DirectoryUser
from connectors.ldap import accounts
from connectors.ldap.config import LdapConfig
from connectors.ldap.connection import (
    ConnectionFactory,
    ConnectionPool,
    attributes_of,
    check_result,
)
from connectors.ldap.escaping import (
    escape_filter_value,
    guid_to_uuid,
    sid_filter_value,
    sid_to_string,
)

log = logging.getLogger("sts.ldap")

IN_CHAIN = "1.2.840.113556.1.4.1941"
LDAP_CAP_ACTIVE_DIRECTORY = "1.2.840.113556.1.4.800"
COMPUTED_UAC = "msDS-User-Account-Control-Computed"
USER_CLASS_FILTER = "(objectCategory=person)(objectClass=user)"
MAX_USERNAME = 256
_KLE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2})?)?$")

USER_ATTRIBUTES = [
    "objectGUID",
    "objectSid",
    "distinguishedName",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "manager",
    "userAccountControl",
    COMPUTED_UAC,
    "accountExpires",
    "primaryGroupID",
    "memberOf",
    "pwdLastSet",
]


def text(attrs: dict[str, Any], name: str) -> str | None:
    values = attrs.get(name.lower())
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def texts(attrs: dict[str, Any], name: str) -> list[str]:
    values = attrs.get(name.lower(), [])
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def integer(attrs: dict[str, Any], name: str) -> int | None:
    value = text(attrs, name)
    return int(value) if value not in (None, "") else None


def kle_codes(values: Iterable[str]) -> tuple[str, ...]:
    """KLE codes from a multi-valued or comma/space-separated attribute; others ignored."""
    codes: list[str] = []
    for value in values:
        for part in re.split(r"[,\s;]+", value):
            if _KLE.match(part) and part not in codes:
                codes.append(part)
    return tuple(codes)


def parent_dn(dn: str) -> str:
    """The DN without its first RDN, honouring escaped commas."""
    index = 0
    while index < len(dn):
        char = dn[index]
        if char == "\\":
            index += 2
            continue
        if char == ",":
            return dn[index + 1 :]
        index += 1
    return ""


@dataclass(frozen=True)
class GroupRef:
    guid: str
    dn: str


class _TtlCache:
    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            return hit[1]

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self._ttl, value)


class LdapDirectory(Directory):
    """The :class:`Directory` for one municipality's Active Directory."""

    def __init__(
        self, config: LdapConfig, *, cache_ttl: float = 300.0, nesting_ttl: float = 60.0
    ) -> None:
        self.config = config
        self.factory = ConnectionFactory(config)
        self.search_pool = ConnectionPool(
            self.factory,
            bind_dn=config.bind_dn,
            password=config.bind_password,
            size=config.pool_size,
        )
        self.auth_pool = ConnectionPool(
            self.factory, bind_dn=None, password=None, size=config.pool_size
        )
        self._cache = _TtlCache(cache_ttl)
        self._nesting_cache = _TtlCache(nesting_ttl)
        self._is_ad: bool | None = None
        self._extra_attributes = [config.kle_attribute] if config.kle_attribute else []

    # -- searching ---------------------------------------------------------------------

    def search(
        self,
        connection: Connection,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = SUBTREE,
        controls: list[Any] | None = None,
        page_size: int = 0,
    ) -> list[tuple[str, dict[str, Any]]]:
        """All entries (DN, raw attributes), following RFC 2696 paging when asked."""
        found: list[tuple[str, dict[str, Any]]] = []
        cookie: bytes | None = None
        while True:
            kwargs: dict[str, Any] = {}
            if page_size:
                kwargs = {"paged_size": page_size, "paged_cookie": cookie}
            connection.search(
                base,
                search_filter,
                search_scope=scope,
                attributes=list(attributes),
                controls=controls,
                **kwargs,
            )
            check_result(connection)
            code = (connection.result or {}).get("result")
            if code not in (0, 32):  # 32 noSuchObject: nothing there
                raise DirectoryUnavailable(
                    f"search under {base} failed: {connection.result.get('description')} "
                    f"{connection.result.get('message', '')}"
                )
            for entry in connection.response or ():
                if entry.get("type") == "searchResEntry":
                    found.append((entry["dn"], attributes_of(entry)))
            if not page_size:
                return found
            control = (connection.result.get("controls") or {}).get("1.2.840.113556.1.4.319")
            cookie = control["value"]["cookie"] if control else None
            if not cookie:
                return found

    def is_active_directory(self) -> bool:
        """Whether the server announces Active Directory (and so the in-chain rule)."""
        return self.search_pool.run(self._detect_ad)

    def _group_strategy(self, connection: Connection) -> str:
        if self.config.group_strategy != "auto":
            return self.config.group_strategy
        return "walk"

    def _detect_ad(self, connection: Connection) -> bool:
        if self._is_ad is None:
            entries = self.search(
                connection, "", "(objectClass=*)", ["supportedCapabilities"], scope=BASE
            )
            caps = texts(entries[0][1], "supportedCapabilities") if entries else []
            self._is_ad = LDAP_CAP_ACTIVE_DIRECTORY in caps
        return self._is_ad

    # -- users -------------------------------------------------------------------------

    def _find(self, connection: Connection, username: str) -> tuple[str, dict[str, Any]] | None:
        value = escape_filter_value(username)
        search_filter = (
            f"(&{USER_CLASS_FILTER}"
            f"(|(sAMAccountName={value})(userPrincipalName={value})(mail={value})))"
        )
        entries = self.search(
            connection,
            self.config.base_dn,
            search_filter,
            USER_ATTRIBUTES + self._extra_attributes,
        )
        if len(entries) > 1:
            log.warning("username %r matches %d accounts; refusing", username, len(entries))
            raise AuthenticationFailed("unknown_user", "ambiguous username")
        if not entries:
            return None
        dn, attrs = entries[0]
        if COMPUTED_UAC.lower() not in attrs:
            # Some servers only construct this attribute for base-scope reads.
            again = self.search(connection, dn, "(objectClass=*)", [COMPUTED_UAC], scope=BASE)
            if again:
                attrs.update(again[0][1])
        return dn, attrs

    @staticmethod
    def _check_username(username: str) -> str:
        username = username.strip()
        if not username or len(username) > MAX_USERNAME:
            raise AuthenticationFailed("invalid_username")
        return username

    def authenticate(self, username: str, password: str) -> DirectoryUser:
        if not password:
            # An empty simple bind is an anonymous bind that "succeeds": never send one.
            raise AuthenticationFailed("empty_password")
        username = self._check_username(username)
        found = self.search_pool.run(lambda c: self._find(c, username))
        if found is None:
            raise AuthenticationFailed("unknown_user")
        dn, attrs = found
        reason = accounts.refusal_reason(
            integer(attrs, "userAccountControl") or 0,
            integer(attrs, COMPUTED_UAC),
            integer(attrs, "accountExpires"),
            integer(attrs, "pwdLastSet"),
        )
        if reason is not None:
            raise AuthenticationFailed(reason, dn)
        self.verify_password(dn, password)
        return self.search_pool.run(lambda c: self._to_user(c, dn, attrs))

    def verify_password(self, dn: str, password: str) -> None:
        """One simple bind as ``dn`` on a pooled auth connection."""
        if not password:
            raise AuthenticationFailed("empty_password")

        def bind(connection: Connection) -> dict[str, Any]:
            connection.user = dn
            connection.password = password
            connection.authentication = "SIMPLE"
            connection.bind(read_server_info=False)
            check_result(connection)
            result: dict[str, Any] = dict(connection.result or {})
            connection.password = None
            return result

        result = self.auth_pool.run(bind)
        if result.get("result") == 0:
            return
        if result.get("result") == 49:
            raise AuthenticationFailed(accounts.bind_failure_reason(result.get("message", "")), dn)
        raise DirectoryUnavailable(f"bind failed: {result.get('description')}")

    def lookup(self, username: str) -> DirectoryUser | None:
        try:
            username = self._check_username(username)
        except AuthenticationFailed:
            return None

        def find(connection: Connection) -> DirectoryUser | None:
            found = self._find(connection, username)
            return None if found is None else self._to_user(connection, *found)

        try:
            return self.search_pool.run(find)
        except AuthenticationFailed:
            return None

    def ping(self) -> None:
        self.search_pool.run(
            lambda c: self.search(
                c, self.config.base_dn, "(objectClass=*)", ["objectGUID"], scope=BASE
            )
        )

    def close(self) -> None:
        self.search_pool.clear()
        self.auth_pool.clear()

    def _to_user(self, connection: Connection, dn: str, attrs: dict[str, Any]) -> DirectoryUser:
        given, surname = text(attrs, "givenName"), text(attrs, "sn")
        name = text(attrs, "displayName") or " ".join(p for p in (given, surname) if p)
        groups = self.groups_of(connection, dn, attrs)
        manager_dn = text(attrs, "manager")
        kle_attribute = self.config.kle_attribute
        kle = kle_codes(texts(attrs, kle_attribute)) if kle_attribute else ()
        return DirectoryUser(
            uuid=guid_to_uuid(attrs["objectguid"][0]),
            username=text(attrs, "sAMAccountName") or "",
            cvr=self.config.cvr,
            name=name,
            given_name=given,
            surname=surname,
            email=text(attrs, "mail"),
            upn=text(attrs, "userPrincipalName"),
            org_unit=self._guid_of(connection, parent_dn(dn), "organizationalUnit"),
            kle=kle,
            manager=self._guid_of(connection, manager_dn, "user") if manager_dn else None,
            groups=tuple(g.guid for g in groups) + tuple(g.dn for g in groups),
            source="ad",
        )

    def _guid_of(self, connection: Connection, dn: str, object_class: str) -> str | None:
        if not dn:
            return None
        key = f"guid:{object_class}:{dn.lower()}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached or None
        entries = self.search(
            connection, dn, f"(objectClass={object_class})", ["objectGUID"], scope=BASE
        )
        guid = guid_to_uuid(entries[0][1]["objectguid"][0]) if entries else ""
        self._cache.put(key, guid)
        return guid or None

    # -- groups ------------------------------------------------------------------------

    def groups_of(self, connection: Connection, dn: str, attrs: dict[str, Any]) -> list[GroupRef]:
        """Transitive groups of ``dn``, including the primary group and its parents."""
        strategy = self._group_strategy(connection)
        if strategy == "token_groups":
            return sorted(self._token_groups(connection, dn), key=lambda g: g.dn.lower())
        if strategy == "in_chain":
            groups = {g.dn.lower(): g for g in self._in_chain(connection, dn)}
        else:
            # The user's direct groups are always fresh (memberOf came with the account);
            # the nesting above them is cached briefly, keyed by that set of groups.
            direct = texts(attrs, "memberOf")
            key = "walk:" + "|".join(sorted(d.lower() for d in direct))
            walked = self._nesting_cache.get(key)
            if walked is None:
                walked = tuple(self._walk(connection, direct))
                self._nesting_cache.put(key, walked)
            groups = {g.dn.lower(): g for g in walked}
        for group in self._primary_groups(connection, attrs):
            groups.setdefault(group.dn.lower(), group)
        return sorted(groups.values(), key=lambda g: g.dn.lower())

    def _in_chain(self, connection: Connection, dn: str) -> list[GroupRef]:
        entries = self.search(
            connection,
            self.config.base_dn,
            f"(&(objectClass=group)(member:{IN_CHAIN}:={escape_filter_value(dn)}))",
            ["objectGUID"],
        )
        return [GroupRef(guid_to_uuid(a["objectguid"][0]), d) for d, a in entries]

    def _walk(self, connection: Connection, direct: list[str]) -> list[GroupRef]:
        """Breadth-first over memberOf, one search per nesting level, for servers without
        the in-chain rule (and for AD when configured)."""
        seen: dict[str, GroupRef] = {}
        level = [dn for dn in dict.fromkeys(direct)]
        while level:
            wanted = "".join(f"(distinguishedName={escape_filter_value(dn)})" for dn in level)
            entries = self.search(
                connection,
                self.config.base_dn,
                f"(&(objectClass=group)(|{wanted}))",
                ["objectGUID", "memberOf"],
            )
            parents: list[str] = []
            for found_dn, attrs in entries:
                seen[found_dn.lower()] = GroupRef(guid_to_uuid(attrs["objectguid"][0]), found_dn)
                parents.extend(texts(attrs, "memberOf"))
            level = [p for p in dict.fromkeys(parents) if p.lower() not in seen]
        return list(seen.values())

    def _token_groups(self, connection: Connection, dn: str) -> list[GroupRef]:
        """AD's constructed tokenGroups: every transitive security group's SID (the primary
        group included) in one base read, then one indexed search for the groups."""
        entries = self.search(connection, dn, "(objectClass=*)", ["tokenGroups"], scope=BASE)
        sids = [
            sid_to_string(raw) for raw in (entries[0][1].get("tokengroups", []) if entries else [])
        ]
        groups: list[GroupRef] = []
        for start in range(0, len(sids), 200):
            chunk = sids[start : start + 200]
            wanted = "".join(f"(objectSid={sid_filter_value(sid)})" for sid in chunk)
            found = self.search(
                connection,
                self.config.base_dn,
                f"(&(objectClass=group)(|{wanted}))",
                ["objectGUID"],
            )
            groups.extend(GroupRef(guid_to_uuid(a["objectguid"][0]), d) for d, a in found)
        return groups

    def _primary_groups(self, connection: Connection, attrs: dict[str, Any]) -> list[GroupRef]:
        rid = integer(attrs, "primaryGroupID")
        sid_values = attrs.get("objectsid")
        if rid is None or not sid_values:
            return []
        user_sid = sid_to_string(sid_values[0])
        group_sid = user_sid.rsplit("-", 1)[0] + f"-{rid}"
        cached = self._cache.get(f"primary:{group_sid}")
        if cached is not None:
            return list(cached)
        entries = self.search(
            connection,
            self.config.base_dn,
            f"(&(objectClass=group)(objectSid={sid_filter_value(group_sid)}))",
            ["objectGUID", "memberOf"],
        )
        groups: list[GroupRef] = []
        if entries:
            dn, group_attrs = entries[0]
            groups.append(GroupRef(guid_to_uuid(group_attrs["objectguid"][0]), dn))
            if self._group_strategy(connection) == "in_chain":
                groups.extend(self._in_chain(connection, dn))
            else:
                groups.extend(self._walk(connection, texts(group_attrs, "memberOf")))
        self._cache.put(f"primary:{group_sid}", tuple(groups))
        return groups
