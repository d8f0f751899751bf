"""The directory-connector interface the login uses: local SQL directory or AD over LDAP.

A connector answers two questions: is this password right for this person, and who is
this person (attributes and transitive group memberships). Failures are typed so the
login page can show a generic message while the audit log gets the precise reason.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field


class DirectoryError(Exception):
    """Base class for directory failures."""


class DirectoryUnavailable(DirectoryError):
    """No directory server could be reached; existing SSO sessions keep working."""


class AuthenticationFailed(DirectoryError):
    """The login is refused. ``reason`` is for the audit log only, never for the user.

    Reasons: ``unknown_user``, ``bad_password``, ``empty_password``, ``disabled``,
    ``locked``, ``expired``, ``password_expired``, ``must_change_password``,
    ``logon_hours``, ``workstation``, ``invalid_username``.
    """

    def __init__(self, reason: str, detail: str = "", *, user_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        # The directory's id of the account refused for its state (``disabled``...), so
        # the login can bring the store up to date; None when the account is unknown.
        self.user_id = user_id


@dataclass(frozen=True)
class DirectoryUser:
    """A person as a directory knows them; ``uuid`` is stable (AD: objectGUID)."""

    uuid: str
    username: str
    cvr: str
    name: str = ""
    given_name: str | None = None
    surname: str | None = None
    email: str | None = None
    upn: str | None = None
    org_unit: str | None = None
    kle: tuple[str, ...] = ()
    manager: str | None = None
    groups: tuple[str, ...] = field(default=())  # transitive: objectGUIDs and DNs
    source: str = "local"


class Directory(abc.ABC):
    """What the login needs from a directory."""

    @abc.abstractmethod
    def authenticate(self, username: str, password: str) -> DirectoryUser:
        """Check the password; raise :class:`AuthenticationFailed` or
        :class:`DirectoryUnavailable`."""

    @abc.abstractmethod
    def lookup(self, username: str) -> DirectoryUser | None:
        """Find a person without a password (for SSO refresh and admin views)."""

    def ping(self) -> None:
        """Raise :class:`DirectoryUnavailable` when the directory cannot be used."""

    def spend_like_failure(self, username: str, password: str) -> None:
        """Do the work a refused login costs here, without answering anything.

        A chain calls it on the directories it did not ask, so that a refusal takes as
        long whichever directory refused (no timing tells which accounts exist where).
        """
