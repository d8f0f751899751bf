"""A real Samba AD domain controller for the LDAP tests, provisioned once per session.

Provisioning, seeding 5,000 users and starting takes about 15 s (see samba.py). Without
Samba installed the tests that use it skip locally and fail under STS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.ldap import LdapDirectory, open_directory
from settings import Settings, load_settings
from tests.conftest import service_missing
from tests.integration.samba import (
    BASE_DN,
    CVR,
    SambaDC,
    SambaUnavailable,
    Seed,
    build_seed,
    provision_seeded,
    samba_missing,
)


@pytest.fixture(scope="session")
def samba_seed() -> Seed:
    return build_seed()


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory, samba_seed: Seed) -> Iterator[SambaDC]:
    reason = samba_missing()
    if reason:
        service_missing("Samba AD DC", reason)
    try:
        dc = provision_seeded(tmp_path_factory.mktemp("samba") / "dc", samba_seed)
    except SambaUnavailable as exc:
        service_missing("Samba AD DC", str(exc))
    yield dc
    dc.stop()


def ldap_environment(dc: SambaDC, seed: Seed, **changes: str) -> dict[str, str]:
    env = {
        "STS_LDAP_URLS": dc.url("ldaps"),
        "STS_LDAP_BASE_DN": BASE_DN,
        "STS_LDAP_BIND_DN": seed.service_dn,
        "STS_LDAP_BIND_PASSWORD": seed.service_password,
        "STS_LDAP_CA_FILE": str(dc.ca_file),
        "STS_LDAP_CVR": CVR,
        "STS_LDAP_KLE_ATTRIBUTE": "departmentNumber",
        "STS_LDAP_TIMEOUT": "3",
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v != ""}


@pytest.fixture
def ldap_settings(samba_dc: SambaDC, samba_seed: Seed, tmp_path: Path) -> Settings:
    env = ldap_environment(samba_dc, samba_seed, STS_DATA_DIR=str(tmp_path / "var"))
    return load_settings(env)


@pytest.fixture
def directory(ldap_settings: Settings) -> Iterator[LdapDirectory]:
    ad = open_directory(ldap_settings)
    yield ad
    ad.close()
