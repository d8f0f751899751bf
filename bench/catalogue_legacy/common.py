"""Shared pieces of the catalogue format: errors, paths, defaults and value checks."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SECTIONS = (
    "municipalities",
    "fagsystemer",
    "jobfunktionsroller",
    "users",
    "assignments",
    "serviceaftaler",
)

KLE_CODE = re.compile(r"\d{2}(\.\d{2}(\.\d{2})?)?|\d{2}(\.\d{2})?\.\*")
KLE_DYNAMIC = frozenset({"user_kle"})
ORGENHED_DYNAMIC = frozenset(
    {"user_orgunit", "user_orgunit_and_below", "managed_orgunits"}
    | {f"orgunit_level_{level}_and_below" for level in range(1, 7)}
)

# Values a key takes when the file leaves it out; the importer and the normaliser share them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "org_unit": {"parent": None, "kle": [], "manager": None},
    "fagsystem": {
        "entity_id": None,
        "personal_data": True,
        "min_loa": "Low",
        "saml": [],
        "oidc_clients": [],
        "constraint_types": [],
        "roles": [],
    },
    "saml_sp": {
        "sign_response": True,
        "sign_assertion": True,
        "encrypt_assertion": False,
        "require_signed_requests": False,
        "allow_idp_initiated": False,
    },
    "oidc_client": {
        "redirect_uris": [],
        "post_logout_redirect_uris": [],
        "token_endpoint_auth_method": "client_secret_basic",
        "client_secret_env": None,
        "grant_types": ["authorization_code"],
        "jwks": None,
        "tls_client_auth_subject_dn": None,
        "backchannel_logout_uri": None,
        "signing_alg": "RS256",
    },
    "constraint_type": {"values": None, "regex": None},
    "system_role": {"description": "", "constraints": []},
    "jobfunktionsrolle": {"description": "", "delegated_to": [], "grants": []},
    "grant": {"constraints": {}},
    "user": {
        "name": "",
        "given_name": None,
        "surname": None,
        "email": None,
        "org_unit": None,
        "kle": [],
        "password_env": None,
        "disabled": False,
    },
    "assignment": {
        "valid_from": None,
        "valid_to": None,
        "case_number": None,
        "inherit": False,
        "except_users": [],
        "constraints": {},
    },
    "serviceaftale": {"roles": [], "constraints": {}, "on_behalf_of": False, "status": "requested"},
}


@dataclass(frozen=True, order=True)
class CatalogueError:
    """One problem in a catalogue: where it is (``jobfunktionsroller[2].grants[0]``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(top)'}: {self.message}"


class CatalogueInvalid(Exception):
    """Raised when a catalogue has problems; nothing was changed. ``errors`` lists them all."""

    def __init__(self, errors: Sequence[CatalogueError]) -> None:
        self.errors = list(errors)
        super().__init__(
            f"the catalogue has {len(self.errors)} problem(s); nothing was changed:\n"
            + "\n".join(str(error) for error in self.errors)
        )


def join_path(*parts: str | int) -> str:
    """Render path parts as ``a.b[2].c``; string keys that are not identifiers are quoted."""
    rendered = ""
    for part in parts:
        if isinstance(part, int):
            rendered += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            rendered += f".{part}" if rendered else part
        else:
            rendered += f'["{part}"]'
    return rendered


def kind_list(kind: str | Iterable[str]) -> list[str]:
    """A fagsystem's ``kind`` as a sorted list, whether the file gave a string or a list."""
    return sorted({kind} if isinstance(kind, str) else set(kind))


def parse_date(value: str | None) -> dt.date | None:
    """An ISO date string as a date; None stays None. Raises ValueError if not a real date."""
    return None if value is None else dt.date.fromisoformat(value)


def is_kle_code(value: str) -> bool:
    """True for a syntactically valid KLE code (``27``, ``27.35``, ``27.35.04``, ``27.*``)."""
    return KLE_CODE.fullmatch(value) is not None
