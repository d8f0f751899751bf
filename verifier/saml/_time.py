"""xs:dateTime and xs:duration as SAML uses them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from verifier.errors import InvalidToken

_FRACTION = re.compile(r"\.(\d+)")
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_datetime(value: str | None, what: str) -> datetime:
    """An aware UTC datetime; SAML times without a zone are UTC."""
    if value is None:
        raise InvalidToken("schema_invalid", f"{what} is missing")
    text = value.strip()
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidToken("schema_invalid", f"{what} {value!r} is not an xs:dateTime") from exc
    if "T" not in text:
        raise InvalidToken("schema_invalid", f"{what} {value!r} is not an xs:dateTime")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def optional_datetime(value: str | None, what: str) -> datetime | None:
    return None if value is None else parse_datetime(value, what)


def parse_duration(value: str) -> timedelta:
    """xs:duration (years and months taken as 365 and 30 days)."""
    match = _DURATION.match(value.strip())
    if match is None or value.strip() in ("P", "PT"):
        raise ValueError(f"not an xs:duration: {value!r}")
    years, months, days, hours, minutes = (int(g or 0) for g in match.groups()[:5])
    seconds = float(match.group(6) or 0)
    return timedelta(
        days=years * 365 + months * 30 + days, hours=hours, minutes=minutes, seconds=seconds
    )
