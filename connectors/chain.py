"""Several directories behind one interface: AD first, then the local SQL directory.

With ``STS_LDAP_URLS`` set, Active Directory answers for the people it knows; people it
does not know (local accounts, e.g. administrators or other municipalities' users in the
catalogue) are looked up in the local directory. A directory that cannot be reached is
not skipped: the login reports "directory unavailable" rather than silently trying the
next one, which could let a stale local account through while AD is down.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import AuthenticationFailed, Directory, DirectoryUser


class ChainDirectory(Directory):
    """Ask each directory in turn until one knows the username."""

    def __init__(self, directories: Sequence[Directory]) -> None:
        if not directories:
            raise ValueError("a directory chain needs at least one directory")
        self.directories = list(directories)
        # Only name account states to the user if every member does so after the password.
        self.states_after_password = all(
            getattr(directory, "states_after_password", False) for directory in self.directories
        )

    def authenticate(self, username: str, password: str) -> DirectoryUser:
        last: AuthenticationFailed | None = None
        for index, directory in enumerate(self.directories):
            try:
                return directory.authenticate(username, password)
            except AuthenticationFailed as failure:
                if failure.reason != "unknown_user":
                    # Refused here: the directories after this one still spend what an
                    # unknown name costs them (the local one: a dummy argon2 check), so
                    # "wrong password in AD" takes as long as "nobody has this name".
                    for later in self.directories[index + 1 :]:
                        later.spend_like_failure(username, password)
                    raise
                last = failure
        assert last is not None
        raise last

    def lookup(self, username: str) -> DirectoryUser | None:
        for directory in self.directories:
            found = directory.lookup(username)
            if found is not None:
                return found
        return None

    def ping(self) -> None:
        for directory in self.directories:
            directory.ping()

    def spend_like_failure(self, username: str, password: str) -> None:
        for directory in self.directories:
            directory.spend_like_failure(username, password)
