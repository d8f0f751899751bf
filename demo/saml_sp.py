"""A SAML service provider in a page of code, on :mod:`verifier` (KY and KSD use it).

* The SP's key and self-signed certificate are made at first start in its data
  directory (mode 0600) and published in its metadata at ``/saml/metadata``; the IdP
  registers the SP from that URL (``stsctl saml sp add URL --fagsystem KY``).
* ``/login`` sends a signed AuthnRequest (HTTP-Redirect binding, RSA-SHA256 over the
  query string, as SAML bindings §3.4.4.1 says) and remembers its ID in the session.
* ``/saml/acs`` hands the posted response to :func:`verifier.flask.login_saml`, which
  runs :func:`verifier.saml.verify_response` (signature against the IdP's metadata only,
  audience, destination, InResponseTo, time, replay; decryption with the SP key).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, redirect, request, session
from lxml import etree

from demo.cases import Case, split
from demo.web import AppConfig, User, new_flask_app, private_file, render_page
from verifier import InvalidToken
from verifier.flask import SESSION_USER, current_privileges, login_saml, logout
from verifier.saml import MetadataCache

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
FULL_NAME = "https://data.gov.dk/model/core/eid/fullName"
USER_UUID = "https://data.gov.dk/model/core/eid/professional/uuid/persistent"


@dataclass(frozen=True)
class SpKeys:
    key: rsa.RSAPrivateKey
    key_pem: bytes
    cert_pem: bytes

    @property
    def cert_b64(self) -> str:
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)
        return base64.b64encode(der).decode()


def load_sp_keys(config: AppConfig, common_name: str) -> SpKeys:
    """The SP's RSA key and certificate from the data directory, made on first start."""

    def new_key() -> bytes:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    key_pem = private_file(config.data_dir / "sp.key", new_key)
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)

    def new_cert() -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    cert_pem = private_file(config.data_dir / "sp.crt", new_cert)
    return SpKeys(key, key_pem, cert_pem)


def sp_metadata(entity_id: str, acs_url: str, keys: SpKeys) -> bytes:
    md = f"{{{MD}}}"
    root = etree.Element(md + "EntityDescriptor", nsmap={"md": MD, "ds": DS}, entityID=entity_id)
    sp = etree.SubElement(
        root,
        md + "SPSSODescriptor",
        protocolSupportEnumeration=SAMLP,
        AuthnRequestsSigned="true",
        WantAssertionsSigned="true",
    )
    for use in ("signing", "encryption"):
        descriptor = etree.SubElement(sp, md + "KeyDescriptor", use=use)
        info = etree.SubElement(descriptor, f"{{{DS}}}KeyInfo")
        data = etree.SubElement(info, f"{{{DS}}}X509Data")
        etree.SubElement(data, f"{{{DS}}}X509Certificate").text = keys.cert_b64
    etree.SubElement(sp, md + "AssertionConsumerService", Binding=POST, Location=acs_url, index="0")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def authn_request_url(
    *, sso_url: str, entity_id: str, acs_url: str, keys: SpKeys, relay_state: str
) -> tuple[str, str]:
    """(redirect URL, request ID) for a signed HTTP-Redirect AuthnRequest."""
    request_id = "_" + secrets.token_hex(16)
    root = etree.Element(
        f"{{{SAMLP}}}AuthnRequest",
        nsmap={"samlp": SAMLP, "saml": SAML},
        ID=request_id,
        Version="2.0",
        IssueInstant=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        Destination=sso_url,
        AssertionConsumerServiceURL=acs_url,
        ProtocolBinding=POST,
    )
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = entity_id
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = deflate.compress(etree.tostring(root)) + deflate.flush()
    query = "&".join(
        [
            "SAMLRequest=" + quote(base64.b64encode(raw).decode(), safe=""),
            "RelayState=" + quote(relay_state, safe=""),
            "SigAlg=" + quote(RSA_SHA256, safe=""),
        ]
    )
    signature = keys.key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
    query += "&Signature=" + quote(base64.b64encode(signature).decode(), safe="")
    return f"{sso_url}?{query}", request_id


def _local_path(value: str | None) -> str:
    """A RelayState we sent is a local path; anything else goes home (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or urlsplit(value).netloc:
        return "/"
    return value


def create_saml_app(
    *,
    short: str,
    long: str,
    accent: str,
    config: AppConfig,
    role: str,
    cases: tuple[Case, ...],
) -> Flask:
    app = new_flask_app(short, config)
    entity_id = f"{config.base_url}/saml/metadata"
    acs_url = f"{config.base_url}/saml/acs"
    keys = load_sp_keys(config, f"{short} demo SP")
    idp_metadata = MetadataCache(f"{config.idp_url}/saml/metadata", default_cache_duration=300)
    intro = (
        f"{long} er en demo-fagsystem: det stoler på Demo Kommunes IdP (SAML) "
        "og viser kun de sager, dine rettigheder dækker."
    )
    app.extensions["demo.sp"] = {"entity_id": entity_id, "acs_url": acs_url, "keys": keys}

    def page(**extra: Any) -> str:
        return render_page(
            short=short, long=long, accent=accent, intro=intro, links=config.links, **extra
        )

    @app.get("/")
    def index() -> Any:
        stored = session.get(SESSION_USER)
        privileges = current_privileges()
        if stored is None or privileges is None:
            return page(error=request.args.get("error"))
        user = User(
            name=stored.get("name") or stored["name_id"],
            uuid=stored.get("uuid") or stored["name_id"],
            cvr=stored["cvr"] or "",
            loa=stored["loa"] or "",
            via="SAML-assertion (OIOSAML 3.0), verificeret med verifier.saml",
        )
        shown, hidden = split(privileges, role, cases)
        return page(
            user=user,
            privileges=privileges,
            role_label=role,
            shown=shown,
            hidden=hidden,
        )

    @app.get("/saml/metadata")
    def metadata() -> Any:
        return Response(sp_metadata(entity_id, acs_url, keys), mimetype="application/xml")

    @app.get("/login")
    def login() -> Any:
        url, request_id = authn_request_url(
            sso_url=f"{config.idp_url}/saml/sso",
            entity_id=entity_id,
            acs_url=acs_url,
            keys=keys,
            relay_state=_local_path(request.args.get("next")),
        )
        session["saml_request_id"] = request_id
        return redirect(url)

    @app.post("/saml/acs")
    def acs() -> Any:
        try:
            assertion = login_saml(
                idp_metadata=idp_metadata,
                sp_entity_id=entity_id,
                acs_url=acs_url,
                request_id=session.get("saml_request_id"),
                decryption_key=keys.key_pem,
            )
        except InvalidToken as error:
            app.logger.warning("SAML response refused: %s (%s)", error.reason, error)
            session.clear()
            return redirect(f"/?error={error.reason}")
        session[SESSION_USER] = {
            **session[SESSION_USER],
            "name": assertion.attribute(FULL_NAME),
            "uuid": assertion.attribute(USER_UUID),
        }
        return redirect(_local_path(request.form.get("RelayState")))

    @app.get("/logout")
    def sign_out() -> Any:
        logout()
        session.clear()
        return redirect(f"{config.idp_url}/login/logout")

    return app
