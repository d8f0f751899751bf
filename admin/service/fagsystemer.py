"""Fagsystemer as their suppliers maintain them: roles, constraint types, SAML, OIDC clients.

Every holder of an administrative role may read the fagsystemer (composing roles needs
them). A fagsystem is changed by its Leverandøradministrator or an operator; only an
operator creates one. A brugersystemrolle still used by a jobfunktionsrolle or a
serviceaftale cannot be removed: what depends on it would change silently.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.actor import Actor
from admin.errors import Conflict, Forbidden, Invalid, NotFound
from admin.schemas import check_body
from admin.service import catalogue_rules
from admin.service.changes import announce, record_change
from admin.service.context import ServiceContext
from admin.service.paging import Page, Paging, page
from authz.admin import can, fagsystem_scope
from authz.cache import Scope
from store.catalogue import metadata_entity_id
from store.catalogue.certificates import certificate_errors, import_certificates
from store.catalogue.common import DEFAULTS, kind_list
from store.catalogue.loading import fetch_metadata
from store.models import (
    ConstraintType,
    Fagsystem,
    JfrGrant,
    OidcClient,
    SamlServiceProvider,
    Serviceaftale,
    SystemCertificate,
    SystemRole,
)

_FIELDS = ("id", "name", "kind", "entity_id", "personal_data", "min_loa")
_LISTS = ("constraint_types", "roles")
_SORTS = {"id": Fagsystem.id, "name": Fagsystem.name}
_CLIENT_FIELDS = tuple(key for key in DEFAULTS["oidc_client"] if key != "client_secret_env")
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def _missing(fagsystem_id: str) -> str:
    return f"fagsystem {fagsystem_id} not found"


def _require_any_role(actor: Actor) -> None:
    if not actor.admin.roles:
        raise Forbidden("you hold no administrative role; ask your Administrator for one")


def render(session: Session, system: Fagsystem, *, full: bool = False) -> dict[str, Any]:
    owned = {"fagsystem_id": system.id}
    item: dict[str, Any] = {
        "id": system.id,
        "name": system.name,
        "entity_id": system.entity_id,
        "kind": list(system.kinds),
        "personal_data": system.personal_data,
        "min_loa": system.min_loa,
        "constraint_types": [
            {
                "id": ctype.uri,
                "name": ctype.name,
                "kind": ctype.kind,
                "values": ctype.values,
                "regex": ctype.regex,
            }
            for ctype in session.scalars(
                select(ConstraintType).filter_by(**owned).order_by(ConstraintType.uri)
            )
        ],
        "roles": [
            {
                "id": role.id,
                "name": role.name,
                "description": role.description,
                "constraints": list(role.constraint_uris),
            }
            for role in session.scalars(
                select(SystemRole).filter_by(**owned).order_by(SystemRole.id)
            )
        ],
    }
    if full:
        item["saml"] = [
            render_sp(sp)
            for sp in session.scalars(
                select(SamlServiceProvider)
                .filter_by(**owned)
                .order_by(SamlServiceProvider.entity_id)
            )
        ]
        item["oidc_clients"] = [
            render_client(client)
            for client in session.scalars(
                select(OidcClient).filter_by(**owned).order_by(OidcClient.client_id)
            )
        ]
    return item


def render_sp(sp: SamlServiceProvider) -> dict[str, Any]:
    flags = {key: getattr(sp, key) for key in DEFAULTS["saml_sp"]}
    return {"entity_id": sp.entity_id, "metadata_source": sp.metadata_source, **flags}


def render_client(client: OidcClient) -> dict[str, Any]:
    values = {key: getattr(client, key) for key in _CLIENT_FIELDS}
    return {"client_id": client.client_id, "fagsystem": client.fagsystem_id, **values}


def list_fagsystemer(ctx: ServiceContext, actor: Actor, paging: Paging) -> Page:
    _require_any_role(actor)
    with ctx.database.session() as session:
        return page(
            session,
            select(Fagsystem),
            columns=_SORTS,
            id_column=Fagsystem.id,
            paging=paging,
            default_sort="id",
            render=lambda system: render(session, system),
        )


def _load(session: Session, fagsystem_id: str) -> Fagsystem:
    system = session.get(Fagsystem, fagsystem_id)
    if system is None:
        raise NotFound(_missing(fagsystem_id))
    return system


def get_fagsystem(ctx: ServiceContext, actor: Actor, fagsystem_id: str) -> dict[str, Any]:
    _require_any_role(actor)
    with ctx.database.session() as session:
        return render(session, _load(session, fagsystem_id), full=True)


def _require_maintainer(actor: Actor, fagsystem_id: str) -> None:
    if not can(actor.admin, "update", "fagsystem", fagsystem_scope(fagsystem_id)):
        raise Forbidden(
            f"only the Leverandøradministrator of {fagsystem_id} (or an operator) may change it"
        )


def _catalogue_item(session: Session, system: Fagsystem) -> dict[str, Any]:
    """The stored fagsystem in the catalogue's shape, without its SPs and clients."""
    item = render(session, system)
    item["kind"] = kind_list(item["kind"])
    item["constraint_types"] = [
        {key: value for key, value in ctype.items() if value is not None}
        for ctype in item["constraint_types"]
    ]
    if item["entity_id"] is None:
        del item["entity_id"]
    return item


def put_fagsystem(
    ctx: ServiceContext, actor: Actor, fagsystem_id: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create (operator) or replace a fagsystem's attributes, roles and constraint types."""
    if isinstance(body, dict):
        for name, where in (("saml", "saml-metadata"), ("oidc_clients", "oidc-clients")):
            if name in body:
                raise Invalid(
                    f"{name} are not changed here",
                    [(f"/{name}", f"use /api/v1/fagsystemer/{fagsystem_id}/{where}")],
                )
    body = check_body("FagsystemBody", body)
    errors = [
        (f"/{name}", "unknown field")
        for name in sorted(set(body) - set(_FIELDS) - set(_LISTS) - {"saml", "oidc_clients"})
    ]
    if "saml" in body:
        errors.append(("/saml", f"use PUT /api/v1/fagsystemer/{fagsystem_id}/saml-metadata"))
    if "oidc_clients" in body:
        errors.append(
            ("/oidc_clients", f"use POST /api/v1/fagsystemer/{fagsystem_id}/oidc-clients")
        )
    if body.get("id", fagsystem_id) != fagsystem_id:
        errors.append(("/id", f"must be {fagsystem_id}, the id in the path (or left out)"))
    if errors:
        raise Invalid("the fagsystem is not valid", errors)
    item = {**body, "id": fagsystem_id}
    with ctx.database.session() as session:
        system = session.get(Fagsystem, fagsystem_id)
        created = system is None
        before = None
        if system is None:
            if not can(actor.admin, "create", "fagsystem", None):
                raise Forbidden("only an operator registers a new fagsystem")
        else:
            _require_maintainer(actor, fagsystem_id)
            before = render(session, system)
        catalogue_rules.check(session, "fagsystemer", item, "fagsystem")
        if system is not None:
            _remove_missing(session, system, item)
        catalogue_rules.apply(session, "fagsystemer", item, actor.id)
        session.flush()
        after = render(session, _load(session, fagsystem_id))
        if after == before:
            return after, False
        record_change(
            session,
            actor,
            "fagsystem.created" if created else "fagsystem.updated",
            object_type="fagsystem",
            object_id=fagsystem_id,
            cvr=None,
            before=before,
            after=after,
        )
    announce(ctx.state, Scope(fagsystems={fagsystem_id}))
    return after, created


def _remove_missing(session: Session, system: Fagsystem, item: dict[str, Any]) -> None:
    """Delete roles and constraint types the new version leaves out, unless still in use."""
    kept_roles = {role["id"] for role in item.get("roles", [])}
    kept_types = {ctype["id"] for ctype in item.get("constraint_types", [])}
    gone = [role for role in system.roles if role.id not in kept_roles]
    used: list[tuple[str, str]] = []
    for role in gone:
        grants = session.scalar(
            select(func.count()).select_from(JfrGrant).where(JfrGrant.role_id == role.id)
        )
        if grants:
            used.append((role.id, f"{grants} jobfunktionsrolle grant(s)"))
    if gone:
        names = {role.id for role in gone}
        for aftale in session.scalars(
            select(Serviceaftale).where(Serviceaftale.service_id == system.id)
        ):
            for role_id in names.intersection(aftale.roles):
                used.append((role_id, f"serviceaftale {aftale.id}"))
    if used:
        raise Conflict(
            "roles still in use cannot be removed: "
            + "; ".join(f"{role} (used by {what})" for role, what in used)
        )
    # A kept role that still declares a removed constraint type would name a type that
    # no longer exists; the stored type hides this from the catalogue check, so say it here.
    undeclared = [
        (
            f"/roles/{index}/constraints",
            f"unknown constraint type {uri}; declare it in constraint_types",
        )
        for index, role in enumerate(item.get("roles", []))
        for uri in role.get("constraints", [])
        if uri not in kept_types
    ]
    if undeclared:
        raise Invalid("constraint types still in use cannot be removed", undeclared)
    for role in gone:
        session.delete(role)
    for ctype in list(system.constraint_types):
        if ctype.uri not in kept_types:
            session.delete(ctype)
    session.flush()


def put_saml_metadata(
    ctx: ServiceContext,
    actor: Actor,
    fagsystem_id: str,
    *,
    xml: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Register or replace the SAML SP of the entityID the metadata names, for this fagsystem."""
    with ctx.database.session() as session:
        system = _load(session, fagsystem_id)
        _require_maintainer(actor, fagsystem_id)
        if url is not None:
            try:
                xml = fetch_metadata(url)
            except (OSError, ValueError) as exc:
                raise Invalid(
                    "the metadata could not be fetched", [("/url", f"{exc}; check the URL")]
                ) from exc
        assert xml is not None
        try:
            entity_id = metadata_entity_id(xml)
        except ValueError as exc:
            raise Invalid("the SAML metadata is not valid", [("", str(exc))]) from exc
        existing = session.get(SamlServiceProvider, entity_id)
        before = render_sp(existing) if existing else None
        flags = (
            {key: getattr(existing, key) for key in DEFAULTS["saml_sp"]}
            if existing
            else dict(DEFAULTS["saml_sp"])
        )
        sp_item: dict[str, Any] = {"metadata": xml, **flags}
        if url is not None:
            sp_item["metadata_url"] = url
        item = {**_catalogue_item(session, system), "saml": [sp_item]}
        try:
            catalogue_rules.check(session, "fagsystemer", item, "SAML metadata")
        except Invalid as exc:
            raise Invalid(exc.detail, [("", detail) for _, detail in exc.errors]) from exc
        catalogue_rules.apply(session, "fagsystemer", item, actor.id)
        session.flush()
        sp = session.get_one(SamlServiceProvider, entity_id)
        after = render_sp(sp)
        record_change(
            session,
            actor,
            "fagsystem.saml_metadata",
            object_type="saml_sp",
            object_id=entity_id,
            cvr=None,
            before=before,
            after=after,
            fagsystem=fagsystem_id,
        )
    announce(ctx.state, Scope(fagsystems={fagsystem_id}))
    return after


def secret_variable(client_id: str) -> str:
    """The variable that may later replace a generated secret (``stsctl import`` keeps it)."""
    return "STS_CLIENT_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", client_id).upper()


def _check_grants(client: dict[str, Any]) -> None:
    """A client that could never get a token is refused: no grant type, or the
    authorization code flow without a redirect URI to send the code to."""
    grants = client.get("grant_types", DEFAULTS["oidc_client"]["grant_types"])
    errors = []
    if not grants:
        errors.append(("/grant_types", "choose at least one grant type"))
    if "authorization_code" in grants and not client.get("redirect_uris"):
        errors.append(("/redirect_uris", "authorization_code needs at least one redirect URI"))
    if errors:
        raise Invalid("the client is not valid", errors)


def register_client(
    ctx: ServiceContext, actor: Actor, fagsystem_id: str, body: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Register an OIDC client; a generated secret is returned here and never again."""
    body = check_body("OidcClientBody", body)
    allowed = {"client_id", *_CLIENT_FIELDS}
    errors = [(f"/{name}", "unknown field") for name in sorted(set(body) - allowed)]
    if errors:
        raise Invalid("the client is not valid", errors)
    client_id = body.get("client_id") or f"{fagsystem_id.lower()}-{secrets.token_hex(6)}"
    client = {**body, "client_id": client_id}
    method = client.get("token_endpoint_auth_method", "client_secret_basic")
    secret = secrets.token_urlsafe(32) if method in _SECRET_METHODS else None
    if secret is not None:
        client["client_secret_env"] = secret_variable(client_id)
    with ctx.database.session() as session:
        system = _load(session, fagsystem_id)
        _require_maintainer(actor, fagsystem_id)
        _check_grants(client)
        if session.get(OidcClient, client_id) is not None:
            raise Conflict(f"client {client_id} exists already")
        item = {**_catalogue_item(session, system), "oidc_clients": [client]}
        try:
            catalogue_rules.check(session, "fagsystemer", item, "client")
        except Invalid as exc:
            raise Invalid(
                exc.detail,
                [
                    (pointer.removeprefix("/oidc_clients/0"), detail)
                    for pointer, detail in exc.errors
                ],
            ) from exc
        catalogue_rules.apply(session, "fagsystemer", item, actor.id)
        stored = session.get_one(OidcClient, client_id)
        if secret is not None:
            stored.client_secret_hash = PasswordHasher().hash(secret)
        session.flush()
        after = render_client(stored)
        record_change(
            session,
            actor,
            "fagsystem.oidc_client.registered",
            object_type="oidc_client",
            object_id=client_id,
            cvr=None,
            after=after,
            fagsystem=fagsystem_id,
        )
    return after, secret


# -- KOMBIT STS certificates (store/catalogue/certificates.py, docs/sts.md) -------------------


def render_certificate(row: SystemCertificate) -> dict[str, Any]:
    return {
        "sha256": row.sha256,
        "sha1": row.sha1,
        "subject": row.subject,
        "not_before": _utc(row.not_before).isoformat(),
        "not_after": _utc(row.not_after).isoformat(),
    }


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite: naive UTC


def _certificates(session: Session, fagsystem_id: str) -> dict[str, Any]:
    rows = session.scalars(
        select(SystemCertificate)
        .where(SystemCertificate.fagsystem_id == fagsystem_id)
        .order_by(SystemCertificate.not_before, SystemCertificate.sha256)
    )
    return {"items": [render_certificate(row) for row in rows]}


def list_certificates(ctx: ServiceContext, actor: Actor, fagsystem_id: str) -> dict[str, Any]:
    _require_any_role(actor)
    with ctx.database.session() as session:
        _load(session, fagsystem_id)
        return _certificates(session, fagsystem_id)


def put_certificates(
    ctx: ServiceContext, actor: Actor, fagsystem_id: str, body: Any
) -> dict[str, Any]:
    """Make the fagsystem's registered certificates exactly those given (PEM)."""
    checked = check_body("CertificatesBody", body)
    entries: list[str] = checked["certificates"]
    with ctx.database.session() as session:
        _load(session, fagsystem_id)
        _require_maintainer(actor, fagsystem_id)
        item = {"fagsystemer": [{"id": fagsystem_id, "certificates": entries}]}
        errors = certificate_errors(session, item)
        if errors:
            prefix = "fagsystemer[0].certificates"
            raise Invalid(
                "the certificates are not valid",
                [
                    ("/certificates" + _pointer(e.path.removeprefix(prefix)), e.message)
                    for e in errors
                ],
            )
        before = _certificates(session, fagsystem_id)
        import_certificates(session, fagsystem_id, entries)
        session.flush()
        after = _certificates(session, fagsystem_id)
        record_change(
            session,
            actor,
            "fagsystem.certificates",
            object_type="fagsystem",
            object_id=fagsystem_id,
            cvr=None,
            before=before,
            after=after,
            fagsystem=fagsystem_id,
        )
    announce(ctx.state, Scope(fagsystems={fagsystem_id}))
    return after


def _pointer(path: str) -> str:
    """``[2]`` → ``/2``."""
    return "".join(f"/{part}" for part in re.findall(r"\[(\d+)\]", path))
