"""The local SQL directory: argon2id, rehash on new parameters, equal work for unknown users."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from connectors.base import AuthenticationFailed
from connectors.local import LocalDirectory, PasswordHashing
from settings import Settings
from store.db import Database
from store.models import User
from tests.login_kit import PASSWORD, add_user, hashing, login_settings


@pytest.fixture
def config(tmp_path: Path) -> Settings:
    return login_settings(tmp_path)


@pytest.fixture
def directory(sqlite_database: Database, config: Settings) -> LocalDirectory:
    add_user(sqlite_database, config, "anne", upn="anne@test.dk")
    add_user(sqlite_database, config, "bo", disabled=True)
    return LocalDirectory(sqlite_database, hashing(config))


def reason(directory: LocalDirectory, username: str, password: str) -> str:
    with pytest.raises(AuthenticationFailed) as failure:
        directory.authenticate(username, password)
    return failure.value.reason


def test_the_right_password_gives_the_person(directory: LocalDirectory) -> None:
    person = directory.authenticate("anne", PASSWORD)
    assert person.username == "anne" and person.cvr == "29189765" and person.source == "local"


@pytest.mark.parametrize("name", ["ANNE", "anne@test.dk", "anne@TEST.dk", " anne "])
def test_other_forms_of_the_name_are_accepted(directory: LocalDirectory, name: str) -> None:
    assert directory.authenticate(name, PASSWORD).username == "anne"


def test_failures_carry_the_precise_reason(directory: LocalDirectory) -> None:
    assert reason(directory, "anne", "wrong") == "bad_password"
    assert reason(directory, "nobody", "wrong") == "unknown_user"
    assert reason(directory, "anne", "") == "empty_password"
    assert reason(directory, "bo", PASSWORD) == "disabled"
    assert reason(directory, "bo", "wrong") == "bad_password"  # disabled only told with the key


def test_a_hash_with_old_parameters_is_replaced_at_login(
    sqlite_database: Database, directory: LocalDirectory
) -> None:
    stronger = PasswordHashing(time_cost=3, memory_kib=19456, parallelism=1)
    LocalDirectory(sqlite_database, stronger).authenticate("anne", PASSWORD)
    with sqlite_database.session() as session:
        stored = session.query(User).filter_by(username="anne").one().password_hash
    assert stored is not None and "t=3" in stored
    assert not stronger.needs_rehash(stored)
    assert directory.authenticate("anne", PASSWORD).username == "anne"


def test_password_change_needs_the_current_password(
    sqlite_database: Database, directory: LocalDirectory
) -> None:
    user_id = directory.authenticate("anne", PASSWORD).uuid
    with pytest.raises(AuthenticationFailed):
        directory.change_password(user_id, "wrong", "a brand new password")
    directory.change_password(user_id, PASSWORD, "a brand new password")
    assert directory.authenticate("anne", "a brand new password").uuid == user_id


def test_unknown_users_take_as_long_as_wrong_passwords(directory: LocalDirectory) -> None:
    """Equal work (one argon2 verification) either way; medians of 20, a generous bound."""

    def median(username: str) -> float:
        times = []
        for _ in range(20):
            started = time.perf_counter()
            with pytest.raises(AuthenticationFailed):
                directory.authenticate(username, "not the password")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    known, unknown = median("anne"), median("nobody-here")
    assert 0.5 < unknown / known < 2.0, (known, unknown)
