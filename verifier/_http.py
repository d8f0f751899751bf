"""A small HTTPS GET for metadata, discovery and JWKS documents (stdlib only)."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_DOCUMENT_SIZE = 1024 * 1024
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Fetched:
    body: bytes
    headers: Mapping[str, str]


Fetcher = Callable[[str], Fetched]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """https only; plain http to a loopback address is allowed for local development."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ValueError(f"refusing to fetch {url!r}: https required")


def http_get(url: str) -> Fetched:
    """GET ``url``; raises OSError (or ValueError for a refused URL) on failure."""
    check_url(url)
    request = urllib.request.Request(url, headers={"Accept": "application/json, application/xml"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        body = response.read(MAX_DOCUMENT_SIZE + 1)
        if len(body) > MAX_DOCUMENT_SIZE:
            raise OSError(f"{url}: document larger than {MAX_DOCUMENT_SIZE} bytes")
        return Fetched(body, {k.lower(): v for k, v in response.headers.items()})


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


def max_age(headers: Mapping[str, str], *, default: float, ceiling: float) -> float:
    """Seconds a response may be cached according to its Cache-Control header."""
    control = headers.get("cache-control", "")
    directives = {d.strip().split("=")[0].lower() for d in control.split(",")}
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    match = _MAX_AGE.search(control)
    if match is None:
        return default
    return min(float(match.group(1)), ceiling)
