"""One logout ends both protocols: SAML SPs and OIDC RPs of one SSO session.

The peers (see ``tests/logout_kit.py``): pysaml2 as the SAML SP, a real HTTP server as the
OIDC RP that verifies logout tokens with authlib's ``jose`` and the IdP's JWKS, and an RP
that never answers.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import NameID
from saml2.samlp import LogoutRequest, SessionIndex
from saml2.sigver import verify_redirect_signature
from sqlalchemy import select

from idp.oidc.backchannel_logout import EVENT
from idp.saml.constants import STATUS_NO_PASSIVE, STATUS_SUCCESS
from settings import Settings
from store.models import AuditEvent
from tests.logout_kit import (
    BYE,
    PARTIAL,
    RSA_SHA256,
    SHA256,
    SP,
    SP_SLO,
    XENC_NS,
    P,
    Rp,
    Stage,
    authorize,
    basic,
    jwt_claims,
    running_rp,
    silent_rp,
    staged,
    xmlsec1_encrypted_id,
)
from tests.saml_kit import (
    IDP_ENTITY,
    SLO,
    SpKeys,
    idp_certificate_pem,
    path_and_query,
    read_form,
    response_of,
)

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 not installed")


@pytest.fixture(scope="module")
def sp_keys() -> SpKeys:
    return SpKeys.generate("logout-sp")


@pytest.fixture
def rp() -> Iterator[Rp]:
    with running_rp() as receiver:
        yield receiver


@pytest.fixture(name="silent_rp")
def silent_rp_fixture() -> Iterator[str]:
    with silent_rp() as uri:
        yield uri


def _sso_session_gone(stage: Stage) -> None:
    """A passive SAML request is refused and the OIDC session and grants are gone."""
    world = stage.world
    _request_id, info = stage.sp.prepare_for_authenticate(
        entityid=IDP_ENTITY,
        binding=BINDING_HTTP_REDIRECT,
        sign=True,
        sigalg=RSA_SHA256,
        is_passive="true",
    )
    after = world.client.get(path_and_query(dict(info["headers"])["Location"]))
    codes = [c.get("Value") for c in response_of(after)[1].iter(P + "StatusCode")]
    assert codes[-1] == STATUS_NO_PASSIVE
    silent = authorize(world, "sapa-web", prompt="none")
    assert "error=login_required" in silent.headers["Location"]
    refreshed = world.client.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": stage.tokens["refresh_token"]},
        headers=basic("sapa-web"),
    )
    assert refreshed.get_json()["error"] == "invalid_grant"


def _logout_token_matches(stage: Stage) -> None:
    assert stage.rp.rejected == []
    assert len(stage.rp.accepted) == 1
    header, claims = stage.rp.accepted[0]
    id_token = jwt_claims(stage.tokens["id_token"])
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    assert claims["sub"] == stage.world.user_id and claims["sid"] == id_token["sid"]
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims


def _sp_logout_request(stage: Stage, binding: str) -> Any:
    """The SP's signed LogoutRequest, sent by the browser in ``binding``; the IdP's answer."""
    _request_id, request = stage.sp.create_logout_request(
        destination=SLO,
        issuer_entity_id=IDP_ENTITY,
        name_id=stage.name_id,
        session_indexes=[stage.session_index],
        sign=binding == BINDING_HTTP_POST,
        sign_alg=RSA_SHA256,
        digest_alg=SHA256,
    )
    sent = stage.sp.apply_binding(
        binding,
        str(request),
        SLO,
        relay_state="sp-state",
        sign=binding == BINDING_HTTP_REDIRECT,
        sigalg=RSA_SHA256,
    )
    if binding == BINDING_HTTP_REDIRECT:
        return stage.world.client.get(path_and_query(dict(sent["headers"])["Location"]))
    _action, fields = read_form(sent["data"])
    return stage.world.client.post("/saml/slo", data=fields)


def _logout_response_status(stage: Stage, location: str) -> list[str]:
    """The status codes of the IdP's LogoutResponse, read by the SP (pysaml2)."""
    assert location.startswith(SP_SLO + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert query["RelayState"] == ["sp-state"]
    parsed = stage.sp.parse_logout_request_response(query["SAMLResponse"][0], BINDING_HTTP_REDIRECT)
    status = parsed.response.status.status_code
    codes = [status.value]
    while status.status_code is not None:
        status = status.status_code
        codes.append(status.value)
    return codes


def _idp_signature_verified_by_the_sp(stage: Stage, location: str) -> dict[str, str]:
    """pysaml2 checks the Redirect-binding signature with the IdP's metadata certificate."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    certs = stage.sp.metadata.certs(IDP_ENTITY, "any", "signing")
    assert certs
    message = {k: query[k] for k in ("SAMLRequest", "RelayState", "SigAlg", "Signature")}
    assert any(verify_redirect_signature(message, stage.sp.sec.sec_backend, c) for _n, c in certs)
    tampered = {**message, "RelayState": message["RelayState"] + "x"}
    assert not any(
        verify_redirect_signature(tampered, stage.sp.sec.sec_backend, c) for _n, c in certs
    )
    return query


# -- the acceptance tests ------------------------------------------------------------------


@pytest.mark.parametrize(
    "binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST], ids=["redirect", "post"]
)
def test_logout_at_a_saml_sp_ends_the_oidc_rps_session_with_a_verified_logout_token(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp, binding: str
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp)
    answer = _sp_logout_request(stage, binding)
    # Every system confirmed: straight back to the SP with Success.
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert _logout_response_status(stage, answer.headers["Location"]) == [STATUS_SUCCESS]
    _logout_token_matches(stage)
    assert rp.accepted[0][1]["aud"] == "sapa-web"
    _sso_session_gone(stage)


def test_rp_initiated_logout_sends_the_saml_sp_a_signed_logout_request(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp)
    world = stage.world
    to_sp = world.client.get(
        "/oidc/logout",
        query_string={
            "id_token_hint": stage.tokens["id_token"],
            "post_logout_redirect_uri": BYE,
            "state": "rp-state",
        },
    )
    assert to_sp.status_code == 302 and to_sp.headers["Location"].startswith(SP_SLO + "?")
    query = _idp_signature_verified_by_the_sp(stage, to_sp.headers["Location"])
    # The SP takes the request as pysaml2 does, logs the person out and answers (signed).
    sent = stage.sp.handle_logout_request(
        query["SAMLRequest"],
        stage.name_id,
        BINDING_HTTP_REDIRECT,
        sign=True,
        sign_alg=RSA_SHA256,
        relay_state=query["RelayState"],
    )
    assert stage.sp.users.subjects() == []  # the SP's own session is gone
    back = world.client.get(path_and_query(dict(sent["headers"])["Location"]))
    # Every system confirmed: on to the RP's registered post_logout_redirect_uri.
    assert back.status_code == 302 and back.headers["Location"] == BYE + "?state=rp-state"
    _logout_token_matches(stage)  # the RP that asked is told too, by its back channel
    _sso_session_gone(stage)


def test_the_idp_logout_page_lists_who_logged_out_and_who_did_not_answer(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp, silent_rp: str
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp, silent=silent_rp)
    world = stage.world
    page = world.client.get("/login/logout")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    to_sp = world.client.post("/login/logout", data={"csrf_token": token.group(1)})
    assert to_sp.status_code == 302
    query = _idp_signature_verified_by_the_sp(stage, to_sp.headers["Location"])
    sent = stage.sp.handle_logout_request(
        query["SAMLRequest"], stage.name_id, BINDING_HTTP_REDIRECT, sign=True,
        sign_alg=RSA_SHA256, relay_state=query["RelayState"],
    )  # fmt: skip
    result = world.client.get(path_and_query(dict(sent["headers"])["Location"]))
    assert result.status_code == 200
    html = result.get_data(as_text=True)
    assert 'lang="da"' in html and "<h1>Du er logget ud</h1>" in html
    logged_out = re.search(r'<ul class="systems" id="served-systems">(.*?)</ul>', html, re.S)
    not_answered = re.search(r'<ul class="systems" id="not-answered">(.*?)</ul>', html, re.S)
    assert logged_out is not None and not_answered is not None
    assert re.findall(r"<li>([^<]+)</li>", logged_out.group(1)) == ["KY", "SAPA"]
    assert [unescape(t) for t in re.findall(r"<li>(.*?)</li>", not_answered.group(1))] == [
        '<span class="system">KSD</span>: svarede ikke'
    ]
    assert 'id="continue"' not in html  # nobody to go back to from the IdP's own page
    _logout_token_matches(stage)
    _sso_session_gone(stage)
    with world.app.extensions["sts"].database.session() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "logout")).one()
        outcomes = {s["client"]: s["status"] for s in event.details["systems"]}
    assert event.outcome == "partial" and event.object_id == world.user_id
    assert outcomes == {SP: "logged_out", "sapa-web": "logged_out", "ksd-web": "no_answer"}


def test_a_saml_sp_that_asks_sees_partial_logout_after_the_page_when_an_rp_is_silent(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp, silent_rp: str
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp, silent=silent_rp)
    page = _sp_logout_request(stage, BINDING_HTTP_POST)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "KSD</span>: svarede ikke" in html
    link = re.search(r'<a class="button" id="continue" href="([^"]+)">Fortsæt til KY</a>', html)
    assert link is not None, html
    onward = stage.world.client.get(unescape(link.group(1)))
    assert onward.status_code == 302
    assert _logout_response_status(stage, onward.headers["Location"]) == [STATUS_SUCCESS, PARTIAL]
    again = stage.world.client.get(unescape(link.group(1)))
    assert again.status_code == 400 and "Location" not in again.headers  # the link works once
    _logout_token_matches(stage)


def test_rp_initiated_logout_without_a_redirect_ends_on_the_result_page(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp)
    to_sp = stage.world.client.get(
        "/oidc/logout", query_string={"id_token_hint": stage.tokens["id_token"]}
    )
    query = _idp_signature_verified_by_the_sp(stage, to_sp.headers["Location"])
    sent = stage.sp.handle_logout_request(
        query["SAMLRequest"], stage.name_id, BINDING_HTTP_REDIRECT, sign=True,
        sign_alg=RSA_SHA256, relay_state=query["RelayState"],
    )  # fmt: skip
    page = stage.world.client.get(path_and_query(dict(sent["headers"])["Location"]))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Location" not in page.headers
    assert re.findall(r"<li>([^<]+)</li>", html) == ["KY", "SAPA"]
    assert 'id="not-answered"' not in html and 'id="continue"' not in html


def test_an_rp_that_refuses_the_token_is_shown_as_refusing(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp)
    rp.jwks = {"keys": []}  # the RP cannot verify: it must answer 400, and we must say so
    page = _sp_logout_request(stage, BINDING_HTTP_REDIRECT)
    assert page.status_code == 200
    assert "SAPA</span>: afviste at logge dig ud" in page.get_data(as_text=True)
    assert len(rp.rejected) == 1 and rp.accepted == []


def test_an_sp_with_an_http_post_logout_service_gets_an_enveloped_signed_request(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp, slo_binding=BINDING_HTTP_POST)
    answer = stage.world.client.get(
        "/oidc/logout",
        query_string={"id_token_hint": stage.tokens["id_token"], "post_logout_redirect_uri": BYE},
    )
    action, fields = read_form(answer.get_data(as_text=True))
    assert action == SP_SLO
    xml = base64.b64decode(fields["SAMLRequest"]).decode()
    assert stage.sp.sec.correctly_signed_logout_request(xml, must=True)
    broken = xml.replace(stage.world.user_id, "someone-else")
    with pytest.raises(Exception, match=r"(?i)sign"):
        stage.sp.sec.correctly_signed_logout_request(broken, must=True)
    request = stage.sp.parse_logout_request(fields["SAMLRequest"], BINDING_HTTP_POST)
    assert request.message.name_id.text == stage.world.user_id


# -- encrypted NameID in an incoming LogoutRequest --------------------------------------------


def encrypted_id(name_id: NameID, certificate_pem: str, work: Path, key_transport: str) -> Any:
    """The pysaml2 ``EncryptedID`` of ``name_id``, encrypted by the ``xmlsec1`` command."""
    from saml2.saml import encrypted_id_from_string

    xml = xmlsec1_encrypted_id(str(name_id), certificate_pem, work, key_transport=key_transport)
    return encrypted_id_from_string(xml)


def _encrypted_logout(
    stage: Stage, certificate_pem: str, work: Path, key_transport: str, *, sign: bool = True
) -> Any:
    """The SP's signed LogoutRequest with an EncryptedID, over HTTP-POST from a browser whose
    cookie does not come along (a cross-site POST): the IdP finds the session by NameID."""
    # What create_logout_request does, with an EncryptedID instead of the NameID.
    _request_id, request = stage.sp._message(
        LogoutRequest,
        SLO,
        0,
        None,
        None,
        sign,
        encrypted_id=encrypted_id(stage.name_id, certificate_pem, work, key_transport),
        session_index=[SessionIndex(text=stage.session_index)],
        issuer=stage.sp._issuer(),
        sign_alg=RSA_SHA256,
        digest_alg=SHA256,
    )
    assert b"EncryptedID" in str(request).encode() and stage.world.user_id not in str(request)
    sent = stage.sp.apply_binding(BINDING_HTTP_POST, str(request), SLO, relay_state="sp-state")
    _action, fields = read_form(sent["data"])
    return stage.world.app.test_client().post("/saml/slo", data=fields)


def test_an_encrypted_name_id_is_decrypted_with_our_key_and_honoured(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp)
    ours = idp_certificate_pem(stage.world)
    answer = _encrypted_logout(stage, ours, tmp_path, XENC_NS + "rsa-oaep-mgf1p")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert _logout_response_status(stage, answer.headers["Location"]) == [STATUS_SUCCESS]
    _logout_token_matches(stage)  # the session of the decrypted NameID was ended
    _sso_session_gone(stage)


@pytest.mark.parametrize(
    ("to", "key_transport", "why"),
    [
        ("another key", XENC_NS + "rsa-oaep-mgf1p", "cannot be decrypted"),
        ("our key", XENC_NS + "rsa-1_5", "RSA-OAEP only"),
    ],
    ids=["not-our-key", "rsa-1_5"],
)
def test_an_encrypted_name_id_we_cannot_or_will_not_decrypt_is_refused(
    settings: Settings,
    tmp_path: Path,
    sp_keys: SpKeys,
    rp: Rp,
    to: str,
    key_transport: str,
    why: str,
) -> None:
    stage = staged(settings, tmp_path, sp_keys, rp)
    recipient = idp_certificate_pem(stage.world) if to == "our key" else sp_keys.cert_pem.decode()
    answer = _encrypted_logout(stage, recipient, tmp_path, key_transport)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert why in answer.get_data(as_text=True)
    assert rp.accepted == []
    assert "code=" in authorize(stage.world, "sapa-web", prompt="none").headers["Location"]


def test_an_encrypted_name_id_in_an_unsigned_logout_request_is_not_decrypted(
    settings: Settings, tmp_path: Path, sp_keys: SpKeys, rp: Rp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decrypting what anyone may send (the SP does not require signed requests) would make
    the IdP a decryption oracle for AES-CBC ciphertexts (Jager and Somorovsky, 2011): an
    EncryptedID is decrypted only after the SP's signature over it has verified."""
    import dataclasses

    import idp.saml.slo
    from idp.saml.views import runtime

    stage = staged(settings, tmp_path, sp_keys, rp)
    registry = runtime(stage.world.app).registry
    real_get = registry.get

    def lenient(entity_id: str | None) -> Any:  # this SP does not require signed requests
        config = real_get(entity_id)
        return dataclasses.replace(config, require_signed_requests=False) if config else None

    monkeypatch.setattr(registry, "get", lenient)
    tried: list[object] = []
    real = idp.saml.slo.decrypt_name_id

    def recorded(*args: Any) -> Any:
        tried.append(args)
        return real(*args)

    monkeypatch.setattr(idp.saml.slo, "decrypt_name_id", recorded)
    ours = idp_certificate_pem(stage.world)
    answer = _encrypted_logout(stage, ours, tmp_path, XENC_NS + "rsa-oaep-mgf1p", sign=False)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "signed" in answer.get_data(as_text=True)
    assert tried == []  # refused before any decryption
    assert rp.accepted == []
    assert "code=" in authorize(stage.world, "sapa-web", prompt="none").headers["Location"]
