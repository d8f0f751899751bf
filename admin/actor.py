"""Who makes an administrative call: identity for the audit trail, and the roles held.

A person signs in with an access token for the API (``kind`` user, ``id`` the username),
an integration with ``client_credentials`` (``kind`` client, ``id`` the client id), and
an operator at the command line is ``stsctl`` with the operator's rights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from authz.admin import OPERATOR, AdminPrincipal

ActorKind = Literal["user", "client", "cli"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str  # username, client id or "stsctl": what the audit trail's ``actor`` shows
    admin: AdminPrincipal  # the roles held, read at each request
    user_id: str | None = None  # the store's id of a person
    cvr: str | None = None  # a person's own municipality
    loa: str | None = None  # NSIS level of a person's login
    client_address: str | None = None
    request_id: str | None = None

    @property
    def holder(self) -> str:
        """The stable identity four-eyes compares: ``user:<id>``, ``client:<id>``, ``cli``."""
        return self.admin.holder

    def audit_details(self) -> dict[str, str | None]:
        return {"actor_kind": self.kind, "loa": self.loa, "client_address": self.client_address}


def command_line(name: str = "stsctl") -> Actor:
    """The operator at the command line: every right, audited as ``stsctl``."""
    return Actor("cli", name, AdminPrincipal("cli", ((OPERATOR, None),)))
