"""Active Directory over LDAP: login, attributes, transitive groups, and sync.

``open_directory(settings)`` gives the :class:`LdapDirectory` for STS_LDAP_* settings;
``check_configuration(settings)`` verifies them against the domain controllers at
start-up and raises :class:`LdapConfigurationError` naming the setting that is wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ldap3 import BASE

from connectors.ldap.config import LdapConfig, LdapConfigurationError
from connectors.ldap.connection import ConnectionFactory, DirectoryConnectionError
from connectors.ldap.directory import LdapDirectory
from settings import Settings

__all__ = [
    "CheckResult",
    "LdapConfig",
    "LdapConfigurationError",
    "LdapDirectory",
    "check_configuration",
    "open_directory",
]

log = logging.getLogger("sts.ldap")


def open_directory(settings: Settings, **overrides: object) -> LdapDirectory:
    """The directory for these settings (no network traffic until first use)."""
    return LdapDirectory(LdapConfig.from_settings(settings, **overrides))


@dataclass(frozen=True)
class CheckResult:
    usable: tuple[str, ...]
    unusable: tuple[str, ...]
    active_directory: bool


def _bind_setting(message: str) -> str:
    # AD: data 525 = no such account (the DN is wrong); everything else is the password.
    return "STS_LDAP_BIND_DN" if "data 525" in message else "STS_LDAP_BIND_PASSWORD"


def check_configuration(settings: Settings, **overrides: object) -> CheckResult:
    """Connect to every configured DC with the service account and read the base DN.

    Raises :class:`LdapConfigurationError` (a SettingsError) whose message starts with
    the setting to fix. A DC that fails while another works is only logged: failover is
    what several URLs are for.
    """
    config = LdapConfig.from_settings(settings, **overrides)
    usable: list[str] = []
    failures = []
    is_ad = False
    for server in config.servers:
        single = LdapConfig(**{**config.__dict__, "servers": (server,)})
        try:
            connection = ConnectionFactory(single).open(config.bind_dn, config.bind_password)
        except DirectoryConnectionError as exc:
            failures.extend(exc.failures)
            continue
        try:
            directory = LdapDirectory(single)
            found = directory.search(
                connection, config.base_dn, "(objectClass=*)", ["objectGUID"], scope=BASE
            )
            if not found:
                raise LdapConfigurationError(
                    "STS_LDAP_BASE_DN",
                    f"{config.base_dn!r} does not exist on {server.url} "
                    f"(or the service account cannot read it)",
                )
            is_ad = directory._detect_ad(connection) or is_ad
        finally:
            connection.unbind()
        usable.append(server.url)
    for failure in failures:
        log.warning(
            "directory server %s unusable (%s): %s", failure.url, failure.kind, failure.message
        )
    if not usable:
        kinds = {f.kind for f in failures}
        detail = "; ".join(f"{f.url}: {f.message}" for f in failures)
        if "bind" in kinds:
            message = next(f.message for f in failures if f.kind == "bind")
            raise LdapConfigurationError(
                _bind_setting(message),
                f"the service account (STS_LDAP_BIND_DN={config.bind_dn}) cannot log in; "
                f"check the password and the DN ({message})",
            )
        if "tls" in kinds:
            raise LdapConfigurationError(
                "STS_LDAP_CA_FILE",
                "the domain controller's certificate is not trusted by "
                f"{config.ca_file or 'the system CA store'} ({detail})",
            )
        raise LdapConfigurationError("STS_LDAP_URLS", f"no domain controller reachable ({detail})")
    return CheckResult(tuple(usable), tuple(f.url for f in failures), is_ad)
