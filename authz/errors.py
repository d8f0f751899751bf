"""Typed errors of the authorization engine.

Every refusal is an :class:`AuthzError`, so a front door can catch one type and map it
to a protocol error; none of them is ever turned into "no privileges". An empty
:class:`~authz.model.PrivilegeResult` means a known, enabled user who holds nothing for
that fagsystem today, and nothing else.
"""

from __future__ import annotations


class AuthzError(Exception):
    """Base class: the question could not be answered (as opposed to "nothing granted")."""


class UnknownMunicipality(AuthzError):
    """No municipality with this CVR number."""

    def __init__(self, cvr: str) -> None:
        super().__init__(f"unknown municipality (CVR {cvr!r})")
        self.cvr = cvr


class UnknownFagsystem(AuthzError):
    """No fagsystem (or service) with this id or entity id."""

    def __init__(self, fagsystem: str) -> None:
        super().__init__(f"unknown fagsystem {fagsystem!r}")
        self.fagsystem = fagsystem


class UnknownUser(AuthzError):
    """No such user."""

    def __init__(self, user: str, cvr: str | None = None) -> None:
        where = f" in CVR {cvr}" if cvr else ""
        super().__init__(f"unknown user {user!r}{where}")
        self.user = user
        self.cvr = cvr


class WrongMunicipality(AuthzError):
    """The user exists but belongs to another municipality than the one asked about."""

    def __init__(self, user: str, cvr: str, user_cvr: str) -> None:
        super().__init__(f"user {user!r} belongs to CVR {user_cvr}, not {cvr}")
        self.user = user
        self.cvr = cvr
        self.user_cvr = user_cvr


class UserDisabled(AuthzError):
    """The user is disabled: no token may be issued, so no privileges are computed."""

    def __init__(self, user: str) -> None:
        super().__init__(f"user {user!r} is disabled")
        self.user = user


class UnknownAnvendersystem(UnknownFagsystem):
    """The calling system of a service request is not registered."""


class CodecError(AuthzError):
    """A privilege document (OIO-BPP XML or JSON priv) is malformed or unsafe."""
