"""verifier.saml.verify_response: what a valid response gives, and each check's rejection."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from tests import verifier_factory as f
from verifier import InvalidToken
from verifier._xml import full_text
from verifier.privileges import KLE
from verifier.replay import MemoryReplayCache, RedisReplayCache
from verifier.saml import IdpMetadata, verify_response


def verify(posted: str, **kwargs: Any) -> Any:
    kwargs.setdefault("idp_metadata", f.metadata())
    kwargs.setdefault("sp_entity_id", f.SP_ENTITY_ID)
    kwargs.setdefault("acs_url", f.ACS_URL)
    kwargs.setdefault("request_id", f.REQUEST_ID)
    return verify_response(posted, **kwargs)


def reason(posted: str, **kwargs: Any) -> str:
    with pytest.raises(InvalidToken) as error:
        verify(posted, **kwargs)
    return error.value.reason


# --- what a valid response gives -------------------------------------------------------


def test_signed_assertion_gives_name_id_and_issuer() -> None:
    assertion = verify(f.signed_response())
    assert assertion.name_id == "caseworker@ballerup.test"
    assert assertion.issuer == f.IDP_ENTITY_ID


def test_signed_assertion_gives_attributes_as_lists() -> None:
    assertion = verify(f.signed_response())
    assert assertion.attributes["https://data.gov.dk/model/core/eid/professional/cvr"] == [f.CVR]
    assert assertion.loa == "Substantial"
    assert assertion.cvr == f.CVR


def test_signed_assertion_gives_privileges_from_privileges_intermediate() -> None:
    privileges = verify(f.signed_response()).privileges
    assert privileges.allows(f.LAES_SAG, cvr=f.CVR, kle="27.35.04")
    assert not privileges.allows(f.LAES_SAG, cvr=f.CVR, kle="28.01.01")


def test_legacy_privileges_attribute_is_read() -> None:
    attributes = {"dk:gov:saml:attribute:Privileges_intermediate": [f.bpp()]}
    assert verify(f.signed_response(attributes=attributes)).privileges.allows(f.LAES_SAG, cvr=f.CVR)


def test_missing_privileges_attribute_gives_an_empty_set() -> None:
    attributes = {"https://data.gov.dk/model/core/eid/professional/cvr": [f.CVR]}
    assert not verify(f.signed_response(attributes=attributes)).privileges


def test_broken_privileges_attribute_is_rejected() -> None:
    attributes = {f.PRIVILEGES_ATTRIBUTE: ["PGJyb2tlbg=="]}
    assert reason(f.signed_response(attributes=attributes)) in ("malformed", "privileges_invalid")


def test_signed_assertion_gives_session_index_and_expiry() -> None:
    assertion = verify(f.signed_response(not_on_or_after=600, confirmation_not_on_or_after=240))
    assert assertion.session_index == "_session-1"
    expected = datetime.now(UTC) + timedelta(seconds=240)
    assert abs(assertion.not_on_or_after - expected) < timedelta(seconds=5)


def test_response_signed_over_an_unsigned_assertion_is_accepted() -> None:
    posted = f.encode(f.sign(f.response(f.assertion())))
    assert verify(posted).name_id == "caseworker@ballerup.test"


def test_response_and_assertion_both_signed_is_accepted() -> None:
    posted = f.encode(f.sign(f.response(f.sign(f.assertion()))))
    assert verify(posted).name_id == "caseworker@ballerup.test"


def test_ecdsa_signed_assertion_is_accepted_with_an_ec_certificate() -> None:
    keypair = f.ec_keypair()
    posted = f.encode(
        f.response(f.sign(f.assertion(), keypair, signature_algorithm="ecdsa-sha256"))
    )
    assert verify(posted, idp_metadata=f.metadata([keypair.cert])).name_id


def test_rsa_pss_signed_assertion_is_accepted() -> None:
    posted = f.encode(f.response(f.sign(f.assertion(), signature_algorithm="sha256-rsa-MGF1")))
    assert verify(posted).name_id


def test_parsed_metadata_object_is_accepted() -> None:
    assert verify(f.signed_response(), idp_metadata=IdpMetadata.parse(f.metadata())).name_id


def test_unsolicited_response_is_accepted_when_no_request_id_is_given() -> None:
    posted = f.encode(f.response(f.sign(f.assertion(in_response_to=None)), in_response_to=None))
    assert verify(posted, request_id=None).in_response_to is None


# --- metadata: which keys are pinned ---------------------------------------------------


def test_key_without_use_in_metadata_is_trusted() -> None:
    assert verify(f.signed_response(), idp_metadata=f.metadata(use=None)).name_id


def test_encryption_key_in_metadata_is_not_trusted_for_signatures() -> None:
    assert reason(f.signed_response(), idp_metadata=f.metadata(use="encryption")) == (
        "metadata_invalid"
    )


def test_second_signing_key_in_metadata_is_trusted_during_rollover() -> None:
    new = f.rsa_keypair("idp-next")
    posted = f.encode(f.response(f.sign(f.assertion(), new)))
    assert verify(posted, idp_metadata=f.metadata([f.idp().cert, new.cert])).name_id


def test_expired_metadata_is_refused() -> None:
    stale = f.metadata(valid_until="2020-01-01T00:00:00Z")
    assert reason(f.signed_response(), idp_metadata=stale) == "metadata_expired"


# --- issuer, status, destination, recipient, audience ----------------------------------


def test_assertion_from_another_issuer_is_rejected() -> None:
    assert reason(f.signed_response(issuer="https://evil.test/idp")) == "wrong_issuer"


def test_response_issuer_mismatch_is_rejected() -> None:
    posted = f.encode(f.response(f.sign(f.assertion()), issuer="https://evil.test/idp"))
    assert reason(posted) == "wrong_issuer"


def test_error_status_is_rejected() -> None:
    posted = f.encode(
        f.response(f.sign(f.assertion()), status="urn:oasis:names:tc:SAML:2.0:status:Responder")
    )
    assert reason(posted) == "status_not_success"


def test_wrong_audience_is_rejected() -> None:
    assert reason(f.signed_response(audience="https://ksd.test/saml/metadata")) == "wrong_audience"


def test_missing_audience_restriction_is_rejected() -> None:
    assert reason(f.signed_response(audience=None)) == "wrong_audience"


def test_wrong_recipient_is_rejected() -> None:
    assert reason(f.signed_response(recipient="https://ksd.test/saml/acs")) == "wrong_recipient"


def test_wrong_destination_is_rejected() -> None:
    posted = f.encode(f.response(f.sign(f.assertion()), destination="https://ksd.test/saml/acs"))
    assert reason(posted) == "wrong_destination"


def test_missing_destination_is_rejected() -> None:
    posted = f.encode(f.response(f.sign(f.assertion()), destination=None))
    assert reason(posted) == "wrong_destination"


def test_holder_of_key_confirmation_is_not_accepted_as_bearer() -> None:
    posted = f.signed_response(method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
    assert reason(posted) == "schema_invalid"


def test_unknown_condition_is_rejected() -> None:
    element = f.assertion()
    conditions = element.find(f.q(f.SAML, "Conditions"))
    assert conditions is not None
    etree.SubElement(conditions, f.q(f.SAML, "Condition"))
    assert reason(f.encode(f.response(f.sign(element)))) == "unsupported_condition"


# --- InResponseTo ----------------------------------------------------------------------


def test_response_to_another_request_is_rejected() -> None:
    assert reason(f.signed_response(), request_id="_another-request") == "in_response_to_mismatch"


def test_assertion_in_response_to_another_request_is_rejected() -> None:
    posted = f.encode(f.response(f.sign(f.assertion(in_response_to="_another-request"))))
    assert reason(posted) == "in_response_to_mismatch"


def test_unsolicited_response_is_rejected_when_a_request_id_is_given() -> None:
    posted = f.encode(f.response(f.sign(f.assertion(in_response_to=None)), in_response_to=None))
    assert reason(posted) == "unsolicited"


def test_response_with_in_response_to_is_rejected_when_no_request_was_made() -> None:
    assert reason(f.signed_response(), request_id=None) == "unknown_in_response_to"


# --- time ------------------------------------------------------------------------------


def test_expired_assertion_is_rejected() -> None:
    posted = f.signed_response(issued=-900, not_before=-900, not_on_or_after=-120)
    assert reason(posted) == "expired"


def test_expired_subject_confirmation_is_rejected() -> None:
    assert reason(f.signed_response(confirmation_not_on_or_after=-120)) == "expired"


def test_not_yet_valid_assertion_is_rejected() -> None:
    assert reason(f.signed_response(not_before=300)) == "not_yet_valid"


def test_assertion_issued_in_the_future_is_rejected() -> None:
    assert reason(f.signed_response(issued=600, not_before=None)) == "not_yet_valid"


def test_expiry_within_clock_skew_is_accepted() -> None:
    assert verify(f.signed_response(not_on_or_after=-30, confirmation_not_on_or_after=-30))


def test_clock_skew_is_bounded() -> None:
    with pytest.raises(ValueError, match="clock_skew"):
        verify(f.signed_response(), clock_skew=600)


def test_verification_time_can_be_given() -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    assert reason(f.signed_response(), now=later) == "expired"


# --- replay cache ----------------------------------------------------------------------


def test_replay_cache_can_be_injected() -> None:
    cache = MemoryReplayCache()
    verify(f.signed_response(), replay_cache=cache)
    assert len(cache) == 1


def test_replay_cache_forgets_after_expiry() -> None:
    now = [1000.0]
    cache = MemoryReplayCache(clock=lambda: now[0])
    assert cache.add("a", 1060.0)
    assert not cache.add("a", 1060.0)
    now[0] = 1061.0
    assert cache.add("a", 1120.0)


class FakeRedis:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.keys: set[str] = set()

    def set(self, key: str, value: bytes, **options: Any) -> bool | None:
        self.calls.append((key, options))
        if options.get("nx") and key in self.keys:
            return None
        self.keys.add(key)
        return True


def test_redis_replay_cache_uses_set_nx_with_expiry() -> None:
    redis = FakeRedis()
    cache = RedisReplayCache(redis, prefix="fs:")
    assert cache.add("id-1", 2_000_000_000.0)
    assert not cache.add("id-1", 2_000_000_000.0)
    assert redis.calls[0] == ("fs:id-1", {"nx": True, "exat": 2_000_000_001})


# --- encrypted assertions --------------------------------------------------------------


def encrypted_response(data_algorithm: str = "aes256-gcm") -> str:
    sp = f.rsa_keypair("sp")
    encrypted = f.encrypt_assertion(f.sign(f.assertion()), sp.cert, data_algorithm=data_algorithm)
    return f.encode(f.response(encrypted))


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"])
def test_encrypted_assertion_is_decrypted(algorithm: str) -> None:
    assertion = verify(encrypted_response(algorithm), decryption_key=f.rsa_keypair("sp").key)
    assert assertion.name_id == "caseworker@ballerup.test"


def test_decryption_key_can_be_pem() -> None:
    assert verify(encrypted_response(), decryption_key=f.rsa_keypair("sp").key_pem).name_id


def test_encrypted_assertion_without_decryption_key_is_rejected() -> None:
    assert reason(encrypted_response()) == "decryption_failed"


def test_encrypted_assertion_with_the_wrong_key_is_rejected() -> None:
    assert reason(encrypted_response(), decryption_key=f.attacker().key) == "decryption_failed"


def test_rsa_pkcs1_v15_key_transport_is_rejected() -> None:
    posted = encrypted_response()
    tree = etree.fromstring(base64.b64decode(posted))
    for method in tree.iter(f.q(f.XENC, "EncryptionMethod")):
        if method.get("Algorithm", "").endswith("rsa-oaep-mgf1p"):
            method.set("Algorithm", f.XENC + "rsa-1_5")
    assert reason(f.encode(tree), decryption_key=f.rsa_keypair("sp").key) == "decryption_failed"


def test_encrypted_unsigned_assertion_in_an_unsigned_response_is_rejected() -> None:
    sp = f.rsa_keypair("sp")
    posted = f.encode(f.response(f.encrypt_assertion(f.assertion(), sp.cert)))
    assert reason(posted, decryption_key=sp.key) == "unsigned"


def test_encrypted_assertion_in_a_signed_response_is_accepted() -> None:
    sp = f.rsa_keypair("sp")
    posted = f.encode(f.sign(f.response(f.encrypt_assertion(f.assertion(), sp.cert))))
    assert verify(posted, decryption_key=sp.key).name_id == "caseworker@ballerup.test"


# --- reading text ----------------------------------------------------------------------


def test_full_text_reads_past_a_comment() -> None:
    element = etree.fromstring(b"<NameID>user@evil.test<!---->.victim.test</NameID>")
    assert element.text == "user@evil.test"
    assert full_text(element) == "user@evil.test.victim.test"


def test_attribute_values_are_read_as_text_not_markup() -> None:
    hostile = '</saml:AttributeValue><saml:Attribute Name="x">'
    attributes = {"https://data.gov.dk/model/core/eid/fullName": [hostile]}
    assertion = verify(f.signed_response(attributes=attributes))
    assert assertion.attributes == {"https://data.gov.dk/model/core/eid/fullName": [hostile]}


def test_assertion_object_is_immutable() -> None:
    assertion = verify(f.signed_response())
    with pytest.raises(AttributeError):
        assertion.name_id = "other"
    assert copy.copy(assertion) == assertion
    assert assertion.privileges.allows(f.LAES_SAG, cvr=f.CVR, constraints={KLE: "32.01.02"})
