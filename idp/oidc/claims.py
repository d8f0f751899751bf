"""Claims about the user: NSIS assurance levels as ``acr`` URIs, and userinfo claims.

``acr_values`` name NSIS levels by the URIs OIOSAML 3 uses in RequestedAuthnContext
(``https://data.gov.dk/concept/core/nsis/loa/Substantial``); the plain level names are
accepted too. Several values mean "any of these", so the lowest one is the minimum.
"""

from __future__ import annotations

from typing import Any

from idp.loa import LoA
from store.models import User

ACR_PREFIX = "https://data.gov.dk/concept/core/nsis/loa/"
ACR_VALUES = tuple(ACR_PREFIX + level.value for level in LoA)
_LEVELS = frozenset(level.value for level in LoA)
SPEC_VER = "1.0"  # KOMBIT's JWT spec_ver (REFERENCE-KOMBIT §1.9)
CLAIMS_SUPPORTED = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "azp",
    "at_hash",
    "cvr",
    "loa",
    "name",
    "given_name",
    "family_name",
    "email",
)


def acr_for(loa: str | LoA) -> str:
    return ACR_PREFIX + LoA(loa).value


def loa_from_acr_values(acr_values: str | None) -> LoA | None:
    """The lowest recognised level among ``acr_values``; unknown values are ignored."""
    levels = []
    for value in (acr_values or "").split():
        name = value.removeprefix(ACR_PREFIX)
        if name in _LEVELS:
            levels.append(LoA(name))
    return min(levels, key=lambda level: level.rank) if levels else None


def required_loa(fagsystem_min: str, acr_values: str | None) -> LoA:
    """What the login must reach: the fagsystem's minimum, raised by ``acr_values``."""
    floor = LoA(fagsystem_min)
    asked = loa_from_acr_values(acr_values)
    return asked if asked is not None and asked.rank > floor.rank else floor


def userinfo_claims(user: User, scopes: list[str], personal_data: bool) -> dict[str, Any]:
    """``sub`` and ``cvr`` always; profile and email claims by scope, never to a
    fagsystem registered without personal data."""
    claims: dict[str, Any] = {"sub": user.id, "cvr": user.cvr}
    if not personal_data:
        return claims
    if "profile" in scopes:
        for name, value in (
            ("name", user.name),
            ("given_name", user.given_name),
            ("family_name", user.surname),
        ):
            if value:
                claims[name] = value
    if "email" in scopes and user.email:
        claims["email"] = user.email
    return claims
