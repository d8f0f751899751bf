"""Keyset (cursor) pagination: pages stay fast however deep, and stable under inserts.

A cursor is the sort key and id of the last row of the previous page, opaque to the
caller (base64url JSON). Sortable columns are text or integer, never NULL.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session

from admin.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


@dataclass(frozen=True)
class Paging:
    """What the caller asked for: ``sort`` is a column name, ``-name`` for descending."""

    cursor: str | None = None
    limit: int = DEFAULT_LIMIT
    sort: str | None = None


def _encode(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("the cursor is not one this API gave out", [("/cursor", str(exc))]) from exc
    if (
        not isinstance(values, list)
        or len(values) != 3
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
    ):
        raise Invalid("the cursor is not one this API gave out", [("/cursor", "malformed")])
    return values


def page(
    session: Session,
    statement: Select[Any],
    *,
    columns: Mapping[str, Any],
    id_column: Any,
    paging: Paging,
    default_sort: str,
    render: Callable[[Any], dict[str, Any]] | None = None,
    render_many: Callable[[list[Any]], list[dict[str, Any]]] | None = None,
) -> Page:
    """One page of ``statement``'s rows (ORM objects or rows), rendered by ``render``
    (one at a time) or ``render_many`` (the whole page at once, e.g. with one lookup)."""
    sort = paging.sort or default_sort
    name = sort.removeprefix("-")
    descending = sort.startswith("-")
    if name not in columns:
        raise Invalid(
            f"cannot sort by {name!r}; sortable: {', '.join(sorted(columns))}",
            [("/sort", f"one of {', '.join(sorted(columns))}, optionally prefixed with -")],
        )
    if not 1 <= paging.limit <= MAX_LIMIT:
        raise Invalid("limit out of range", [("/limit", f"between 1 and {MAX_LIMIT}")])
    column = columns[name]
    same = column is id_column
    if paging.cursor:
        cursor_sort, value, last_id = _decode(paging.cursor)
        if cursor_sort != sort or not _fits(column, value) or not _fits(id_column, last_id):
            raise Invalid("the cursor belongs to another sort order", [("/cursor", "sort changed")])
        if same:
            condition = id_column < last_id if descending else id_column > last_id
        else:
            left = tuple_(column, id_column)
            right = tuple_(value, last_id)
            condition = left < right if descending else left > right
        statement = statement.where(condition)
    order = [column.desc() if descending else column.asc()]
    if not same:
        order.append(id_column.desc() if descending else id_column.asc())
    rows = list(session.execute(statement.order_by(*order).limit(paging.limit + 1)))
    more = len(rows) > paging.limit
    rows = rows[: paging.limit]
    objects = [row[0] if len(row) == 1 else row for row in rows]
    if render_many is not None:
        items = render_many(objects)
    else:
        assert render is not None
        items = [render(obj) for obj in objects]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        key = getattr(last[0] if len(last) == 1 else last, "_mapping", None)
        last_obj = last[0] if len(last) == 1 else last
        value = _value_of(last_obj, key, column)
        last_id = _value_of(last_obj, key, id_column)
        next_cursor = _encode([sort, value, last_id])
    return Page(items, next_cursor)


def _fits(column: Any, value: Any) -> bool:
    """Whether a cursor's value has the column's Python type (a forged one may not)."""
    try:
        kind = column.type.python_type
    except (AttributeError, NotImplementedError):
        return True
    return isinstance(value, kind) and not isinstance(value, bool)


def _value_of(obj: Any, mapping: Any, column: Any) -> Any:
    """The value of ``column`` in a row or ORM object (for the next cursor)."""
    attribute = getattr(column, "key", None) or getattr(column, "name", None)
    if mapping is not None and attribute in mapping:
        return mapping[attribute]
    return getattr(obj, str(attribute))
