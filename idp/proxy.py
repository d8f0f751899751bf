"""The client's address behind a trusted reverse proxy.

``X-Forwarded-For`` (its last hop) and ``X-Forwarded-Proto`` are honoured (werkzeug's
``ProxyFix(x_for=1, x_proto=1)``) only on connections whose peer is in
``STS_TLS_TRUSTED_PROXIES``; anyone else could simply send the headers. Login
throttling and the audit log then see the person's address instead of the proxy's,
which every person behind it would share. The peer itself stays readable for checks
about the proxy (:func:`peer_address`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_trusted(address: str | None, networks: Sequence[Network]) -> bool:
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class TrustedProxyFix:
    """``ProxyFix(x_for=1, x_proto=1)`` for requests from trusted proxies; others pass
    unchanged."""

    def __init__(self, wsgi_app: Any, networks: Sequence[Network]) -> None:
        self.wsgi_app = wsgi_app
        self.networks = tuple(networks)
        self.fixed = ProxyFix(wsgi_app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if is_trusted(environ.get("REMOTE_ADDR"), self.networks):
            return self.fixed(environ, start_response)
        result: Iterable[bytes] = self.wsgi_app(environ, start_response)
        return result


def install_trusted_proxy_fix(app: Flask, trusted: Iterable[str]) -> None:
    networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted]
    if networks:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, networks)  # type: ignore[method-assign]


def peer_address() -> str | None:
    """The address of the connection's other end (the proxy, when one forwarded it)."""
    original = request.environ.get("werkzeug.proxy_fix.orig")
    if isinstance(original, dict) and original.get("REMOTE_ADDR"):
        return str(original["REMOTE_ADDR"])
    return request.remote_addr
