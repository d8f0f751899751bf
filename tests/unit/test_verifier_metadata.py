"""verifier.saml.MetadataCache: the IdP's metadata refreshed on cacheDuration/validUntil."""

from __future__ import annotations

import time

import pytest

from tests import verifier_factory as f
from verifier import InvalidToken
from verifier._http import Fetched
from verifier.saml import IdpMetadata, MetadataCache, verify_response
from verifier.saml._time import parse_duration

URL = "https://idp.test/saml/metadata"


class FakeIdp:
    def __init__(self, document: bytes) -> None:
        self.document = document
        self.now = 1_700_000_000.0
        self.fetches = 0
        self.down = False

    def fetch(self, url: str) -> Fetched:
        self.fetches += 1
        if self.down:
            raise OSError("connection refused")
        return Fetched(self.document, {})

    def cache(self, **kwargs: float) -> MetadataCache:
        return MetadataCache(URL, fetch=self.fetch, clock=lambda: self.now, **kwargs)


def test_metadata_gives_entity_id_and_signing_certificates() -> None:
    metadata = IdpMetadata.parse(f.metadata())
    assert metadata.entity_id == f.IDP_ENTITY_ID
    assert metadata.signing_certificates == (f.idp().cert,)


def test_metadata_without_an_idp_is_refused() -> None:
    document = f.metadata().replace(b"IDPSSODescriptor", b"SPSSODescriptor")
    with pytest.raises(InvalidToken) as error:
        IdpMetadata.parse(document)
    assert error.value.reason == "metadata_invalid"


def test_metadata_with_a_dtd_is_refused() -> None:
    document = f.metadata().replace(b"?>", b"?><!DOCTYPE x>", 1)
    with pytest.raises(InvalidToken) as error:
        IdpMetadata.parse(document)
    assert error.value.reason == "dtd_forbidden"


def test_cache_fetches_once_within_cache_duration() -> None:
    idp = FakeIdp(f.metadata(cache_duration="PT1H"))
    cache = idp.cache()
    cache.metadata()
    idp.now += 3599
    cache.metadata()
    assert idp.fetches == 1


def test_cache_refetches_after_cache_duration() -> None:
    idp = FakeIdp(f.metadata(cache_duration="PT10M"))
    cache = idp.cache()
    cache.metadata()
    idp.now += 601
    cache.metadata()
    assert idp.fetches == 2


def test_cache_picks_up_a_rolled_over_key() -> None:
    idp = FakeIdp(f.metadata(cache_duration="PT10M"))
    cache = idp.cache()
    cache.metadata()
    new = f.rsa_keypair("idp-next")
    idp.document = f.metadata([new.cert], cache_duration="PT10M")
    idp.now += 601
    assert cache.metadata().signing_certificates == (new.cert,)


def test_cache_keeps_the_old_copy_when_the_idp_is_down() -> None:
    idp = FakeIdp(f.metadata(cache_duration="PT10M"))
    cache = idp.cache()
    first = cache.metadata()
    idp.down = True
    idp.now += 601
    assert cache.metadata() is first


def test_cache_refuses_a_copy_past_valid_until() -> None:
    idp = FakeIdp(f.metadata(valid_until="2023-11-15T00:00:00Z"))
    cache = idp.cache()
    cache.metadata()
    idp.down = True
    idp.now += 86400
    with pytest.raises(InvalidToken) as error:
        cache.metadata()
    assert error.value.reason == "metadata_expired"


def test_cache_without_any_copy_reports_unavailable() -> None:
    idp = FakeIdp(f.metadata())
    idp.down = True
    with pytest.raises(InvalidToken) as error:
        idp.cache().metadata()
    assert error.value.reason == "metadata_unavailable"


def test_cache_refuses_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="https"):
        MetadataCache("http://idp.test/saml/metadata")


def test_verify_response_accepts_a_metadata_cache() -> None:
    idp = FakeIdp(f.metadata())
    idp.now = time.time()
    assertion = verify_response(
        f.signed_response(),
        idp_metadata=idp.cache(),
        sp_entity_id=f.SP_ENTITY_ID,
        acs_url=f.ACS_URL,
        request_id=f.REQUEST_ID,
    )
    assert assertion.issuer == f.IDP_ENTITY_ID


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1H", 3600), ("P1D", 86400), ("PT5M30S", 330), ("P1DT1H", 90000), ("PT0.5S", 0.5)],
)
def test_xs_duration_is_parsed(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds
