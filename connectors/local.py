"""The local directory: users in the SQL database with argon2id password hashes.

Used when there is no Active Directory, and for local accounts next to it. It does the
same work for an unknown username as for a known one (it verifies against a dummy hash),
so response time does not tell an attacker which accounts exist.
"""

from __future__ import annotations

import logging
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from connectors.base import AuthenticationFailed, Directory, DirectoryUnavailable, DirectoryUser
from store.db import Database
from store.models import Municipality, User

log = logging.getLogger(__name__)
MAX_USERNAME = 256
MAX_PASSWORD = 1024  # argon2 accepts more, but nobody types this much; bounds the work


class PasswordHashing:
    """argon2id with configurable cost; the defaults equal argon2-cffi's (RFC 9106 low-memory)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4):
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError):
            log.warning("stored password hash is not a valid argon2 hash")
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def dummy_verify(self, password: str) -> None:
        """Spend the time of one verification, for usernames that match no one."""
        self.verify(self._dummy, password)


def directory_user(user: User) -> DirectoryUser:
    return DirectoryUser(
        uuid=user.id,
        username=user.username,
        cvr=user.cvr,
        name=user.name,
        given_name=user.given_name,
        surname=user.surname,
        email=user.email,
        upn=user.upn,
        org_unit=user.org_unit_uuid,
        kle=tuple(user.kle or ()),
        source=user.source,
    )


def find_users(session: Session, username: str) -> list[User]:
    """Users a login name can mean: the username, the UPN, or ``username@kommune-domain``."""
    name = username.strip().lower()
    conditions = [func.lower(User.username) == name, func.lower(User.upn) == name]
    local, at, domain = name.rpartition("@")
    if at and local:
        conditions.append(
            (func.lower(User.username) == local)
            & User.cvr.in_(
                select(Municipality.cvr).where(func.lower(Municipality.domain) == domain)
            )
        )
    return list(session.scalars(select(User).where(or_(*conditions)).limit(2)))


class LocalDirectory(Directory):
    """Password check against the ``users`` table; rehashes when the cost settings change."""

    # Account-state reasons ("disabled") are only raised once the password was right, so
    # the login page may name them without telling strangers anything.
    states_after_password = True

    def __init__(self, database: Database, hashing: PasswordHashing) -> None:
        self.database = database
        self.hashing = hashing

    def authenticate(self, username: str, password: str) -> DirectoryUser:
        if not password:
            raise AuthenticationFailed("empty_password")
        if not username.strip() or len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            self.hashing.dummy_verify(password[:MAX_PASSWORD])
            raise AuthenticationFailed("invalid_username")
        try:
            with self.database.session() as session:
                return self._authenticate(session, username, password)
        except SQLAlchemyError as exc:
            raise DirectoryUnavailable(f"local directory (database): {exc}") from exc

    def _authenticate(self, session: Session, username: str, password: str) -> DirectoryUser:
        users = find_users(session, username)
        user = users[0] if len(users) == 1 else None
        stored = user.password_hash if user is not None and user.source == "local" else None
        if user is None or stored is None:
            self.hashing.dummy_verify(password)
            if len(users) > 1:
                raise AuthenticationFailed("ambiguous_username", "use username@kommune-domain")
            reason = "unknown_user" if user is None else "no_local_password"
            raise AuthenticationFailed(reason)
        if not self.hashing.verify(stored, password):
            raise AuthenticationFailed("bad_password")
        if user.disabled:
            raise AuthenticationFailed("disabled")
        if self.hashing.needs_rehash(stored):
            user.password_hash = self.hashing.hash(password)
            log.info("password rehashed with the current argon2 parameters")
        return directory_user(user)

    def spend_like_failure(self, username: str, password: str) -> None:
        """The work of refusing an unknown name: the same query and a dummy argon2 check."""
        try:
            with self.database.session() as session:
                find_users(session, username[:MAX_USERNAME])
        except SQLAlchemyError:
            pass  # only time is being spent; the real answer came from another directory
        self.hashing.dummy_verify(password[:MAX_PASSWORD])

    def lookup(self, username: str) -> DirectoryUser | None:
        try:
            with self.database.session() as session:
                users = find_users(session, username)
                return directory_user(users[0]) if len(users) == 1 else None
        except SQLAlchemyError as exc:
            raise DirectoryUnavailable(f"local directory (database): {exc}") from exc

    def change_password(self, user_id: str, current: str, new: str) -> None:
        """Replace a local user's password after checking the current one."""
        try:
            with self.database.session() as session:
                user = session.get(User, user_id)
                stored = user.password_hash if user is not None else None
                if user is None or user.source != "local" or stored is None:
                    raise AuthenticationFailed("no_local_password")
                if not self.hashing.verify(stored, current[:MAX_PASSWORD]):
                    raise AuthenticationFailed("bad_password")
                user.password_hash = self.hashing.hash(new)
        except SQLAlchemyError as exc:
            raise DirectoryUnavailable(f"local directory (database): {exc}") from exc

    def ping(self) -> None:
        try:
            self.database.ping()
        except SQLAlchemyError as exc:
            raise DirectoryUnavailable(f"local directory (database): {exc}") from exc
