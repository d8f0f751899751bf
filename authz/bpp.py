"""OIO Basic Privilege Profile (OIO-BPP): the ``privilegesIntermediate`` SAML attribute.

Encoding (DOMAIN.md, REFERENCE-KOMBIT.md §1.5): root ``PrivilegeList`` in the itst.dk
namespace (what KOMBIT's tokens use), unqualified ``PrivilegeGroup`` children with
``Scope="urn:dk:gov:saml:cvrNumberIdentifier:<CVR>"``, exactly one ``Privilege`` per
group, one ``Constraint`` per type with the values comma-joined, UTF-8 with an XML
declaration, then standard base64 without line breaks. The output validates against
``policies/oio-bpp.xsd``.

Decoding accepts both namespaces (itst.dk and the 1.2 digst.dk), ``Constraint`` before or
after ``Privilege``, base64 or raw XML, and refuses any DTD (no entity expansion, no
network, no DOCTYPE at all). A group with more than one ``Privilege`` is refused, as
KOMBIT's own parser does: a consumer must not guess which constraints go with which.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from functools import lru_cache

from lxml import etree

from authz.errors import CodecError
from authz.model import Constraint, PrivilegeGroup, PrivilegeResult
from policies import policy_path

ITST = "http://itst.dk/oiosaml/basic_privilege_profile"
DIGST = "http://digst.dk/oiosaml/basic_privilege_profile"
NAMESPACES = (ITST, DIGST)
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_DOCUMENT = 1 << 20  # 1 MiB of XML is far beyond any real privilege list

GroupsLike = PrivilegeResult | Iterable[PrivilegeGroup]


def _groups(source: GroupsLike) -> list[PrivilegeGroup]:
    if isinstance(source, PrivilegeResult):
        return list(source.groups)
    return list(source)


def _check_value(what: str, value: str) -> None:
    if not value or value != value.strip():
        raise CodecError(f"{what} must be non-empty without surrounding spaces: {value!r}")


def _check_group(group: PrivilegeGroup) -> None:
    _check_value("Privilege", group.privilege)
    _check_value("Scope", group.scope)
    for constraint in group.constraints:
        _check_value("Constraint Name", constraint.name)
        for value in constraint.values:
            _check_value(f"value of {constraint.name}", value)
            if "," in value:
                raise CodecError(f"a value of {constraint.name} contains a comma: {value!r}")


def encode_xml(source: GroupsLike, *, namespace: str = ITST) -> bytes:
    """The OIO-BPP document (UTF-8 bytes with an XML declaration)."""
    if namespace not in NAMESPACES:
        raise CodecError(f"unknown OIO-BPP namespace {namespace!r}")
    root = etree.Element(f"{{{namespace}}}PrivilegeList", nsmap={"bpp": namespace, "xsi": XSI})
    for group in _groups(source):
        _check_group(group)
        element = etree.SubElement(root, "PrivilegeGroup", Scope=group.scope)
        etree.SubElement(element, "Privilege").text = group.privilege
        for constraint in group.constraints:
            etree.SubElement(element, "Constraint", Name=constraint.name).text = constraint.value
    try:
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    except ValueError as exc:  # control characters and the like
        raise CodecError(f"cannot write privilege list: {exc}") from exc


def encode_bpp(source: GroupsLike, *, namespace: str = ITST) -> str:
    """Base64 (one line) of the OIO-BPP document: the ``privilegesIntermediate`` value."""
    return base64.b64encode(encode_xml(source, namespace=namespace)).decode("ascii")


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    """``policies/oio-bpp.xsd`` (itst.dk namespace)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(policy_path("oio-bpp.xsd")), parser))


def validate_xml(document: bytes) -> None:
    """Raise :class:`CodecError` unless ``document`` is valid against the shipped XSD.

    A digst.dk document is checked with its root mapped to the itst.dk namespace (the
    two versions share the structure).
    """
    root = _parse(document)
    if etree.QName(root).namespace == DIGST:
        root.tag = f"{{{ITST}}}PrivilegeList"
    xsd = schema()
    if not xsd.validate(root):
        raise CodecError(f"privilege list does not match oio-bpp.xsd: {xsd.error_log.last_error}")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _parse(document: bytes) -> etree._Element:
    if len(document) > MAX_DOCUMENT:
        raise CodecError("privilege list too large")
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise CodecError("privilege list with a DTD refused")
    try:
        tree = etree.ElementTree(etree.fromstring(document, _parser()))
    except etree.XMLSyntaxError as exc:
        raise CodecError(f"privilege list is not well-formed XML: {exc}") from exc
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise CodecError("privilege list with a DTD refused")
    return tree.getroot()


def _raw(data: str | bytes) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    stripped = raw.strip()
    if stripped.startswith(b"<") or stripped.startswith(b"\xef\xbb\xbf<"):
        return stripped
    try:
        return base64.b64decode(b"".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CodecError("privilege list is neither XML nor base64") from exc


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def decode_bpp(data: str | bytes) -> list[PrivilegeGroup]:
    """Privilege groups from a ``privilegesIntermediate`` value (base64 or raw XML)."""
    root = _parse(_raw(data))
    qname = etree.QName(root)
    if qname.localname != "PrivilegeList" or qname.namespace not in NAMESPACES:
        raise CodecError(f"not an OIO-BPP PrivilegeList: {root.tag}")
    groups: list[PrivilegeGroup] = []
    for element in root:
        if not isinstance(element.tag, str):
            continue
        if _local(element) != "PrivilegeGroup":
            raise CodecError(f"unexpected element {element.tag} in PrivilegeList")
        scope = (element.get("Scope") or "").strip()
        if not scope:
            raise CodecError("PrivilegeGroup without Scope")
        privileges: list[str] = []
        constraints: list[Constraint] = []
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = _local(child)
            text = (child.text or "").strip()
            if name == "Privilege":
                if not text:
                    raise CodecError("empty Privilege")
                privileges.append(text)
            elif name == "Constraint":
                constraint_name = (child.get("Name") or "").strip()
                if not constraint_name:
                    raise CodecError("Constraint without Name")
                values = tuple(v.strip() for v in text.split(",") if v.strip())
                constraints.append(Constraint(constraint_name, values))
            else:
                raise CodecError(f"unexpected element {child.tag} in PrivilegeGroup")
        if len(privileges) != 1:
            raise CodecError(
                f"PrivilegeGroup {scope} must hold exactly one Privilege, found {len(privileges)}"
            )
        groups.append(PrivilegeGroup(privileges[0], scope, tuple(constraints)))
    return groups
