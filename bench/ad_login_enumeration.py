"""Benchmark: AD at login (its added cost) and no user enumeration by timing (issue 15).

    .venv/bin/python -m bench.ad_login_enumeration [--attempts 200] [--first-logins 40]

Against a throw-away Samba AD DC on this machine (5,000 users, like the tests; needs root
and Samba), with the real app (``create_app``) on a SQLite store (``--database-url`` for
another) after a full ``stsctl ad sync``:

1. **AD at login.** The DC's own bind on a pooled connection, beside a whole AD login
   as the login page runs it (find, bind, transitive groups read fresh, and the store
   write of :mod:`connectors.ldap.provision`), for people already stored (nothing to
   change) and for first logins of people created in AD after the sync. Target: p50 at
   most 10 ms above the bind.
2. **Enumeration.** ``--attempts`` refused logins each of an unknown name, a wrong
   password, a disabled and a locked account, interleaved, measured on the directory
   alone (LdapDirectory.authenticate, the AD part; with and without the hold of the
   refusals that did not bind as the account, so its effect shows) and through the
   login page (POST /login/password on the app: AD, then the local directory; the
   throttle set high *for this benchmark only*). Target: p50 of unknown vs wrong
   password within 10 %.

The DC's lockout is switched off in this throw-away domain only, so that 200 wrong
passwords stay wrong passwords instead of locking the accounts. Argon2 for the local
directory's dummy check uses the tests' (OWASP minimum) cost unless ``--argon2 product``.
Writes bench/results/ad_enumeration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ldap3 import MODIFY_ADD, MODIFY_REPLACE  # noqa: E402

from app import create_app, initialise, setup_keys, setup_store  # noqa: E402
from connectors.base import AuthenticationFailed  # noqa: E402
from connectors.chain import ChainDirectory  # noqa: E402
from connectors.ldap import LdapDirectory, open_directory  # noqa: E402
from connectors.ldap.directory import LdapDirectoryUser  # noqa: E402
from connectors.ldap.sync import DirectorySync, LogProgress  # noqa: E402
from idp.throttle import ThrottlePolicy  # noqa: E402
from settings import load_settings  # noqa: E402
from tests.integration.samba import (  # noqa: E402
    BASE_DN,
    CVR,
    OU_BENCH,
    build_seed,
    make_password,
    provision_seeded,
    samba_missing,
)
from tests.login_kit import FAST_ARGON2, Browser, login_of  # noqa: E402

KINDS = ("unknown", "wrong", "disabled", "locked")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed_ms(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 2),
        "p90": round(percentile(values, 90), 2),
        "p99": round(percentile(values, 99), 2),
        "mean": round(statistics.mean(values), 2),
    }


def refused(function: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            function()
        except AuthenticationFailed:
            return
        raise AssertionError("a login that must be refused was accepted")

    return run


def interleaved(
    attempts: int, runs: dict[str, Callable[[int], Callable[[], Any]]]
) -> dict[str, list[float]]:
    """``attempts`` timings per kind, the kinds taking turns (drift hits all alike)."""
    samples: dict[str, list[float]] = {kind: [] for kind in runs}
    for index in range(attempts):
        order = list(runs) if index % 2 == 0 else list(reversed(runs))
        for kind in order:
            samples[kind].append(timed_ms(runs[kind](index)))
    return samples


def add_people(dc: Any, password: str, names: list[str], group_dn: str) -> list[str]:
    admin = dc.admin()
    dns = []
    try:
        for name in names:
            dn = f"CN={name},{OU_BENCH}"
            ok = admin.add(
                dn,
                ["top", "person", "organizationalPerson", "user"],
                {
                    "sAMAccountName": name,
                    "givenName": "Ny",
                    "sn": name,
                    "userPrincipalName": f"{name}@sts.test",
                    "unicodePwd": f'"{password}"'.encode("utf-16-le"),
                    "userAccountControl": "512",
                },
            )
            assert ok, admin.result
            dns.append(dn)
        admin.modify(group_dn, {"member": [(MODIFY_ADD, dns)]})
    finally:
        admin.unbind()
    return dns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--logins", type=int, default=300, help="stored-user logins and binds")
    parser.add_argument("--first-logins", type=int, default=40)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--argon2", choices=("tests", "product"), default="tests")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "ad_enumeration.json"
    )
    args = parser.parse_args()
    reason = samba_missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sts-ad-enum-"))
    seed = build_seed(total_users=5000, large_group=2500, bench_users=20)
    dc = provision_seeded(work / "dc", seed)
    try:
        admin = dc.admin()
        # This throw-away domain only: no lockout, so wrong passwords stay wrong passwords.
        admin.modify(BASE_DN, {"lockoutThreshold": [(MODIFY_REPLACE, ["0"])]})
        admin.unbind()
        env = {
            "STS_DATA_DIR": str(work / "var"),
            "STS_LOG_LEVEL": "ERROR",
            "STS_DEMO_LOGIN_PAGE": "true",
            "STS_LDAP_URLS": dc.url("ldaps"),
            "STS_LDAP_BASE_DN": BASE_DN,
            "STS_LDAP_BIND_DN": seed.service_dn,
            "STS_LDAP_BIND_PASSWORD": seed.service_password,
            "STS_LDAP_CA_FILE": str(dc.ca_file),
            "STS_LDAP_CVR": CVR,
            "STS_LDAP_KLE_ATTRIBUTE": "departmentNumber",
            **(FAST_ARGON2 if args.argon2 == "tests" else {}),
        }
        if args.database_url:
            env["STS_DATABASE_URL"] = args.database_url
        settings = load_settings(env)
        database = setup_store(settings)
        initialise(settings, database, setup_keys(settings))
        sync_directory = open_directory(settings)
        DirectorySync(sync_directory, database, progress=LogProgress(every=10**9)).run(full=True)
        sync_directory.close()
        database.dispose()

        app = create_app(settings)
        services = login_of(app)
        # The benchmark's own attempts must not meet the login throttle (product
        # defaults untouched): one source address makes hundreds of failures here.
        services.throttle.policy = ThrottlePolicy(account_free=10**6, address_free=10**6)
        chain = services.directory
        assert isinstance(chain, ChainDirectory)
        ad = chain.directories[0]
        assert isinstance(ad, LdapDirectory)
        provisioning = services.provisioning
        assert provisioning is not None

        bench = [u for key, u in seed.users.items() if key.startswith("bench")]
        names = [u.sam for u in bench]
        dns = [u.dn for u in bench]

        def login_and_store(name: str) -> None:
            person = ad.authenticate(name, seed.password)
            assert isinstance(person, LdapDirectoryUser)
            provisioning.store(person)

        for name in names:  # warm: pools, caches; stores the people once
            login_and_store(name)

        # -- 1. AD at login ----------------------------------------------------------------
        n = args.logins
        bind: list[float] = []
        login: list[float] = []
        authenticate: list[float] = []
        cached: list[float] = []

        def cached_login(name: str) -> None:
            """The login before AD at login: groups' nesting from the cache, no store write."""
            found = ad.search_pool.run(lambda c: ad._find(c, name))
            assert found is not None
            ad.verify_password(found[0], seed.password)
            ad.search_pool.run(lambda c: ad._to_user(c, *found))

        for i in range(n):
            name, dn = names[i % len(names)], dns[i % len(dns)]
            bind.append(timed_ms(partial(ad.verify_password, dn, seed.password)))
            login.append(timed_ms(partial(login_and_store, name)))
            authenticate.append(timed_ms(partial(ad.authenticate, name, seed.password)))
            cached.append(timed_ms(partial(cached_login, name)))
        first_names = [f"first{index:03d}" for index in range(args.first_logins)]
        first_dns = add_people(dc, seed.password, first_names, seed.groups["level3"])
        # A new account's very first bind makes the DC write its first logon (about 5 ms on
        # Samba): timed apart, so "first login" below is what the store write adds.
        first_bind = [timed_ms(partial(ad.verify_password, dn, seed.password)) for dn in first_dns]
        first = [timed_ms(partial(login_and_store, name)) for name in first_names]

        # -- 2. enumeration ------------------------------------------------------------------
        unknown_names = [f"ghost{index:02d}" for index in range(len(names))]
        disabled, locked = seed.users["disabled"].sam, seed.users["locked"].sam
        wrong_password = make_password()  # not the seed's: a wrong one

        def directory_runs() -> dict[str, Callable[[int], Callable[[], Any]]]:
            return {
                "unknown": lambda i: refused(
                    lambda: ad.authenticate(unknown_names[i % len(names)], seed.password)
                ),
                "wrong": lambda i: refused(
                    lambda: ad.authenticate(names[i % len(names)], wrong_password)
                ),
                "disabled": lambda i: refused(lambda: ad.authenticate(disabled, seed.password)),
                "locked": lambda i: refused(lambda: ad.authenticate(locked, seed.password)),
            }

        for _ in range(20):  # warm the record of refusals the hold draws on
            refused(lambda: ad.authenticate(names[0], wrong_password))()
        directory_padded = interleaved(args.attempts, directory_runs())
        held = ad._refusals.sample
        ad._refusals.sample = lambda: 0.0  # type: ignore[method-assign]  # not held
        directory_unpadded = interleaved(args.attempts, directory_runs())
        ad._refusals.sample = held  # type: ignore[method-assign]

        client = app.test_client()

        def page_attempt(username: str, password: str) -> Callable[[], Any]:
            browser = Browser(client)
            browser.start()  # not timed: the flow and the password page

            def post() -> None:
                answer = browser.submit(username=username, password=password)
                assert answer.status_code == 200, answer.status_code

            return post

        web = interleaved(
            args.attempts,
            {
                "unknown": lambda i: page_attempt(unknown_names[i % len(names)], seed.password),
                "wrong": lambda i: page_attempt(names[i % len(names)], wrong_password),
                "disabled": lambda i: page_attempt(disabled, seed.password),
                "locked": lambda i: page_attempt(locked, seed.password),
            },
        )
        for member in chain.directories:
            close = getattr(member, "close", None)
            if close is not None:
                close()
        app.extensions["sts"].database.dispose()
    finally:
        dc.stop()

    def ratio(samples: dict[str, list[float]]) -> float:
        return round(percentile(samples["unknown"], 50) / percentile(samples["wrong"], 50), 3)

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "database": settings.effective_database_url.split(":", 1)[0],
        "argon2": args.argon2,
        "ad_at_login_ms": {
            "dc_bind": summary(bind),
            "authenticate_only": summary(authenticate),
            "before_nesting_cached_no_store": summary(cached),
            "login_with_store_write_stored_user": summary(login),
            "dc_first_bind_of_a_new_account": summary(first_bind),
            "first_login_created_in_store": summary(first),
            "added_p50_stored_user": round(percentile(login, 50) - percentile(bind, 50), 2),
            "added_p50_first_login": round(percentile(first, 50) - percentile(bind, 50), 2),
        },
        "attempts": args.attempts,
        "enumeration_directory_ms": {k: summary(v) for k, v in directory_padded.items()},
        "enumeration_directory_unpadded_ms": {k: summary(v) for k, v in directory_unpadded.items()},
        "enumeration_login_page_ms": {k: summary(v) for k, v in web.items()},
        "unknown_vs_wrong_p50_ratio": {
            "directory": ratio(directory_padded),
            "directory_unpadded": ratio(directory_unpadded),
            "login_page": ratio(web),
        },
    }
    at_login = result["ad_at_login_ms"]
    print(f"machine: {os.cpu_count()} CPUs, load average {result['machine']['load_average']}")
    print(f"\nAD at login ({n} logins of stored people, {args.first_logins} first logins), ms")
    print(f"{'measure':48} {'p50':>8} {'p99':>8}")
    for label, key in (
        ("DC's own bind (pooled)", "dc_bind"),
        ("before: find, bind, nesting cached, no store", "before_nesting_cached_no_store"),
        ("authenticate (find, bind, groups fresh)", "authenticate_only"),
        ("login + store write, person already stored", "login_with_store_write_stored_user"),
        ("DC's first bind of a new account", "dc_first_bind_of_a_new_account"),
        ("first login: created in the store", "first_login_created_in_store"),
    ):
        print(f"{label:48} {at_login[key]['p50']:>8} {at_login[key]['p99']:>8}")
    print(
        f"added above the bind, p50: {at_login['added_p50_stored_user']} ms (stored), "
        f"{at_login['added_p50_first_login']} ms (first login); target ≤ 10 ms"
    )
    print(f"\nrefused logins, {args.attempts} attempts each, interleaved; p50 (p90) ms")
    print(f"{'path':36} " + " ".join(f"{k:>16}" for k in KINDS) + f" {'unknown/wrong':>14}")
    for label, samples in (
        ("directory (AD), refusal held", directory_padded),
        ("directory (AD), refusal not held", directory_unpadded),
        ("login page (AD + local, app)", web),
    ):
        cells = " ".join(
            f"{percentile(samples[k], 50):>8.2f} ({percentile(samples[k], 90):>5.1f})"
            for k in KINDS
        )
        print(f"{label:36} {cells} {ratio(samples):>14}")
    print("target: unknown/wrong p50 ratio within 0.90-1.10")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
