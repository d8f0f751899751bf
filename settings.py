"""Typed settings, read from ``STS_*`` environment variables and an optional TOML file.

The TOML file is named by ``STS_CONFIG``; its keys are the variable names without the
``STS_`` prefix, in lower case (``base_url = "https://idp.example.dk"``). Environment
variables win over the file. A wrong value stops start-up with a message that names the
variable, so an operator can fix it without reading a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "STS_"


class SettingsError(Exception):
    """Raised when the configuration is invalid; the message names each bad variable."""


class Settings(BaseSettings):
    """Everything an operator can configure. Field names map to ``STS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    base_url: str = Field("http://127.0.0.1:8000", description="Issuer / public base URL")
    data_dir: Path = Field(Path("var"), description="Keys, SQLite file and other local data")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite file in the data directory"
    )
    database_pool_size: int = Field(
        5, ge=1, le=200, description="PostgreSQL connections each process keeps open"
    )
    database_max_overflow: int = Field(
        10, ge=0, le=500, description="Extra PostgreSQL connections a process opens under load"
    )
    database_prepared_statements: bool = Field(
        True,
        description="Let psycopg prepare frequent statements on the server; false behind "
        "PgBouncer in transaction pooling mode (before 1.21, or without max_prepared_statements)",
    )
    redis_url: str | None = Field(
        None, description="Redis URL (redis://, rediss://, unix:// or redis+sentinel://)"
    )
    rsa_key_bits: int = Field(
        2048, description="RSA key size for new signing keys (3072 for keys used past 2030)"
    )
    key_retired_days: int = Field(
        7, ge=0, le=365, description="Days a retired key stays published for verification"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    secret_key_file: Path | None = Field(
        None, description="File holding the cookie-signing secret; default in the data dir"
    )

    session_idle_minutes: int = Field(
        30, ge=1, le=24 * 60, description="SSO session ends after this many idle minutes"
    )
    session_absolute_hours: float = Field(
        10, gt=0, le=7 * 24, description="SSO session ends this many hours after login at most"
    )
    login_flow_minutes: int = Field(
        15, ge=1, le=120, description="Minutes a person has to finish the login pages"
    )
    argon2_time_cost: int = Field(3, ge=1, le=20, description="Argon2id iterations")
    argon2_memory_kib: int = Field(
        65536, ge=7168, le=4 * 1024 * 1024, description="Argon2id memory in KiB"
    )
    argon2_parallelism: int = Field(4, ge=1, le=64, description="Argon2id lanes")
    password_min_length: int = Field(
        12, ge=8, le=128, description="Shortest new password accepted on the change page"
    )
    throttle_account_free: int = Field(
        5,
        ge=1,
        le=100,
        description="Failed logins per account from one address before back-off starts "
        "(10x that from all addresses together)",
    )
    throttle_address_free: int = Field(
        30, ge=1, le=10000, description="Failed logins per source address before back-off"
    )
    throttle_base_seconds: float = Field(
        2, gt=0, le=600, description="First back-off; it doubles with each further failure"
    )
    throttle_max_seconds: float = Field(
        900, gt=0, le=86400, description="Longest lockout; lockouts always expire"
    )
    throttle_window_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60, description="Failures older than this are forgotten"
    )
    mfa_key_file: Path | None = Field(
        None, description="File holding the key that encrypts TOTP secrets; default in data dir"
    )
    mfa_enrolment: Literal["activation_code", "password"] = Field(
        "activation_code",
        description="What a first TOTP enrolment needs besides the password: a one-time "
        "activation code from a Brugeradministrator, or nothing (demo only)",
    )
    mfa_activation_code_hours: float = Field(
        72, gt=0, le=30 * 24, description="Lifetime of a TOTP activation code"
    )
    demo_login_page: bool = Field(
        False, description="Serve /login/test, a built-in test fagsystem (demo and tests only)"
    )

    ldap_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Domain controller URLs, tried in order"
    )
    ldap_base_dn: str | None = None
    ldap_bind_dn: str | None = None
    ldap_bind_password: SecretStr | None = None
    ldap_bind_password_file: Path | None = None
    ldap_ca_file: Path | None = None
    ldap_tls_insecure: bool = False
    ldap_cvr: str | None = Field(None, pattern=r"^\d{8}$")
    ldap_kle_attribute: str | None = None
    ldap_timeout: float = Field(5.0, gt=0, le=120)
    ldap_group_strategy: Literal["auto", "walk", "in_chain", "token_groups"] = Field(
        "auto", description="How transitive groups are read at login; auto is the memberOf walk"
    )

    saml_entity_id: str | None = Field(
        None, description="The IdP's SAML entityID; default <base_url>/saml/metadata"
    )
    saml_clock_skew_seconds: int = Field(
        180, ge=0, le=900, description="Clock skew allowed on a SAML request's IssueInstant"
    )
    saml_assertion_seconds: int = Field(
        300, ge=30, le=300, description="Lifetime of a SAML assertion (at most 5 minutes)"
    )
    saml_metadata_valid_hours: int = Field(
        168, ge=1, le=24 * 365, description="validUntil of the signed IdP metadata, from now"
    )

    oidc_code_seconds: int = Field(
        60, ge=10, le=600, description="Lifetime of an OAuth authorization code (single use)"
    )
    oidc_access_token_seconds: int = Field(
        900, ge=60, le=86400, description="Lifetime of access and ID tokens for a user"
    )
    oidc_system_token_seconds: int = Field(
        3600, ge=60, le=8 * 3600, description="Lifetime of client_credentials (system) tokens"
    )
    oidc_refresh_token_hours: float = Field(
        10, gt=0, le=30 * 24, description="A refresh-token family ends this long after login"
    )
    oidc_require_pkce: bool = Field(
        True, description="Require PKCE S256 from every client, not only public ones"
    )
    oidc_jwt_leeway_seconds: int = Field(
        60, ge=0, le=300, description="Clock skew allowed when verifying JWTs (bounded)"
    )
    admin_api_rate_limit: int = Field(
        1200, ge=0, description="Admin API requests per minute per caller (0: no limit)"
    )
    admin_api_user_clients: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="OIDC clients (comma-separated client ids) that may get a person's access "
        "token for the admin API (code flow with resource=<base_url>/api/v1); empty: none",
    )
    tls_client_cert_header: str | None = Field(
        None,
        description="Header in which a TLS-terminating proxy passes the client certificate "
        "(URL-encoded PEM, e.g. nginx $ssl_client_escaped_cert); read only from trusted proxies",
    )
    tls_trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (comma-separated) trusted to set the certificate "
        "header and X-Forwarded-For (the client address)",
    )
    # KOMBIT STS drop-in (idp/sts, README "KOMBIT STS drop-in"); tokens are issued by
    # <base_url>/runtime
    system_ca_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="PEM files (comma-separated) of the CAs anvendersystem certificates must "
        "chain to (e.g. OCES3); empty: registration alone (a warning at start)",
    )
    system_crl_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="CRL files (comma-separated, PEM or DER) of those CAs; a listed "
        "certificate is refused",
    )
    wstrust_allow_sha1: bool = Field(
        False, description="Accept RSA-SHA1 signatures and SHA-1 digests on WS-Trust requests"
    )
    saml_bootstrap_token: bool = Field(
        False,
        description="Put a bootstrap token (for KOMBIT STS on-behalf-of) in every SAML "
        "assertion, attribute https://data.gov.dk/model/core/eid/bootstrapToken",
    )

    @field_validator("ldap_urls", "tls_trusted_proxies", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("system_ca_files", "system_crl_files", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.split(",") if part.strip()]
        return value

    @field_validator("admin_api_user_clients", mode="before")
    @classmethod
    def _split_client_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("ldap_urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("ldap://", "ldaps://")):
                raise ValueError(f"{url!r} is not an ldap:// or ldaps:// URL")
        return value

    @field_validator("tls_trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @field_validator("rsa_key_bits")
    @classmethod
    def _check_key_bits(cls, value: int) -> int:
        if value not in (2048, 3072, 4096):
            raise ValueError("must be 2048, 3072 or 4096")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        if value and value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("redis://", "rediss://", "unix://", "redis+sentinel://")
        ):
            raise ValueError("must be a redis://, rediss://, unix:// or redis+sentinel:// URL")
        if value and value.startswith("redis+sentinel://"):
            from store.ephemeral import parse_sentinel_url

            parse_sentinel_url(value)  # ValueError names what is wrong
        return value or None

    @model_validator(mode="after")
    def _check_argon2(self) -> Settings:
        # OWASP's table (m=47104/t=1 ... m=7168/t=5) keeps memory x iterations >= ~36 MiB.
        if self.argon2_memory_kib * self.argon2_time_cost < 35840:
            raise ValueError(
                "STS_ARGON2_MEMORY_KIB x STS_ARGON2_TIME_COST is below OWASP's minimum "
                "(for example 19456 KiB with 2 iterations)"
            )
        return self

    @model_validator(mode="after")
    def _check_ldap(self) -> Settings:
        if self.ldap_urls and not (self.ldap_base_dn and self.ldap_cvr):
            raise ValueError("STS_LDAP_URLS needs STS_LDAP_BASE_DN and STS_LDAP_CVR as well")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sts.db').resolve()}"

    def database_options(self) -> dict[str, Any]:
        """Keyword arguments for ``store.db.Database`` (pool and driver options)."""
        return {
            "pool_size": self.database_pool_size,
            "max_overflow": self.database_max_overflow,
            "prepared_statements": self.database_prepared_statements,
        }

    @property
    def uses_https(self) -> bool:
        return self.base_url.startswith("https://")

    def ldap_password(self) -> str | None:
        """The service-account password, from the variable or from the named file."""
        if self.ldap_bind_password is not None:
            return self.ldap_bind_password.get_secret_value()
        if self.ldap_bind_password_file is not None:
            return self.ldap_bind_password_file.read_text(encoding="utf-8").strip()
        return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"STS_CONFIG: file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"STS_CONFIG: {path} is not valid TOML: {exc}") from exc
    known = set(Settings.model_fields)
    unknown = sorted(key for key in data if key not in known)
    if unknown:
        raise SettingsError(
            f"STS_CONFIG: {path} has unknown keys {', '.join(unknown)}; "
            f"known keys are the STS_ variables in lower case without the prefix"
        )
    return data


_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN_VALUE|PRIVATE")
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")


def _without_password(given: object) -> object:
    """A rejected value as shown to the operator: a URL's password replaced by ``***``."""
    if isinstance(given, str):
        return _URL_PASSWORD.sub(r"\g<scheme>:***@", given)
    if isinstance(given, list | tuple):
        return [_without_password(item) for item in given]
    return given


def _describe(error: dict[str, Any]) -> str:
    name = ENV_PREFIX + ".".join(str(part) for part in error["loc"][:1]).upper()
    if not error["loc"]:
        name = "configuration"
    given = error.get("input")
    if isinstance(given, dict) or given is None or _SECRET_NAME.search(name):
        shown = ""  # never echo a secret (or a whole table) into a log or a terminal
    else:
        shown = f" (got {_without_password(given)!r})"
    message = error["msg"].removeprefix("Value error, ")
    return f"{name}: {message}{shown}"


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read the settings; raise :class:`SettingsError` naming every invalid variable."""
    env = dict(os.environ if environ is None else environ)
    unknown = sorted(
        key
        for key in env
        if key.startswith(ENV_PREFIX)
        and key[len(ENV_PREFIX) :].lower() not in Settings.model_fields
        and key not in _NON_SETTING_VARIABLES
    )
    if unknown:
        raise SettingsError(
            f"{unknown[0]}: unknown setting; check the spelling against the README's "
            "configuration table"
        )
    values: dict[str, Any] = {}
    if env.get("STS_CONFIG"):
        values.update(_read_toml(Path(env["STS_CONFIG"])))
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key not in _NON_SETTING_VARIABLES:
            values[key[len(ENV_PREFIX) :].lower()] = value
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(dict(err)) for err in exc.errors())) from exc


# Variables with the STS_ prefix that are read by tools, not by the server itself.
_NON_SETTING_VARIABLES = frozenset(
    {
        "STS_CONFIG",
        "STS_REQUIRE_SERVICES",
        "STS_TEST_DATABASE_URL",
        "STS_TEST_REDIS_URL",
        "STS_WORKERS",
    }
)
