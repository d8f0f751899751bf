"""RFC 8707 resource indicators in a person's grants (code flow and refresh).

A person's access token is for the client's own fagsystem (``aud`` its entity ID, with
``priv``). ``resource=<base>/api/v1`` on the authorization request (§2.1), the token
request (§2.2) or both makes it a token for the administration API instead. Only clients
listed in ``STS_ADMIN_API_USER_CLIENTS`` may ask for that: any other fagsystem could
otherwise get, silently through single sign-on, a token that acts as its user in the
administration. Naming the client's own fagsystem is the same as naming nothing; any
other value, or more than one, is ``invalid_target``.

The resource chosen when the code is redeemed belongs to the grant: every refresh token
of the family keeps it, and a refresh request may name it again but not change it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from idp.oidc.api_bearer import api_audience
from idp.oidc.errors import InvalidTargetError, oauth_error
from settings import Settings


def require_api_client(client: Any, settings: Settings) -> None:
    """Refuse a client that may not get a person's token for the administration API
    (checked at every request for one, refreshes included: removing a client from the
    setting ends its tokens at their next refresh)."""
    if client.client_id not in settings.admin_api_user_clients:
        raise oauth_error(
            InvalidTargetError,
            f"client {client.client_id} may not ask for a person's token for the "
            "administration API",
        )


def requested_resource(
    datalist: Mapping[str, Sequence[str]], client: Any, settings: Settings
) -> str | None:
    """The resource a request names: the API's audience, the client's own audience, or
    None when it names none. Raises :class:`InvalidTargetError` for anything else."""
    values = set(datalist.get("resource", []))
    if not values:
        return None
    if len(values) > 1:
        raise oauth_error(InvalidTargetError, "ask for one resource at a time")
    resource = values.pop()
    if resource == api_audience(settings):
        require_api_client(client, settings)
        return resource
    if resource == client.audience:
        return resource
    raise oauth_error(InvalidTargetError, f"unknown resource {resource}")


def granted_resource(
    asked: str | None, granted: str | None, client: Any, *, may_widen: bool
) -> str | None:
    """The grant's resource after a token request that ``asked`` for one.

    ``granted`` is the API's audience or None (the fagsystem). With ``may_widen`` (code
    redemption, which RFC 8707 §2.2 lets name the resource) a grant made without one may
    become one for the API; a refresh may only repeat what its grant has.
    """
    if asked is None:
        return granted
    if asked == client.audience:
        if granted is None:
            return None
        raise oauth_error(InvalidTargetError, "this grant is for the administration API")
    if granted == asked or (granted is None and may_widen):
        return asked
    raise oauth_error(InvalidTargetError, "this grant is not for the administration API")
