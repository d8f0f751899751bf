"""Shared pieces for the SAML tests: SP keys and metadata, a seeded app, request builders.

SP keys are generated at test time (never committed). Requests are signed here with the
``xmlsec`` binding or ``cryptography`` (as an SP would), responses are checked with
``signxml`` (an implementation that shares no code with the IdP's signer).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import tempfile
import uuid
import zlib
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import xmlsec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Blueprint, Flask, request
from flask.testing import FlaskClient
from lxml import etree

from app import create_app, initialise, setup_keys, setup_store
from certs.keys import self_signed_certificate
from idp.saml.constants import (
    BINDING_POST,
    BINDING_REDIRECT,
    DS,
    MD,
    RSA_SHA256,
    SAML,
    SAMLP,
    XENC,
)
from settings import Settings
from store.models import Fagsystem, Municipality, SamlServiceProvider, User

BASE = "http://127.0.0.1:8000"
SSO = f"{BASE}/saml/sso"
SLO = f"{BASE}/saml/slo"
IDP_ENTITY = f"{BASE}/saml/metadata"
CVR = "29189846"
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA1 | hashes.SHA512]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class SpKeys:
    key: rsa.RSAPrivateKey
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def generate(cls, name: str = "sp") -> SpKeys:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = self_signed_certificate(key, name)
        return cls(
            key,
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    @property
    def cert_b64(self) -> str:
        body = self.cert_pem.decode().split("-----")[2]
        return "".join(body.split())

    def write(self, directory: Path) -> tuple[str, str]:
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / "sp.key", directory / "sp.crt"
        key_path.write_bytes(self.key_pem)
        cert_path.write_bytes(self.cert_pem)
        return str(key_path), str(cert_path)


def sp_metadata(
    entity_id: str,
    keys: SpKeys,
    *,
    acs: list[tuple[str, str, int]] | None = None,
    slo: list[tuple[str, str]] | None = None,
    signing_methods: tuple[str, ...] = (),
    encryption_methods: tuple[str, ...] = (),
    authn_requests_signed: bool = False,
) -> str:
    md = f"{{{MD}}}"
    root = etree.Element(md + "EntityDescriptor", nsmap={"md": MD, "ds": DS}, entityID=entity_id)
    if signing_methods:
        alg = "urn:oasis:names:tc:SAML:metadata:algsupport"
        extensions = etree.SubElement(root, md + "Extensions")
        for method in signing_methods:
            etree.SubElement(extensions, f"{{{alg}}}SigningMethod", Algorithm=method)
    sp = etree.SubElement(
        root,
        md + "SPSSODescriptor",
        protocolSupportEnumeration=SAMLP,
        AuthnRequestsSigned="true" if authn_requests_signed else "false",
    )
    for use in ("signing", "encryption"):
        descriptor = etree.SubElement(sp, md + "KeyDescriptor", use=use)
        info = etree.SubElement(descriptor, f"{{{DS}}}KeyInfo")
        data = etree.SubElement(info, f"{{{DS}}}X509Data")
        etree.SubElement(data, f"{{{DS}}}X509Certificate").text = keys.cert_b64
        if use == "encryption":
            for method in encryption_methods:
                etree.SubElement(descriptor, md + "EncryptionMethod", Algorithm=method)
    base = entity_id.rsplit("/", 1)[0]
    for location, binding in slo or [(f"{base}/slo", BINDING_REDIRECT)]:
        etree.SubElement(sp, md + "SingleLogoutService", Binding=binding, Location=location)
    for location, binding, index in acs or [(f"{base}/acs", BINDING_POST, 0)]:
        etree.SubElement(
            sp,
            md + "AssertionConsumerService",
            Binding=binding,
            Location=location,
            index=str(index),
        )
    return etree.tostring(root, encoding="unicode")


# -- the application ----------------------------------------------------------------------


def _test_login_blueprint() -> Blueprint:
    """Finishes a real login flow without the password pages: POST a user id and methods.

    The flow, the SSO session, the cookie and the delivery to the SAML continuation are
    the login's own (``idp.login.core.complete``); only the typing of secrets is skipped.
    """
    blueprint = Blueprint("test_login", __name__)

    @blueprint.post("/test-login")
    def finish() -> Any:
        from idp.login import login_services
        from idp.login.core import complete

        flow = login_services().flows.load(request.form["flow"])
        assert flow is not None
        flow.user_id = request.form["user_id"]
        flow.cvr = request.form.get("cvr", CVR)
        flow.username = request.form.get("username", "anna")
        flow.methods = sorted(set(flow.methods) | set(request.form["methods"].split(",")))
        return complete(flow)

    return blueprint


@dataclass
class World:
    app: Flask
    client: FlaskClient
    settings: Settings
    user_id: str
    privileges_calls: list[tuple[str, str, str]] = field(default_factory=list)

    def add_sp(
        self,
        entity_id: str,
        keys: SpKeys,
        *,
        fagsystem: str = "ky",
        metadata: str | None = None,
        **policy: Any,
    ) -> str:
        xml = metadata or sp_metadata(entity_id, keys)
        with self.app.extensions["sts"].database.session() as db:
            db.add(
                SamlServiceProvider(
                    entity_id=entity_id, fagsystem_id=fagsystem, metadata_xml=xml, **policy
                )
            )
        return xml

    def login(self, flow_url: str, methods: str = "pwd", user_id: str | None = None) -> Any:
        """Finish the login the IdP redirected to; return the continuation's answer."""
        flow = re.search(r"flow=([\w-]+)", flow_url)
        assert flow, flow_url
        done = self.client.post(
            "/test-login",
            data={"flow": flow.group(1), "user_id": user_id or self.user_id, "methods": methods},
        )
        assert done.status_code == 200, done.get_data(as_text=True)
        return self.client.get(f"/login/resume?flow={flow.group(1)}")


_TEMPLATE: dict[str, Path] = {}


def _initialised(settings: Settings) -> None:
    """Migrated database and keys, made once per test session and copied (fast tests)."""
    if "dir" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="saml-template-")) / "var"
        copy = settings.model_copy(update={"data_dir": template})
        initialise(copy, setup_store(copy), setup_keys(copy))
        _TEMPLATE["dir"] = template
    shutil.copytree(_TEMPLATE["dir"], settings.data_dir, dirs_exist_ok=True)


def make_world(settings: Settings, *, display_name: str = "Anna Andersen") -> World:
    if settings.database_url is None:
        _initialised(settings)
    else:
        initialise(settings, setup_store(settings), setup_keys(settings))
    app = create_app(settings)
    app.register_blueprint(_test_login_blueprint())
    user_id = str(uuid.uuid4())
    calls: list[tuple[str, str, str]] = []

    def privileges(user: str, cvr: str, fagsystem: str) -> str:
        calls.append((user, cvr, fagsystem))
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">'
            f'<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:{cvr}">'
            f"<Privilege>http://{fagsystem}.test/roles/usersystemrole/laes/1</Privilege>"
            "</PrivilegeGroup></bpp:PrivilegeList>"
        )
        return base64.b64encode(xml.encode()).decode()

    app.extensions["saml.privileges"] = privileges
    with app.extensions["sts"].database.session() as db:
        db.add(Municipality(cvr=CVR, name="Testkommune", domain="test.dk"))
        db.add(Fagsystem(id="ky", name="KY", entity_id="https://ky.test/fs", kinds=["brugervendt"]))
        db.add(
            Fagsystem(
                id="ksd",
                name="KSD",
                entity_id="https://ksd.test/fs",
                kinds=["brugervendt"],
                personal_data=False,
            )
        )
        db.add(
            Fagsystem(
                id="sapa",
                name="SAPA",
                entity_id="https://sapa.test/fs",
                kinds=["brugervendt"],
                min_loa="Substantial",
            )
        )
        db.flush()
        names = display_name.split(" ", 1)
        db.add(
            User(
                id=user_id,
                cvr=CVR,
                username="anna",
                name=display_name,
                given_name=names[0],
                surname=names[-1],
                email="anna@test.dk",
            )
        )
    return World(app, app.test_client(), settings, user_id, calls)


# -- requests as an SP sends them --------------------------------------------------------------


def instant(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def authn_request(
    issuer: str,
    *,
    request_id: str | None = None,
    destination: str | None = SSO,
    acs_url: str | None = None,
    acs_index: int | None = None,
    issue_instant: str | None = None,
    force_authn: bool = False,
    passive: bool = False,
    loa: str | None = None,
    comparison: str = "minimum",
    class_refs: tuple[str, ...] = (),
    name_id_format: str | None = None,
    requester_ids: tuple[str, ...] = (),
) -> etree._Element:
    p, a = f"{{{SAMLP}}}", f"{{{SAML}}}"
    root = etree.Element(
        p + "AuthnRequest",
        nsmap={"samlp": SAMLP, "saml": SAML},
        ID=request_id or "_" + uuid.uuid4().hex,
        Version="2.0",
        IssueInstant=issue_instant or instant(),
    )
    if destination:
        root.set("Destination", destination)
    if acs_url:
        root.set("AssertionConsumerServiceURL", acs_url)
        root.set("ProtocolBinding", BINDING_POST)
    if acs_index is not None:
        root.set("AssertionConsumerServiceIndex", str(acs_index))
    if force_authn:
        root.set("ForceAuthn", "true")
    if passive:
        root.set("IsPassive", "true")
    etree.SubElement(root, a + "Issuer").text = issuer
    if name_id_format:
        etree.SubElement(root, p + "NameIDPolicy", Format=name_id_format, AllowCreate="true")
    refs = list(class_refs)
    if loa:
        refs.append(f"https://data.gov.dk/concept/core/nsis/loa/{loa}")
    if refs:
        context = etree.SubElement(root, p + "RequestedAuthnContext", Comparison=comparison)
        for ref in refs:
            etree.SubElement(context, a + "AuthnContextClassRef").text = ref
    if requester_ids:
        scoping = etree.SubElement(root, p + "Scoping")
        for requester in requester_ids:
            etree.SubElement(scoping, p + "RequesterID").text = requester
    return root


def redirect_query(
    message: etree._Element | bytes,
    *,
    keys: SpKeys | None = None,
    relay_state: str | None = None,
    sig_alg: str = RSA_SHA256,
    field: str = "SAMLRequest",
) -> str:
    xml = message if isinstance(message, bytes) else etree.tostring(message)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()
    parts = [f"{field}={quote_plus(payload)}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if keys is None:
        return "&".join(parts)
    parts.append(f"SigAlg={quote_plus(sig_alg)}")
    signature = keys.key.sign("&".join(parts).encode(), padding.PKCS1v15(), _HASHES[sig_alg]())
    parts.append(f"Signature={quote_plus(base64.b64encode(signature).decode())}")
    return "&".join(parts)


def sign_enveloped(
    root: etree._Element,
    keys: SpKeys | None,
    *,
    method: Any = None,
    digest: Any = None,
    extra_transforms: tuple[Any, ...] = (),
    hmac_key: bytes | None = None,
    uri: str | None = None,
) -> etree._Element:
    """Sign as an SP would (xmlsec), optionally with bad algorithms for negative tests."""
    method = method or xmlsec.constants.TransformRsaSha256
    signature = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N, method, ns="ds")
    root.find(f"{{{SAML}}}Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(
        signature,
        digest or xmlsec.constants.TransformSha256,
        uri=uri if uri is not None else "#" + root.get("ID"),
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    for transform in extra_transforms:
        xmlsec.template.add_transform(reference, transform)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    context = xmlsec.SignatureContext()
    if hmac_key is not None:
        context.key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataHmac, hmac_key)
    else:
        assert keys is not None
        context.key = xmlsec.Key.from_memory(keys.key_pem, xmlsec.constants.KeyDataFormatPem)
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("ID"):
            context.register_id(element, "ID")
    context.sign(signature)
    return root


def post_body(message: etree._Element | bytes, relay_state: str | None = None) -> dict[str, str]:
    xml = message if isinstance(message, bytes) else etree.tostring(message)
    data = {"SAMLRequest": base64.b64encode(xml).decode()}
    if relay_state is not None:
        data["RelayState"] = relay_state
    return data


# -- reading what the IdP sends back --------------------------------------------------------------


def read_form(html: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]*)"', html)
    assert action, html
    fields = {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', html)
    }
    return unescape(action.group(1)), fields


def response_of(
    http_response: Any, field: str = "SAMLResponse"
) -> tuple[str, etree._Element, dict[str, str]]:
    """(ACS URL, parsed samlp:Response, form fields) from an auto-POST page."""
    assert http_response.status_code == 200, http_response.get_data(as_text=True)
    action, fields = read_form(http_response.get_data(as_text=True))
    return action, etree.fromstring(base64.b64decode(fields[field])), fields


def decrypt(response: etree._Element, keys: SpKeys) -> etree._Element:
    encrypted = response.find(f".//{{{XENC}}}EncryptedData")
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(keys.key_pem, xmlsec.constants.KeyDataFormatPem))
    return xmlsec.EncryptionContext(manager).decrypt(encrypted)


def attributes(assertion: etree._Element) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for attribute in assertion.iter(f"{{{SAML}}}Attribute"):
        result[attribute.get("Name")] = [
            v.text or "" for v in attribute.findall(f"{{{SAML}}}AttributeValue")
        ]
    return result


def idp_certificate_pem(world: World) -> str:
    services = world.app.extensions["sts"]
    with services.database.session() as db:
        return services.keys.active(db, "RSA").certificate_pem


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


# -- the SAML 2.0 schemas shipped in the project (policies/xsd) ------------------------------

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "policies" / "xsd"


class _LocalSchemas(etree.Resolver):
    """Resolve every schema import to the file of the same name in ``policies/xsd``."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def resolve(self, url: str | None, _public_id: str | None, context: Any) -> Any:
        name = (url or "").rsplit("/", 1)[-1]
        if (self.directory / name).exists():
            return self.resolve_filename(str(self.directory / name), context)
        return None


_SCHEMA: dict[str, etree.XMLSchema] = {}


def _schema(name: str) -> etree.XMLSchema:
    """One of the shipped schemas with its imports resolved locally (no network)."""
    if name not in _SCHEMA:
        parser = etree.XMLParser(no_network=True)
        parser.resolvers.add(_LocalSchemas(SCHEMA_DIR))
        document = etree.parse(str(SCHEMA_DIR / name), parser)
        _SCHEMA[name] = etree.XMLSchema(document)
    return _SCHEMA[name]


def saml_schema() -> etree.XMLSchema:
    """``saml-schema-protocol-2.0.xsd`` (and the assertion, xmldsig, xenc schemas it imports)."""
    return _schema("saml-schema-protocol-2.0.xsd")


def _errors(schema: etree.XMLSchema, element: etree._Element) -> list[str]:
    document = etree.fromstring(etree.tostring(element))
    return [] if schema.validate(document) else [str(e) for e in schema.error_log]


def schema_errors(element: etree._Element) -> list[str]:
    return _errors(saml_schema(), element)


def metadata_schema_errors(element: etree._Element) -> list[str]:
    return _errors(_schema("saml-schema-metadata-2.0.xsd"), element)
