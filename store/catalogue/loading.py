"""Reading a catalogue file: YAML or JSON, with SAML metadata pulled in from files or URLs."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import yaml
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from store.catalogue.certificates import resolve_files as resolve_certificate_files
from store.catalogue.common import CatalogueError, CatalogueInvalid, join_path
from store.catalogue.document import open_json

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
METADATA_TIMEOUT_SECONDS = 10


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a catalogue file and inline its SAML metadata; raise CatalogueInvalid if unreadable.

    A JSON file is read with :func:`store.catalogue.document.open_json`: its ``users``
    and ``assignments`` are streamed from the file whenever they are iterated, so a
    national catalogue is not held in memory. YAML is read whole.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            head = file.read(4096).lstrip()
        data = (
            open_json(path)
            if head.startswith(b"{")
            else parse_text(path.read_text(encoding="utf-8"), source=str(path))
        )
    except OSError as exc:
        raise CatalogueInvalid([CatalogueError("", f"cannot read {path}: {exc.strerror}")]) from exc
    errors = resolve_metadata(data, base_dir=path.parent)
    errors += resolve_certificate_files(data, base_dir=path.parent)  # KOMBIT STS certificates
    if errors:
        raise CatalogueInvalid(errors)
    return data


def parse_text(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """Parse catalogue text as JSON when it looks like JSON, else as YAML (safe loader)."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CatalogueInvalid(
            [CatalogueError("", f"{source} is not valid YAML or JSON: {exc}")]
        ) from exc
    if not isinstance(data, dict):
        raise CatalogueInvalid(
            [CatalogueError("", f"{source} must hold a mapping with 'version: 1' at the top")]
        )
    return _dates_as_strings(data)


def _dates_as_strings(value: Any) -> Any:
    """Turn YAML's implicit dates (an unquoted 2026-01-01) back into the ISO strings we expect."""
    if isinstance(value, dict):
        return {key: _dates_as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates_as_strings(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def resolve_metadata(data: dict[str, Any], *, base_dir: Path) -> list[CatalogueError]:
    """Read ``metadata_file`` (relative to ``base_dir``) and ``metadata_url`` into ``metadata``."""
    errors: list[CatalogueError] = []
    fagsystemer = data.get("fagsystemer")
    if not isinstance(fagsystemer, list):
        return errors
    for f_index, fagsystem in enumerate(fagsystemer):
        entries = fagsystem.get("saml") if isinstance(fagsystem, dict) else None
        if not isinstance(entries, list):
            continue
        for s_index, entry in enumerate(entries):
            if not isinstance(entry, dict) or "metadata" in entry:
                continue
            error = _inline_metadata(entry, base_dir)
            if error:
                path = join_path("fagsystemer", f_index, "saml", s_index, error[0])
                errors.append(CatalogueError(path, error[1]))
    return errors


def _inline_metadata(entry: dict[str, Any], base_dir: Path) -> tuple[str, str] | None:
    """Fill ``entry['metadata']`` from its file or URL; return (key, message) on failure."""
    if isinstance(entry.get("metadata_file"), str):
        file = base_dir / entry["metadata_file"]
        try:
            entry["metadata"] = file.read_text(encoding="utf-8")
        except OSError as exc:
            return "metadata_file", f"cannot read {file}: {exc.strerror}; check the path"
    elif isinstance(entry.get("metadata_url"), str):
        try:
            entry["metadata"] = fetch_metadata(entry["metadata_url"])
        except (OSError, ValueError) as exc:
            return "metadata_url", f"cannot fetch metadata: {exc}; check the URL or inline it"
    return None


def fetch_metadata(url: str) -> str:
    """Fetch SAML metadata once over HTTP(S); other schemes are refused."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("only http:// and https:// URLs are fetched")
    headers = {"Accept": "application/samlmetadata+xml"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    with urllib.request.urlopen(request, timeout=METADATA_TIMEOUT_SECONDS) as response:  # noqa: S310
        body: bytes = response.read(5_000_000)
    return body.decode("utf-8")


def metadata_entity_id(xml: str) -> str:
    """The entityID of one SAML ``EntityDescriptor``; DTDs and entities are refused."""
    try:
        root = fromstring(xml.encode("utf-8"), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ValueError("metadata must not contain a DTD or entity declarations") from exc
    except ParseError as exc:
        raise ValueError(f"metadata is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{MD_NS}}}EntityDescriptor":
        raise ValueError(
            "metadata must have one md:EntityDescriptor as its root element "
            f"(found {root.tag}); split an EntitiesDescriptor into one entry per SP"
        )
    entity_id = root.get("entityID")
    if not entity_id:
        raise ValueError("the EntityDescriptor has no entityID attribute")
    if root.find(f"{{{MD_NS}}}SPSSODescriptor") is None:
        raise ValueError("the metadata has no SPSSODescriptor; is it an SP's metadata?")
    return entity_id
