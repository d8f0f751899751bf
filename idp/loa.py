"""NSIS assurance levels (sikringsniveauer) and the authentication methods that reach them."""

from __future__ import annotations

import enum


class LoA(enum.StrEnum):
    """NSIS assurance level (sikringsniveau), ordered Low < Substantial < High."""

    LOW = "Low"
    SUBSTANTIAL = "Substantial"
    HIGH = "High"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def satisfies(self, required: LoA) -> bool:
        """True when a login at this level is good enough for ``required``."""
        return self.rank >= required.rank


_RANK = {LoA.LOW: 1, LoA.SUBSTANTIAL: 2, LoA.HIGH: 3}

# The levels this server can reach: a password gives Low, password + TOTP Substantial.
HIGHEST_REACHABLE = LoA.SUBSTANTIAL


class Method(enum.StrEnum):
    """Authentication methods; names follow RFC 8176 (OIDC ``amr``) where one exists."""

    PASSWORD = "pwd"  # noqa: S105 - a method name, not a secret
    TOTP = "otp"
    RECOVERY_CODE = "rcode"


def loa_for(methods: set[str] | frozenset[str] | tuple[str, ...]) -> LoA:
    """The level reached by a set of methods: two factors are Substantial."""
    has_password = Method.PASSWORD in methods
    has_second = Method.TOTP in methods or Method.RECOVERY_CODE in methods
    return LoA.SUBSTANTIAL if has_password and has_second else LoA.LOW
