"""Durable data model of fælleskommunal adgangsstyring.

One module, because the tables refer to each other densely and a reader wants the whole
picture in one place. Identifiers follow the catalogue format (CATALOGUE.md): roles are
URIs, municipalities are CVR numbers, org units are UUIDs. Every schema change is an
Alembic migration in ``store/migrations/versions``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CVR = String(8)
URI = String(400)
UUID_STR = String(36)


def new_uuid() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class Municipality(Timestamped, Base):
    """A kommune: the tenant, identified by its 8-digit CVR number."""

    __tablename__ = "municipalities"

    cvr: Mapped[str] = mapped_column(CVR, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(253))

    org_units: Mapped[list[OrgUnit]] = relationship(
        back_populates="municipality", cascade="all, delete-orphan", passive_deletes=True
    )


class OrgUnit(Timestamped, Base):
    """Organisationsenhed: a node in the municipality's organisation tree."""

    __tablename__ = "org_units"

    uuid: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    cvr: Mapped[str] = mapped_column(ForeignKey("municipalities.cvr", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    parent_uuid: Mapped[str | None] = mapped_column(
        ForeignKey("org_units.uuid", ondelete="SET NULL"), index=True
    )
    kle: Mapped[list[str]] = mapped_column(default=list)
    manager_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)

    municipality: Mapped[Municipality] = relationship(back_populates="org_units")

    __table_args__ = (Index("ix_org_units_cvr", "cvr"),)


class User(Timestamped, Base):
    """A person who logs in: from the local directory or synchronised from AD."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True, default=new_uuid)
    cvr: Mapped[str] = mapped_column(ForeignKey("municipalities.cvr", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(300), default="")
    given_name: Mapped[str | None] = mapped_column(String(200))
    surname: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    upn: Mapped[str | None] = mapped_column(String(320))
    org_unit_uuid: Mapped[str | None] = mapped_column(
        ForeignKey("org_units.uuid", ondelete="SET NULL"), index=True
    )
    kle: Mapped[list[str]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(16), default="local")
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    password_env: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sessions and refresh-token families that started before this instant are ended
    # (disabled, TOTP reset); checked at every use of either (migration 0007).
    access_not_before: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("cvr", "username"),
        CheckConstraint("source in ('local', 'ad')", name="source"),
    )


class Group(Timestamped, Base):
    """A directory group (AD); matched by objectGUID or DN, never by name."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True, default=new_uuid)
    cvr: Mapped[str] = mapped_column(ForeignKey("municipalities.cvr", ondelete="CASCADE"))
    dn: Mapped[str] = mapped_column(String(1000))
    name: Mapped[str] = mapped_column(String(300), default="")
    object_guid: Mapped[str | None] = mapped_column(String(36), unique=True)

    __table_args__ = (UniqueConstraint("cvr", "dn"),)


class GroupMember(Base):
    """Direct membership: a user or a nested group in a group."""

    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    member_user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, default=""
    )


class GroupNesting(Base):
    """Group ``child_id`` is a member of group ``parent_id``."""

    __tablename__ = "group_nesting"

    parent_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class Fagsystem(Timestamped, Base):
    """An IT system: user-facing (brugervendt), a service, an anvendersystem, or several."""

    __tablename__ = "fagsystemer"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    entity_id: Mapped[str | None] = mapped_column(URI, unique=True)
    kinds: Mapped[list[str]] = mapped_column(default=list)
    personal_data: Mapped[bool] = mapped_column(Boolean, default=True)
    min_loa: Mapped[str] = mapped_column(String(16), default="Low")

    constraint_types: Mapped[list[ConstraintType]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    roles: Mapped[list[SystemRole]] = relationship(
        back_populates="fagsystem", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (CheckConstraint("min_loa in ('Low', 'Substantial', 'High')", name="min_loa"),)


class ConstraintType(Base):
    """Dataafgrænsningstype as a fagsystem declares it (the URI may be shared, e.g. KLE)."""

    __tablename__ = "constraint_types"

    fagsystem_id: Mapped[str] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), primary_key=True
    )
    uri: Mapped[str] = mapped_column(URI, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    values: Mapped[list[str] | None] = mapped_column(JSON)
    regex: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        CheckConstraint("kind in ('kle', 'orgenhed', 'values', 'text')", name="kind"),
    )


class SystemRole(Timestamped, Base):
    """Brugersystemrolle (or servicesystemrolle): a role defined by a fagsystem."""

    __tablename__ = "system_roles"

    id: Mapped[str] = mapped_column(URI, primary_key=True)
    fagsystem_id: Mapped[str] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    constraint_uris: Mapped[list[str]] = mapped_column(default=list)

    fagsystem: Mapped[Fagsystem] = relationship(back_populates="roles")


class Jobfunktionsrolle(Timestamped, Base):
    """A municipality's job-function role: a bundle of system roles with constraint values."""

    __tablename__ = "jobfunktionsroller"

    id: Mapped[str] = mapped_column(URI, primary_key=True)
    cvr: Mapped[str] = mapped_column(
        ForeignKey("municipalities.cvr", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    delegated_to: Mapped[list[str]] = mapped_column(default=list)

    grants: Mapped[list[JfrGrant]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="JfrGrant.position"
    )


class JfrGrant(Base):
    """One system role inside a JFR, with how each constraint type gets its value.

    ``constraints`` maps a constraint-type URI to exactly one of
    ``{"fixed": [...]}``, ``{"dynamic": "user_kle"}`` or ``{"postponed": true}``.
    """

    __tablename__ = "jfr_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    jfr_id: Mapped[str] = mapped_column(
        ForeignKey("jobfunktionsroller.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    role_id: Mapped[str] = mapped_column(
        ForeignKey("system_roles.id", ondelete="CASCADE"), index=True
    )
    constraints: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Assignment(Timestamped, Base):
    """A JFR given to a user, a group or an org unit, within optional inclusive dates."""

    __tablename__ = "assignments"

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True, default=new_uuid)
    cvr: Mapped[str] = mapped_column(
        ForeignKey("municipalities.cvr", ondelete="CASCADE"), index=True
    )
    jfr_id: Mapped[str] = mapped_column(
        ForeignKey("jobfunktionsroller.id", ondelete="CASCADE"), index=True
    )
    subject_type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    org_unit_uuid: Mapped[str | None] = mapped_column(
        ForeignKey("org_units.uuid", ondelete="CASCADE"), index=True
    )
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    case_number: Mapped[str | None] = mapped_column(String(100))
    inherit: Mapped[bool] = mapped_column(Boolean, default=False)
    constraints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    excepted_user_ids: Mapped[list[str]] = mapped_column(default=list)

    __table_args__ = (
        CheckConstraint(
            "(subject_type = 'user' AND user_id IS NOT NULL AND group_id IS NULL"
            " AND org_unit_uuid IS NULL)"
            " OR (subject_type = 'group' AND group_id IS NOT NULL AND user_id IS NULL"
            " AND org_unit_uuid IS NULL)"
            " OR (subject_type = 'org_unit' AND org_unit_uuid IS NOT NULL AND user_id IS NULL"
            " AND group_id IS NULL)",
            name="one_subject",
        ),
        CheckConstraint(
            "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to", name="dates"
        ),
    )


class Serviceaftale(Timestamped, Base):
    """Service agreement: anvendersystem may call service for municipality ``cvr``."""

    __tablename__ = "serviceaftaler"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    cvr: Mapped[str] = mapped_column(
        ForeignKey("municipalities.cvr", ondelete="CASCADE"), index=True
    )
    anvendersystem_id: Mapped[str] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[str] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), index=True
    )
    roles: Mapped[list[str]] = mapped_column(default=list)
    constraints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    on_behalf_of: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    requested_by: Mapped[str | None] = mapped_column(String(256))
    decided_by: Mapped[str | None] = mapped_column(String(256))

    history: Mapped[list[ServiceaftaleStatus]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ServiceaftaleStatus.id"
    )

    __table_args__ = (
        CheckConstraint(
            "status in ('requested', 'approved', 'rejected', 'revoked')", name="status"
        ),
    )


class ServiceaftaleStatus(Base):
    """One status change of a service agreement (who, when, from what to what)."""

    __tablename__ = "serviceaftale_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aftale_id: Mapped[str] = mapped_column(
        ForeignKey("serviceaftaler.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(256), default="system")
    note: Mapped[str] = mapped_column(Text, default="")


class OidcClient(Timestamped, Base):
    """An OAuth 2.0 / OIDC client belonging to a fagsystem."""

    __tablename__ = "oidc_clients"

    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fagsystem_id: Mapped[str] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), index=True
    )
    redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    client_secret_env: Mapped[str | None] = mapped_column(String(200))
    client_secret_hash: Mapped[str | None] = mapped_column(String(300))
    grant_types: Mapped[list[str]] = mapped_column(default=list)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_client_auth_subject_dn: Mapped[str | None] = mapped_column(String(500))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(1000))
    signing_alg: Mapped[str] = mapped_column(String(10), default="RS256")


class SamlServiceProvider(Timestamped, Base):
    """A SAML SP registration: metadata plus the per-SP policy."""

    __tablename__ = "saml_sps"

    entity_id: Mapped[str] = mapped_column(URI, primary_key=True)
    fagsystem_id: Mapped[str] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), index=True
    )
    metadata_xml: Mapped[str] = mapped_column(Text)
    metadata_source: Mapped[str | None] = mapped_column(String(1000))
    sign_response: Mapped[bool] = mapped_column(Boolean, default=True)
    sign_assertion: Mapped[bool] = mapped_column(Boolean, default=True)
    encrypt_assertion: Mapped[bool] = mapped_column(Boolean, default=False)
    require_signed_requests: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, default=False)


class AdminRoleAssignment(Base):
    """An administrative role held by a user or an OIDC client (an integration).

    Municipal roles (Administrator, Godkender, ...) are held for one CVR, the
    Leverandøradministrator for one fagsystem, the operator globally. ``holder`` and
    ``scope`` repeat the holder and the CVR / fagsystem as non-null text
    (``user:<id>`` / ``client:<id>``; ``<cvr>`` / ``fagsystem:<id>`` / ``*``) so one
    unique constraint forbids duplicates on every database.
    """

    __tablename__ = "admin_role_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(40))
    cvr: Mapped[str | None] = mapped_column(ForeignKey("municipalities.cvr", ondelete="CASCADE"))
    fagsystem_id: Mapped[str | None] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), index=True
    )
    holder: Mapped[str] = mapped_column(String(220))
    scope: Mapped[str] = mapped_column(String(80))
    granted_by: Mapped[str | None] = mapped_column(String(256))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("holder", "role", "scope"),
        Index("ix_admin_role_assignments_cvr", "cvr"),
        CheckConstraint(
            "role in ('administrator', 'brugeradministrator', 'jobfunktionsrolleadministrator',"
            " 'godkender', 'organisation_redaktoer', 'leverandoeradministrator', 'operator')",
            name="role",
        ),
        CheckConstraint(
            "(user_id IS NOT NULL AND client_id IS NULL)"
            " OR (user_id IS NULL AND client_id IS NOT NULL)",
            name="one_holder",
        ),
        CheckConstraint(
            "(role = 'operator' AND cvr IS NULL AND fagsystem_id IS NULL)"
            " OR (role = 'leverandoeradministrator' AND cvr IS NULL"
            " AND fagsystem_id IS NOT NULL)"
            " OR (role NOT IN ('operator', 'leverandoeradministrator') AND cvr IS NOT NULL"
            " AND fagsystem_id IS NULL)",
            name="scope",
        ),
    )


class SigningKey(Base):
    """Metadata of a signing key; the private key is a 0600 file in the data directory."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    kty: Mapped[str] = mapped_column(String(8))
    alg: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), index=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    private_key_file: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("state in ('next', 'active', 'retired')", name="state"),
        CheckConstraint("kty in ('RSA', 'EC')", name="kty"),
    )


class AuditEvent(Base):
    """Append-only, hash-chained audit trail: each row hashes its content and the previous."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str | None] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(400))
    cvr: Mapped[str | None] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    # Searches page backwards by id within one actor, object or municipality (migration
    # 0005), and by actor or object within one municipality, as its Administrator searches
    # (migration 0006).
    __table_args__ = (
        Index("ix_audit_events_actor_id", "actor", "id"),
        Index("ix_audit_events_object_id_id", "object_id", "id"),
        Index("ix_audit_events_cvr_id", "cvr", "id"),
        Index("ix_audit_events_cvr_actor_id", "cvr", "actor", "id"),
        Index("ix_audit_events_cvr_object_id_id", "cvr", "object_id", "id"),
    )


class TotpCredential(Base):
    """A person's TOTP second factor (RFC 6238); the secret is encrypted and never exported.

    ``last_step`` is the last accepted time step: a code is only accepted for a later step,
    so a code seen over someone's shoulder cannot be replayed within its 30 seconds.
    """

    __tablename__ = "totp_credentials"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(String(300))
    last_step: Mapped[int | None] = mapped_column(Integer)
    enrolled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecoveryCode(Base):
    """A single-use recovery code for the second factor, stored as its SHA-256.

    The codes are 80 random bits, so a fast hash is safe and lets a code be found by its
    hash; a slow password hash would mean trying each of the ten hashes in turn.
    """

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MfaActivationCode(Base):
    """A one-time code a Brugeradministrator issues so a person can enrol TOTP.

    Stored as its SHA-256 (the code has 60+ random bits, so a fast hash is safe and lets
    the code be found by it). Single use (``used_at``) and short-lived (``expires_at``).
    """

    __tablename__ = "mfa_activation_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(String(256))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ChangeMarker(Base):
    """A version bumped in the transaction of every announced change (``store.changes``).

    Processes without Redis read it at most once a second, so a change made by another
    process (``stsctl import``) reaches their caches within a second.
    """

    __tablename__ = "change_markers"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DirectorySyncState(Timestamped, Base):
    """Where the last Active Directory sync of a municipality stopped.

    USNs are per domain controller: an incremental sync continues from ``highest_usn``
    only on the DC whose ``invocation_id`` matches; any other DC means a full sync.
    """

    __tablename__ = "directory_sync_state"

    cvr: Mapped[str] = mapped_column(
        ForeignKey("municipalities.cvr", ondelete="CASCADE"), primary_key=True
    )
    server_url: Mapped[str] = mapped_column(String(500))
    invocation_id: Mapped[str] = mapped_column(String(36))
    highest_usn: Mapped[int] = mapped_column(BigInteger)
    last_full_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SystemCertificate(Base):
    """A certificate registered to a fagsystem for the KOMBIT STS (migration 0008).

    The caller of the STS endpoints is the fagsystem whose registered certificate matches
    the presented one exactly (SHA-256 of the DER). Several per system, for rotation;
    validity comes from the certificate itself (``not_before``/``not_after`` are copies
    for display and search).
    """

    __tablename__ = "system_certificates"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    fagsystem_id: Mapped[str] = mapped_column(
        ForeignKey("fagsystemer.id", ondelete="CASCADE"), index=True
    )
    sha1: Mapped[str] = mapped_column(String(40), index=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(String(1000))
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Indexes for privilege resolution (authz/engine.py, migration 0003): a user's groups and a
# group's parents are looked up by the second column of these composite primary keys.
Index("ix_group_members_member_user_id", GroupMember.member_user_id)
Index("ix_group_nesting_child_id", GroupNesting.child_id)
