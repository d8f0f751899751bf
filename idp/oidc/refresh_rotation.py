"""Refresh-token rotation with reuse detection (RFC 9700 §4.14.2, RFC 6749 §6).

Every use of a refresh token takes it from the store and issues a new one in the same
family (same grant id, same end time; rotation never extends a login). A token that was
already rotated and comes back means two parties hold it: the whole family is revoked,
the honest client included, which is what the BCP asks. Privileges are resolved anew
at each refresh, so a withdrawn role disappears at the next refresh. A family keeps its
RFC 8707 resource (:mod:`idp.oidc.resource`): a refresh may name it, never change it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from sqlalchemy import select

from idp.login.active import epoch_seconds
from idp.oidc.access_token import TokenSubject
from idp.oidc.authorization_code import subject_for_login
from idp.oidc.clients import AUTH_METHODS
from idp.oidc.provider import Provider
from idp.oidc.resource import granted_resource, requested_resource
from idp.oidc.storage import Login, RefreshGrant
from store.models import User


class RotatingRefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def provider(self) -> Provider:
        return self.server.provider

    def _validate_request_token(self, client: Any) -> RefreshGrant:
        token = self.request.form.get("refresh_token")
        if not token:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        if len(token) > 200:
            raise InvalidGrantError("unknown refresh token")
        store = self.provider.store
        asked = requested_resource(
            self.request.payload.datalist, client, self.provider.services.settings
        )
        self.request.requested_resource = asked
        if asked is not None:
            # A refused resource must not spend the refresh token (its next use would
            # look like reuse and end the family), so compare before taking it.
            current = store.peek_refresh_token(token)
            if current is not None and current.check_client(client):
                granted_resource(asked, current.resource, client, may_widen=False)
        use = store.use_refresh_token(token)
        if use.grant is None:
            if use.reused_family:
                store.revoke_grant(use.reused_family)
                self.request.audit_details = {
                    "refresh_reuse": True,
                    "revoked_grant": use.reused_family,
                }
                raise InvalidGrantError("refresh token already used; the whole grant is revoked")
            raise InvalidGrantError("unknown or expired refresh token")
        grant = use.grant
        if not grant.check_client(client):
            store.revoke_grant(grant.grant_id)
            raise InvalidGrantError("refresh token belongs to another client; grant revoked")
        if grant.is_expired() or store.grant_revoked(grant.grant_id):
            raise InvalidGrantError("the grant of this refresh token has ended")
        if not self._user_may_continue(grant.login):
            store.revoke_grant(grant.grant_id)
            self.request.audit_details = {"access_ended": True, "revoked_grant": grant.grant_id}
            raise InvalidGrantError("the user's access has ended; the user must sign in again")
        return grant

    def _user_may_continue(self, login: Login) -> bool:
        """The user is not disabled and their access was not ended after this login
        (``store.access``): read from the database at every refresh, on every node."""
        found = (
            self.provider.db()
            .execute(select(User.disabled, User.access_not_before).where(User.id == login.user_id))
            .first()
        )
        if found is None or found.disabled:
            return False
        not_before = epoch_seconds(found.access_not_before)
        # ``auth_time`` has whole seconds: a login in the second access ended counts as
        # before it (a new login that quick after a reset or a disable is not a person's).
        return not_before is None or login.auth_time >= math.ceil(not_before)

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        raise NotImplementedError("replaced by _validate_request_token")

    def authenticate_user(self, refresh_token: RefreshGrant) -> TokenSubject:
        client = self.request.client
        resource = granted_resource(
            getattr(self.request, "requested_resource", None),
            refresh_token.resource,
            client,
            may_widen=False,
        )
        return subject_for_login(
            self.provider,
            self.request,
            client,
            refresh_token.login,
            refresh_token.grant_id,
            refresh_token.expires_at,
            resource,
        )

    def revoke_old_credential(self, refresh_token: RefreshGrant) -> None:
        """Nothing to do: the old token was taken from the store when it was presented."""
