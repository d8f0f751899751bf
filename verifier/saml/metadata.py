"""The IdP's SAML metadata: its entityID and the signing certificates we pin."""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from lxml import etree

from verifier import _http
from verifier._xml import parse_untrusted
from verifier.errors import InvalidToken
from verifier.saml._names import DS, MD, q
from verifier.saml._time import optional_datetime, parse_duration

MAX_METADATA_SIZE = 1024 * 1024


@dataclass(frozen=True)
class IdpMetadata:
    """What a fagsystem takes from the IdP's metadata.

    ``signing_certificates`` come from the IDPSSODescriptor's KeyDescriptors with
    ``use="signing"`` or no ``use``; several during a key rollover.
    """

    entity_id: str
    signing_certificates: tuple[x509.Certificate, ...]
    valid_until: datetime | None = None
    cache_duration: timedelta | None = None

    @classmethod
    def parse(cls, xml: str | bytes, *, now: datetime | None = None) -> IdpMetadata:
        """Parse metadata XML; :class:`InvalidToken` when unusable or past validUntil."""
        data = xml.encode("utf-8") if isinstance(xml, str) else xml
        root = parse_untrusted(data, max_size=MAX_METADATA_SIZE)
        entity = _idp_entity(root)
        entity_id = entity.get("entityID")
        if not entity_id:
            raise InvalidToken("metadata_invalid", "EntityDescriptor has no entityID")
        descriptor = entity.find(q(MD, "IDPSSODescriptor"))
        assert descriptor is not None
        certificates: list[x509.Certificate] = []
        for key_descriptor in descriptor.findall(q(MD, "KeyDescriptor")):
            if key_descriptor.get("use") not in (None, "signing"):
                continue
            for element in key_descriptor.iterfind(
                f"{q(DS, 'KeyInfo')}/{q(DS, 'X509Data')}/{q(DS, 'X509Certificate')}"
            ):
                certificates.append(_certificate(element.text or ""))
        if not certificates:
            raise InvalidToken("metadata_invalid", "metadata has no signing certificate")
        valid_until = _earliest(
            optional_datetime(root.get("validUntil"), "validUntil"),
            optional_datetime(entity.get("validUntil"), "validUntil"),
            optional_datetime(descriptor.get("validUntil"), "validUntil"),
        )
        if valid_until is not None and valid_until <= (now or datetime.now(UTC)):
            raise InvalidToken("metadata_expired", f"metadata was valid until {valid_until}")
        durations = [
            parse_duration(d)
            for d in (root.get("cacheDuration"), entity.get("cacheDuration"))
            if d is not None
        ]
        return cls(entity_id, tuple(certificates), valid_until, min(durations, default=None))


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _idp_entity(root: etree._Element) -> etree._Element:
    if root.tag == q(MD, "EntityDescriptor"):
        candidates = [root]
    elif root.tag == q(MD, "EntitiesDescriptor"):
        candidates = list(root.iter(q(MD, "EntityDescriptor")))
    else:
        raise InvalidToken("metadata_invalid", f"{root.tag} is not SAML metadata")
    idps = [e for e in candidates if e.find(q(MD, "IDPSSODescriptor")) is not None]
    if len(idps) != 1:
        raise InvalidToken("metadata_invalid", f"expected one IdP in metadata, found {len(idps)}")
    return idps[0]


def _certificate(text: str) -> x509.Certificate:
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("metadata_invalid", "unreadable X509Certificate in metadata") from exc


class MetadataCache:
    """The IdP's metadata fetched from ``url`` and refreshed on its cacheDuration.

    The copy is refetched when its ``cacheDuration`` (or ``default_cache_duration``,
    whichever is shorter) has passed, and in any case before ``validUntil``. If a
    refresh fails, the old copy is used until its ``validUntil``; past that,
    :meth:`metadata` raises :class:`InvalidToken` (``metadata_expired``).

        cache = MetadataCache("https://idp.example/saml/metadata")
        assertion = verify_response(posted, idp_metadata=cache.metadata(), ...)
    """

    def __init__(
        self,
        url: str,
        *,
        fetch: _http.Fetcher | None = None,
        clock: Callable[[], float] = time.time,
        default_cache_duration: float = 3600.0,
    ) -> None:
        _http.check_url(url)
        self.url = url
        self._fetch = fetch or _http.http_get
        self._clock = clock
        self.default_cache_duration = default_cache_duration
        self._lock = threading.Lock()
        self._current: IdpMetadata | None = None
        self._refresh_at = 0.0

    def metadata(self) -> IdpMetadata:
        with self._lock:
            now = self._clock()
            if self._current is None or now >= self._refresh_at:
                self._refresh(now)
            current = self._current
            assert current is not None
            if current.valid_until is not None and current.valid_until.timestamp() <= now:
                raise InvalidToken("metadata_expired", "IdP metadata has expired")
            return current

    def _refresh(self, now: float) -> None:
        try:
            fetched = self._fetch(self.url)
            metadata = IdpMetadata.parse(fetched.body, now=datetime.fromtimestamp(now, UTC))
        except (OSError, ValueError, InvalidToken) as exc:
            if self._current is None:
                if isinstance(exc, InvalidToken):
                    raise
                raise InvalidToken(
                    "metadata_unavailable", f"cannot fetch {self.url}: {exc}"
                ) from exc
            self._refresh_at = now + min(60.0, self.default_cache_duration)
            return
        lifetime = self.default_cache_duration
        if metadata.cache_duration is not None:
            lifetime = min(lifetime, metadata.cache_duration.total_seconds())
        if metadata.valid_until is not None:
            lifetime = min(lifetime, metadata.valid_until.timestamp() - now)
        self._current = metadata
        self._refresh_at = now + max(lifetime, 0.0)
