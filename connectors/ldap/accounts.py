"""Account state: userAccountControl flags, accountExpires and AD bind sub-codes."""

from __future__ import annotations

import re
import time

UF_ACCOUNTDISABLE = 0x0002
UF_LOCKOUT = 0x0010
UF_NORMAL_ACCOUNT = 0x0200
UF_DONT_EXPIRE_PASSWD = 0x10000
UF_PASSWORD_EXPIRED = 0x800000

NEVER = (0, 0x7FFF_FFFF_FFFF_FFFF)
_EPOCH_AS_FILETIME = 116_444_736_000_000_000

# The "data NNN" part of AD's invalidCredentials message (ldap_bind result 49).
BIND_SUBCODES = {
    "525": "unknown_user",
    "52e": "bad_password",
    "530": "logon_hours",
    "531": "workstation",
    "532": "password_expired",
    "533": "disabled",
    "701": "expired",
    "773": "must_change_password",
    "775": "locked",
}
_DATA = re.compile(r"\bdata ([0-9a-fA-F]{3,8})\b")


def bind_failure_reason(message: str) -> str:
    """Map AD's bind error text (``... AcceptSecurityContext error, data 775, ...``) to an
    AuthenticationFailed reason; anything unrecognised counts as a bad password."""
    match = _DATA.search(message or "")
    if match is None:
        return "bad_password"
    return BIND_SUBCODES.get(match.group(1).lower(), "bad_password")


def filetime_to_unix(value: int) -> float:
    return (value - _EPOCH_AS_FILETIME) / 10_000_000


def unix_to_filetime(seconds: float) -> int:
    return int(seconds * 10_000_000) + _EPOCH_AS_FILETIME


def refusal_reason(
    user_account_control: int,
    computed: int | None,
    account_expires: int | None,
    pwd_last_set: int | None = None,
    now: float | None = None,
) -> str | None:
    """Why this account may not log in, or None. ``computed`` is
    msDS-User-Account-Control-Computed (lockout and password expiry live there)."""
    if user_account_control & UF_ACCOUNTDISABLE:
        return "disabled"
    if computed is not None and computed & UF_LOCKOUT:
        return "locked"
    moment = time.time() if now is None else now
    if account_expires not in (None, *NEVER) and filetime_to_unix(account_expires) <= moment:
        return "expired"
    if pwd_last_set == 0 and not user_account_control & UF_DONT_EXPIRE_PASSWD:
        return "must_change_password"
    if computed is not None and computed & UF_PASSWORD_EXPIRED:
        return "password_expired"
    return None
