"""``stsctl saml sp add|list|remove`` and ``stsctl saml metadata``: SAML SP registrations.

An SP is registered from its metadata (a file, a URL fetched once, or inline XML on
stdin with ``-``), checked with the same parser the IdP uses, and tied to a fagsystem.
"""

from __future__ import annotations

import sys
import urllib.request

import click
from sqlalchemy import select

from cli.context import CliContext, pass_context
from store import audit, change_marker
from store.models import Fagsystem, SamlServiceProvider

MAX_METADATA = 5 * 1024 * 1024


def fetch_metadata(source: str, timeout: float = 10.0) -> str:
    """Read metadata from ``-`` (stdin), an http(s) URL (fetched once) or a file."""
    if source == "-":
        return sys.stdin.read()
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310
            data = response.read(MAX_METADATA + 1)
        if len(data) > MAX_METADATA:
            raise click.ClickException(f"metadata at {source} is larger than 5 MiB")
        return bytes(data).decode("utf-8")
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror}") from exc


@click.group("saml")
def saml_group() -> None:
    """SAML service providers and the IdP's metadata."""


@saml_group.group("sp")
def sp_group() -> None:
    """Register, list and remove SAML service providers."""


@sp_group.command("add")
@click.argument("source")
@click.option("--fagsystem", required=True, help="The fagsystem id the SP belongs to.")
@click.option("--entity-id", default=None, help="Pick this SP when the metadata has several.")
@click.option("--sign-response/--no-sign-response", default=True, show_default=True)
@click.option("--sign-assertion/--no-sign-assertion", default=True, show_default=True)
@click.option("--encrypt-assertion/--no-encrypt-assertion", default=False, show_default=True)
@click.option(
    "--require-signed-requests/--no-require-signed-requests", default=False, show_default=True
)
@click.option("--allow-idp-initiated/--no-allow-idp-initiated", default=False, show_default=True)
@pass_context
def add_command(
    ctx: CliContext,
    source: str,
    fagsystem: str,
    entity_id: str | None,
    sign_response: bool,
    sign_assertion: bool,
    encrypt_assertion: bool,
    require_signed_requests: bool,
    allow_idp_initiated: bool,
) -> None:
    """Register (or update) an SP from SOURCE: a metadata file, an http(s) URL, or -."""
    from idp.saml.metadata import MetadataError, parse_sp_metadata

    xml = fetch_metadata(source)
    try:
        parsed = parse_sp_metadata(xml, entity_id)
    except MetadataError as exc:
        raise click.ClickException(str(exc)) from exc
    if encrypt_assertion and not parsed.encryption_certificates:
        raise click.ClickException("--encrypt-assertion needs an encryption key in the metadata")
    with ctx.database.session() as session:
        if session.get(Fagsystem, fagsystem) is None:
            raise click.ClickException(f"unknown fagsystem {fagsystem!r}; import the catalogue")
        row = session.get(SamlServiceProvider, parsed.entity_id)
        created = row is None
        if row is None:
            row = SamlServiceProvider(entity_id=parsed.entity_id)
            session.add(row)
        row.fagsystem_id = fagsystem
        row.metadata_xml = xml
        row.metadata_source = None if source == "-" else source
        row.sign_response = sign_response
        row.sign_assertion = sign_assertion
        row.encrypt_assertion = encrypt_assertion
        row.require_signed_requests = require_signed_requests
        row.allow_idp_initiated = allow_idp_initiated
        session.flush()
        audit.record(
            session,
            actor="stsctl saml sp add",
            action="saml_sp.create" if created else "saml_sp.update",
            object_type="saml_sp",
            object_id=parsed.entity_id,
            details={"fagsystem": fagsystem, "source": row.metadata_source},
        )
        change_marker.bump(session)
    _announce(ctx, fagsystem)
    click.echo(f"{'registered' if created else 'updated'} {parsed.entity_id} ({fagsystem})")


@sp_group.command("list")
@pass_context
def list_command(ctx: CliContext) -> None:
    """Show every registered SP with its policy."""
    with ctx.database.session() as session:
        rows = session.scalars(select(SamlServiceProvider).order_by(SamlServiceProvider.entity_id))
        found = False
        for row in rows:
            found = True
            flags = [
                name
                for name, on in (
                    ("sign-response", row.sign_response),
                    ("sign-assertion", row.sign_assertion),
                    ("encrypt", row.encrypt_assertion),
                    ("signed-requests", row.require_signed_requests),
                    ("idp-initiated", row.allow_idp_initiated),
                )
                if on
            ]
            click.echo(f"{row.entity_id}  fagsystem={row.fagsystem_id}  {' '.join(flags)}")
        if not found:
            click.echo("no SAML service providers registered")


@sp_group.command("remove")
@click.argument("entity_id")
@pass_context
def remove_command(ctx: CliContext, entity_id: str) -> None:
    """Remove an SP registration."""
    with ctx.database.session() as session:
        row = session.get(SamlServiceProvider, entity_id)
        if row is None:
            raise click.ClickException(f"no SP {entity_id!r} is registered")
        fagsystem = row.fagsystem_id
        session.delete(row)
        audit.record(
            session,
            actor="stsctl saml sp remove",
            action="saml_sp.delete",
            object_type="saml_sp",
            object_id=entity_id,
        )
        change_marker.bump(session)
    _announce(ctx, fagsystem)
    click.echo(f"removed {entity_id}")


def _announce(ctx: CliContext, fagsystem: str) -> None:
    """Running servers drop their cached SP registrations at once: through Redis when it
    is configured, otherwise through the change marker bumped with the change."""
    if not ctx.settings.redis_url:
        return
    from authz.cache import invalidate_fagsystem
    from store.ephemeral import StateUnavailable, open_state

    state = open_state(ctx.settings.redis_url)
    try:
        invalidate_fagsystem(state, fagsystem)
    except StateUnavailable as exc:
        click.echo(
            f"warning: could not tell running servers ({exc}); they see it in 30 s", err=True
        )
    finally:
        state.close()


@saml_group.command("metadata")
@pass_context
def metadata_command(ctx: CliContext) -> None:
    """Print the IdP's signed metadata (what /saml/metadata serves)."""
    from app import create_app

    app = create_app(ctx.settings)
    response = app.test_client().get("/saml/metadata")
    if response.status_code != 200:
        raise click.ClickException("cannot build metadata; run `stsctl init` first")
    click.echo(response.get_data(as_text=True))


COMMANDS = [saml_group]
