"""Active Directory (or another LDAP server) as the login's directory.

A login costs three round trips on warm pooled connections: find the account with the
service account (filter-escaped; by sAMAccountName, userPrincipalName or mail), one
simple bind as the user on a pooled auth connection, and one search for the transitive
groups with the in-chain matching rule. The primary group and DN → GUID look-ups for
org units and managers are cached.

A refused login does the same work whoever typed what: the service-account search, then
a bind. When the name matches nobody, or the account may not log in (disabled, locked,
expired...), the bind is a dummy one as a DN that does not exist (:data:`DUMMY_RDN`),
never as the person, and the refusal is held until it has taken as long as one refused
by a real bind did recently (a wrong password makes the DC record the failure, which a
bind as nobody does not), so neither the answer nor its timing tells which accounts
exist.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
DUMMY_RDN = "CN=sts-login-no-such-account"  # under the base DN; bound to for unknown names
GROUP_ATTRIBUTES = ["objectGUID", "memberOf", "cn"]
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
    """A group the user is in, with its own groups (memberOf DNs): the nesting as read."""

    guid: str
    dn: str
    name: str = ""
    parents: tuple[str, ...] = ()
    fresh: bool = True  # ``parents`` read from the DC now, not from a cache


def group_ref(dn: str, attrs: dict[str, Any]) -> GroupRef:
    return GroupRef(
        guid_to_uuid(attrs["objectguid"][0]),
        dn,
        text(attrs, "cn") or "",
        tuple(texts(attrs, "memberOf")),
    )


@dataclass(frozen=True)
class LdapDirectoryUser(DirectoryUser):
    """What AD said at login, with what the store needs to hold the same as a sync would.

    ``member_of`` are the user's direct groups (memberOf: the primary group is not among
    them, as it is not in a group's ``member``); ``group_refs`` are the transitive groups
    with their parents, so the nesting above the user can be written too.
    """

    dn: str = ""
    member_of: tuple[str, ...] = ()
    group_refs: tuple[GroupRef, ...] = ()
    org_unit_dn: str = ""
    org_unit_name: str | None = None


class _Durations:
    """Recent durations of logins the DC's bind refused, to time the other refusals alike."""

    def __init__(self, size: int = 64) -> None:
        self._seconds: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self._seconds.append(seconds)

    def sample(self) -> float:
        """One recent duration at random (so padded binds spread like real ones); 0 if none."""
        with self._lock:
            return secrets.choice(self._seconds) if self._seconds else 0.0


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
        self._refusals = _Durations()  # whole logins that the DC's bind refused
        self._computed_by_base_read = False  # learnt from the first account found
        self.dummy_dn = f"{DUMMY_RDN},{config.base_dn}"

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
            if self._computed_by_base_read:
                # What a found account costs below: a second round trip, and an account's
                # attributes to read (the service account's own entry, or the base DN's).
                self.search(
                    connection,
                    self.config.bind_dn or self.config.base_dn,
                    "(objectClass=*)",
                    [*USER_ATTRIBUTES, *self._extra_attributes],
                    scope=BASE,
                )
            return None
        dn, attrs = entries[0]
        if COMPUTED_UAC.lower() not in attrs:
            # Some servers only construct this attribute for base-scope reads.
            self._computed_by_base_read = True
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
        started = time.perf_counter()
        try:
            username = self._check_username(username)
        except AuthenticationFailed:
            self.spend_like_failure(username, password)
            raise
        try:
            found = self.search_pool.run(lambda c: self._find(c, username))
        except AuthenticationFailed:  # a name several accounts have: nobody's, to the bind
            self._dummy_bind(password, started)
            raise
        if found is None:
            self._dummy_bind(password, started)
            raise AuthenticationFailed("unknown_user")
        dn, attrs = found
        user_id = guid_to_uuid(attrs["objectguid"][0])
        reason = accounts.refusal_reason(
            integer(attrs, "userAccountControl") or 0,
            integer(attrs, COMPUTED_UAC),
            integer(attrs, "accountExpires"),
            integer(attrs, "pwdLastSet"),
        )
        if reason is not None:
            # Never a bind as a refused account (a locked one would count it); the same
            # work as for a name that matches nobody.
            self._dummy_bind(password, started)
            raise AuthenticationFailed(reason, dn, user_id=user_id)
        try:
            self.verify_password(dn, password)
        except AuthenticationFailed as failure:
            self._refusals.record(time.perf_counter() - started)
            failure.user_id = user_id
            raise
        # Groups and nesting read fresh (not from the nesting cache): the login writes them
        # to the store, which must never go back to an older state than a sync wrote.
        return self.search_pool.run(lambda c: self._to_user(c, dn, attrs, fresh=True))

    def spend_like_failure(self, username: str, password: str) -> None:
        """A refused login's cost here: the service-account search and a (dummy) bind."""
        started = time.perf_counter()
        name = username.strip()[:MAX_USERNAME] or "-"
        self.search_pool.run(lambda c: self._find_or_none(c, name))
        self._dummy_bind(password or "-", started)

    def _find_or_none(self, connection: Connection, username: str) -> None:
        with contextlib.suppress(AuthenticationFailed):
            self._find(connection, username)

    def _dummy_bind(self, password: str, started: float) -> None:
        """A bind as :attr:`dummy_dn` (which does not exist), its answer ignored; then hold
        the refusal that began at ``started`` until it has lasted as long as one refused
        by the DC's bind did recently."""
        try:
            self.verify_password(self.dummy_dn, password)
        except AuthenticationFailed:
            pass
        else:  # somebody created the dummy DN with this password: say so, refuse anyway
            log.error("the dummy bind DN %s exists and accepted a password", self.dummy_dn)
        held = min(self._refusals.sample(), self.config.timeout)
        rest = held - (time.perf_counter() - started)
        if rest > 0:
            time.sleep(rest)

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

    def _to_user(
        self, connection: Connection, dn: str, attrs: dict[str, Any], *, fresh: bool = False
    ) -> LdapDirectoryUser:
        given, surname = text(attrs, "givenName"), text(attrs, "sn")
        name = text(attrs, "displayName") or " ".join(p for p in (given, surname) if p)
        groups = self.groups_of(connection, dn, attrs, fresh=fresh)
        manager_dn = text(attrs, "manager")
        kle_attribute = self.config.kle_attribute
        kle = kle_codes(texts(attrs, kle_attribute)) if kle_attribute else ()
        unit_dn = parent_dn(dn)
        unit = self._org_unit(connection, unit_dn)
        return LdapDirectoryUser(
            uuid=guid_to_uuid(attrs["objectguid"][0]),
            username=text(attrs, "sAMAccountName") or "",
            cvr=self.config.cvr,
            name=name,
            given_name=given,
            surname=surname,
            email=text(attrs, "mail"),
            upn=text(attrs, "userPrincipalName"),
            org_unit=unit[0] if unit else None,
            kle=kle,
            manager=self._guid_of(connection, manager_dn, "user") if manager_dn else None,
            groups=tuple(g.guid for g in groups) + tuple(g.dn for g in groups),
            source="ad",
            dn=dn,
            member_of=tuple(texts(attrs, "memberOf")),
            group_refs=tuple(groups),
            org_unit_dn=unit_dn if unit else "",
            org_unit_name=unit[1] if unit else None,
        )

    def _org_unit(self, connection: Connection, dn: str) -> tuple[str, str] | None:
        """(objectGUID, name) of the OU ``dn``, or None when the parent is no OU (cached)."""
        if not dn:
            return None
        key = f"ou:{dn.lower()}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached or None
        entries = self.search(
            connection,
            dn,
            "(objectClass=organizationalUnit)",
            ["objectGUID", "ou", "name"],
            scope=BASE,
        )
        found: tuple[str, str] | tuple[()] = ()
        if entries:
            attrs = entries[0][1]
            found = (
                guid_to_uuid(attrs["objectguid"][0]),
                text(attrs, "ou") or text(attrs, "name") or dn,
            )
        self._cache.put(key, found)
        return found or None

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

    def groups_of(
        self, connection: Connection, dn: str, attrs: dict[str, Any], *, fresh: bool = False
    ) -> list[GroupRef]:
        """Transitive groups of ``dn``, including the primary group and its parents.

        ``fresh`` reads the nesting above the user's own groups from the DC even when it is
        cached (and refreshes the cache): what a login writes to the store must be what AD
        says now. The primary group's chain (Domain Users, the same for nearly everyone)
        may still come from its cache; those groups are marked ``fresh=False``.
        """
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
            if fresh or walked is None:
                walked = tuple(self._walk(connection, direct, known=walked or ()))
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
            GROUP_ATTRIBUTES,
        )
        return [group_ref(d, a) for d, a in entries]

    def _walk(
        self, connection: Connection, direct: list[str], known: Iterable[GroupRef] = ()
    ) -> list[GroupRef]:
        """Breadth-first over memberOf, one search per nesting level, for servers without
        the in-chain rule (and for AD when configured).

        ``known`` (the groups an earlier walk from the same direct groups found) are read
        in the first search together with the direct groups, so when the nesting has not
        changed, one search reads it all again, fresh; groups that are no longer reached
        from the direct groups are left out, new parents are walked as usual.
        """
        seen: dict[str, GroupRef] = {}
        asked: set[str] = set()
        level = list(dict.fromkeys([*direct, *(g.dn for g in known)]))
        while level:
            asked.update(dn.lower() for dn in level)
            for start in range(0, len(level), 200):
                wanted = "".join(
                    f"(distinguishedName={escape_filter_value(dn)})"
                    for dn in level[start : start + 200]
                )
                for found_dn, attrs in self.search(
                    connection,
                    self.config.base_dn,
                    f"(&(objectClass=group)(|{wanted}))",
                    GROUP_ATTRIBUTES,
                ):
                    seen[found_dn.lower()] = group_ref(found_dn, attrs)
            parents = (p for g in seen.values() for p in g.parents)
            level = [p for p in dict.fromkeys(parents) if p.lower() not in asked]
        # Only what the direct groups reach through the parents just read.
        reached: dict[str, GroupRef] = {}
        todo = [dn.lower() for dn in direct]
        while todo:
            dn = todo.pop()
            if dn in reached or dn not in seen:
                continue
            reached[dn] = seen[dn]
            todo.extend(p.lower() for p in seen[dn].parents)
        return list(reached.values())

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
                GROUP_ATTRIBUTES,
            )
            groups.extend(group_ref(d, a) for d, a in found)
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
            return [replace(group, fresh=False) for group in cached]
        entries = self.search(
            connection,
            self.config.base_dn,
            f"(&(objectClass=group)(objectSid={sid_filter_value(group_sid)}))",
            GROUP_ATTRIBUTES,
        )
        groups: list[GroupRef] = []
        if entries:
            dn, group_attrs = entries[0]
            groups.append(group_ref(dn, group_attrs))
            if self._group_strategy(connection) == "in_chain":
                groups.extend(self._in_chain(connection, dn))
            else:
                groups.extend(self._walk(connection, texts(group_attrs, "memberOf")))
        self._cache.put(f"primary:{group_sid}", tuple(groups))
        return groups
