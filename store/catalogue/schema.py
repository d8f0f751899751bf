"""JSON-Schema check of a catalogue: the shape, before any reference is followed.

The shipped schema is checked with ``jsonschema`` (its messages are the ones we show).
Because that is slow at national scale (about 0.1 ms per assignment), a document or an
item of a streamed section is first given to ``jsonschema_rs`` (compiled, about 1 µs),
and only what that does not accept is checked again with ``jsonschema`` for the
messages. The fast validator is made at least as strict as ``jsonschema``: Python's
``\\s`` also matches the control characters U+001C to U+001F, so those are added to
every ``\\s`` / ``\\S`` of the patterns given to it; where it is stricter (``$`` before a
final newline), ``jsonschema`` has the last word. Without ``jsonschema_rs`` installed
every check goes to ``jsonschema``.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from store.catalogue.common import CatalogueError, join_path

# Sections an importer may stream instead of holding in memory (store.catalogue.document).
STREAMED_SECTIONS = ("users", "assignments")
_ITEM_DEFS = {"users": "user", "assignments": "assignment"}


@functools.cache
def catalogue_schema() -> dict[str, Any]:
    """The shipped JSON Schema (``policies/catalogue.schema.json``)."""
    text = resources.files("policies").joinpath("catalogue.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(catalogue_schema())


def _python_whitespace(pattern: str) -> str:
    r"""``pattern`` with ``\s`` / ``\S`` matching (or not) Python's whitespace, U+001C-1F too."""
    out: list[str] = []
    in_class = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and position + 1 < len(pattern):
            escaped = pattern[position + 1]
            if escaped == "s":
                out.append(r"\s\x1c-\x1f" if in_class else r"[\s\x1c-\x1f]")
            elif escaped == "S" and not in_class:
                out.append(r"[^\s\x1c-\x1f]")
            else:
                out.append(char + escaped)
            position += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        position += 1
    return "".join(out)


def _strict_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _python_whitespace(value)
            if key == "pattern" and isinstance(value, str)
            else _strict_patterns(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_strict_patterns(item) for item in node]
    return node


@functools.cache
def _fast(definition: str | None) -> Callable[[Any], bool] | None:
    """An ``is_valid`` of the whole schema (or of one ``$defs`` entry), or None."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - the dependency is declared
        return None
    schema = _strict_patterns(copy.deepcopy(catalogue_schema()))
    if definition is not None:
        schema = {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    validator = jsonschema_rs.validator_for(schema)

    def is_valid(instance: Any) -> bool:
        try:
            return bool(validator.is_valid(instance))
        except (ValueError, TypeError):  # not a JSON value: let jsonschema explain
            return False

    return is_valid


def schema_errors(data: Any) -> list[CatalogueError]:
    """Every schema violation in ``data``, each with the path of the offending value.

    Sections that are not lists (a streamed document's ``users`` and ``assignments``)
    are checked item by item, with the same messages and paths.
    """
    streamed = {}
    if isinstance(data, dict):
        streamed = {
            name: data[name]
            for name in STREAMED_SECTIONS
            if name in data and not isinstance(data[name], list)
        }
    if streamed:
        data = {key: ([] if key in streamed else value) for key, value in data.items()}
    errors = set(_document_errors(data))
    for name, items in streamed.items():
        errors.update(_item_errors(name, items))
    return sorted(errors)


def _document_errors(data: Any) -> Iterable[CatalogueError]:
    fast = _fast(None)
    if fast is not None and fast(data):
        return []
    return {_to_catalogue_error(error) for error in _validator().iter_errors(data)}


def _item_errors(section: str, items: Iterable[Any]) -> Iterable[CatalogueError]:
    fast = _fast(_ITEM_DEFS[section])
    for index, item in enumerate(items):
        if fast is not None and fast(item):
            continue
        for error in _validator().iter_errors({"version": 1, section: [item]}):
            yield _to_catalogue_error(error, index)


def _to_catalogue_error(error: ValidationError, index: int | None = None) -> CatalogueError:
    """Descend into anyOf/oneOf failures to the most telling cause, then render the path.

    ``index`` is the item's position when one item was checked as ``section[0]``.
    """
    if error.context:
        error = best_match(error.context) or error
    parts = list(error.absolute_path)
    if index is not None and len(parts) >= 2:
        parts[1] = index
    return CatalogueError(join_path(*parts), _message(error))


def _message(error: ValidationError) -> str:
    """A reader-friendly message for the common cases; jsonschema's own otherwise."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (
            f"unknown key(s) {', '.join(map(repr, extra))}; allowed keys are {', '.join(allowed)}"
        )
    last = error.absolute_path[-1] if error.absolute_path else None
    if error.validator in ("pattern", "type") and last == "cvr":
        return f"{error.instance!r} is not a CVR number; write it as 8 digits in quotes"
    if error.validator in ("minProperties", "maxProperties") and "fixed" in schema.get(
        "properties", {}
    ):
        return "give exactly one of fixed, dynamic or postponed"
    return error.message
