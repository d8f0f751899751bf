"""Pure functions of the LDAP connector: escaping, account state, bind sub-codes, JFR names."""

from __future__ import annotations

import uuid

import pytest

from connectors.ldap import accounts
from connectors.ldap.directory import kle_codes, parent_dn
from connectors.ldap.escaping import (
    escape_dn_value,
    escape_filter_value,
    guid_filter_value,
    guid_to_uuid,
    sid_filter_value,
    sid_to_string,
)
from connectors.ldap.jfr_names import GroupNameJfrParser


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("*", r"\2a"),
        (")(", r"\29\28"),
        ("\\00", r"\5c00"),
        ("\x00", r"\00"),
        ("*)(objectClass=*)", r"\2a\29\28objectClass=\2a\29"),
        ("anna.jensen", "anna.jensen"),
    ],
)
def test_filter_values_are_escaped_per_rfc_4515(raw: str, escaped: str) -> None:
    assert escape_filter_value(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("Jensen, Bo", r"Jensen\, Bo"),
        (" lead", r"\ lead"),
        ("trail ", r"trail\ "),
        ("#1", r"\#1"),
        ('a+b"c;d<e>f=g\\', r"a\+b\"c\;d\<e\>f\=g\\"),
        ("nul\x00", r"nul\00"),
    ],
)
def test_dn_values_are_escaped_per_rfc_4514(raw: str, escaped: str) -> None:
    assert escape_dn_value(raw) == escaped


def test_object_guid_bytes_round_trip_to_uuid_and_filter() -> None:
    value = uuid.uuid4()
    assert guid_to_uuid(value.bytes_le) == str(value)
    assert guid_filter_value(str(value)) == "".join(f"\\{b:02x}" for b in value.bytes_le)


def test_sid_round_trips_between_binary_and_text() -> None:
    sid = "S-1-5-21-2737967779-3401917334-62715385-513"
    raw = bytes.fromhex(sid_filter_value(sid).replace("\\", ""))
    assert sid_to_string(raw) == sid


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("525", "unknown_user"),
        ("52e", "bad_password"),
        ("530", "logon_hours"),
        ("531", "workstation"),
        ("532", "password_expired"),
        ("533", "disabled"),
        ("701", "expired"),
        ("773", "must_change_password"),
        ("775", "locked"),
    ],
)
def test_ad_bind_sub_codes_map_to_reasons(code: str, reason: str) -> None:
    message = (
        f"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data {code}, v893"
    )
    assert accounts.bind_failure_reason(message) == reason


def test_unrecognised_bind_failure_counts_as_bad_password() -> None:
    assert accounts.bind_failure_reason("invalidCredentials") == "bad_password"


def test_account_expiry_in_the_past_refuses_and_never_does_not() -> None:
    past = accounts.unix_to_filetime(1_000_000)
    assert accounts.refusal_reason(512, 0, past, now=2_000_000) == "expired"
    assert accounts.refusal_reason(512, 0, 0) is None
    assert accounts.refusal_reason(512, 0, 0x7FFF_FFFF_FFFF_FFFF) is None


def test_disabled_wins_over_lockout() -> None:
    assert accounts.refusal_reason(514, accounts.UF_LOCKOUT, 0) == "disabled"
    assert accounts.refusal_reason(512, accounts.UF_LOCKOUT, 0) == "locked"


def test_kle_codes_keep_only_valid_codes_in_order() -> None:
    assert kle_codes(["27.35, 32.*", "27.35.04 x", "27.35"]) == ("27.35", "27.35.04")


def test_parent_dn_honours_escaped_commas() -> None:
    assert parent_dn(r"CN=Jensen\, Bo,OU=Nord,DC=x") == "OU=Nord,DC=x"


def test_group_name_parser_reads_role_and_cvr() -> None:
    parser = GroupNameJfrParser.preset("prefix-hash-cvr", "JFR_", "11111111")
    parsed = parser.parse("JFR_Sagsbehandler#29189846")
    assert parsed is not None and (parsed.role, parsed.cvr) == ("Sagsbehandler", "29189846")
    assert parser.parse("GG-Niveau1") is None


def test_group_name_parser_defaults_to_the_directory_cvr() -> None:
    parser = GroupNameJfrParser.preset("prefix", "ROLE-", "11111111")
    parsed = parser.parse("ROLE-Leder")
    assert parsed is not None and (parsed.role, parsed.cvr) == ("Leder", "11111111")


def test_group_name_parser_is_off_without_a_pattern() -> None:
    assert GroupNameJfrParser.from_config(None, "11111111") is None


def test_group_name_parser_needs_a_role_group() -> None:
    with pytest.raises(ValueError, match="role"):
        GroupNameJfrParser(r"^JFR_(.+)$", "11111111")
