"""Helpers for the OpenID provider tests: a seeded world, a scripted login, RP plumbing.

The world: municipality 29189846 with user ``anne``; fagsystem KY (a user-facing system
and a service), SAPA (user-facing and an anvendersystem) and ORG (a service); service
agreements in every status; OIDC clients for every authentication method. The login is
:class:`ScriptedLogin`, a stand-in for ``idp.login`` with the same contract: it reuses a
session that is good enough, fails passive requests without one, and otherwise "logs in"
whoever the test put in ``next_login``. Keys are generated once per test session and
copied, so an app costs a file copy, not an RSA key generation.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.test import TestResponse

from app import create_app, initialise, setup_keys, setup_store
from idp.loa import LoA
from idp.login.logout import LogoutRun, SystemOutcome
from idp.login.types import FailureReason, LoginFailure, LoginRequest, LoginResult
from idp.oidc import Provider, rp_logout
from idp.oidc.authorization import finish_authorization
from idp.oidc.login_bridge import Continuation, LiveSession, LogoutInitiator
from idp.oidc.provider import EXTENSION
from settings import Settings, load_settings
from store.db import Database
from store.models import (
    Assignment,
    ConstraintType,
    Fagsystem,
    JfrGrant,
    Jobfunktionsrolle,
    Municipality,
    OidcClient,
    Serviceaftale,
    SystemRole,
    User,
)

ISSUER = "http://idp.test"
CVR = "29189846"
OTHER_CVR = "11111111"
KY = "https://ky.demo.test"
SAPA = "https://sapa.demo.test"
ORG = "https://org.service.test"
KY_ROLE = "http://ky.demo.test/roles/usersystemrole/laes_sag/1"
SAPA_ROLE = "http://sapa.demo.test/roles/usersystemrole/overblik/1"
ORG_ROLE = "http://org.service.test/roles/servicesystemrole/udstil/1"
KY_SERVICE_ROLE = "http://ky.demo.test/roles/servicesystemrole/laes_sager/1"
SECRET = "s3cret-for-tests-only"
REDIRECT = "https://rp.test/cb"
LOGOUT_REDIRECT = "https://rp.test/bye"
TLS_DN = "CN=sapa.demo.test,O=SAPA A/S,C=DK"
_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(SECRET)

RP_KEY = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1"})


def _cert(common_name: str = "sapa.demo.test", org: str = "SAPA A/S") -> tuple[Any, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives import serialization

    return cert, cert.public_bytes(serialization.Encoding.PEM).decode()


CLIENT_CERT, CLIENT_CERT_PEM = _cert()
OTHER_CERT, OTHER_CERT_PEM = _cert("evil.test", "Evil")


def thumbprint(certificate: x509.Certificate) -> str:
    return base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).rstrip(b"=").decode()


# -- the world --


def _client(
    client_id: str, fagsystem: str, method: str, grants: list[str], **extra: Any
) -> OidcClient:
    values: dict[str, Any] = {
        "client_id": client_id,
        "fagsystem_id": fagsystem,
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [LOGOUT_REDIRECT],
        "token_endpoint_auth_method": method,
        "client_secret_hash": _HASH if method.startswith("client_secret") else None,
        "grant_types": grants,
        "signing_alg": "RS256",
    }
    values.update(extra)
    return OidcClient(**values)


CODE = ["authorization_code", "refresh_token"]
SYSTEM = ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]


def seed(database: Database) -> None:
    with database.session() as session:
        session.add(Municipality(cvr=CVR, name="Demo Kommune", domain="demo.dk"))
        session.add(Municipality(cvr=OTHER_CVR, name="Anden Kommune", domain="anden.dk"))
        session.flush()
        session.add_all(
            [
                Fagsystem(id="KY", name="KY", entity_id=KY, kinds=["brugervendt", "service"]),
                Fagsystem(id="SAPA", name="SAPA", entity_id=SAPA, kinds=["brugervendt"]),
                Fagsystem(id="ORG", name="Organisation", entity_id=ORG, kinds=["service"]),
                Fagsystem(
                    id="ANON", name="Uden persondata", entity_id="https://anon.test",
                    personal_data=False, min_loa="Substantial",
                ),
            ]
        )  # fmt: skip
        session.flush()
        # The service declares the constraint type its agreement gives a value for, as
        # the catalogue requires; authz.agreements passes only declared types on.
        session.add(
            ConstraintType(
                fagsystem_id="ORG", uri="urn:x:fysiskslet", name="Fysisk slet", kind="values",
                values=["Ja", "Nej"],
            )
        )  # fmt: skip
        session.add_all(
            [
                SystemRole(id=KY_ROLE, fagsystem_id="KY", name="Læs sag"),
                SystemRole(id=SAPA_ROLE, fagsystem_id="SAPA", name="Overblik"),
                SystemRole(
                    id=ORG_ROLE,
                    fagsystem_id="ORG",
                    name="Udstil",
                    constraint_uris=["urn:x:fysiskslet"],
                ),
                SystemRole(id=KY_SERVICE_ROLE, fagsystem_id="KY", name="Læs sager"),
            ]
        )
        session.add(
            User(
                id="11111111-2222-3333-4444-555555555555", cvr=CVR, username="anne",
                name="Anne Sagsbehandler", given_name="Anne", surname="Sagsbehandler",
                email="anne@demo.dk",
            )
        )  # fmt: skip
        jfr = "http://demo.dk/roles/jobrole/sagsbehandler/1"
        session.add(Jobfunktionsrolle(id=jfr, cvr=CVR, name="Sagsbehandler"))
        session.flush()
        session.add_all(
            [
                JfrGrant(jfr_id=jfr, position=0, role_id=KY_ROLE, constraints={}),
                JfrGrant(jfr_id=jfr, position=1, role_id=SAPA_ROLE, constraints={}),
            ]
        )
        session.add(
            Assignment(
                cvr=CVR, jfr_id=jfr, subject_type="user",
                user_id="11111111-2222-3333-4444-555555555555",
            )
        )  # fmt: skip
        agreements = [
            ("sa-sapa-org", "SAPA", "ORG", CVR, "approved", False, {"urn:x:fysiskslet": ["Nej"]}),
            ("sa-sapa-ky", "SAPA", "KY", CVR, "approved", True, {}),
            ("sa-ky-org-requested", "KY", "ORG", CVR, "requested", False, {}),
            ("sa-sapa-org-other-rejected", "SAPA", "ORG", OTHER_CVR, "rejected", False, {}),
            ("sa-anon-org-revoked", "ANON", "ORG", CVR, "revoked", False, {}),
        ]
        for aid, user, service, cvr, status, obo, constraints in agreements:
            role = ORG_ROLE if service == "ORG" else KY_SERVICE_ROLE
            session.add(
                Serviceaftale(
                    id=aid, cvr=cvr, anvendersystem_id=user, service_id=service, roles=[role],
                    constraints=constraints, on_behalf_of=obo, status=status,
                )
            )  # fmt: skip
        session.add_all(
            [
                _client("ky-web", "KY", "client_secret_basic", CODE),
                _client("ky-post", "KY", "client_secret_post", CODE),
                _client("ky-public", "KY", "none", CODE),
                _client("ky-ps256", "KY", "client_secret_basic", CODE, signing_alg="PS256"),
                _client("ky-es256", "KY", "client_secret_basic", CODE, signing_alg="ES256"),
                _client("anon-web", "ANON", "client_secret_basic", CODE),
                _client(
                    "ky-pkjwt", "KY", "private_key_jwt", [*CODE, "client_credentials"],
                    jwks={"keys": [RP_KEY.as_dict(private=False)]},
                ),
                _client("sapa-web", "SAPA", "client_secret_basic", CODE + SYSTEM),
                _client("sapa-system", "SAPA", "client_secret_basic", SYSTEM),
                _client(
                    "sapa-mtls", "SAPA", "tls_client_auth", SYSTEM,
                    tls_client_auth_subject_dn=TLS_DN,
                ),
                _client("ky-system", "KY", "client_secret_basic", SYSTEM),
                _client("anon-system", "ANON", "client_secret_basic", SYSTEM),
            ]
        )  # fmt: skip


ANNE = "11111111-2222-3333-4444-555555555555"


# -- a scripted login --


@dataclass
class ScriptedLogin:
    """The login's contract without its pages: tests decide who logs in and how."""

    session: LoginResult | None = None
    next_login: LoginResult | None = None
    requests: list[LoginRequest] = field(default_factory=list)
    served: set[str] = field(default_factory=set)
    continuation: Continuation = finish_authorization

    def register(self, app: Flask, continuation: Continuation) -> None:
        self.continuation = continuation

    def begin(self, login_request: LoginRequest) -> Any:
        self.requests.append(login_request)
        session = self.session
        good = (
            session is not None
            and not login_request.force_authn
            and session.loa.satisfies(login_request.min_loa)
            and (
                login_request.max_age is None
                or time.time() - session.auth_instant.timestamp() <= login_request.max_age
            )
        )
        if good:
            assert session is not None
            return self._deliver(login_request, session)
        if login_request.passive:
            return self.continuation(login_request, LoginFailure(FailureReason.NO_PASSIVE))
        if self.next_login is None:
            return self.continuation(login_request, LoginFailure(FailureReason.CANCELLED))
        self.session, self.next_login = self.next_login, None
        return self._deliver(login_request, self.session)

    def _deliver(self, login_request: LoginRequest, result: LoginResult) -> Any:
        if login_request.client:
            self.served.add(login_request.client)
        return self.continuation(login_request, result)

    def current(self) -> LiveSession | None:
        session = self.session
        return None if session is None else LiveSession(session.session_id, session.user_id)

    def register_logout(self, backchannel: Any, answer: Any) -> None:
        return None  # the scripted logout calls the OIDC part itself

    def logout(self, initiator: LogoutInitiator) -> Any:
        """End the scripted session; the OIDC part of the logout is the real one."""
        if self.session is None:
            return None
        run = LogoutRun(
            id="scripted",
            user_id=self.session.user_id,
            username=self.session.username,
            cvr=self.session.cvr,
            sid=self.session.session_id,
            initiator={"protocol": "oidc", "client": initiator.client_id,
                       "redirect_uri": initiator.redirect_uri},
            systems=[SystemOutcome("oidc", client, client) for client in sorted(self.served)],
        )  # fmt: skip
        self.session, self.served = None, set()
        rp_logout.session_ended(run)
        return rp_logout.answer(run)


def login_result(
    loa: LoA = LoA.SUBSTANTIAL, *, user_id: str = ANNE, ago: float = 5, sid: str = "sid-1"
) -> LoginResult:
    return LoginResult(
        user_id=user_id,
        cvr=CVR,
        username="anne",
        loa=loa,
        auth_instant=dt.datetime.fromtimestamp(time.time() - ago, dt.UTC),
        methods=("otp", "pwd") if loa is LoA.SUBSTANTIAL else ("pwd",),
        session_id=sid,
    )


# -- the app --


def oidc_settings(data_dir: Path, **extra: str) -> Settings:
    env = {
        "STS_DATA_DIR": str(data_dir),
        "STS_BASE_URL": ISSUER,
        "STS_LOG_LEVEL": "WARNING",
        "STS_ARGON2_MEMORY_KIB": "19456",  # OWASP's minimum: the login hashes a dummy at start
        "STS_ARGON2_TIME_COST": "2",
        "STS_ARGON2_PARALLELISM": "1",
        **extra,
    }
    return load_settings(env)


def build_template(data_dir: Path) -> None:
    """A data directory with a migrated, seeded SQLite database and signing keys."""
    settings = oidc_settings(data_dir)
    initialise(settings, setup_store(settings), setup_keys(settings))
    database = Database(settings.effective_database_url)
    seed(database)
    database.dispose()


@dataclass
class OidcWorld:
    app: Flask
    provider: Provider
    login: ScriptedLogin
    client: FlaskClient

    @property
    def settings(self) -> Settings:
        return self.provider.services.settings

    @property
    def database(self) -> Database:
        return self.provider.services.database


def make_world(template: Path, data_dir: Path, *, scripted: bool = True, **extra: str) -> OidcWorld:
    shutil.copytree(template, data_dir)
    settings = oidc_settings(data_dir, **extra)
    app = create_app(settings)
    return attach(app, scripted=scripted)


def attach(app: Flask, *, scripted: bool = True) -> OidcWorld:
    """The world of ``app``; with ``scripted`` False the real login stays in place (and
    ``world.login`` is an unused stand-in)."""
    provider: Provider = app.extensions[EXTENSION]
    login = ScriptedLogin()
    if scripted:
        provider.login = login
    return OidcWorld(app, provider, login, app.test_client())


# -- relying-party plumbing -----------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def basic(client_id: str, secret: str = SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def query(response: TestResponse) -> dict[str, str]:
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class CodeFlow:
    response: TestResponse
    params: dict[str, str]
    verifier: str
    nonce: str
    state: str


def authorize(world: OidcWorld, client_id: str = "ky-web", **extra: str | None) -> CodeFlow:
    verifier, challenge = pkce()
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    sent = {k: v for k, v in params.items() if v is not None}
    response = world.client.get("/oidc/authorize?" + urlencode(sent))
    return CodeFlow(response, sent, verifier, sent.get("nonce", ""), sent.get("state", ""))


def token(world: OidcWorld, client_id: str = "ky-web", **form: str) -> TestResponse:
    if client_id in ("ky-post",):
        form = {"client_id": client_id, "client_secret": SECRET, **form}
        headers: dict[str, str] = {}
    elif client_id in ("ky-public",):
        form = {"client_id": client_id, **form}
        headers = {}
    else:
        headers = basic(client_id)
    return world.client.post("/oidc/token", data=form, headers=headers)


def redeem(world: OidcWorld, flow: CodeFlow, client_id: str = "ky-web") -> TestResponse:
    code = query(flow.response)["code"]
    return token(
        world,
        client_id,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=flow.verifier,
    )


def logged_in_tokens(world: OidcWorld, client_id: str = "ky-web", **extra: str) -> dict[str, Any]:
    if world.login.session is None:
        world.login.next_login = login_result()
    flow = authorize(world, client_id, **extra)
    assert flow.response.status_code == 302, flow.response.get_data(as_text=True)
    response = redeem(world, flow, client_id)
    assert response.status_code == 200, response.get_json()
    tokens: dict[str, Any] = response.get_json()
    return tokens


def server_keys(world: OidcWorld) -> KeySet:
    return KeySet.import_key_set(world.client.get("/oidc/jwks").get_json())


def decode(world: OidcWorld, token_value: str) -> jwt.Token:
    return jwt.decode(token_value, server_keys(world), algorithms=["RS256", "PS256", "ES256"])


def client_assertion(
    client_id: str = "ky-pkjwt",
    *,
    audience: str = ISSUER + "/oidc/token",
    key: RSAKey = RP_KEY,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    body.update(claims)
    return jwt.encode(header or {"alg": "RS256", "kid": key.kid}, body, key, algorithms=["RS256"])


# -- a relying party's back-channel logout endpoint ---------------------------------------


@contextmanager
def backchannel_receiver() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on localhost that records every ``logout_token`` posted to it."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            received.extend(form.get("logout_token", []))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/backchannel", received
    finally:
        server.shutdown()
        server.server_close()


def set_client(world: OidcWorld, client_id: str, **values: Any) -> None:
    with world.database.session() as session:
        row = session.get(OidcClient, client_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
    world.provider.clients.invalidate()


def b64json(value: str) -> Any:
    return json.loads(base64.b64decode(value))
