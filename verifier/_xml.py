"""Parsing untrusted XML: UTF-8 only, no DTD, no entities, no network, bounded size."""

from __future__ import annotations

import re

from lxml import etree

from verifier.errors import InvalidToken

_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_DTD_MARKERS = (b"<!doctype", b"<!entity", b"<!element", b"<!attlist")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )


def parse_untrusted(data: bytes, *, max_size: int) -> etree._Element:
    """The root element of ``data``, or :class:`InvalidToken`.

    DTDs and entity declarations are refused by looking at the bytes before the parser
    sees them (the encoding is pinned to UTF-8 so the look cannot be fooled), and again
    on the parsed tree.
    """
    if len(data) > max_size:
        raise InvalidToken("too_large", f"XML document of {len(data)} bytes exceeds {max_size}")
    declared = _DECLARED_ENCODING.match(data)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise InvalidToken("malformed", "only UTF-8 XML is accepted")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidToken("malformed", "XML document is not UTF-8") from exc
    lowered = data.lower()
    if any(marker in lowered for marker in _DTD_MARKERS):
        raise InvalidToken("dtd_forbidden", "DTDs and entity declarations are not accepted")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidToken("malformed", f"not well-formed XML: {exc}") from exc
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise InvalidToken("dtd_forbidden", "DTDs are not accepted")
    if any(True for _ in root.iter(etree.Entity)):
        raise InvalidToken("dtd_forbidden", "entity references are not accepted")
    return root


def full_text(element: etree._Element) -> str:
    """All text inside ``element``, comments and processing instructions left out.

    Reading ``element.text`` stops at the first comment: ``user@evil.test<!---->.x``
    would read as ``user@evil.test``. This reads the whole value instead.
    """
    parts: list[str] = []
    if element.text:
        parts.append(element.text)
    for child in element:
        if isinstance(child.tag, str):
            raise InvalidToken("schema_invalid", f"unexpected element inside {element.tag}")
        if child.tail:
            parts.append(child.tail)
    return "".join(parts)
