"""Configuration against a real DC: good settings pass, each bad one is named; TLS,
StartTLS, failover, and a DC that stops while the server runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from connectors.base import AuthenticationFailed, DirectoryUnavailable
from connectors.ldap import LdapConfigurationError, check_configuration, open_directory
from settings import load_settings
from store import migrate
from tests.integration.conftest import ldap_environment
from tests.integration.samba import SambaDC, Seed

DEAD_URL = "ldaps://127.0.0.1:1"  # nothing listens on port 1: connection refused at once


def _settings(dc: SambaDC, seed: Seed, **changes: str):
    return load_settings(ldap_environment(dc, seed, **changes))


def test_check_configuration_accepts_working_settings(samba_dc: SambaDC, samba_seed: Seed) -> None:
    result = check_configuration(_settings(samba_dc, samba_seed))
    assert result.usable == (samba_dc.url("ldaps"),) and result.active_directory


def test_unreachable_url_names_sts_ldap_urls(samba_dc: SambaDC, samba_seed: Seed) -> None:
    with pytest.raises(LdapConfigurationError, match=r"^STS_LDAP_URLS: "):
        check_configuration(_settings(samba_dc, samba_seed, STS_LDAP_URLS=DEAD_URL))


def test_wrong_service_password_names_sts_ldap_bind_password(
    samba_dc: SambaDC, samba_seed: Seed
) -> None:
    with pytest.raises(LdapConfigurationError, match=r"^STS_LDAP_BIND_PASSWORD: "):
        check_configuration(
            _settings(samba_dc, samba_seed, STS_LDAP_BIND_PASSWORD="Wrong-password-1")
        )


def test_wrong_base_dn_names_sts_ldap_base_dn(samba_dc: SambaDC, samba_seed: Seed) -> None:
    with pytest.raises(LdapConfigurationError, match=r"^STS_LDAP_BASE_DN: "):
        check_configuration(
            _settings(samba_dc, samba_seed, STS_LDAP_BASE_DN="OU=Findes ikke,DC=sts,DC=test")
        )


def test_untrusted_certificate_names_sts_ldap_ca_file(samba_dc: SambaDC, samba_seed: Seed) -> None:
    with pytest.raises(LdapConfigurationError, match=r"^STS_LDAP_CA_FILE: .*not trusted"):
        check_configuration(
            _settings(samba_dc, samba_seed, STS_LDAP_CA_FILE=str(samba_dc.untrusted_ca_file))
        )


def test_insecure_flag_skips_validation_with_a_warning(
    samba_dc: SambaDC, samba_seed: Seed, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(
        samba_dc,
        samba_seed,
        STS_LDAP_CA_FILE=str(samba_dc.untrusted_ca_file),
        STS_LDAP_TLS_INSECURE="true",
    )
    with caplog.at_level(logging.WARNING, logger="sts.ldap"):
        check_configuration(settings)
    assert "STS_LDAP_TLS_INSECURE" in caplog.text


def test_ldap_url_is_upgraded_with_starttls(samba_dc: SambaDC, samba_seed: Seed) -> None:
    ad = open_directory(_settings(samba_dc, samba_seed, STS_LDAP_URLS=samba_dc.url("ldap")))
    assert ad.authenticate("anna.jensen", samba_seed.password).username == "anna.jensen"
    ad.close()


def test_starttls_certificate_is_validated_too(samba_dc: SambaDC, samba_seed: Seed) -> None:
    with pytest.raises(LdapConfigurationError, match=r"^STS_LDAP_CA_FILE: "):
        check_configuration(
            _settings(
                samba_dc,
                samba_seed,
                STS_LDAP_URLS=samba_dc.url("ldap"),
                STS_LDAP_CA_FILE=str(samba_dc.untrusted_ca_file),
            )
        )


def test_fails_over_from_a_dead_first_url_to_a_live_second(
    samba_dc: SambaDC, samba_seed: Seed
) -> None:
    settings = _settings(samba_dc, samba_seed, STS_LDAP_URLS=f"{DEAD_URL},{samba_dc.url('ldaps')}")
    ad = open_directory(settings)
    assert ad.authenticate("anna.jensen", samba_seed.password).username == "anna.jensen"
    assert check_configuration(settings).unusable == (DEAD_URL,)
    ad.close()


def test_dc_stopping_mid_run_gives_directory_unavailable(
    samba_dc: SambaDC, samba_seed: Seed
) -> None:
    ad = open_directory(_settings(samba_dc, samba_seed), dead_server_retry=0.0)
    ad.authenticate("anna.jensen", samba_seed.password)  # pooled connections are open now
    samba_dc.stop()
    try:
        with pytest.raises(DirectoryUnavailable):
            ad.authenticate("anna.jensen", samba_seed.password)
        with pytest.raises(DirectoryUnavailable):
            ad.ping()
    finally:
        samba_dc.start()
    assert ad.authenticate("anna.jensen", samba_seed.password).username == "anna.jensen"
    with pytest.raises(AuthenticationFailed):
        ad.authenticate("anna.jensen", "Not-the-password-1")
    ad.close()


def _cli_env(dc: SambaDC, seed: Seed, tmp_path: Path, **changes: str) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'sts.db'}"
    migrate.upgrade(url)
    return ldap_environment(dc, seed, STS_DATA_DIR=str(tmp_path), STS_DATABASE_URL=url, **changes)


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"STS_LDAP_URLS": DEAD_URL}, "STS_LDAP_URLS"),
        ({"STS_LDAP_BIND_PASSWORD": "Wrong-password-1"}, "STS_LDAP_BIND_PASSWORD"),
        ({"STS_LDAP_BASE_DN": "OU=Findes ikke,DC=sts,DC=test"}, "STS_LDAP_BASE_DN"),
        ({"STS_LDAP_CA_FILE": "untrusted"}, "STS_LDAP_CA_FILE"),
    ],
)
def test_stsctl_ad_sync_names_the_bad_setting(
    samba_dc: SambaDC, samba_seed: Seed, tmp_path: Path, change: dict[str, str], setting: str
) -> None:
    if change.get("STS_LDAP_CA_FILE") == "untrusted":
        change = {"STS_LDAP_CA_FILE": str(samba_dc.untrusted_ca_file)}
    env = _cli_env(samba_dc, samba_seed, tmp_path, **change)
    result = CliRunner().invoke(main, ["ad", "sync"], env=env)
    assert result.exit_code != 0
    assert f"Error: {setting}: " in result.output


def test_missing_ca_file_is_refused_before_connecting(
    samba_dc: SambaDC, samba_seed: Seed, tmp_path: Path
) -> None:
    with pytest.raises(LdapConfigurationError, match=r"^STS_LDAP_CA_FILE: .*does not exist"):
        check_configuration(
            _settings(samba_dc, samba_seed, STS_LDAP_CA_FILE=str(tmp_path / "none.pem"))
        )
