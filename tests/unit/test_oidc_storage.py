"""The ephemeral OAuth state, on the in-process store and on Redis alike."""

from __future__ import annotations

import time

from idp.oidc.storage import CodeGrant, Login, OAuthStore, RefreshGrant, digest
from store.ephemeral import EphemeralState

LOGIN = Login("u", "29189846", "Substantial", 1_800_000_000, ("pwd", "otp"), "sid")


def code_grant(grant_id: str = "g1") -> CodeGrant:
    return CodeGrant("c", "https://rp/cb", "openid", LOGIN, grant_id, nonce="n")


def refresh_grant(grant_id: str = "g1", client_id: str = "c") -> RefreshGrant:
    return RefreshGrant(client_id, "openid", LOGIN, grant_id, int(time.time()) + 600)


def test_a_code_is_redeemed_once_and_reuse_names_its_grant(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    store.save_code("the-code", code_grant(), ttl=60)
    grant, reused = store.redeem_code("the-code")
    assert grant == code_grant() and reused is None
    assert store.redeem_code("the-code") == (None, "g1")
    assert store.redeem_code("never-issued") == (None, None)


def test_codes_and_refresh_tokens_are_stored_as_digests(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    store.save_code("secret-code", code_grant(), ttl=60)
    store.save_refresh_token("secret-refresh", refresh_grant())
    assert state.get("oidc:code:" + digest("secret-code")) is not None
    assert state.get("oidc:code:secret-code") is None
    assert state.get("oidc:rt:" + digest("secret-refresh")) is not None


def test_refresh_token_rotation_detects_reuse(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    store.save_refresh_token("r1", refresh_grant())
    first = store.use_refresh_token("r1")
    assert first.grant is not None and first.reused_family is None
    again = store.use_refresh_token("r1")
    assert again.grant is None and again.reused_family == "g1"


def test_revoking_a_grant_revokes_its_access_tokens(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    store.remember_access_token("jti-1", "g1", ttl=60)
    assert not store.access_token_revoked("jti-1")
    store.revoke_grant("g1")
    assert store.access_token_revoked("jti-1")


def test_a_single_access_token_can_be_revoked(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    store.revoke_access_token("jti-2", ttl=60)
    assert store.access_token_revoked("jti-2")
    assert not store.access_token_revoked("jti-3")


def test_ending_a_session_revokes_its_grants(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    store.save_code("a", code_grant("g1"), ttl=60)
    store.save_code("b", code_grant("g2"), ttl=60)
    assert store.revoke_session("sid") == ["g1", "g2"]
    assert store.grant_revoked("g1") and store.grant_revoked("g2")


def test_assertion_jti_is_accepted_once_per_client(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    assert store.first_use_of_assertion("c", "j", ttl=60)
    assert not store.first_use_of_assertion("c", "j", ttl=60)
    assert store.first_use_of_assertion("other", "j", ttl=60)


def test_a_parked_request_is_taken_once(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    ticket = store.park_request({"client_id": ["c"], "scope": ["openid"]}, ttl=60)
    assert store.take_request(ticket) == {"client_id": ["c"], "scope": ["openid"]}
    assert store.take_request(ticket) is None
    assert store.take_request("x" * 100) is None


def test_revoking_a_refresh_token_revokes_the_family(state: EphemeralState) -> None:
    store = OAuthStore(state, family_seconds=600)
    store.save_refresh_token("r1", refresh_grant())
    assert store.revoke_refresh_token("r1") is not None
    assert store.grant_revoked("g1") and store.peek_refresh_token("r1") is None
