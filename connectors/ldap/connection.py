"""Connections to the domain controllers: TLS, failover across URLs, timeouts, pooling.

Two pools share the failover logic:

* the *service* pool holds connections bound as STS_LDAP_BIND_DN, used for searches;
* the *auth* pool holds connections that only ever carry users' password binds (a
  bind on an open connection re-authenticates it, so a login costs one round trip
  instead of a TCP connect, a TLS handshake and a bind).

``ldap://`` URLs are always upgraded with StartTLS before any bind: a password never
crosses the network in clear. Certificates are validated against STS_LDAP_CA_FILE (or
the system store) unless STS_LDAP_TLS_INSECURE is set, which logs a warning.
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from ldap3 import NONE, SIMPLE, SYNC, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPResponseTimeoutError,
    LDAPStartTLSError,
)

from connectors.base import DirectoryUnavailable
from connectors.ldap.config import DirectoryServer, LdapConfig

log = logging.getLogger("sts.ldap")

T = TypeVar("T")

# Result codes that mean "this server cannot serve us now" rather than a refusal.
UNAVAILABLE_RESULTS = frozenset({51, 52, 80, 81})


@dataclass(frozen=True)
class ServerFailure:
    """Why one URL could not be used: ``unreachable``, ``tls``, ``bind`` or ``protocol``."""

    url: str
    kind: str
    message: str


class DirectoryConnectionError(DirectoryUnavailable):
    """No URL worked; ``failures`` says why for each one, in order."""

    def __init__(self, failures: list[ServerFailure]) -> None:
        text = "; ".join(f"{f.url}: {f.message}" for f in failures) or "no server configured"
        super().__init__(f"the directory cannot be reached ({text})")
        self.failures = failures


def _is_tls_failure(exc: BaseException) -> bool:
    if isinstance(exc, LDAPCertificateError | ssl.SSLError):
        return True
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower()


class ConnectionFactory:
    """Opens a ready connection to the first usable DC, remembering dead ones a while."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self._dead_until: dict[str, float] = {}
        self._lock = threading.Lock()
        if config.tls_insecure:
            log.warning(
                "STS_LDAP_TLS_INSECURE is set: domain controller certificates are NOT "
                "validated; anyone on the network path can read passwords"
            )
            self._tls = Tls(validate=ssl.CERT_NONE)
        else:
            self._tls = Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=str(config.ca_file) if config.ca_file else None,
            )

    def _server(self, server: DirectoryServer) -> Server:
        # A fresh ldap3 Server per connection: ldap3 remembers a failed address as
        # unusable for minutes, which would outlast a DC restart.
        return Server(
            server.host,
            port=server.port,
            use_ssl=server.ldaps,
            tls=self._tls,
            get_info=NONE,
            connect_timeout=self.config.timeout,
        )

    def _order(self) -> list[DirectoryServer]:
        now = time.monotonic()
        with self._lock:
            alive = [s for s in self.config.servers if self._dead_until.get(s.url, 0) <= now]
            dead = [s for s in self.config.servers if self._dead_until.get(s.url, 0) > now]
        return alive + dead  # the configured order, known-dead servers last

    def _mark(self, url: str, dead: bool) -> None:
        with self._lock:
            if dead:
                self._dead_until[url] = time.monotonic() + self.config.dead_server_retry
            else:
                self._dead_until.pop(url, None)

    def open(self, bind_dn: str | None = None, password: str | None = None) -> Connection:
        """A connected, TLS-protected connection; bound when ``bind_dn`` is given."""
        failures: list[ServerFailure] = []
        for server in self._order():
            try:
                connection = self._open_one(server, bind_dn, password)
            except _BindRefused as exc:
                failures.append(ServerFailure(server.url, "bind", exc.message))
                # A wrong service password is wrong on every DC: do not hammer them all.
                break
            except (LDAPException, OSError) as exc:
                kind = "tls" if _is_tls_failure(exc) else "unreachable"
                failures.append(ServerFailure(server.url, kind, f"{exc.__class__.__name__}: {exc}"))
                self._mark(server.url, dead=True)
                log.warning("directory server %s unusable: %s", server.url, exc)
                continue
            self._mark(server.url, dead=False)
            return connection
        raise DirectoryConnectionError(failures)

    def _open_one(
        self, server: DirectoryServer, bind_dn: str | None, password: str | None
    ) -> Connection:
        connection = Connection(
            self._server(server),
            user=bind_dn,
            password=password,
            authentication=SIMPLE if bind_dn else None,
            client_strategy=SYNC,
            auto_bind=False,
            auto_range=False,  # ranged retrieval is done explicitly (see directory.py)
            receive_timeout=max(1, math.ceil(self.config.timeout)),  # ldap3 needs an int
            raise_exceptions=False,
            read_only=True,
            check_names=False,
            return_empty_attributes=False,
        )
        try:
            connection.open(read_server_info=False)
            if not server.ldaps:
                started = connection.start_tls(read_server_info=False)
                error = connection.last_error or ""
                if not started or not connection.tls_started or "wrap socket" in error:
                    raise LDAPStartTLSError(error or f"StartTLS refused: {connection.result}")
            if bind_dn and not connection.bind(read_server_info=False):
                result = connection.result or {}
                if result.get("result") in UNAVAILABLE_RESULTS:
                    raise LDAPCommunicationError(str(result.get("description")))
                raise _BindRefused(
                    f"bind as {bind_dn} refused: {result.get('description')} "
                    f"{result.get('message', '')}".strip()
                )
        except BaseException:
            _close(connection)
            raise
        return connection


def _close(connection: Connection) -> None:
    """Unbind, ignoring errors: the socket may already be dead."""
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()


class _BindRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Called with (seconds, failed) after every pooled operation (idp.metrics times them).
run_observers: list[Callable[[float, bool], None]] = []


def _observe_run(started: float, *, failed: bool) -> None:
    seconds = time.perf_counter() - started
    for observe in run_observers:
        observe(seconds, failed)


class ConnectionPool:
    """A small LIFO pool; a connection that fails is dropped and the call retried once."""

    def __init__(
        self,
        factory: ConnectionFactory,
        *,
        bind_dn: str | None,
        password: str | None,
        size: int,
    ) -> None:
        self._factory = factory
        self._bind_dn = bind_dn
        self._password = password
        self._size = size
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def _acquire(self) -> Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._factory.open(self._bind_dn, self._password)

    def _release(self, connection: Connection) -> None:
        with self._lock:
            if len(self._idle) < self._size and not connection.closed:
                self._idle.append(connection)
                return
        _close(connection)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        connection = self._acquire()
        try:
            yield connection
        except BaseException:
            _close(connection)
            raise
        self._release(connection)

    def run(self, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` on a pooled connection; on a network failure retry once on a
        fresh connection (possibly another DC), then raise DirectoryUnavailable."""
        last: BaseException | None = None
        started = time.perf_counter()
        for _attempt in range(2):
            try:
                with self.connection() as connection:
                    result = operation(connection)
                _observe_run(started, failed=False)
                return result
            except (LDAPCommunicationError, LDAPResponseTimeoutError, OSError) as exc:
                last = exc
                self.clear()
                log.warning("directory connection failed, retrying: %s", exc)
            except _ServerBusy as exc:
                last = exc
                self.clear()
        _observe_run(started, failed=True)
        raise DirectoryUnavailable(f"the directory cannot be reached ({last})") from last

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _close(connection)

    @property
    def idle(self) -> int:
        return len(self._idle)


class _ServerBusy(Exception):
    pass


def check_result(connection: Connection, allowed: frozenset[int] = frozenset({0})) -> None:
    """Raise for results that mean the server is unusable; leave others to the caller."""
    code = (connection.result or {}).get("result")
    if code in UNAVAILABLE_RESULTS:
        raise _ServerBusy(f"server answered {connection.result.get('description')}")


def attributes_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The raw attributes of a search result entry (bytes values), by lower-case name."""
    return {name.lower(): values for name, values in entry.get("raw_attributes", {}).items()}
