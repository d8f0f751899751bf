"""The catalogue's rules for one object: the same validation an import makes.

A write through the admin API is checked as a one-object catalogue (the object in its
section, checked against the store) so the API and ``stsctl import`` can never disagree
on what is valid. Catalogue paths (``jobfunktionsroller[0].grants[1].role``) become JSON
pointers into the request body (``/grants/1/role``).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from admin.errors import Invalid
from store.catalogue import CatalogueError, validate
from store.catalogue.importer import apply_validated
from store.catalogue.report import ImportReport

_PART = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def pointer(path: str, strip: int = 0) -> str:
    """``a.b[2]["x/y"]`` as the JSON pointer ``/a/b/2/x~1y``, without its first ``strip`` parts."""
    parts: list[str] = []
    position = 0
    while position < len(path):
        match = _PART.match(path, position)
        if match is None:  # not a path we rendered: keep the rest as one part
            parts.append(path[position:])
            break
        parts.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    escaped = [part.replace("~", "~0").replace("/", "~1") for part in parts[strip:]]
    return "/" + "/".join(escaped) if escaped else ""


def errors_as_pointers(errors: list[CatalogueError], strip: int) -> list[tuple[str, str]]:
    return [(pointer(error.path, strip), error.message) for error in errors]


def check(session: Session, section: str, item: dict[str, Any], what: str) -> None:
    """Validate ``item`` as the only entry of catalogue ``section``; Invalid if it is not."""
    errors = validate(session, {"version": 1, section: [item]})
    if errors:
        raise Invalid(f"the {what} is not valid", errors_as_pointers(errors, 2))


def apply(session: Session, section: str, item: dict[str, Any], actor: str) -> ImportReport:
    """Upsert one validated catalogue object, as an import would (no import audit event)."""
    return apply_validated(session, {"version": 1, section: [item]}, actor=actor)
