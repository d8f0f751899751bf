"""Typed errors of the service layer; the API turns each into RFC 9457 problem+json.

Every error carries a message a person can act on; ``errors`` lists each invalid field
as (JSON pointer into the request body, what is wrong with it).
"""

from __future__ import annotations

from collections.abc import Sequence


class AdminError(Exception):
    """Base class: ``status`` is the HTTP status the API answers with."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)


class Invalid(AdminError):
    """The request names things that do not exist or values that are not allowed."""

    status = 422
    title = "Invalid request"


class NotFound(AdminError):
    """No such object, or one the caller may not see (never says which)."""

    status = 404
    title = "Not found"


class Forbidden(AdminError):
    """The caller may see the object but not do this to it."""

    status = 403
    title = "Forbidden"


class Conflict(AdminError):
    """The object exists already, or its state does not allow this (e.g. approve twice)."""

    status = 409
    title = "Conflict"
