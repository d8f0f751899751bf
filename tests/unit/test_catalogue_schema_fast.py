"""The compiled schema pre-check never accepts what the JSON Schema (jsonschema) refuses."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from store.catalogue.schema import _fast, catalogue_schema, schema_errors

GOOD = {"user": "karen", "cvr": "29189846", "role": "http://demo.kommune.dk/roles/jobrole/x/1"}


@pytest.mark.parametrize(
    "change",
    [
        {"cvr": "29189846\n"},  # Python's $ matches before a final newline
        {"role": "http://demo.kommune.dk/\x1crole"},  # Python's \s includes U+001C..U+001F
        {"role": "http://demo.kommune.dk/\x1frole"},
        {"role": "http://demo.kommune.dk/\u00a0role"},
        {"valid_from": "2026-1-01"},
        {"case_number": ""},
        {"inherit": 1},
        {"except_users": ["a", "a"]},
        {"constraints": {"http://x.test/c/1": "Normal"}},
        {"extra": True},
    ],
)
def test_the_fast_check_accepts_an_assignment_only_when_jsonschema_does(
    change: dict[str, Any],
) -> None:
    item = {**GOOD, **change}
    python = Draft202012Validator(catalogue_schema()).is_valid(
        {"version": 1, "assignments": [item]}
    )
    fast = _fast("assignment")
    assert fast is not None
    assert not fast(item) or python


def test_a_streamed_section_gives_the_messages_of_the_whole_document() -> None:
    class Streamed:
        def __init__(self, items: list[Any]) -> None:
            self.items = items

        def __iter__(self) -> Any:
            return iter(self.items)

        def __len__(self) -> int:
            return len(self.items)

    items = [GOOD, {**GOOD, "cvr": 29189846}, {**GOOD, "valid_to": "31-12-2026", "x": 1}]
    whole = schema_errors({"version": 1, "assignments": items})
    assert schema_errors({"version": 1, "assignments": Streamed(items)}) == whole
    assert [e.path for e in whole] == [
        "assignments[1].cvr",
        "assignments[2]",
        "assignments[2].valid_to",
    ]
