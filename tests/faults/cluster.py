"""Several `stsctl serve` nodes on one PostgreSQL, one Redis and one keys directory.

Every node has the same ``STS_BASE_URL`` (``tests.oidc_kit.ISSUER``, as behind a load
balancer); a client picks the node by port. :class:`Browser` is a person's browser
(cookies shared by every node, since they are all 127.0.0.1) that drives the real login
pages, SAML SSO and the OIDC code flow against whichever node it is told to use.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from lxml import etree

from connectors.local import PasswordHashing
from idp.saml.constants import SAML
from store.db import Database
from store.models import SamlServiceProvider, User
from tests.e2e.browser import free_port
from tests.e2e.test_server_process import STSCTL, base_env
from tests.oidc_kit import ANNE, CVR, ISSUER, ORG, REDIRECT, SECRET, pkce, seed
from tests.saml_kit import SpKeys, authn_request, redirect_query, sp_metadata

PASSWORD = "korrekt hest batteri hæfteklamme"
SP = "https://ky.sp.test/saml"  # a SAML SP of fagsystem KY
DS = "{http://www.w3.org/2000/09/xmldsig#}"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
TOKEN_FORM = {"grant_type": "client_credentials", "resource": ORG, "cvr": CVR}
TIMEOUT = 10.0  # the longest any answer may take, outage or not


@dataclass
class Node:
    """One `stsctl serve` process."""

    port: int
    process: subprocess.Popen[bytes]
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.get(self.url + path, allow_redirects=False, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.post(self.url + path, allow_redirects=False, **kwargs)

    def token(self, client_id: str = "sapa-system", **form: str) -> requests.Response:
        """``client_credentials`` for SAPA → ORG in the municipality (approved agreement)."""
        return self.post("/oidc/token", data={**TOKEN_FORM, **form}, auth=(client_id, SECRET))

    def ready(self) -> requests.Response:
        return self.get("/readyz", timeout=5)

    def jwks(self) -> dict[str, Any]:
        answer = self.get("/oidc/jwks")
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def metadata(self) -> bytes:
        answer = self.get("/saml/metadata")
        assert answer.status_code == 200, answer.text
        return answer.content

    def workers(self) -> list[int]:
        from tests.admin.servers import children

        return children(self.process.pid)


@dataclass
class Cluster:
    env: dict[str, str]
    database_url: str
    sp_keys: SpKeys
    nodes: list[Node] = field(default_factory=list)

    def start(self, workers: int = 1) -> Node:
        port = free_port()
        log = Path(self.env["STS_DATA_DIR"]).parent / f"node-{port}.log"
        with log.open("wb") as output:  # the node's log, for a failing test's report
            process = subprocess.Popen(
                [*STSCTL, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        node = Node(port, process)
        self.nodes.append(node)
        wait_until(lambda: _ready(node), 60, "the node did not become ready within 60 s")
        return node

    def stsctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*STSCTL, *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def stop(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            try:
                node.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(timeout=10)


def _ready(node: Node) -> bool:
    assert node.process.poll() is None, "stsctl serve exited"
    try:
        return node.ready().status_code == 200
    except requests.RequestException:
        return False


def wait_until(condition: Any, seconds: float, message: str = "not in time") -> float:
    """Poll ``condition`` until true; return the seconds it took."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, message
        time.sleep(0.05)
    return time.monotonic() - began


def seed_world(database_url: str, env: dict[str, str], sp_keys: SpKeys) -> None:
    """The OIDC world (clients, agreements, user anne) + anne's password + a SAML SP."""
    database = Database(database_url)
    try:
        seed(database)
        hashing = PasswordHashing(
            time_cost=int(env["STS_ARGON2_TIME_COST"]),
            memory_kib=int(env["STS_ARGON2_MEMORY_KIB"]),
            parallelism=int(env["STS_ARGON2_PARALLELISM"]),
        )
        with database.session() as session:
            user = session.get(User, ANNE)
            assert user is not None
            user.password_hash = hashing.hash(PASSWORD)
            session.add(
                SamlServiceProvider(
                    entity_id=SP, fagsystem_id="KY", metadata_xml=sp_metadata(SP, sp_keys)
                )
            )
    finally:
        database.dispose()


@contextmanager
def cluster(data_dir: Path, database_url: str, redis_url: str, **extra: str) -> Iterator[Cluster]:
    """A migrated, seeded database with keys; start nodes with :meth:`Cluster.start`."""
    # base_env: same STS_BASE_URL for every node, fast Argon2 parameters.
    env = base_env(data_dir, STS_DATABASE_URL=database_url, STS_REDIS_URL=redis_url, **extra)
    subprocess.run([*STSCTL, "init"], env=env, check=True, capture_output=True, timeout=120)
    keys = SpKeys.generate()
    seed_world(database_url, env, keys)
    group = Cluster(env, database_url, keys)
    try:
        yield group
    finally:
        group.stop()


# -- a person's browser -------------------------------------------------------------------------


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_RESUME = re.compile(r'href="(/login/resume\?flow=[^"]+)"')


class LoginNeeded(AssertionError):
    """The IdP asked for a password where the test expected single sign-on, or the other
    way round."""


@dataclass
class Browser:
    """Cookies in one jar for every node (all are 127.0.0.1); follows redirects itself,
    sending each request to the node the test names, as a load balancer might."""

    username: str = "anne"
    password: str = PASSWORD
    session: requests.Session = field(default_factory=requests.Session)
    last: requests.Response | None = None

    def _follow(self, node: Node, answer: requests.Response, limit: int = 10) -> requests.Response:
        for _ in range(limit):
            if answer.status_code not in (301, 302, 303, 307):
                break
            location = answer.headers["Location"]
            parts = urlsplit(location)
            if parts.netloc and f"{parts.scheme}://{parts.netloc}" != ISSUER:
                break  # leaving the IdP (an RP's redirect_uri)
            path = parts._replace(scheme="", netloc="").geturl()
            answer = self.session.get(node.url + path, allow_redirects=False, timeout=TIMEOUT)
        self.last = answer
        return answer

    def get(self, node: Node, path: str) -> requests.Response:
        answer = self.session.get(node.url + path, allow_redirects=False, timeout=TIMEOUT)
        return self._follow(node, answer)

    def post(self, node: Node, path: str, data: dict[str, str]) -> requests.Response:
        answer = self.session.post(
            node.url + path, data=data, allow_redirects=False, timeout=TIMEOUT
        )
        return self._follow(node, answer)

    def log_in(self, node: Node, page: requests.Response) -> requests.Response:
        """On the password page: type the user's password, follow the continue link."""
        csrf = _CSRF.search(page.text)
        assert csrf, page.text[:1000]
        path = urlsplit(page.url)._replace(scheme="", netloc="").geturl()
        done = self.post(
            node,
            path,
            {"csrf_token": csrf.group(1), "username": self.username, "password": self.password},
        )
        resume = _RESUME.search(done.text)
        if resume:
            return self.get(node, unescape(resume.group(1)))
        return done

    def saml_sso(self, node: Node, *, password: bool) -> etree._Element:
        """An AuthnRequest from the SP at ``node``; the samlp:Response it posts back.

        ``password`` says whether the password page is expected (True: a new login, then
        typed) or not (False: single sign-on); anything else raises :class:`LoginNeeded`."""
        request = authn_request(SP, destination=f"{ISSUER}/saml/sso")
        answer = self.get(node, "/saml/sso?" + redirect_query(request))
        asked = answer.status_code == 200 and 'name="password"' in answer.text
        if asked != password:
            raise LoginNeeded(f"node {node.port} asked for a password: {asked}")
        if asked:
            answer = self.log_in(node, answer)
        return saml_response(answer)

    def sso_answer(self, node: Node) -> tuple[requests.Response, bool]:
        """An AuthnRequest at ``node``, logging in if asked; (last answer, password typed)."""
        request = authn_request(SP, destination=f"{ISSUER}/saml/sso")
        answer = self.get(node, "/saml/sso?" + redirect_query(request))
        if answer.status_code == 200 and 'name="password"' in answer.text:
            return self.log_in(node, answer), True
        return answer, False

    def code_flow(self, node: Node) -> tuple[str, str]:
        """The OIDC code flow for ``ky-web`` up to the code; (code, verifier)."""
        verifier, challenge = pkce()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": "ky-web",
                "redirect_uri": REDIRECT,
                "scope": "openid",
                "state": "s",
                "nonce": "n",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        answer = self.get(node, f"/oidc/authorize?{query}")
        if answer.status_code == 200 and 'name="password"' in answer.text:
            answer = self.log_in(node, answer)
        assert answer.status_code in (302, 303), answer.text[:1000]
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT), location
        return parse_qs(urlsplit(location).query)["code"][0], verifier

    def rp_logout(self, node: Node, id_token: str) -> requests.Response:
        query = urlencode({"id_token_hint": id_token, "client_id": "ky-web"})
        answer = self.get(node, f"/oidc/logout?{query}")
        form = re.search(r'<form[^>]*action="([^"]*)"', answer.text)
        if answer.status_code == 200 and form and "csrf" in answer.text:
            fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))
            path = urlsplit(unescape(form.group(1)))._replace(scheme="", netloc="").geturl()
            answer = self.post(
                node, path or "/oidc/logout", {k: unescape(v) for k, v in fields.items()}
            )
        return answer


def saml_response(answer: requests.Response) -> etree._Element:
    """The samlp:Response in an auto-POST page (fails with the page when there is none)."""
    assert answer.status_code == 200, (answer.status_code, answer.text[:1000])
    field_ = re.search(r'name="SAMLResponse" value="([^"]+)"', answer.text)
    assert field_, answer.text[:1000]
    return etree.fromstring(base64.b64decode(unescape(field_.group(1))))


def redeem(node: Node, code: str, verifier: str) -> requests.Response:
    return node.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=("ky-web", SECRET),
    )


def refresh(node: Node, token: str) -> requests.Response:
    return node.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=("ky-web", SECRET),
    )


# -- what was signed, and with what ------------------------------------------------------------


def signing_certificate(signed: etree._Element) -> str:
    """The base64 certificate in the (first) enveloped signature's KeyInfo."""
    text = signed.findtext(f".//{DS}X509Certificate")
    assert text, "no signature with a certificate"
    return "".join(text.split())


def metadata_certificates(metadata: bytes, use: str | None = None) -> set[str]:
    """The certificates of the IdP's KeyDescriptors (``use`` = signing/encryption/any)."""
    root = etree.fromstring(metadata)
    return {
        "".join((descriptor.findtext(f".//{DS}X509Certificate") or "").split())
        for descriptor in root.iter(f"{MD}KeyDescriptor")
        if use is None or descriptor.get("use") == use
    }


def jwt_kid(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["kid"])


def verify_jwt(token: str, jwks: dict[str, Any]) -> jwt.Token:
    """Verify with the published keys only, RS256/PS256/ES256 allowed."""
    keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    return jwt.decode(token, keys, algorithms=["RS256", "PS256", "ES256"])


def saml_status(response: etree._Element) -> str:
    code = response.find(".//{urn:oasis:names:tc:SAML:2.0:protocol}StatusCode")
    return "" if code is None else str(code.get("Value"))


def has_assertion(response: etree._Element) -> bool:
    return response.find(f".//{{{SAML}}}Assertion") is not None or (
        response.find(f".//{{{SAML}}}EncryptedAssertion") is not None
    )
