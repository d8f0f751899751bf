"""verifier.privileges: OIO-BPP and priv parsed into one model; allows() fails closed."""

from __future__ import annotations

import base64
import json

import pytest

from tests import verifier_factory as f
from verifier import InvalidToken
from verifier.privileges import (
    ITSYSTEM,
    KLE,
    ORGENHED,
    PrivilegeGroup,
    PrivilegeSet,
    from_bpp,
    from_priv,
)

ROLE = f.LAES_SAG
OPRET = "http://ky.test/roles/usersystemrole/opret_sag/1"
UNIT_A = "0d5e7b7a-5c4b-4c47-9f43-000000000001"
UNIT_B = "0d5e7b7a-5c4b-4c47-9f43-000000000002"
SENSITIVITY = "http://sts.kombit.dk/constraints/foelsomhed/1"


def one_group(constraints: dict[str, str], cvr: str = f.CVR) -> PrivilegeSet:
    return from_bpp(f.bpp([(ROLE, cvr, constraints)]))


# --- parsing OIO-BPP ------------------------------------------------------------------


def test_bpp_with_itst_namespace_is_parsed() -> None:
    (group,) = from_bpp(f.bpp([(ROLE, f.CVR, {KLE: "27.*"})], namespace=f.BPP_ITST))
    assert group == PrivilegeGroup(
        ROLE, f"urn:dk:gov:saml:cvrNumberIdentifier:{f.CVR}", {KLE: ("27.*",)}
    )


def test_bpp_with_digst_namespace_is_parsed() -> None:
    (group,) = from_bpp(f.bpp([(ROLE, f.CVR, {KLE: "27.*"})], namespace=f.BPP_DIGST))
    assert group.privilege == ROLE
    assert group.constraints[KLE] == ("27.*",)


def test_bpp_with_constraint_before_privilege_is_parsed() -> None:
    (group,) = from_bpp(f.bpp([(ROLE, f.CVR, {KLE: "27.*"})], constraints_first=True))
    assert group.privilege == ROLE
    assert group.constraints == {KLE: ("27.*",)}


def test_bpp_comma_joined_values_are_split() -> None:
    (group,) = one_group({ORGENHED: f"{UNIT_A}, {UNIT_B}"})
    assert group.constraints[ORGENHED] == (UNIT_A, UNIT_B)


def test_bpp_as_raw_xml_is_accepted() -> None:
    assert len(from_bpp(f.bpp_xml())) == 1
    assert len(from_bpp(f.bpp_xml().decode())) == 1


def test_bpp_scope_gives_the_cvr() -> None:
    (group,) = one_group({})
    assert group.cvr == f.CVR


def test_bpp_non_cvr_scope_has_no_cvr() -> None:
    xml = f.bpp_xml().replace(b"cvrNumberIdentifier", b"productionUnitIdentifier")
    (group,) = from_bpp(xml)
    assert group.cvr is None
    assert not from_bpp(xml).allows(ROLE, cvr=f.CVR)


def test_bpp_groups_are_iterable_in_order() -> None:
    privileges = from_bpp(f.bpp([(ROLE, f.CVR, {}), (OPRET, "12345678", {})]))
    assert [(g.privilege, g.cvr) for g in privileges] == [(ROLE, f.CVR), (OPRET, "12345678")]


def test_bpp_with_several_privileges_in_a_group_gives_one_group_each() -> None:
    xml = f.bpp_xml([(ROLE, f.CVR, {KLE: "27.*"})]).replace(
        b"</Privilege>", b"</Privilege><Privilege>" + OPRET.encode() + b"</Privilege>"
    )
    assert from_bpp(xml).roles() == {ROLE, OPRET}
    assert all(g.constraints == {KLE: ("27.*",)} for g in from_bpp(xml))


def test_bpp_with_unknown_namespace_is_rejected() -> None:
    xml = f.bpp_xml().replace(f.BPP_ITST.encode(), b"http://evil.test/bpp")
    with pytest.raises(InvalidToken) as error:
        from_bpp(xml)
    assert error.value.reason == "privileges_invalid"


def test_bpp_group_without_scope_is_rejected() -> None:
    xml = f.bpp_xml().replace(b"Scope=", b"Other=")
    with pytest.raises(InvalidToken, match="Scope"):
        from_bpp(xml)


def test_bpp_with_duplicate_constraint_name_is_rejected() -> None:
    xml = f.bpp_xml([(ROLE, f.CVR, {KLE: "27.*"})]).replace(
        b"</PrivilegeGroup>",
        b'<Constraint Name="' + KLE.encode() + b'">99.*</Constraint></PrivilegeGroup>',
    )
    with pytest.raises(InvalidToken, match="twice"):
        from_bpp(xml)


def test_bpp_with_dtd_is_rejected() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + f.bpp_xml().split(b"?>", 1)[1]
    with pytest.raises(InvalidToken) as error:
        from_bpp(xml)
    assert error.value.reason == "dtd_forbidden"


def test_bpp_that_is_not_base64_is_rejected() -> None:
    with pytest.raises(InvalidToken) as error:
        from_bpp("not base64 at all!")
    assert error.value.reason == "privileges_invalid"


# --- parsing priv ----------------------------------------------------------------------


def test_priv_claim_is_parsed_into_the_same_model_as_bpp() -> None:
    priv = from_priv(f.priv_claim())
    bpp = from_bpp(f.bpp([(ROLE, f.CVR, {KLE: "27.*"})]))
    assert priv == bpp


def test_priv_claim_comma_joined_value_is_split() -> None:
    claim = f.priv_claim(
        [
            {
                "privilege": ROLE,
                "scope": f"urn:dk:gov:saml:cvrNumberIdentifier:{f.CVR}",
                "constraints": [{"name": ORGENHED, "value": f"{UNIT_A},{UNIT_B}"}],
            }
        ]
    )
    (group,) = from_priv(claim)
    assert group.constraints[ORGENHED] == (UNIT_A, UNIT_B)


def test_priv_claim_decoded_object_is_accepted() -> None:
    document = json.loads(base64.b64decode(f.priv_claim()))
    assert len(from_priv(document)) == 1


def test_priv_claim_without_privilegegroups_is_rejected() -> None:
    with pytest.raises(InvalidToken) as error:
        from_priv(base64.b64encode(b'{"groups": []}').decode())
    assert error.value.reason == "privileges_invalid"


def test_priv_claim_with_non_string_privilege_is_rejected() -> None:
    claim = f.priv_claim([{"privilege": 1, "scope": "urn:x"}])
    with pytest.raises(InvalidToken):
        from_priv(claim)


# --- allows ----------------------------------------------------------------------------


def test_allows_role_without_constraints() -> None:
    assert one_group({}).allows(ROLE, cvr=f.CVR)


def test_allows_is_false_for_another_role() -> None:
    assert not one_group({}).allows(OPRET, cvr=f.CVR)


def test_allows_is_false_for_another_cvr() -> None:
    assert not one_group({}).allows(ROLE, cvr="12345678")


def test_kle_main_group_covers_subject() -> None:
    assert one_group({KLE: "27.*"}).allows(ROLE, cvr=f.CVR, kle="27.35.04")


def test_kle_group_covers_subject_in_it() -> None:
    assert one_group({KLE: "27.35.*"}).allows(ROLE, cvr=f.CVR, kle="27.35.04")


def test_kle_group_does_not_cover_sibling_group() -> None:
    assert not one_group({KLE: "27.35.*"}).allows(ROLE, cvr=f.CVR, kle="27.36.01")


def test_kle_subject_covers_only_itself() -> None:
    privileges = one_group({KLE: "27.35.04"})
    assert privileges.allows(ROLE, cvr=f.CVR, kle="27.35.04")
    assert not privileges.allows(ROLE, cvr=f.CVR, kle="27.35.05")


def test_kle_subject_does_not_cover_its_wider_group() -> None:
    assert not one_group({KLE: "27.35.04"}).allows(ROLE, cvr=f.CVR, kle="27.35.*")


def test_kle_any_of_several_codes_covers() -> None:
    assert one_group({KLE: "32.01.02,27.*"}).allows(ROLE, cvr=f.CVR, kle="27.01.01")


def test_kle_99_99_99_grants_nothing() -> None:
    privileges = one_group({KLE: "99.99.99"})
    assert not privileges.allows(ROLE, cvr=f.CVR, kle="99.99.99")
    assert not privileges.allows(ROLE, cvr=f.CVR, kle="27.35.04")


def test_kle_garbage_value_grants_nothing() -> None:
    assert not one_group({KLE: "*"}).allows(ROLE, cvr=f.CVR, kle="27.35.04")


def test_orgenhed_value_in_list_is_allowed() -> None:
    assert one_group({ORGENHED: f"{UNIT_A},{UNIT_B}"}).allows(ROLE, cvr=f.CVR, orgenhed=UNIT_B)


def test_orgenhed_value_not_in_list_is_refused() -> None:
    other = "0d5e7b7a-5c4b-4c47-9f43-000000000003"
    assert not one_group({ORGENHED: f"{UNIT_A},{UNIT_B}"}).allows(ROLE, cvr=f.CVR, orgenhed=other)


def test_orgenhed_compares_uuids_case_insensitively() -> None:
    assert one_group({ORGENHED: UNIT_A}).allows(ROLE, cvr=f.CVR, orgenhed=UNIT_A.upper())


def test_value_list_constraint_by_uri_must_be_in_the_list() -> None:
    privileges = one_group({SENSITIVITY: "Low,Medium"})
    assert privileges.allows(ROLE, cvr=f.CVR, constraints={SENSITIVITY: "Medium"})
    assert not privileges.allows(ROLE, cvr=f.CVR, constraints={SENSITIVITY: "High"})


def test_itsystem_keyword_is_a_value_list() -> None:
    assert one_group({ITSYSTEM: "a,b"}).allows(ROLE, cvr=f.CVR, itsystem="b")


def test_all_constraints_of_a_group_must_hold() -> None:
    privileges = one_group({KLE: "27.*", ORGENHED: UNIT_A})
    assert privileges.allows(ROLE, cvr=f.CVR, kle="27.01.01", orgenhed=UNIT_A)
    assert not privileges.allows(ROLE, cvr=f.CVR, kle="27.01.01", orgenhed=UNIT_B)


def test_constraint_without_a_value_from_the_caller_fails_closed() -> None:
    assert not one_group({KLE: "27.*"}).allows(ROLE, cvr=f.CVR)


def test_unknown_constraint_type_fails_closed() -> None:
    privileges = one_group({"http://sts.kombit.dk/constraints/unknown/1": "x"})
    assert not privileges.allows(ROLE, cvr=f.CVR, kle="27.01.01")


def test_any_matching_group_is_enough() -> None:
    privileges = from_bpp(f.bpp([(ROLE, f.CVR, {KLE: "27.*"}), (ROLE, f.CVR, {KLE: "32.*"})]))
    assert privileges.allows(ROLE, cvr=f.CVR, kle="32.01.01")


def test_delegated_group_is_scoped_to_the_delegating_cvr() -> None:
    privileges = from_bpp(f.bpp([(ROLE, "12345678", {})]))
    assert privileges.allows(ROLE, cvr="12345678")
    assert not privileges.allows(ROLE, cvr=f.CVR)


def test_extra_value_for_a_constraint_the_group_lacks_is_ignored() -> None:
    assert one_group({}).allows(ROLE, cvr=f.CVR, kle="27.01.01")


def test_unknown_constraint_keyword_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="unknown constraint keyword"):
        one_group({}).allows(ROLE, cvr=f.CVR, klee="27.01.01")


def test_has_privilege_is_an_alias_of_allows() -> None:
    privileges = one_group({KLE: "27.*"})
    assert privileges.has_privilege(ROLE, cvr=f.CVR, kle="27.01.01")
    assert not privileges.has_privilege(ROLE, cvr=f.CVR, kle="28.01.01")


def test_empty_privilege_set_allows_nothing() -> None:
    assert not PrivilegeSet().allows(ROLE, cvr=f.CVR)
    assert not PrivilegeSet()
