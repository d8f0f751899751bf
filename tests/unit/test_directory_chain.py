"""AD first, then the local directory: who answers, and what is never skipped."""

from __future__ import annotations

import pytest

from connectors.base import AuthenticationFailed, Directory, DirectoryUnavailable, DirectoryUser
from connectors.chain import ChainDirectory
from connectors.local import LocalDirectory
from idp.login.account import _local_directory


class Fake(Directory):
    def __init__(
        self,
        users: dict[str, str],
        *,
        error: Exception | None = None,
        states_after_password: bool = False,
    ) -> None:
        self.users = users
        self.error = error
        self.states_after_password = states_after_password
        self.asked: list[str] = []

    def authenticate(self, username: str, password: str) -> DirectoryUser:
        self.asked.append(username)
        if self.error is not None:
            raise self.error
        if username not in self.users:
            raise AuthenticationFailed("unknown_user")
        if self.users[username] != password:
            raise AuthenticationFailed("bad_password")
        return DirectoryUser(uuid=f"id-{username}", username=username, cvr="29189846")

    def lookup(self, username: str) -> DirectoryUser | None:
        if username in self.users:
            return DirectoryUser(uuid=f"id-{username}", username=username, cvr="29189846")
        return None


def test_the_first_directory_that_knows_the_user_answers() -> None:
    ad, local = Fake({"anna": "a"}), Fake({"admin": "b"})
    chain = ChainDirectory([ad, local])
    assert chain.authenticate("anna", "a").uuid == "id-anna"
    assert local.asked == []
    assert chain.authenticate("admin", "b").uuid == "id-admin"


def test_a_wrong_password_in_ad_is_not_retried_locally() -> None:
    ad, local = Fake({"anna": "a"}), Fake({"anna": "local-password"})
    with pytest.raises(AuthenticationFailed) as refused:
        ChainDirectory([ad, local]).authenticate("anna", "local-password")
    assert refused.value.reason == "bad_password"
    assert local.asked == []


def test_an_unreachable_directory_is_never_skipped() -> None:
    ad = Fake({}, error=DirectoryUnavailable("no DC"))
    local = Fake({"anna": "a"})
    with pytest.raises(DirectoryUnavailable):
        ChainDirectory([ad, local]).authenticate("anna", "a")
    assert local.asked == []


def test_unknown_everywhere_is_unknown_user() -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        ChainDirectory([Fake({}), Fake({})]).authenticate("nobody", "x")
    assert refused.value.reason == "unknown_user"


def test_states_are_named_only_if_every_directory_checks_the_password_first() -> None:
    assert ChainDirectory([Fake({}, states_after_password=True)]).states_after_password
    mixed = ChainDirectory([Fake({}), Fake({}, states_after_password=True)])
    assert mixed.states_after_password is False


def test_lookup_asks_each_directory_in_turn() -> None:
    chain = ChainDirectory([Fake({"anna": "a"}), Fake({"admin": "b"})])
    found = chain.lookup("admin")
    assert found is not None and found.uuid == "id-admin"
    assert chain.lookup("nobody") is None


def test_password_change_finds_the_local_directory_inside_the_chain() -> None:
    local = LocalDirectory.__new__(LocalDirectory)
    assert _local_directory(ChainDirectory([Fake({}), local])) is local
    assert _local_directory(local) is local
    assert _local_directory(Fake({})) is None
