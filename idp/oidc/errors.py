"""OAuth error responses whose descriptions are always legal (RFC 6749 §5.2)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from authlib.oauth2 import OAuth2Error

# error_description is %x20-21 / %x23-5B / %x5D-7E only: no quote, backslash or non-ASCII.
_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")

E = TypeVar("E", bound=OAuth2Error)


def safe_description(text: str) -> str:
    return _UNSAFE.sub("?", text)[:300]


def oauth_error(cls: type[E], description: str, **kwargs: Any) -> E:
    """``cls(description)`` with the description made legal (it may quote user input)."""
    return cls(description=safe_description(description), **kwargs)


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is unknown or not allowed."""

    error = "invalid_target"
