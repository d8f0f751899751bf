"""SP registrations (parsed once from their metadata) and the IdP's own signed metadata.

SP metadata is parsed by pysaml2 (``saml2.mdstore.InMemoryMetaData``) when a registration
is first used in a process, then cached as an :class:`SpConfig` with its certificates
already loaded for xmlsec. The IdP metadata lists the *active and the next* RSA key for
signing and encryption (``certs.publish.key_descriptors``), so a rollover is announced
before the promoted key signs anything, and the recently *retired* ones for signing only,
so a response signed just before a rotation (by this node, or by another node that has
not seen the rotation yet) still verifies against freshly fetched metadata. The document
and the signing key come from one :class:`~idp.saml.signing.KeySnapshot`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from lxml import etree
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData
from sqlalchemy import select

from authz.cache import on_fagsystem_changes
from certs.publish import key_descriptors
from idp import metrics
from idp.saml.constants import (
    AES256_CBC,
    AES256_GCM,
    BINDING_POST,
    BINDING_REDIRECT,
    MD,
    NAMEID_FORMATS,
    RSA_SHA256,
    SUPPORTED_SIGNING_METHODS,
)
from idp.saml.signing import KeyRing, KeySnapshot, Signer, VerifyKey, sign
from idp.saml.xmlutil import SamlError, instant, new_id
from store.ephemeral import EphemeralState
from store.models import Fagsystem, SamlServiceProvider, utcnow

_ALG_SIGNING = "urn:oasis:names:tc:SAML:metadata:algsupport&SigningMethod"


class MetadataError(ValueError):
    """SP metadata that cannot be used; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    binding: str
    location: str
    index: int | None = None
    is_default: bool = False
    response_location: str | None = None


@dataclass(frozen=True)
class SpMetadata:
    """What we use from an SP's metadata document."""

    entity_id: str
    acs: tuple[Endpoint, ...]
    slo: tuple[Endpoint, ...]
    signing_certificates: tuple[x509.Certificate, ...]
    encryption_certificates: tuple[x509.Certificate, ...]
    encryption_methods: tuple[str, ...]
    signing_methods: tuple[str, ...]
    name_id_formats: tuple[str, ...]
    want_assertions_signed: bool
    authn_requests_signed: bool

    @property
    def signature_method(self) -> str:
        """The first method the SP lists that we can produce; RSA-SHA256 when it lists none."""
        for method in self.signing_methods:
            if method in SUPPORTED_SIGNING_METHODS:
                return method
        return RSA_SHA256

    @property
    def data_encryption_method(self) -> str:
        """AES-256-GCM unless the SP's encryption KeyDescriptor lists only CBC."""
        for method in self.encryption_methods:
            if method in (AES256_GCM, AES256_CBC):
                return method
        return AES256_GCM


def _certificates(raw: list[tuple[str | None, str]]) -> tuple[x509.Certificate, ...]:
    found = []
    for _name, text in raw:
        der = base64.b64decode("".join(text.split()))
        found.append(x509.load_der_x509_certificate(der))
    return tuple(found)


def parse_sp_metadata(xml: str | bytes, entity_id: str | None = None) -> SpMetadata:
    """Parse one SP's metadata with pysaml2; raise :class:`MetadataError` with the reason."""
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    store = InMemoryMetaData(_attribute_converters(), text)
    try:
        store.load()
    except Exception as exc:  # pysaml2 raises a zoo of types for bad documents
        raise MetadataError(f"metadata cannot be parsed: {exc}") from exc
    if store.to_old:
        raise MetadataError(f"metadata for {', '.join(store.to_old)} has expired (validUntil)")
    entities = [key for key, value in store.items() if value.get("spsso_descriptor")]
    if entity_id is None:
        if len(entities) != 1:
            raise MetadataError(f"expected one SP in the metadata, found {len(entities)}")
        entity_id = entities[0]
    if entity_id not in entities:
        raise MetadataError(f"metadata has no SPSSODescriptor for {entity_id}")
    entity = store[entity_id]
    descriptors = entity["spsso_descriptor"]

    def endpoints(kind: str) -> tuple[Endpoint, ...]:
        result = []
        for descriptor in descriptors:
            for item in descriptor.get(kind, []):
                index = item.get("index")
                result.append(
                    Endpoint(
                        binding=item["binding"],
                        location=item["location"],
                        index=int(index) if index is not None else None,
                        is_default=str(item.get("is_default", "")).lower() == "true",
                        response_location=item.get("response_location"),
                    )
                )
        return tuple(result)

    encryption_methods: list[str] = []
    for descriptor in descriptors:
        for key in descriptor.get("key_descriptor", []):
            if key.get("use") in (None, "encryption"):
                encryption_methods += [m["algorithm"] for m in key.get("encryption_method", [])]
    signing_methods = []
    for holder in [entity, *descriptors]:
        for element in (holder.get("extensions") or {}).get("extension_elements", []):
            if element.get("__class__") == _ALG_SIGNING:
                signing_methods.append(element["algorithm"])
    try:
        signing = _certificates(store.certs(entity_id, "spsso", "signing"))
        encryption = _certificates(store.certs(entity_id, "spsso", "encryption"))
    except ValueError as exc:
        raise MetadataError(f"metadata has an unreadable certificate: {exc}") from exc
    acs = endpoints("assertion_consumer_service")
    if not acs:
        raise MetadataError("metadata has no AssertionConsumerService")
    return SpMetadata(
        entity_id=entity_id,
        acs=acs,
        slo=endpoints("single_logout_service"),
        signing_certificates=signing,
        encryption_certificates=encryption,
        encryption_methods=tuple(encryption_methods),
        signing_methods=tuple(signing_methods),
        name_id_formats=tuple(
            item["text"].strip() for d in descriptors for item in d.get("name_id_format", [])
        ),
        want_assertions_signed=any(
            str(d.get("want_assertions_signed", "")).lower() == "true" for d in descriptors
        ),
        authn_requests_signed=any(
            str(d.get("authn_requests_signed", "")).lower() == "true" for d in descriptors
        ),
    )


_CONVERTERS: list[Any] | None = None


def _attribute_converters() -> list[Any]:
    global _CONVERTERS
    if _CONVERTERS is None:
        _CONVERTERS = ac_factory()
    return _CONVERTERS


@dataclass(frozen=True)
class FagsystemInfo:
    id: str
    name: str
    personal_data: bool
    min_loa: str


@dataclass(frozen=True)
class SpConfig:
    """One registered SP: its metadata, its fagsystem and its policy, ready for the hot path."""

    entity_id: str
    fagsystem: FagsystemInfo
    metadata: SpMetadata
    sign_response: bool
    sign_assertion: bool
    encrypt_assertion: bool
    require_signed_requests: bool
    allow_idp_initiated: bool
    verify_keys: tuple[VerifyKey, ...] = field(default=())
    fingerprint: str = ""

    def acs_for(self, url: str | None, index: str | None, binding: str | None) -> Endpoint:
        """The ACS endpoint, only ever one from metadata (SECURITY.md, IdP line 2)."""
        candidates = [e for e in self.metadata.acs if e.binding == BINDING_POST]
        if url is not None and index is not None:
            raise SamlError("AssertionConsumerServiceURL and Index must not both be given")
        if index is not None:
            try:
                wanted = int(index)
            except ValueError as exc:
                raise SamlError("AssertionConsumerServiceIndex is not a number") from exc
            for endpoint in self.metadata.acs:
                if endpoint.index == wanted:
                    if endpoint.binding != BINDING_POST:
                        raise SamlError("only the HTTP-POST binding is supported for responses")
                    return endpoint
            raise SamlError("AssertionConsumerServiceIndex is not in the SP's metadata")
        if url is not None:
            for endpoint in candidates:
                if endpoint.location == url:
                    if binding not in (None, BINDING_POST):
                        raise SamlError("only the HTTP-POST binding is supported for responses")
                    return endpoint
            raise SamlError("AssertionConsumerServiceURL is not in the SP's metadata")
        if binding not in (None, BINDING_POST):
            raise SamlError("only the HTTP-POST binding is supported for responses")
        if not candidates:
            raise SamlError("the SP's metadata has no HTTP-POST AssertionConsumerService")
        defaults = [e for e in candidates if e.is_default]
        if defaults:
            return defaults[0]
        return min(candidates, key=lambda e: e.index if e.index is not None else 1 << 30)

    def slo_endpoint(self) -> Endpoint | None:
        """The SP's SingleLogoutService: Redirect preferred, then POST."""
        for wanted in (BINDING_REDIRECT, BINDING_POST):
            for endpoint in self.metadata.slo:
                if endpoint.binding == wanted:
                    return endpoint
        return None


def build_sp_config(row: SamlServiceProvider, fagsystem: Fagsystem) -> SpConfig:
    metadata = parse_sp_metadata(row.metadata_xml, row.entity_id)
    return SpConfig(
        entity_id=row.entity_id,
        fagsystem=FagsystemInfo(
            fagsystem.id, fagsystem.name, bool(fagsystem.personal_data), fagsystem.min_loa
        ),
        metadata=metadata,
        sign_response=bool(row.sign_response),
        sign_assertion=bool(row.sign_assertion) or metadata.want_assertions_signed,
        encrypt_assertion=bool(row.encrypt_assertion),
        require_signed_requests=bool(row.require_signed_requests) or metadata.authn_requests_signed,
        allow_idp_initiated=bool(row.allow_idp_initiated),
        verify_keys=tuple(VerifyKey.from_certificate(c) for c in metadata.signing_certificates),
        fingerprint=_fingerprint(row, fagsystem),
    )


def _fingerprint(row: SamlServiceProvider, fagsystem: Fagsystem) -> str:
    parts = [
        row.metadata_xml,
        repr(
            (
                row.fagsystem_id,
                row.sign_response,
                row.sign_assertion,
                row.encrypt_assertion,
                row.require_signed_requests,
                row.allow_idp_initiated,
                fagsystem.name,
                fagsystem.personal_data,
                fagsystem.min_loa,
            )
        ),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class SpRegistry:
    """Registered SPs by entityID, cached per process and re-checked every ``ttl`` seconds.

    Given the ephemeral ``state``, every announced change to fagsystemer (admin, import,
    another process through Redis or the change marker) empties the cache at once.
    """

    def __init__(
        self, database: Any, ttl: float = 30.0, state: EphemeralState | None = None
    ) -> None:
        self._database = database
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, SpConfig | None]] = {}
        if state is not None:
            self.subscription = on_fagsystem_changes(state, self.invalidate)

    def get(self, entity_id: str | None) -> SpConfig | None:
        if not entity_id:
            return None
        now = time.monotonic()
        cached = self._cache.get(entity_id)
        if cached is not None and now - cached[0] < self._ttl:
            metrics.SP_HIT.inc()
            return cached[1]
        metrics.SP_MISS.inc()
        config = self._load(entity_id, cached[1] if cached else None)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[entity_id] = (now, config)
        return config

    def _load(self, entity_id: str, previous: SpConfig | None) -> SpConfig | None:
        with self._database.session() as session:
            row = session.get(SamlServiceProvider, entity_id)
            if row is None:
                return None
            fagsystem = session.get(Fagsystem, row.fagsystem_id)
            if fagsystem is None:
                return None
            if previous is not None and previous.fingerprint == _fingerprint(row, fagsystem):
                return previous
            try:
                return build_sp_config(row, fagsystem)
            except MetadataError:
                return None

    def by_fagsystem(self, fagsystem_id: str) -> list[SpConfig]:
        with self._database.session() as session:
            ids = session.scalars(
                select(SamlServiceProvider.entity_id).where(
                    SamlServiceProvider.fagsystem_id == fagsystem_id
                )
            ).all()
        return [config for config in (self.get(i) for i in ids) if config is not None]

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()


# -- the IdP's own metadata ----------------------------------------------------------------


def idp_metadata(
    *,
    entity_id: str,
    sso_url: str,
    slo_url: str,
    key_rows: list[Any] | tuple[Any, ...],
    signer: Signer,
    valid_for: dt.timedelta,
    now: dt.datetime | None = None,
) -> bytes:
    """Signed EntityDescriptor: SSO and SLO for both bindings; keys active + next for signing
    and encryption, recently retired ones for signing only."""
    now = now or utcnow()
    md = f"{{{MD}}}"
    root = etree.Element(
        md + "EntityDescriptor",
        nsmap={"md": MD},
        entityID=entity_id,
        ID=new_id(),
        validUntil=instant(now + valid_for),
        cacheDuration="PT1H",
    )
    descriptor = etree.SubElement(
        root,
        md + "IDPSSODescriptor",
        protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
        WantAuthnRequestsSigned="false",
    )
    for element in key_descriptors(list(key_rows), uses=("signing", "encryption")):
        descriptor.append(element)
    for element in key_descriptors(list(key_rows), uses=("signing",), states=("retired",)):
        descriptor.append(element)
    for binding in (BINDING_REDIRECT, BINDING_POST):
        etree.SubElement(descriptor, md + "SingleLogoutService", Binding=binding, Location=slo_url)
    for name_id_format in NAMEID_FORMATS:
        etree.SubElement(descriptor, md + "NameIDFormat").text = name_id_format
    for binding in (BINDING_REDIRECT, BINDING_POST):
        etree.SubElement(descriptor, md + "SingleSignOnService", Binding=binding, Location=sso_url)
    signature = sign(root, signer)
    # The signature of metadata goes first in EntityDescriptor (schema order).
    root.remove(signature)
    root.insert(0, signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class MetadataCache:
    """The signed IdP metadata of the key ring's current snapshot.

    Rebuilt as soon as the snapshot's published keys differ from the ones the cached
    document lists (a rotation anywhere is seen within the key ring's refresh, 5 s), and
    re-signed after ``ttl`` seconds anyway (``validUntil`` moves on). The document is
    signed by the snapshot's signer, the same key SSO responses are signed with.
    """

    def __init__(
        self, build: Callable[[KeySnapshot], bytes], keyring: KeyRing, ttl: float = 300.0
    ) -> None:
        self._build = build
        self._keyring = keyring
        self._ttl = ttl
        self._value: tuple[float, tuple[tuple[str, str], ...], bytes] | None = None
        self._lock = threading.Lock()

    def get(self) -> bytes:
        snapshot = self._keyring.snapshot()
        now = time.monotonic()
        value = self._value
        if value is not None and value[1] == snapshot.shape and now - value[0] < self._ttl:
            return value[2]
        with self._lock:
            value = self._value
            if value is not None and value[1] == snapshot.shape and now - value[0] < self._ttl:
                return value[2]
            document = self._build(snapshot)
            self._value = (now, snapshot.shape, document)
            return document

    def invalidate(self) -> None:
        self._value = None
