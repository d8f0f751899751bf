"""Reading form fields into the service layer's request bodies (catalogue field names).

Only the shape of the input is handled here (splitting lists, reading dates as people
type them); whether a value is allowed is the service layer's decision.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from werkzeug.datastructures import MultiDict

from admin.errors import NotFound
from admin.service.paging import MAX_LIMIT, Page, Paging
from admin.ui.messages import FormErrors
from admin.ui.texts import t

MAX_FIELD = 4000
_DANISH_DATE = re.compile(r"^(\d{1,2})[.\-/](\d{1,2})[.\-/](\d{4})$")


def text(form: MultiDict[str, str], name: str) -> str:
    return form.get(name, "").strip()[:MAX_FIELD]


def split_values(value: str) -> list[str]:
    """``"27.*, 32.01"`` or one per line as ``["27.*", "32.01"]``."""
    return [part.strip() for part in re.split(r"[,\n]", value) if part.strip()]


def split_names(value: str) -> list[str]:
    """Usernames or CVRs separated by commas, spaces or lines."""
    return [part for part in re.split(r"[\s,;]+", value) if part]


def date(form: MultiDict[str, str], name: str, errors: FormErrors) -> str | None:
    """An ISO date from ``2026-12-31``, ``31-12-2026`` or ``31.12.2026``; None when empty."""
    value = text(form, name)
    if not value:
        return None
    danish = _DANISH_DATE.match(value)
    if danish:
        value = f"{danish.group(3)}-{int(danish.group(2)):02d}-{int(danish.group(1)):02d}"
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        errors.add(name, t("field.date"))
        return None


def iso_date(value: str | None) -> str | None:
    """``31-12-2026`` or ``31.12.2026`` as ``2026-12-31``; anything else as it is."""
    danish = _DANISH_DATE.match(value or "")
    if danish:
        return f"{danish.group(3)}-{int(danish.group(2)):02d}-{int(danish.group(1)):02d}"
    return value


def all_items(fetch: Callable[[Paging], Page]) -> list[dict[str, Any]]:
    """Every item of a paged service call (for choices in a form)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        result = fetch(Paging(cursor, MAX_LIMIT))
        items += result.items
        if not result.next_cursor or len(items) >= 5 * MAX_LIMIT:
            return items
        cursor = result.next_cursor


def paging(args: MultiDict[str, str], limit: int = 50, sort: str | None = None) -> Paging:
    return Paging(args.get("cursor") or None, limit, sort)


def one(found: list[dict[str, Any]], key: str, value: str, missing: str) -> dict[str, Any]:
    for item in found:
        if item.get(key) == value:
            return item
    raise NotFound(missing)
