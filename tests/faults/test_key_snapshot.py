"""One process: SAML metadata follows a rotation with the signing key, from one snapshot.

The fast companion of the two-node rotation test in test_multinode.py: the metadata cache
is not told about the rotation (another host ran `stsctl keys rotate`); once the key
ring's refresh has passed, the metadata lists the new next key, and the key SSO responses
are signed with is one the metadata lists, before and after.
"""

from __future__ import annotations

import time

from lxml import etree

from idp.saml.views import runtime
from settings import Settings
from tests.faults.cluster import metadata_certificates, signing_certificate
from tests.saml_kit import SpKeys, authn_request, make_world, redirect_query, response_of

SP = "https://ky.test/sp"


def test_metadata_follows_a_rotation_elsewhere_and_lists_every_key_that_signs(
    settings: Settings,
) -> None:
    world = make_world(settings)
    world.add_sp(SP, SpKeys.generate())
    with world.app.app_context():
        saml = runtime()
    saml.keyring._refresh = 0.3  # 5 s in production; the test does not wait that long

    def signed_by() -> str:
        first = world.client.get("/saml/sso?" + redirect_query(authn_request(SP)))
        if first.status_code != 200:  # no SSO session yet: log in
            first = world.login(first.headers["Location"])
        return signing_certificate(response_of(first)[1])

    def listed() -> set[str]:
        return metadata_certificates(world.client.get("/saml/metadata").data, "signing")

    before = listed()
    assert signed_by() in before
    services = world.app.extensions["sts"]
    with services.database.session() as db:
        services.keys.rotate(db, "RSA")
        new_next = next(
            row for row in services.keys.published(db) if row.kty == "RSA" and row.state == "next"
        )
    next_b64 = "".join(new_next.certificate_pem.split("-----")[2].split())
    time.sleep(0.4)  # no invalidate(): as when the rotation ran in another process
    after = listed()
    assert next_b64 in after  # the new next key is announced
    assert before <= after  # the retired key still listed (for signing)
    used = signed_by()
    assert used in after and used in listed()
    # The metadata itself is signed by a key it lists.
    root = etree.fromstring(world.client.get("/saml/metadata").data)
    assert signing_certificate(root) in after
