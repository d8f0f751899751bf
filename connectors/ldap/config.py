"""Connector configuration, built from the STS_LDAP_* settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from settings import Settings, SettingsError


class LdapConfigurationError(SettingsError):
    """The directory settings do not work; the message starts with the setting's name."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


@dataclass(frozen=True)
class DirectoryServer:
    """One domain controller from STS_LDAP_URLS."""

    url: str
    host: str
    port: int
    ldaps: bool

    @classmethod
    def parse(cls, url: str) -> DirectoryServer:
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise LdapConfigurationError("STS_LDAP_URLS", f"{url!r} is not an ldap(s)://host URL")
        ldaps = parts.scheme == "ldaps"
        return cls(url, parts.hostname, parts.port or (636 if ldaps else 389), ldaps)


GroupStrategy = Literal["auto", "walk", "in_chain", "token_groups"]


@dataclass(frozen=True)
class LdapConfig:
    """What the connector needs; ``ldap://`` URLs always upgrade with StartTLS."""

    servers: tuple[DirectoryServer, ...]
    base_dn: str
    cvr: str
    bind_dn: str | None = None
    bind_password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    tls_insecure: bool = False
    kle_attribute: str | None = None
    timeout: float = 5.0
    pool_size: int = 4
    group_strategy: GroupStrategy = "auto"
    dead_server_retry: float = 30.0  # seconds a failed DC is skipped before it is tried again

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> LdapConfig:
        if not settings.ldap_urls:
            raise LdapConfigurationError("STS_LDAP_URLS", "not set; Active Directory is off")
        if not settings.ldap_base_dn:
            raise LdapConfigurationError("STS_LDAP_BASE_DN", "not set")
        if not settings.ldap_cvr:
            raise LdapConfigurationError("STS_LDAP_CVR", "not set")
        try:
            password = settings.ldap_password()
        except OSError as exc:
            raise LdapConfigurationError(
                "STS_LDAP_BIND_PASSWORD_FILE", f"cannot be read: {exc}"
            ) from exc
        if settings.ldap_bind_dn and not password:
            raise LdapConfigurationError(
                "STS_LDAP_BIND_PASSWORD",
                "STS_LDAP_BIND_DN is set but no password (or STS_LDAP_BIND_PASSWORD_FILE) is",
            )
        if settings.ldap_ca_file is not None and not settings.ldap_ca_file.is_file():
            raise LdapConfigurationError(
                "STS_LDAP_CA_FILE", f"{settings.ldap_ca_file} does not exist"
            )
        values: dict[str, object] = {
            "servers": tuple(DirectoryServer.parse(url) for url in settings.ldap_urls),
            "base_dn": settings.ldap_base_dn,
            "cvr": settings.ldap_cvr,
            "bind_dn": settings.ldap_bind_dn,
            "bind_password": password,
            "ca_file": settings.ldap_ca_file,
            "tls_insecure": settings.ldap_tls_insecure,
            "kle_attribute": settings.ldap_kle_attribute,
            "timeout": settings.ldap_timeout,
            "group_strategy": settings.ldap_group_strategy,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
