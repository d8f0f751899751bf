"""Two `stsctl serve` nodes (same STS_BASE_URL, keys directory, PostgreSQL and Redis)
behave as one IdP.

- An SSO session from node A answers an AuthnRequest on node B without a password.
- A code from A is redeemed at B; a refresh token rotated at B and replayed at A revokes
  the family.
- Logout on A ends the session on B.
- A revoked serviceaftale stops `client_credentials` on both nodes within 1 s.
- `stsctl keys rotate` is published by both nodes (SAML metadata and JWKS) within 10 s,
  no node ever signs with a key its own metadata/JWKS does not list (checked on every
  answer of a light load running through the rotation), and what was signed before the
  rotation keeps verifying.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
import requests.adapters
from sqlalchemy import select

from authz.cache import Scope, publish
from store.db import Database
from store.ephemeral import RedisState
from store.models import Serviceaftale, SigningKey
from tests.faults.cluster import (
    TOKEN_FORM,
    Browser,
    Cluster,
    LoginNeeded,
    Node,
    jwt_kid,
    metadata_certificates,
    redeem,
    refresh,
    signing_certificate,
    verify_jwt,
    wait_until,
)
from tests.oidc_kit import SECRET

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def set_agreement(group: Cluster, aftale_id: str, status: str, *, announce: bool = True) -> None:
    """Change a serviceaftale's status and announce it, as the admin service does."""
    database = Database(group.database_url)
    try:
        with database.session() as session:
            aftale = session.get(Serviceaftale, aftale_id)
            assert aftale is not None
            aftale.status = status
    finally:
        database.dispose()
    if announce:
        state = RedisState(group.env["STS_REDIS_URL"])
        try:
            publish(state, Scope(fagsystems={"SAPA", "ORG"}))
        finally:
            state.close()


def test_an_sso_session_from_one_node_answers_an_authn_request_on_the_other(
    pair: Cluster,
) -> None:
    a, b = pair.nodes
    browser = Browser()
    first = browser.saml_sso(a, password=True)
    again = browser.saml_sso(b, password=False)  # raises LoginNeeded if B asks
    for response in (first, again):
        assert response.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}Assertion") is not None


def test_a_code_from_one_node_is_redeemed_at_the_other_and_a_refresh_replay_revokes_the_family(
    pair: Cluster,
) -> None:
    a, b = pair.nodes
    browser = Browser()
    code, verifier = browser.code_flow(a)
    tokens = redeem(b, code, verifier)
    assert tokens.status_code == 200, tokens.text
    first_refresh = tokens.json()["refresh_token"]
    rotated = refresh(b, first_refresh)
    assert rotated.status_code == 200, rotated.text
    replay = refresh(a, first_refresh)  # the old one again, at the other node
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The replay revoked the whole family: the newest refresh token is dead on both nodes.
    newest = rotated.json()["refresh_token"]
    assert refresh(b, newest).status_code == 400
    assert refresh(a, newest).status_code == 400


def test_logout_on_one_node_ends_the_session_on_the_other(pair: Cluster) -> None:
    a, b = pair.nodes
    browser = Browser()
    code, verifier = browser.code_flow(a)
    tokens = redeem(a, code, verifier).json()
    browser.saml_sso(b, password=False)  # the session is good on B
    ended = browser.rp_logout(a, tokens["id_token"])
    assert ended.status_code in (200, 302, 303), ended.text[:500]
    with pytest.raises(LoginNeeded):
        browser.saml_sso(b, password=False)


def test_a_revoked_serviceaftale_stops_tokens_on_every_node_within_a_second(
    pair: Cluster,
) -> None:
    a, b = pair.nodes
    assert a.token().status_code == b.token().status_code == 200  # both have it cached
    try:
        set_agreement(pair, "sa-sapa-org", "revoked")
        began = time.monotonic()
        for node in (a, b):
            wait_until(lambda n=node: n.token().status_code == 400, 5, "still issuing")
        took = time.monotonic() - began
        assert took <= 1.0, f"revocation reached both nodes after {took:.2f} s"
        for node in (a, b):
            answer = node.token()
            assert answer.status_code == 400 and "access_token" not in answer.json()
    finally:
        set_agreement(pair, "sa-sapa-org", "approved")
        for node in (a, b):
            wait_until(lambda n=node: n.token().status_code == 200, 10, "not back")


# -- key rotation under a light load -------------------------------------------------------


class Load:
    """A few client threads: client_credentials and SAML SSO (with a session) on both
    nodes, each answer's signing key checked against that node's own published keys
    fetched just before and just after it."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.signed = 0
        self.statuses: list[int] = []
        self.threads = [
            threading.Thread(target=self._tokens, args=(node,), daemon=True) for node in nodes
        ] + [threading.Thread(target=self._saml, args=(node,), daemon=True) for node in nodes]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    # Each thread keeps one connection, so the keys it checks and the answer it judges
    # come from the same server process (a node with two workers has two processes).

    def _tokens(self, node: Node) -> None:
        own = requests.Session()
        own.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=1, pool_block=True))

        def kids() -> set[str]:
            return {
                key["kid"] for key in own.get(node.url + "/oidc/jwks", timeout=10).json()["keys"]
            }

        while not self.stop.is_set():
            before = kids()
            answer = own.post(
                node.url + "/oidc/token", data=TOKEN_FORM, auth=("sapa-system", SECRET), timeout=10
            )
            after = kids()
            self.statuses.append(answer.status_code)
            if answer.status_code != 200:
                self.problems.append(f"token {answer.status_code}: {answer.text[:200]}")
                continue
            kid = jwt_kid(answer.json()["access_token"])
            self.signed += 1
            if kid not in before or kid not in after:
                self.problems.append(f"JWT signed by {kid}, not in the JWKS of node {node.port}")

    def _saml(self, node: Node) -> None:
        browser = Browser()
        browser.session.mount(
            "http://", requests.adapters.HTTPAdapter(pool_maxsize=1, pool_block=True)
        )

        def listed() -> set[str]:
            answer = browser.session.get(node.url + "/saml/metadata", timeout=10)
            return metadata_certificates(answer.content, "signing")

        browser.saml_sso(node, password=True)
        while not self.stop.is_set():
            before = listed()
            response = browser.saml_sso(node, password=False)
            after = listed()
            certificate = signing_certificate(response)
            self.signed += 1
            if certificate not in before or certificate not in after:
                self.problems.append(f"SAML response signed by a key node {node.port} omits")


def test_a_key_rotation_is_published_by_every_node_within_10_s_and_nothing_is_signed_by_an_unlisted_key(  # noqa: E501
    pair: Cluster,
) -> None:
    a, b = pair.nodes
    old_token = a.token().json()["access_token"]
    old_saml = Browser().saml_sso(b, password=True)
    old_certificate = signing_certificate(old_saml)
    with Load(pair.nodes) as load:
        time.sleep(1)
        rotated = pair.stsctl("keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        began = time.monotonic()
        database = Database(pair.database_url)
        try:
            with database.session() as session:
                rows = session.scalars(select(SigningKey)).all()
                fresh = {r.kid: r for r in rows if r.state in ("active", "next")}
        finally:
            database.dispose()
        next_rsa = next(r for r in fresh.values() if r.kty == "RSA" and r.state == "next")
        next_certificate = "".join(next_rsa.certificate_pem.split("-----")[2].split())

        def published_everywhere() -> bool:
            # New connections each time, so both workers of node B are asked too.
            return all(
                set(fresh)
                <= {
                    key["kid"]
                    for key in requests.get(node.url + "/oidc/jwks", timeout=10).json()["keys"]
                }
                and next_certificate
                in metadata_certificates(
                    requests.get(node.url + "/saml/metadata", timeout=10).content, "signing"
                )
                for node in (a, b)
                for _ in range(3)
            )

        wait_until(published_everywhere, 10, "the rotation was not published within 10 s")
        took = time.monotonic() - began
        time.sleep(1)  # and signing goes on with the new keys, under the same checks
    assert not load.problems, load.problems[:5]
    assert load.signed > 10 and set(load.statuses) == {200}
    # What was signed before the rotation still verifies against what both nodes publish.
    for node in (a, b):
        verify_jwt(old_token, node.jwks())
        assert old_certificate in metadata_certificates(node.metadata(), "signing")

    # Every process signs with the new active key within the 5 s snapshot refresh.
    def new_key_signs() -> bool:
        return all(
            jwt_kid(
                requests.post(
                    node.url + "/oidc/token",
                    data=TOKEN_FORM,
                    auth=("sapa-system", SECRET),
                    timeout=10,
                ).json()["access_token"]
            )
            in fresh
            for node in (a, b)
            for _ in range(3)
        )

    wait_until(new_key_signs, 10, "an old key still signs 10 s after the rotation")
    print(f"rotation published by both nodes after {took:.2f} s")
