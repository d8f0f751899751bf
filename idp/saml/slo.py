"""Single logout messages: LogoutRequest/LogoutResponse, and who to send them to.

Each assertion records its SP as a *participant* of the SSO session (entityID, NameID,
SessionIndex). A logout, from an SP, an OIDC RP or the IdP's own page, is one
:mod:`idp.login.logout` run: the SAML part of it walks the browser through every other
participant's SingleLogoutService, one LogoutRequest at a time (the run's id is the
RelayState), and finally answers the SP that started it. An SP may encrypt the NameID of
its LogoutRequest to our encryption key (``saml:EncryptedID``); it is decrypted here.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from lxml import etree

from idp.saml.constants import NAMEID_PERSISTENT, SAML, SAMLP, STATUS_SUCCESS
from idp.saml.decryption import decrypt_name_id
from idp.saml.metadata import SpConfig, SpRegistry
from idp.saml.requests import (
    Incoming,
    check_envelope,
    message_id,
    message_issuer,
    remember_id,
    verify_signature,
)
from idp.saml.xmlutil import SamlError, instant, new_id, text_of
from store.ephemeral import EphemeralState

_P = f"{{{SAMLP}}}"
_A = f"{{{SAML}}}"
REQUEST_SECONDS = 300.0  # NotOnOrAfter of our LogoutRequests


@dataclass(frozen=True)
class Participant:
    """An SP that received an assertion in this session, and how it knows the user."""

    entity_id: str
    name_id: str
    name_id_format: str
    session_index: str

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, raw: str) -> Participant:
        return cls(**json.loads(raw))


def participants_key(session_index: str) -> str:
    return f"saml:participants:{session_index}"


def add_participant(state: EphemeralState, participant: Participant, ttl: float) -> None:
    state.sadd(participants_key(participant.session_index), participant.encode(), ttl=ttl)


class ParticipantLog:
    """:func:`add_participant`, skipping a repeat this process made less than ``refresh`` ago.

    Every assertion to the same SP in the same session would add the same member again.
    Skipping the repeat is safe: the set was stored with the session's whole absolute
    lifetime as its expiry, so it outlives the session, and it is only deleted when the
    session ends (a later login has a new SessionIndex).
    """

    def __init__(self, refresh: float = 600.0, size: int = 20_000) -> None:
        self.refresh = refresh
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, state: EphemeralState, participant: Participant, ttl: float) -> None:
        member = participant.encode()
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(member)
        if seen is not None and now - seen < self.refresh:
            return
        add_participant(state, participant, ttl)
        with self._lock:
            self._seen[member] = now
            self._seen.move_to_end(member)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


def participants(state: EphemeralState, session_index: str) -> list[Participant]:
    members = state.smembers(participants_key(session_index))
    return sorted((Participant.decode(m) for m in members), key=lambda p: p.entity_id)


@dataclass(frozen=True)
class LogoutRequestInfo:
    id: str
    sp: SpConfig
    name_id: str
    session_indexes: tuple[str, ...]
    relay_state: str | None
    binding: str


@dataclass(frozen=True)
class LogoutResponseInfo:
    sp: SpConfig
    in_response_to: str | None
    status: str
    relay_state: str | None


def parse_logout_request(
    incoming: Incoming,
    registry: SpRegistry,
    state: EphemeralState,
    *,
    slo_url: str,
    now: dt.datetime,
    skew: dt.timedelta,
    decryption_keys: Callable[[], Iterable[bytes]] = tuple,
) -> LogoutRequestInfo:
    """Check a LogoutRequest (signature before anything in it is used) and read it.

    ``decryption_keys`` gives our encryption keys' private PEMs, asked only when the
    NameID is encrypted.
    """
    root = incoming.root
    if root.tag != _P + "LogoutRequest":
        raise SamlError("the message is not a LogoutRequest")
    request_id = message_id(root)
    sp = registry.get(message_issuer(root))
    if sp is None:
        raise SamlError("the service provider is not registered here", http_status=403)
    signed = verify_signature(incoming, sp, required=sp.require_signed_requests)
    check_envelope(
        root, expected_tag="LogoutRequest", destination=slo_url, signed=signed, now=now, skew=skew
    )
    identifiers = [
        child for child in root if child.tag in (_A + "NameID", _A + "EncryptedID", _A + "BaseID")
    ]
    if len(identifiers) != 1 or identifiers[0].tag == _A + "BaseID":
        raise SamlError("LogoutRequest must name the user with one NameID or EncryptedID")
    found = identifiers[0]
    if found.tag == _A + "EncryptedID":
        if not signed:
            # Decrypting what anyone may send would make us a decryption oracle (AES-CBC
            # padding, Jager and Somorovsky 2011): only a ciphertext the SP signed is opened.
            raise SamlError(
                "an encrypted NameID is accepted only in a signed LogoutRequest: sign it "
                "with the key in your metadata"
            )
        found = decrypt_name_id(found, decryption_keys())
    name_id = text_of(found)
    if not name_id:
        raise SamlError("LogoutRequest has an empty NameID")
    remember_id(state, "logout", sp.entity_id, request_id, 2 * skew)
    return LogoutRequestInfo(
        id=request_id,
        sp=sp,
        name_id=name_id,
        session_indexes=tuple(text_of(e) or "" for e in root.findall(_P + "SessionIndex")),
        relay_state=incoming.relay_state,
        binding=incoming.binding,
    )


def parse_logout_response(
    incoming: Incoming,
    registry: SpRegistry,
    *,
    slo_url: str,
    now: dt.datetime,
    skew: dt.timedelta,
) -> LogoutResponseInfo:
    root = incoming.root
    if root.tag != _P + "LogoutResponse":
        raise SamlError("the message is not a LogoutResponse")
    message_id(root)
    sp = registry.get(message_issuer(root))
    if sp is None:
        raise SamlError("the service provider is not registered here", http_status=403)
    signed = verify_signature(incoming, sp, required=sp.require_signed_requests)
    check_envelope(
        root, expected_tag="LogoutResponse", destination=slo_url, signed=signed, now=now, skew=skew
    )
    code = root.find(f"{_P}Status/{_P}StatusCode")
    return LogoutResponseInfo(
        sp=sp,
        in_response_to=root.get("InResponseTo"),
        status=code.get("Value", "") if code is not None else "",
        relay_state=incoming.relay_state,
    )


def build_logout_request(
    *, issuer: str, destination: str, participant: Participant, now: dt.datetime
) -> etree._Element:
    request = etree.Element(
        _P + "LogoutRequest",
        nsmap={"samlp": SAMLP, "saml": SAML},
        ID=new_id(),
        Version="2.0",
        IssueInstant=instant(now),
        Destination=destination,
        NotOnOrAfter=instant(now + dt.timedelta(seconds=REQUEST_SECONDS)),
    )
    etree.SubElement(request, _A + "Issuer").text = issuer
    name_id = etree.SubElement(
        request,
        _A + "NameID",
        Format=participant.name_id_format,
        SPNameQualifier=participant.entity_id,
    )
    if participant.name_id_format == NAMEID_PERSISTENT:
        # The NameID exactly as the assertion carried it (SAML core §3.7.1), or an SP that
        # compares the whole element does not recognise the user.
        name_id.set("NameQualifier", issuer)
    name_id.text = participant.name_id
    etree.SubElement(request, _P + "SessionIndex").text = participant.session_index
    return request


def build_logout_response(
    *,
    issuer: str,
    destination: str,
    in_response_to: str,
    now: dt.datetime,
    status: str = STATUS_SUCCESS,
    sub_status: str | None = None,
) -> etree._Element:
    response = etree.Element(
        _P + "LogoutResponse",
        nsmap={"samlp": SAMLP, "saml": SAML},
        ID=new_id(),
        Version="2.0",
        IssueInstant=instant(now),
        Destination=destination,
        InResponseTo=in_response_to,
    )
    etree.SubElement(response, _A + "Issuer").text = issuer
    status_element = etree.SubElement(response, _P + "Status")
    code = etree.SubElement(status_element, _P + "StatusCode", Value=status)
    if sub_status:
        etree.SubElement(code, _P + "StatusCode", Value=sub_status)
    return response
