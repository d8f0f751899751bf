"""Bootstrap tokens at the STS: only what the signature covered is read, and a token for a
user who is unknown or disabled is a clean refusal (KOMBIT code 101), not an error on our
side (100). Driven through the SOAP door with the independent client, and the JSON door."""

from __future__ import annotations

import base64
import datetime as dt

from lxml import etree

from idp.saml.constants import ATTR_CVR, ATTR_PERSISTENT_UUID, DS, SAML
from idp.sts.assertion import build_bootstrap_token
from store.models import User
from tests.sts.kit import ANNE, CVR, EXT_ROLE, StsWorld
from tests.sts.soap_kit import issue, refusals, refused, request_for
from tests.sts.test_json_endpoint import post, request_body

BOB = "0b0b0b0b-1111-4222-8333-444444444444"  # a user of CVR without any privileges
GHOST = "9a9a9a9a-1111-4222-8333-444444444444"  # no such user


def _add_user(world: StsWorld, user_id: str, *, disabled: bool = False) -> None:
    with world.database.session() as session:
        session.add(
            User(id=user_id, cvr=CVR, username=user_id[:8], name="Bruger", disabled=disabled)
        )


def _bootstrap(world: StsWorld, user_id: str) -> etree._Element:
    return build_bootstrap_token(world.sts, user_id=user_id, cvr=CVR, now=dt.datetime.now(dt.UTC))


def _smuggle(bootstrap: etree._Element, *elements: etree._Element) -> None:
    """Put ``elements`` into the ds:KeyInfo of the enveloped signature, which the enveloped
    transform leaves out of the digest: the signature still verifies."""
    signature = bootstrap.find(f"{{{DS}}}Signature")
    assert signature is not None
    # by iteration: lxml's find() misses the nodes xmlsec's template created
    (key_info,) = (child for child in signature if child.tag == f"{{{DS}}}KeyInfo")
    key_info.extend(elements)


def _attribute(name: str, value: str) -> etree._Element:
    attribute = etree.Element(f"{{{SAML}}}Attribute", Name=name)
    etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
    return attribute


def test_a_user_smuggled_into_the_signature_of_a_bootstrap_token_is_not_read(
    sts_world: StsWorld,
) -> None:
    """Bob's bootstrap token with Anne's UUID added inside ds:Signature/ds:KeyInfo (not
    covered by the enveloped signature) must not give a token with Anne's privileges."""
    _add_user(sts_world, BOB)
    bootstrap = _bootstrap(sts_world, BOB)
    _smuggle(bootstrap, _attribute(ATTR_PERSISTENT_UUID, ANNE), _attribute(ATTR_CVR, CVR))
    token = issue(sts_world, sts_world.pki.proxy, on_behalf_of=bootstrap)
    name, _, _ = token.name_id.partition("|")
    assert name == BOB
    assert EXT_ROLE not in [privilege for _, privilege, _ in token.privileges]


def test_an_audience_smuggled_into_the_signature_does_not_make_a_bootstrap_token(
    sts_world: StsWorld,
) -> None:
    """An assertion of ours for another audience (e.g. a login assertion an SP received)
    cannot be turned into a bootstrap token by adding the STS as an Audience in KeyInfo."""
    _add_user(sts_world, BOB)
    bootstrap = build_bootstrap_token(
        sts_world.sts, user_id=BOB, cvr=CVR, now=dt.datetime.now(dt.UTC)
    )
    # re-sign the same token with another audience, as a login assertion to an SP has
    from idp.saml.signing import sign

    audience = bootstrap.find(
        f"{{{SAML}}}Conditions/{{{SAML}}}AudienceRestriction/{{{SAML}}}Audience"
    )
    assert audience is not None
    audience.text = "https://sp.example.test/metadata"
    signature = bootstrap.find(f"{{{DS}}}Signature")
    assert signature is not None
    bootstrap.remove(signature)
    with sts_world.app.app_context():
        sign(bootstrap, sts_world.sts.keys.signer())
    smuggled = etree.Element(f"{{{SAML}}}Audience")
    smuggled.text = sts_world.sts.issuer
    _smuggle(bootstrap, smuggled)
    fault = refused(sts_world, request_for(sts_world.pki.proxy, on_behalf_of=bootstrap).xml)
    assert fault.subcode == "101"
    assert "audience" in fault.reason


def test_a_comment_inside_the_user_of_a_bootstrap_token_is_refused(sts_world: StsWorld) -> None:
    """Comments are outside the digest: one inside the UUID would let the reader see a
    different (shorter) value than the one signed."""
    _add_user(sts_world, BOB)
    bootstrap = _bootstrap(sts_world, BOB)
    for value in bootstrap.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == BOB:
            value.text = BOB[:8]
            comment = etree.Comment("x")
            comment.tail = BOB[8:]
            value.append(comment)
    fault = refused(sts_world, request_for(sts_world.pki.proxy, on_behalf_of=bootstrap).xml)
    assert fault.subcode == "101"
    assert "must contain text only" in fault.reason  # refused as malformed, not as unknown
    assert refusals(sts_world)[-1].details["reason"] == "bad_bootstrap"


def test_a_bootstrap_token_for_an_unknown_user_is_refused_with_101(sts_world: StsWorld) -> None:
    fault = refused(
        sts_world,
        request_for(sts_world.pki.proxy, on_behalf_of=_bootstrap(sts_world, GHOST)).xml,
    )
    assert fault.subcode == "101", fault
    assert fault.code.endswith("Sender")
    assert GHOST not in fault.reason  # the caller learns nothing about our user store
    refused_events = refusals(sts_world)
    assert refused_events[-1].details["reason"] == "bootstrap_unknown_user"


def test_a_bootstrap_token_for_a_disabled_user_is_refused_with_101(sts_world: StsWorld) -> None:
    _add_user(sts_world, BOB, disabled=True)
    fault = refused(
        sts_world, request_for(sts_world.pki.proxy, on_behalf_of=_bootstrap(sts_world, BOB)).xml
    )
    assert fault.subcode == "101", fault
    assert refusals(sts_world)[-1].details["reason"] == "bootstrap_user_disabled"


def test_a_bootstrap_token_for_an_unknown_user_is_refused_at_the_json_door(
    sts_world: StsWorld,
) -> None:
    bootstrap = base64.b64encode(etree.tostring(_bootstrap(sts_world, GHOST))).decode()
    response = post(
        sts_world, request_body(sts_world.pki.proxy, OnBehalfOf=bootstrap), sts_world.pki.proxy
    )
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["error"] == "access_denied"
    assert response.get_json()["code"] == "101"
