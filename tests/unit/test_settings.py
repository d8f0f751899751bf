"""Settings are typed and validated at start; errors name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import SettingsError, load_settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings({})
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.redis_url is None
    assert settings.rsa_key_bits == 2048
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("var/sts.db")


def test_environment_values_are_typed() -> None:
    settings = load_settings(
        {"STS_RSA_KEY_BITS": "3072", "STS_LDAP_TLS_INSECURE": "true", "STS_LDAP_TIMEOUT": "2.5"}
    )
    assert settings.rsa_key_bits == 3072
    assert settings.ldap_tls_insecure is True
    assert settings.ldap_timeout == 2.5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STS_RSA_KEY_BITS", "1024"),
        ("STS_BASE_URL", "idp.example.dk"),
        ("STS_DATABASE_URL", "mysql://x"),
        ("STS_REDIS_URL", "http://127.0.0.1:6379"),
        ("STS_LDAP_TIMEOUT", "soon"),
        ("STS_LDAP_CVR", "1234"),
        ("STS_KEY_RETIRED_DAYS", "-1"),
        ("STS_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_wrong_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_a_misspelt_variable_is_refused() -> None:
    with pytest.raises(SettingsError, match="STS_REDISURL: unknown setting"):
        load_settings({"STS_REDISURL": "redis://x"})


def test_ldap_urls_are_comma_separated_and_checked() -> None:
    settings = load_settings(
        {
            "STS_LDAP_URLS": "ldaps://dc1.x:636, ldaps://dc2.x:636",
            "STS_LDAP_BASE_DN": "DC=x",
            "STS_LDAP_CVR": "29189846",
        }
    )
    assert settings.ldap_urls == ["ldaps://dc1.x:636", "ldaps://dc2.x:636"]
    with pytest.raises(SettingsError, match="STS_LDAP_URLS"):
        load_settings(
            {
                "STS_LDAP_URLS": "http://dc1.x",
                "STS_LDAP_BASE_DN": "DC=x",
                "STS_LDAP_CVR": "29189846",
            }
        )


def test_ldap_group_strategy_reaches_the_connector_config() -> None:
    from connectors.ldap import LdapConfig

    env = {"STS_LDAP_URLS": "ldaps://dc1.x", "STS_LDAP_BASE_DN": "DC=x", "STS_LDAP_CVR": "29189846"}
    assert LdapConfig.from_settings(load_settings(env)).group_strategy == "auto"
    chosen = load_settings({**env, "STS_LDAP_GROUP_STRATEGY": "token_groups"})
    assert LdapConfig.from_settings(chosen).group_strategy == "token_groups"
    with pytest.raises(SettingsError, match="STS_LDAP_GROUP_STRATEGY"):
        load_settings({**env, "STS_LDAP_GROUP_STRATEGY": "by_name"})


def test_ldap_urls_without_base_dn_is_refused() -> None:
    with pytest.raises(SettingsError, match="STS_LDAP_BASE_DN"):
        load_settings({"STS_LDAP_URLS": "ldaps://dc1.x"})


def test_toml_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "sts.toml"
    config.write_text('base_url = "https://idp.kommune.dk"\nrsa_key_bits = 3072\n')
    settings = load_settings({"STS_CONFIG": str(config), "STS_RSA_KEY_BITS": "4096"})
    assert settings.base_url == "https://idp.kommune.dk"
    assert settings.rsa_key_bits == 4096
    assert settings.uses_https


def test_toml_file_with_unknown_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "sts.toml"
    config.write_text('base_urll = "https://idp.kommune.dk"\n')
    with pytest.raises(SettingsError, match=r"STS_CONFIG: .* unknown keys base_urll"):
        load_settings({"STS_CONFIG": str(config)})


def test_missing_toml_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"STS_CONFIG: file .* does not exist"):
        load_settings({"STS_CONFIG": str(tmp_path / "nope.toml")})


def test_plain_postgresql_url_uses_psycopg_driver() -> None:
    settings = load_settings({"STS_DATABASE_URL": "postgresql://u@db/sts"})
    assert settings.effective_database_url == "postgresql+psycopg://u@db/sts"


def test_ldap_password_comes_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("generated-at-test-time\n")
    settings = load_settings({"STS_LDAP_BIND_PASSWORD_FILE": str(secret)})
    assert settings.ldap_password() == "generated-at-test-time"


def test_a_refused_url_is_shown_without_its_password() -> None:
    with pytest.raises(SettingsError, match="STS_REDIS_URL") as refused:
        load_settings({"STS_REDIS_URL": "http://:hunter2@cache.example:6379/0"})
    assert "hunter2" not in str(refused.value)
    assert "http://:***@cache.example:6379/0" in str(refused.value)


def test_a_refused_password_setting_is_not_echoed() -> None:
    with pytest.raises(SettingsError, match="STS_LDAP_BIND_PASSWORD") as refused:
        load_settings({"STS_LDAP_BIND_PASSWORD": ["hunter2"]})  # type: ignore[dict-item]
    assert "hunter2" not in str(refused.value)
