"""`stsctl ad sync` against a real Samba DC: full, incremental, disabling, membership."""

from __future__ import annotations

import threading
from pathlib import Path

from click.testing import CliRunner
from ldap3 import MODIFY_ADD, MODIFY_REPLACE
from sqlalchemy import func, select

from cli import main
from connectors import revocation
from connectors.ldap import LdapDirectory
from connectors.ldap.sync import DirectorySync
from store import migrate
from store.db import Database
from store.ephemeral import EphemeralState, MemoryState
from store.models import (
    AuditEvent,
    DirectorySyncState,
    Group,
    GroupMember,
    GroupNesting,
    Municipality,
    OrgUnit,
    User,
)
from tests.integration.conftest import ldap_environment
from tests.integration.samba import CVR, SambaDC, Seed, bulk_dn


def _group(session, dn: str) -> Group:
    group = session.scalar(select(Group).where(Group.dn == dn))
    assert group is not None, dn
    return group


def test_full_sync_copies_users_groups_and_org_units(
    directory: LdapDirectory, database: Database, samba_seed: Seed
) -> None:
    summary = DirectorySync(directory, database).run()
    assert summary.mode == "full"
    with database.session() as session:
        users = session.scalar(select(func.count()).select_from(User).where(User.source == "ad"))
        assert users is not None and users >= samba_seed.total_users
        assert summary.created == users
        anna = session.scalar(select(User).where(User.username == "anna.jensen"))
        assert anna is not None and anna.email == "anna@kommune.test"
        assert anna.kle == ["27.35", "27.35.04"] and not anna.disabled
        unit = session.get(OrgUnit, anna.org_unit_uuid)
        assert unit is not None and unit.name == "Jobcenter"
        parent = session.get(OrgUnit, unit.parent_uuid)
        assert parent is not None and parent.name == "Forvaltning"
        assert session.get(Municipality, CVR) is not None


def test_user_id_and_group_rows_match_what_login_reports(
    directory: LdapDirectory, sqlite_database: Database, samba_seed: Seed
) -> None:
    DirectorySync(directory, sqlite_database).run()
    person = directory.authenticate("anna.jensen", samba_seed.password)
    with sqlite_database.session() as session:
        assert session.get(User, person.uuid) is not None
        level3 = _group(session, samba_seed.groups["level3"])
        # A catalogue assignment `group: <objectGUID or DN>` resolves to this row either way.
        assert level3.object_guid in person.groups and level3.dn in person.groups


def test_group_over_1500_members_is_read_completely(
    directory: LdapDirectory, sqlite_database: Database, samba_seed: Seed
) -> None:
    DirectorySync(directory, sqlite_database).run()
    with sqlite_database.session() as session:
        large = _group(session, samba_seed.groups["large"])
        count = session.scalar(
            select(func.count()).select_from(GroupMember).where(GroupMember.group_id == large.id)
        )
    assert count == samba_seed.large_group_size == 2500


def test_group_nesting_three_deep_is_stored(
    directory: LdapDirectory, sqlite_database: Database, samba_seed: Seed
) -> None:
    DirectorySync(directory, sqlite_database).run()
    with sqlite_database.session() as session:
        ids = {k: _group(session, samba_seed.groups[k]).id for k in ("level1", "level2", "level3")}
        edges = set(session.execute(select(GroupNesting.parent_id, GroupNesting.child_id)))
    assert (ids["level1"], ids["level2"]) in edges and (ids["level2"], ids["level3"]) in edges


def test_incremental_sync_reads_only_changes(
    directory: LdapDirectory, sqlite_database: Database, samba_dc: SambaDC
) -> None:
    sync = DirectorySync(directory, sqlite_database)
    sync.run()
    admin = samba_dc.admin()
    admin.modify(bulk_dn(4900), {"displayName": [(MODIFY_REPLACE, ["Omdøbt Bruger"])]})
    summary = sync.run()
    assert summary.mode == "incremental"
    assert summary.updated == 1 and summary.created == 0
    with sqlite_database.session() as session:
        user = session.scalar(select(User).where(User.username == "bulk04900"))
        assert user is not None and user.name == "Omdøbt Bruger"
        state = session.get(DirectorySyncState, CVR)
        assert state is not None and state.highest_usn == summary.highest_usn


def test_full_flag_forces_a_full_sync(directory: LdapDirectory, sqlite_database: Database) -> None:
    sync = DirectorySync(directory, sqlite_database)
    sync.run()
    summary = sync.run(full=True)
    assert summary.mode == "full" and summary.created == 0 and summary.updated == 0


def test_membership_added_in_ad_reaches_the_store_incrementally(
    directory: LdapDirectory, sqlite_database: Database, samba_dc: SambaDC, samba_seed: Seed
) -> None:
    sync = DirectorySync(directory, sqlite_database)
    sync.run()
    samba_dc.admin().modify(
        samba_seed.groups["unrelated"], {"member": [(MODIFY_ADD, [bulk_dn(4910)])]}
    )
    assert sync.run().mode == "incremental"
    with sqlite_database.session() as session:
        group = _group(session, samba_seed.groups["unrelated"])
        user = session.scalar(select(User).where(User.username == "bulk04910"))
        assert user is not None
        assert session.get(GroupMember, (group.id, user.id)) is not None


def test_user_disabled_in_ad_is_disabled_and_loses_sessions(
    directory: LdapDirectory,
    sqlite_database: Database,
    samba_dc: SambaDC,
    state: EphemeralState,
) -> None:
    index = 4920 if isinstance(state, MemoryState) else 4921  # one AD user per state kind
    sync = DirectorySync(directory, sqlite_database, state)
    sync.run()
    with sqlite_database.session() as session:
        user = session.scalar(select(User).where(User.username == f"bulk{index:05d}"))
        assert user is not None and not user.disabled
        user_id = user.id
    state.set("session:s1", b"x", ttl=60)
    state.set("refresh-token:r1", b"x", ttl=60)
    revocation.register_session(state, user_id, "s1", ttl=60)
    revocation.register_refresh_token(state, user_id, "r1", ttl=60)
    published: list[bytes] = []
    got = threading.Event()

    def on_message(_channel: str, message: bytes) -> None:
        published.append(message)
        got.set()

    subscription = state.subscribe(revocation.USER_DISABLED_CHANNEL, on_message)
    try:
        samba_dc.admin().modify(bulk_dn(index), {"userAccountControl": [(MODIFY_REPLACE, ["546"])]})
        summary = sync.run()
        got.wait(5)
    finally:
        subscription.close()
    assert summary.disabled == 1 and summary.sessions_revoked == 2
    assert state.get("session:s1") is None and state.get("refresh-token:r1") is None
    assert published == [user_id.encode()]
    with sqlite_database.session() as session:
        assert session.get(User, user_id).disabled  # type: ignore[union-attr]
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "ad.user.disabled"))
        assert event is not None and event.object_id == user_id


def test_user_deleted_in_ad_is_disabled(
    directory: LdapDirectory, sqlite_database: Database, samba_dc: SambaDC
) -> None:
    sync = DirectorySync(directory, sqlite_database)
    sync.run()
    assert samba_dc.admin().delete(bulk_dn(4930))
    summary = sync.run()
    assert summary.mode == "incremental" and summary.disabled == 1
    with sqlite_database.session() as session:
        user = session.scalar(select(User).where(User.username == "bulk04930"))
        assert user is not None and user.disabled


def test_stsctl_ad_sync_prints_a_summary(
    samba_dc: SambaDC, samba_seed: Seed, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'sts.db'}"
    migrate.upgrade(url)
    env = ldap_environment(samba_dc, samba_seed, STS_DATA_DIR=str(tmp_path), STS_DATABASE_URL=url)
    first = CliRunner().invoke(main, ["ad", "sync"], env=env)
    assert first.exit_code == 0, first.output
    assert "full sync: users created" in first.output
    second = CliRunner().invoke(main, ["ad", "sync"], env=env)
    assert "incremental sync: users created 0, updated 0, disabled 0" in second.output


def test_sync_is_audited(directory: LdapDirectory, sqlite_database: Database) -> None:
    DirectorySync(directory, sqlite_database).run()
    with sqlite_database.session() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "ad.sync"))
    assert event is not None and event.details["mode"] == "full"
