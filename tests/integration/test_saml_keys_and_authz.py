"""Key rollover seen through SAML, and privileges from the real authorization engine."""

from __future__ import annotations

import base64

from lxml import etree
from signxml import XMLVerifier

from authz.bpp import decode_bpp
from idp.saml.constants import ATTR_PRIVILEGES, SAML
from idp.saml.views import runtime
from settings import Settings
from store.models import Assignment, JfrGrant, Jobfunktionsrolle, SystemRole
from tests.saml_kit import (
    CVR,
    SpKeys,
    attributes,
    authn_request,
    make_world,
    redirect_query,
    response_of,
)

KY = "https://ky.test/sp"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"


def certificates_in(metadata: bytes) -> set[str]:
    root = etree.fromstring(metadata)
    return {
        "".join(c.text.split())
        for c in root.iter(f"{DS}X509Certificate")
        if c.getparent().getparent().getparent().tag == f"{MD}KeyDescriptor"
    }


def test_rotated_key_was_announced_before_it_signs(settings: Settings) -> None:
    keys = SpKeys.generate()
    world = make_world(settings)
    world.add_sp(KY, keys)
    before = world.client.get("/saml/metadata").data
    announced = certificates_in(before)
    assert len(announced) == 2  # active and next
    services = world.app.extensions["sts"]
    with services.database.session() as db:
        services.keys.rotate(db, "RSA")
    with world.app.app_context():
        saml = runtime()
    saml.keyring.invalidate()  # pick the rotation up now instead of within 5 s
    first = world.client.get("/saml/sso?" + redirect_query(authn_request(KY)))
    response = response_of(world.login(first.headers["Location"]))[1]
    used = "".join(response.findtext(f".//{DS}X509Certificate").split())
    assert used in announced  # the new active key was in the metadata before rotation
    pem = "-----BEGIN CERTIFICATE-----\n" + used + "\n-----END CERTIFICATE-----\n"
    XMLVerifier().verify(etree.tostring(response), x509_cert=pem)
    after_xml = world.client.get("/saml/metadata").data
    after = certificates_in(after_xml)
    # active + new next for signing and encryption, the retired one for signing only
    assert used in after and len(after) == 3 and announced < after
    (retired,) = announced - {used}
    uses = {
        d.get("use")
        for d in etree.fromstring(after_xml).iter(f"{MD}KeyDescriptor")
        if "".join(d.findtext(f".//{DS}X509Certificate").split()) == retired
    }
    assert uses == {"signing"}


def test_privileges_from_the_authorization_engine_for_that_fagsystem_only(
    settings: Settings,
) -> None:
    keys = SpKeys.generate()
    world = make_world(settings)
    del world.app.extensions["saml.privileges"]  # the real engine from here on
    world.add_sp(KY, keys)
    ky_role = "http://ky.test/roles/usersystemrole/laes/1"
    ksd_role = "http://ksd.test/roles/usersystemrole/laes/1"
    jfr = "http://test.dk/roles/jobrole/sagsbehandler/1"
    with world.app.extensions["sts"].database.session() as db:
        db.add(SystemRole(id=ky_role, fagsystem_id="ky", name="Læs sag"))
        db.add(SystemRole(id=ksd_role, fagsystem_id="ksd", name="Læs sag"))
        db.add(Jobfunktionsrolle(id=jfr, cvr=CVR, name="Sagsbehandler"))
        db.flush()
        db.add(JfrGrant(jfr_id=jfr, role_id=ky_role, position=0, constraints={}))
        db.add(JfrGrant(jfr_id=jfr, role_id=ksd_role, position=1, constraints={}))
        db.add(Assignment(cvr=CVR, jfr_id=jfr, subject_type="user", user_id=world.user_id))
    first = world.client.get("/saml/sso?" + redirect_query(authn_request(KY)))
    response = response_of(world.login(first.headers["Location"]))[1]
    value = attributes(response.find(f"{{{SAML}}}Assertion"))[ATTR_PRIVILEGES][0]
    assert "\n" not in value
    groups = decode_bpp(value)
    assert [g.privilege for g in groups] == [ky_role]
    assert groups[0].scope == f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"
    assert b"itst.dk" in base64.b64decode(value)
