"""Hardened XML input and the SAML binding encodings.

Every byte from a browser goes through :func:`parse` before any signature work: no DTD,
no entities, no network, no huge trees. A document with a DOCTYPE is refused outright, so
external entities and billion-laughs expansions never reach the parser's entity code.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
import zlib
from typing import Any

from lxml import etree

from idp.saml.constants import MAX_INFLATED, MAX_MESSAGE


class SamlError(Exception):
    """A request we refuse. ``status`` is the SAML status to send where the SP is trusted."""

    def __init__(self, message: str, *, status: str | None = None, http_status: int = 400):
        super().__init__(message)
        self.status = status
        self.http_status = http_status
        self.request: Any = None  # the checked request, once the SP and its ACS are trusted


_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
    remove_pis=False,
    collect_ids=False,
)
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse(data: bytes) -> etree._Element:
    """Parse one untrusted XML document; DTDs, entities and processing instructions refused."""
    if len(data) > MAX_MESSAGE:
        raise SamlError("message too large")
    if _DOCTYPE.search(data) or _DOCTYPE.search(data.replace(b"\x00", b"")):
        raise SamlError("XML with a DOCTYPE or ENTITY declaration is not accepted")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise SamlError(f"message is not well-formed XML: {exc.msg}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SamlError("XML with a DOCTYPE is not accepted")
    for node in root.iter(etree.Entity, etree.ProcessingInstruction):
        raise SamlError(f"XML with {type(node).__name__} nodes is not accepted")
    return root


def b64decode(value: str | bytes) -> bytes:
    """Strict standard base64 (whitespace ignored, as browsers and SPs wrap lines)."""
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    compact = re.sub(rb"\s+", b"", value)
    if len(compact) > MAX_MESSAGE * 4 // 3 + 4:
        raise SamlError("message too large")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlError("message is not valid base64") from exc


def inflate(data: bytes, limit: int = MAX_INFLATED) -> bytes:
    """Raw DEFLATE (Redirect binding), refusing anything that inflates past ``limit``."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise SamlError("message is not valid DEFLATE data") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise SamlError(f"message inflates past {limit // 1024} KiB")
    if not inflater.eof:
        raise SamlError("message is truncated DEFLATE data")
    return out


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def new_id() -> str:
    """An xs:ID value: letter first, 160 bits of randomness."""
    return "_" + secrets.token_hex(20)


def instant(moment: dt.datetime) -> str:
    """xs:dateTime in UTC with a ``Z``, second precision (what every SP parses)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_INSTANT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
)


def parse_instant(value: str | None) -> dt.datetime:
    if not value:
        raise SamlError("IssueInstant is missing")
    match = _INSTANT.match(value.strip())
    if not match:
        raise SamlError("IssueInstant is not an xs:dateTime")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    zone = match.group(8)
    tz = dt.UTC
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=tz).astimezone(dt.UTC)
    except ValueError as exc:
        raise SamlError("IssueInstant is not a valid time") from exc


def text_of(element: etree._Element | None) -> str | None:
    """Concatenated text of an element, refusing comments and child elements inside it.

    A comment inside a NameID or Issuer is the classic trick to make two parsers read two
    different values (``user@evil.test<!---->.victim.test``).
    """
    if element is None:
        return None
    if len(element):
        raise SamlError(f"{etree.QName(element).localname} must contain text only")
    return (element.text or "").strip()
