"""JSON-Schema check of a catalogue: the shape, before any reference is followed."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from bench.catalogue_legacy.common import CatalogueError, join_path


@functools.cache
def catalogue_schema() -> dict[str, Any]:
    """The shipped JSON Schema (``policies/catalogue.schema.json``)."""
    text = resources.files("policies").joinpath("catalogue.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(catalogue_schema())


def schema_errors(data: Any) -> list[CatalogueError]:
    """Every schema violation in ``data``, each with the path of the offending value."""
    errors = {_to_catalogue_error(error) for error in _validator().iter_errors(data)}
    return sorted(errors)


def _to_catalogue_error(error: ValidationError) -> CatalogueError:
    """Descend into anyOf/oneOf failures to the most telling cause, then render the path."""
    if error.context:
        error = best_match(error.context) or error
    path = join_path(*error.absolute_path)
    return CatalogueError(path, _message(error))


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
