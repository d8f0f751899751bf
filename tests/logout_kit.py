"""Shared pieces for the logout tests: a pysaml2 SP and OIDC RPs around one SSO session.

The peers are independent of the IdP's code: the SAML SP is pysaml2 (signatures through
the ``xmlsec1`` command); the OIDC RP is a real HTTP server on localhost that verifies each
back-channel logout token with authlib's ``jose`` (not the ``joserfc`` the IdP signs with)
against the IdP's published JWKS, and answers 400 to a token it does not accept; a silent
RP accepts connections and never answers.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from argon2 import PasswordHasher
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NameID

from idp.oidc.backchannel_logout import EVENT
from idp.saml.constants import NAMEID_PERSISTENT, SAMLP
from settings import Settings
from store.models import OidcClient
from tests.saml_kit import (
    IDP_ENTITY,
    SpKeys,
    World,
    make_world,
    path_and_query,
    read_form,
)

SP = "https://ky.test/sp"
SP_SLO = "https://ky.test/slo"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ISSUER = "http://127.0.0.1:8000"
REDIRECT = "https://sapa.test/cb"
BYE = "https://sapa.test/bye"
SECRET = "rp-secret-for-tests-only"
PARTIAL = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
P = f"{{{SAMLP}}}"


# -- the OIDC relying party: a real HTTP server that verifies logout tokens -------------------


@dataclass
class Rp:
    """What an RP's back-channel endpoint received: verified claims and rejections."""

    jwks: dict[str, Any] = field(default_factory=dict)
    accepted: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    uri: str = ""

    def verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """OpenID Back-Channel Logout 1.0 §2.6, with authlib.jose and the IdP's JWKS."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # authlib.jose announces its move to joserfc
            from authlib.jose import JsonWebKey, JsonWebToken

        claims = JsonWebToken(["RS256"]).decode(
            token,
            JsonWebKey.import_key_set(self.jwks),
            claims_options={
                "iss": {"essential": True, "value": ISSUER},
                "aud": {"essential": True, "value": "sapa-web"},
                "iat": {"essential": True},
                "jti": {"essential": True},
                "events": {"essential": True},
            },
        )
        claims.validate(leeway=5)
        if EVENT not in claims["events"] or "nonce" in claims:
            raise ValueError("not a logout token")
        if "sid" not in claims and "sub" not in claims:
            raise ValueError("neither sid nor sub")
        return dict(claims.header), dict(claims)


@contextmanager
def running_rp() -> Iterator[Rp]:
    """The RP's back-channel logout endpoint, on a free localhost port."""
    receiver = Rp()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            token = form.get("logout_token", [""])[0]
            try:
                receiver.accepted.append(receiver.verify(token))
            except Exception as exc:
                receiver.rejected.append(f"{exc.__class__.__name__}: {exc}")
                self.send_response(400)
            else:
                self.send_response(200)
            self.send_header("Cache-Control", "no-store")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.uri = f"http://127.0.0.1:{server.server_port}/backchannel-logout"
    yield receiver
    server.shutdown()
    server.server_close()


@contextmanager
def silent_rp() -> Iterator[str]:
    """An RP that accepts the connection and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/backchannel-logout"
    listener.close()


# -- the SAML service provider: pysaml2 ------------------------------------------------------


def pysaml2_sp(
    directory: Path, keys: SpKeys, idp_metadata: str, slo_binding: str = BINDING_HTTP_REDIRECT
) -> Saml2Client:
    key_file, cert_file = keys.write(directory / "sp")
    (directory / "idp.xml").write_text(idp_metadata)
    config = SPConfig().load(
        {
            "entityid": SP,
            "key_file": key_file,
            "cert_file": cert_file,
            "encryption_keypairs": [{"key_file": key_file, "cert_file": cert_file}],
            "xmlsec_binary": shutil.which("xmlsec1"),
            "metadata": {"local": [str(directory / "idp.xml")]},
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [("https://ky.test/acs", BINDING_HTTP_POST)],
                        "single_logout_service": [(SP_SLO, slo_binding)],
                    },
                    "authn_requests_signed": True,
                    "want_response_signed": True,
                    "want_assertions_signed": True,
                    "logout_requests_signed": True,
                    "logout_responses_signed": True,
                    "name_id_format": [NAMEID_PERSISTENT],
                }
            },
        }
    )
    return Saml2Client(config)


@dataclass
class Stage:
    world: World
    sp: Saml2Client
    rp: Rp
    name_id: NameID
    session_index: str
    tokens: dict[str, Any]


def hash(secret: str) -> str:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(secret)


def oidc_client(client_id: str, fagsystem: str, backchannel: str | None) -> OidcClient:
    return OidcClient(
        client_id=client_id,
        fagsystem_id=fagsystem,
        redirect_uris=[REDIRECT],
        post_logout_redirect_uris=[BYE],
        token_endpoint_auth_method="client_secret_basic",
        client_secret_hash=hash(SECRET),
        grant_types=["authorization_code", "refresh_token"],
        signing_alg="RS256",
        backchannel_logout_uri=backchannel,
    )


def basic(client_id: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()}


def authorize(world: World, client_id: str, **extra: str) -> Any:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st",
        "nonce": "nn",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        **extra,
    }
    return world.client.get("/oidc/authorize?" + urlencode(params))


def code_flow(world: World, client_id: str) -> dict[str, Any]:
    """Signed on to the RP through the SSO session (no login page)."""
    answer = authorize(world, client_id)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = world.client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        },
        headers=basic(client_id),
    )
    assert tokens.status_code == 200, tokens.get_json()
    result: dict[str, Any] = tokens.get_json()
    return result


def jwt_claims(jwt: str) -> dict[str, Any]:
    body = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def staged(
    settings: Settings,
    tmp_path: Path,
    keys: SpKeys,
    rp: Rp,
    silent: str | None = None,
    slo_binding: str = BINDING_HTTP_REDIRECT,
) -> Stage:
    """One SSO session that signed on to the pysaml2 SP (KY) and to the RP (SAPA), and,
    with ``silent``, to an RP that never answers (KSD)."""
    world = make_world(settings)
    idp_metadata = world.client.get("/saml/metadata").get_data(as_text=True)
    sp = pysaml2_sp(tmp_path, keys, idp_metadata, slo_binding)
    world.add_sp(SP, keys, fagsystem="ky", metadata=str(entity_descriptor(sp.config)))
    with world.app.extensions["sts"].database.session() as db:
        db.add(oidc_client("sapa-web", "sapa", rp.uri))
        if silent:
            db.add(oidc_client("ksd-web", "ksd", silent))
    rp.jwks = world.client.get("/oidc/jwks").get_json()

    request_id, info = sp.prepare_for_authenticate(
        entityid=IDP_ENTITY, binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=RSA_SHA256
    )
    first = world.client.get(path_and_query(dict(info["headers"])["Location"]))
    assert first.status_code == 303, first.get_data(as_text=True)
    _action, fields = read_form(world.login(first.headers["Location"], methods="pwd,otp").text)
    response = sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert response is not None and response.name_id.text == world.user_id
    session_index = response.assertion.authn_statement[0].session_index
    tokens = code_flow(world, "sapa-web")
    if silent:
        code_flow(world, "ksd-web")
    return Stage(world, sp, rp, response.name_id, session_index, tokens)


# -- an SP's encrypted NameID, made by the xmlsec1 command ---------------------------------

XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def xmlsec1_encrypted_id(
    plain_xml: str,
    certificate_pem: str,
    work: Path,
    *,
    key_transport: str = XENC_NS + "rsa-oaep-mgf1p",
    content: str = XENC_NS + "aes256-cbc",
    session_key: str = "aes-256",
) -> str:
    """``saml:EncryptedID`` around ``plain_xml`` encrypted by the ``xmlsec1`` command (the
    content key sent with ``key_transport`` to ``certificate_pem``), as an SP would."""
    e, d = f"{{{XENC_NS}}}", f"{{{DSIG_NS}}}"
    template = etree.Element(
        e + "EncryptedData", nsmap={"xenc": XENC_NS, "ds": DSIG_NS}, Type=XENC_NS + "Element"
    )
    etree.SubElement(template, e + "EncryptionMethod", Algorithm=content)
    key_info = etree.SubElement(template, d + "KeyInfo")
    encrypted_key = etree.SubElement(key_info, e + "EncryptedKey")
    etree.SubElement(encrypted_key, e + "EncryptionMethod", Algorithm=key_transport)
    etree.SubElement(etree.SubElement(encrypted_key, e + "CipherData"), e + "CipherValue")
    etree.SubElement(etree.SubElement(template, e + "CipherData"), e + "CipherValue")
    work.mkdir(parents=True, exist_ok=True)
    (work / "template.xml").write_bytes(etree.tostring(template))
    (work / "plain.xml").write_text(plain_xml)
    (work / "recipient.pem").write_text(certificate_pem)
    subprocess.run(
        [
            str(shutil.which("xmlsec1")), "--encrypt", "--pubkey-cert-pem",
            str(work / "recipient.pem"), "--session-key", session_key, "--xml-data",
            str(work / "plain.xml"), "--output", str(work / "encrypted.xml"),
            str(work / "template.xml"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    data = (work / "encrypted.xml").read_text()
    data = data.split("?>", 1)[-1] if data.startswith("<?xml") else data
    return (
        f'<saml:EncryptedID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{data.strip()}'
        "</saml:EncryptedID>"
    )
