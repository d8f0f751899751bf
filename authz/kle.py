"""KLE codes: validation and normalisation exactly as KOMBIT and OS2rollekatalog write them.

* main groups (``27``) and groups (``27.35``) are written with ``.*`` (``27.*``,
  ``27.35.*``); full subjects (``27.35.04``) as is;
* a code covered by a wider one is dropped (``27.*`` covers ``27.35.*`` and ``27.35.04``);
* the result is sorted;
* an empty result is :data:`NO_KLE` (``99.99.99``): grants nothing but keeps the login
  valid.

Anything that is not a KLE code (``*``, ``abc``, ``1.2``) is dropped rather than passed
on: an unparseable value must never be able to widen access in a fagsystem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NO_KLE = "99.99.99"

_CODE = re.compile(r"^(\d{2})(?:\.(\d{2})(?:\.(\d{2}))?)?(?:\.\*)?$")


def parse(code: str) -> tuple[str, ...] | None:
    """The code's parts (``("27", "35")`` for ``27.35`` or ``27.35.*``); None if invalid.

    A subject with ``.*`` (``27.35.04.*``) and the sentinel ``99.99.99`` are not codes.
    """
    text = code.strip()
    match = _CODE.match(text)
    if match is None:
        return None
    parts = tuple(p for p in match.groups() if p is not None)
    if len(parts) == 3 and text.endswith(".*"):
        return None
    if parts == ("99", "99", "99"):
        return None
    return parts


def format_parts(parts: tuple[str, ...]) -> str:
    return ".".join(parts) if len(parts) == 3 else ".".join(parts) + ".*"


def is_valid(code: str) -> bool:
    return parse(code) is not None


def normalise(codes: Iterable[str]) -> tuple[str, ...]:
    """Normalised, sorted, de-duplicated codes; ``("99.99.99",)`` when nothing remains."""
    parsed = {p for p in (parse(c) for c in codes) if p is not None}
    kept = [parts for parts in parsed if not any(parts[:n] in parsed for n in range(1, len(parts)))]
    if not kept:
        return (NO_KLE,)
    return tuple(format_parts(p) for p in sorted(kept))


def covers(granted: Iterable[str], code: str) -> bool:
    """True when ``code`` lies inside one of the normalised ``granted`` codes."""
    target = parse(code)
    if target is None:
        return False
    for value in granted:
        parts = parse(value)
        if parts is not None and target[: len(parts)] == parts:
            return True
    return False
