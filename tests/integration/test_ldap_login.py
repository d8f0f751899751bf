"""Login against a real Samba AD DC: who may log in, who may not, and what we learn."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import AuthenticationFailed
from connectors.ldap import LdapDirectory, open_directory
from settings import Settings
from tests.integration.samba import SambaDC, Seed


def test_logs_in_by_sam_account_name_with_attributes(
    directory: LdapDirectory, samba_seed: Seed
) -> None:
    user = directory.authenticate("anna.jensen", samba_seed.password)
    assert (user.username, user.name, user.given_name, user.surname) == (
        "anna.jensen",
        "Anna Jensen",
        "Anna",
        "Jensen",
    )
    assert (user.email, user.upn, user.cvr, user.source) == (
        "anna@kommune.test",
        "anna.jensen@sts.test",
        "29189846",
        "ad",
    )


def test_logs_in_by_user_principal_name(directory: LdapDirectory, samba_seed: Seed) -> None:
    assert directory.authenticate("anna.jensen@sts.test", samba_seed.password).username == (
        "anna.jensen"
    )


def test_logs_in_by_mail(directory: LdapDirectory, samba_seed: Seed) -> None:
    assert directory.authenticate("anna@kommune.test", samba_seed.password).username == (
        "anna.jensen"
    )


def test_user_uuid_is_the_object_guid(
    directory: LdapDirectory, samba_dc: SambaDC, samba_seed: Seed
) -> None:
    import uuid

    admin = samba_dc.admin()
    admin.search(
        samba_seed.users["anna"].dn,
        "(objectClass=*)",
        search_scope="BASE",
        attributes=["objectGUID"],
    )
    raw = admin.response[0]["raw_attributes"]["objectGUID"][0]
    user = directory.authenticate("anna.jensen", samba_seed.password)
    assert user.uuid == str(uuid.UUID(bytes_le=raw))


def test_kle_codes_come_from_the_configured_attribute(
    directory: LdapDirectory, samba_seed: Seed
) -> None:
    # departmentNumber holds "27.35", "32.*junk", "27.35.04", "abc": only KLE codes count.
    assert directory.authenticate("anna.jensen", samba_seed.password).kle == ("27.35", "27.35.04")


def test_org_unit_and_manager_are_object_guids(directory: LdapDirectory, samba_seed: Seed) -> None:
    anna = directory.authenticate("anna.jensen", samba_seed.password)
    boss = directory.authenticate("bo.chef", samba_seed.password)
    assert anna.manager == boss.uuid
    assert anna.org_unit is not None and anna.org_unit != boss.org_unit


def _group_dns(user: Any) -> set[str]:
    return {g for g in user.groups if g.startswith("CN=")}


@pytest.mark.parametrize("strategy", ["walk", "in_chain", "token_groups"])
def test_resolves_groups_nested_three_deep(
    ldap_settings: Settings, samba_seed: Seed, strategy: str
) -> None:
    ad = open_directory(ldap_settings, group_strategy=strategy)
    user = ad.authenticate("anna.jensen", samba_seed.password)
    groups = samba_seed.groups
    assert {groups["level3"], groups["level2"], groups["level1"]} <= _group_dns(user)
    assert groups["unrelated"] not in _group_dns(user)
    ad.close()


def test_groups_carry_object_guids_beside_dns(directory: LdapDirectory, samba_seed: Seed) -> None:
    user = directory.authenticate("anna.jensen", samba_seed.password)
    dns = _group_dns(user)
    guids = [g for g in user.groups if not g.startswith("CN=")]
    assert len(guids) == len(dns) and all(len(g) == 36 for g in guids)


def test_primary_group_is_included(directory: LdapDirectory, samba_seed: Seed) -> None:
    user = directory.authenticate("anna.jensen", samba_seed.password)
    assert "CN=Domain Users,CN=Users,DC=sts,DC=test" in _group_dns(user)


def test_dn_with_comma_parentheses_and_star_resolves_groups(
    directory: LdapDirectory, samba_seed: Seed
) -> None:
    user = directory.authenticate("bo.jensen", samba_seed.password)
    assert {samba_seed.groups["level2"], samba_seed.groups["level1"]} <= _group_dns(user)
    assert samba_seed.groups["level3"] not in _group_dns(user)


@pytest.mark.parametrize(
    "username",
    [
        "*",
        ")(",
        "\\00",
        "\x00",
        "*)(objectClass=*)",
        "anna*",
        "*)(sAMAccountName=anna.jensen",
        "anna.jensen)(|(sAMAccountName=*",
    ],
)
def test_injection_attempts_find_nobody(
    directory: LdapDirectory, samba_seed: Seed, username: str
) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        directory.authenticate(username, samba_seed.password)
    assert refused.value.reason == "unknown_user"
    assert directory.lookup(username) is None


def test_empty_password_is_refused_without_any_bind(
    directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(directory.factory, "open", lambda *a, **k: calls.append("open"))
    with pytest.raises(AuthenticationFailed) as refused:
        directory.authenticate("anna.jensen", "")
    assert refused.value.reason == "empty_password"
    assert calls == []


def test_wrong_password_is_refused_as_bad_password(
    directory: LdapDirectory, samba_seed: Seed
) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        directory.authenticate("karl.forkert", "Not-the-password-1")
    assert refused.value.reason == "bad_password"


def test_unknown_user_is_refused(directory: LdapDirectory, samba_seed: Seed) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        directory.authenticate("ingen.saadan", samba_seed.password)
    assert refused.value.reason == "unknown_user"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("disabled", "disabled"),
        ("locked", "locked"),
        ("expired", "expired"),
        ("mustchange", "must_change_password"),
    ],
)
def test_refused_account_states_with_the_right_password(
    directory: LdapDirectory, samba_seed: Seed, key: str, reason: str
) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        directory.authenticate(samba_seed.users[key].sam, samba_seed.password)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("disabled", "disabled"),
        ("locked", "locked"),
        ("expired", "expired"),
        ("mustchange", "must_change_password"),
    ],
)
def test_dc_bind_sub_codes_map_to_reasons(
    directory: LdapDirectory, samba_seed: Seed, key: str, reason: str
) -> None:
    # Straight to the bind, as if the attribute check had raced with a change in AD.
    with pytest.raises(AuthenticationFailed) as refused:
        directory.verify_password(samba_seed.users[key].dn, samba_seed.password)
    assert refused.value.reason == reason


def test_lookup_finds_a_user_without_a_password(directory: LdapDirectory, samba_seed: Seed) -> None:
    user = directory.lookup("anna.jensen")
    assert user is not None and user.email == "anna@kommune.test"
    assert directory.lookup("ingen.saadan") is None


def test_logins_reuse_pooled_connections(
    directory: LdapDirectory, samba_seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory.authenticate("bench00", samba_seed.password)
    opened: list[object] = []
    real_open = directory.factory.open

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(directory.factory, "open", counting_open)
    for _ in range(5):
        directory.authenticate("bench01", samba_seed.password)
    assert opened == []
