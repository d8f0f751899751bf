"""OIO-BPP and JSON priv codecs: round trip, KOMBIT-style shapes, XSD, hostile input."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from authz.bpp import DIGST, ITST, decode_bpp, encode_bpp, encode_xml, schema, validate_xml
from authz.errors import CodecError
from authz.model import Constraint, PrivilegeGroup, cvr_scope
from authz.priv import decode_priv, encode_priv

KLE = "http://sts.kombit.dk/constraints/KLE/1"
ORG = "http://sts.kombit.dk/constraints/orgenhed/1"

# -- strategies --------------------------------------------------------------------------

_xml_char = st.characters(
    blacklist_categories=("Cs", "Cc", "Cn", "Co"), blacklist_characters=",\ufeff"
)
value = st.text(_xml_char, min_size=1, max_size=12).map(str.strip).filter(bool)
uri = st.builds(
    lambda host, path: f"http://{host}.test/{path}/1",
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.text("abcdefghijklmnopqrstuvwxyz/_-", min_size=1, max_size=16),
)
scope = st.text("0123456789", min_size=8, max_size=8).map(cvr_scope)
constraint = st.builds(Constraint, uri, st.lists(value, max_size=4).map(tuple))
group = st.builds(PrivilegeGroup, uri, scope, st.lists(constraint, max_size=3).map(tuple))
groups = st.lists(group, max_size=5)


@given(groups)
@settings(max_examples=150)
def test_bpp_round_trip(items: list[PrivilegeGroup]) -> None:
    assert decode_bpp(encode_bpp(items)) == items


@given(groups)
@settings(max_examples=60)
def test_bpp_output_validates_against_the_xsd(items: list[PrivilegeGroup]) -> None:
    validate_xml(encode_xml(items))


@given(groups)
@settings(max_examples=150)
def test_priv_round_trip(items: list[PrivilegeGroup]) -> None:
    assert decode_priv(encode_priv(items)) == items


# -- the encoding as KOMBIT consumers expect it -------------------------------------------


SAMPLE = [
    PrivilegeGroup(
        "http://ky.test/roles/usersystemrole/laes_sag/1",
        cvr_scope("29189846"),
        (Constraint(KLE, ("27.*", "32.01.05")), Constraint(ORG, ("a-1", "b-2"))),
    ),
    PrivilegeGroup("http://ky.test/roles/usersystemrole/udbetal/1", cvr_scope("11111111")),
]


def test_encoding_shape() -> None:
    encoded = encode_bpp(SAMPLE)
    assert "\n" not in encoded
    xml = base64.b64decode(encoded)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(xml)
    assert root.tag == f"{{{ITST}}}PrivilegeList"
    groups = list(root)
    assert [g.tag for g in groups] == ["PrivilegeGroup", "PrivilegeGroup"]  # unqualified
    assert groups[0].get("Scope") == "urn:dk:gov:saml:cvrNumberIdentifier:29189846"
    assert [c.tag for c in groups[0]] == ["Privilege", "Constraint", "Constraint"]
    assert groups[0][1].get("Name") == KLE and groups[0][1].text == "27.*,32.01.05"
    assert len(groups[0].findall("Privilege")) == 1
    validate_xml(xml)


def test_priv_shape() -> None:
    document = json.loads(base64.b64decode(encode_priv(SAMPLE)))
    assert document == {
        "privilegegroups": [
            {
                "privilege": "http://ky.test/roles/usersystemrole/laes_sag/1",
                "scope": "urn:dk:gov:saml:cvrNumberIdentifier:29189846",
                "constraints": [
                    {"name": KLE, "value": "27.*,32.01.05"},
                    {"name": ORG, "value": "a-1,b-2"},
                ],
            },
            {
                "privilege": "http://ky.test/roles/usersystemrole/udbetal/1",
                "scope": "urn:dk:gov:saml:cvrNumberIdentifier:11111111",
                "constraints": [],
            },
        ]
    }


def test_encoder_refuses_values_it_cannot_write() -> None:
    for bad in ("a,b", "", " padded"):
        item = PrivilegeGroup(
            "http://x.test/r/1", cvr_scope("12345678"), (Constraint(KLE, (bad,)),)
        )
        with pytest.raises(CodecError):
            encode_bpp([item])
        with pytest.raises(CodecError):
            encode_priv([item])


# -- decoding KOMBIT-style documents -------------------------------------------------------

KOMBIT_ITST = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile"
                   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:11111111">
    <Constraint Name="http://kombit.ssr.com/constraints/DRT1/1">value1</Constraint>
    <Constraint Name="http://kombit.ssr.com/constraints/DTR2/1">value2</Constraint>
    <Privilege>http://kombit.ssr.com/roles/servicesystemrole/role1/1</Privilege>
  </PrivilegeGroup>
  <PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:11111111">
    <Privilege>http://kombit.ssr.com/roles/servicesystemrole/role2/1</Privilege>
    <Constraint Name="http://kombit.ssr.com/constraints/DRT1/1">value3</Constraint>
    <Constraint Name="http://kombit.ssr.com/constraints/DTR2/1">value4</Constraint>
  </PrivilegeGroup>
</bpp:PrivilegeList>
"""

DIGST_DELEGATED = """<?xml version="1.0" encoding="UTF-8"?>
<p:PrivilegeList xmlns:p="http://digst.dk/oiosaml/basic_privilege_profile">
  <PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189846">
    <Privilege>http://sapa.test-kombit.dk/roles/usersystemrole/withDR/1</Privilege>
    <Constraint Name="http://organisation.test-kombit.dk/constraints/KLE"
      >2, 27.35.*,32.01.05</Constraint>
    <Constraint Name="http://organisation.test-kombit.dk/constraints/Sensitivity">High,Medium</Constraint>
  </PrivilegeGroup>
  <PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:11111111">
    <!-- delegated from another municipality -->
    <Constraint Name="http://organisation.test-kombit.dk/constraints/Sensitivity">Følsom</Constraint>
    <Privilege>http://sapa.test-kombit.dk/roles/usersystemrole/withDR/1</Privilege>
  </PrivilegeGroup>
</p:PrivilegeList>
"""


def test_decode_kombit_itst_both_orders() -> None:
    decoded = decode_bpp(base64.b64encode(KOMBIT_ITST))
    assert decoded == [
        PrivilegeGroup(
            "http://kombit.ssr.com/roles/servicesystemrole/role1/1",
            cvr_scope("11111111"),
            (
                Constraint("http://kombit.ssr.com/constraints/DRT1/1", ("value1",)),
                Constraint("http://kombit.ssr.com/constraints/DTR2/1", ("value2",)),
            ),
        ),
        PrivilegeGroup(
            "http://kombit.ssr.com/roles/servicesystemrole/role2/1",
            cvr_scope("11111111"),
            (
                Constraint("http://kombit.ssr.com/constraints/DRT1/1", ("value3",)),
                Constraint("http://kombit.ssr.com/constraints/DTR2/1", ("value4",)),
            ),
        ),
    ]
    validate_xml(KOMBIT_ITST)  # Constraint-first is valid against the shipped XSD too


def test_decode_digst_namespace_multivalued_and_delegated() -> None:
    decoded = decode_bpp(DIGST_DELEGATED)  # raw XML text is accepted as well as base64
    first, second = decoded
    assert first.cvr == "29189846" and second.cvr == "11111111"
    assert first.constraints[0].values == ("2", "27.35.*", "32.01.05")
    assert first.constraints[1].values == ("High", "Medium")
    assert second.constraints == (
        Constraint("http://organisation.test-kombit.dk/constraints/Sensitivity", ("Følsom",)),
    )
    validate_xml(DIGST_DELEGATED.encode())


def test_decode_base64_with_line_breaks() -> None:
    encoded = base64.encodebytes(encode_xml(SAMPLE)).decode()
    assert "\n" in encoded.strip()
    assert decode_bpp(encoded) == SAMPLE


def test_emit_digst_on_request() -> None:
    xml = encode_xml(SAMPLE, namespace=DIGST)
    assert etree.fromstring(xml).tag == f"{{{DIGST}}}PrivilegeList"
    assert decode_bpp(xml) == SAMPLE


def test_xsd_rejects_two_privileges_and_missing_scope() -> None:
    xsd = schema()
    two = etree.fromstring(
        f'<b:PrivilegeList xmlns:b="{ITST}"><PrivilegeGroup Scope="urn:dk:gov:saml:'
        'cvrNumberIdentifier:1"><Privilege>a:b</Privilege><Privilege>c:d</Privilege>'
        "</PrivilegeGroup></b:PrivilegeList>".encode()
    )
    assert not xsd.validate(two)
    no_scope = etree.fromstring(
        f'<b:PrivilegeList xmlns:b="{ITST}"><PrivilegeGroup><Privilege>a:b</Privilege>'
        "</PrivilegeGroup></b:PrivilegeList>".encode()
    )
    assert not xsd.validate(no_scope)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">
<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:1"><Privilege>&lol2;</Privilege>
</PrivilegeGroup></bpp:PrivilegeList>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">
<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:1"><Privilege>&xxe;</Privilege>
</PrivilegeGroup></bpp:PrivilegeList>"""

PLAIN_DOCTYPE = b"""<?xml version="1.0"?>
<!DOCTYPE PrivilegeList SYSTEM "http://attacker.test/bpp.dtd">
<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile"/>"""


@pytest.mark.parametrize(
    "document",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        PLAIN_DOCTYPE,
        base64.b64encode(EXTERNAL_ENTITY),
        PLAIN_DOCTYPE.decode("ascii").encode("utf-16"),
    ],
    ids=["billion-laughs", "xxe", "doctype", "xxe-base64", "doctype-utf16"],
)
def test_dtds_are_refused(document: bytes) -> None:
    with pytest.raises(CodecError):
        decode_bpp(document)


@pytest.mark.parametrize(
    "document",
    [
        b"not xml, not base64!",
        b"<PrivilegeList/>",  # no namespace
        b'<x:PrivilegeList xmlns:x="urn:other"/>',
        f'<b:PrivilegeList xmlns:b="{ITST}"><PrivilegeGroup Scope="urn:dk:gov:saml:'
        'cvrNumberIdentifier:1"><Privilege>a:b</Privilege><Privilege>c:d</Privilege>'
        "</PrivilegeGroup></b:PrivilegeList>".encode(),
        f'<b:PrivilegeList xmlns:b="{ITST}"><PrivilegeGroup><Privilege>a:b</Privilege>'
        "</PrivilegeGroup></b:PrivilegeList>".encode(),
        f'<b:PrivilegeList xmlns:b="{ITST}"><PrivilegeGroup Scope="s">'
        "<Constraint>x</Constraint><Privilege>a:b</Privilege></PrivilegeGroup>"
        "</b:PrivilegeList>".encode(),
        f'<b:PrivilegeList xmlns:b="{ITST}"><Other/></b:PrivilegeList>'.encode(),
        f'<b:PrivilegeList xmlns:b="{ITST}"><PrivilegeGroup Scope="s"/></b:PrivilegeList>'.encode(),
    ],
    ids=[
        "garbage",
        "no-namespace",
        "other-namespace",
        "two-privileges",
        "no-scope",
        "constraint-without-name",
        "unknown-element",
        "no-privilege",
    ],
)
def test_malformed_documents_are_refused(document: bytes) -> None:
    with pytest.raises(CodecError):
        decode_bpp(document)


@pytest.mark.parametrize(
    "claim",
    [
        "%%%",
        base64.b64encode(b"[]").decode(),
        base64.b64encode(b'{"privilegegroups": [{"scope": "x"}]}').decode(),
        base64.b64encode(
            b'{"privilegegroups": [{"privilege": "p", "scope": "s", '
            b'"constraints": [{"name": "n", "value": 3}]}]}'
        ).decode(),
    ],
)
def test_priv_malformed(claim: str) -> None:
    with pytest.raises(CodecError):
        decode_priv(claim)


def test_priv_accepts_urlsafe_unpadded_and_dict() -> None:
    document = {
        "privilegegroups": [{"privilege": "http://x.test/r/1", "scope": "s?>", "constraints": []}]
    }
    raw = json.dumps(document).encode()
    urlsafe = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert (
        decode_priv(urlsafe)
        == decode_priv(document)
        == [PrivilegeGroup("http://x.test/r/1", "s?>")]
    )
