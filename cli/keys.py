"""``stsctl keys list|rotate``: the signing-key lifecycle."""

from __future__ import annotations

import click
from sqlalchemy import select

from cli.context import CliContext, pass_context
from store.models import SigningKey


def _manager(ctx: CliContext):
    from app import setup_keys

    return setup_keys(ctx.settings)


@click.group("keys")
def keys_group() -> None:
    """Signing keys: next → active → retired."""


@keys_group.command("list")
@pass_context
def list_command(ctx: CliContext) -> None:
    """Show every key with its state; published keys are marked with *."""
    manager = _manager(ctx)
    with ctx.database.session() as session:
        published = {row.kid for row in manager.published(session)}
        rows = session.scalars(
            select(SigningKey).order_by(SigningKey.kty, SigningKey.created_at)
        ).all()
        if not rows:
            raise click.ClickException("no keys yet; run `stsctl init`")
        click.echo(f"{'kid':34} {'type':9} {'alg':6} {'state':8} {'created':20} published")
        for row in rows:
            kind = f"{row.kty}-{row.size}"
            created = row.created_at.strftime("%Y-%m-%d %H:%M:%S")
            mark = "*" if row.kid in published else ""
            click.echo(f"{row.kid:34} {kind:9} {row.alg:6} {row.state:8} {created:20} {mark}")


@keys_group.command("rotate")
@click.option(
    "--type",
    "kty",
    type=click.Choice(["RSA", "EC"]),
    default=None,
    help="Rotate only this key type (default: both).",
)
@pass_context
def rotate_command(ctx: CliContext, kty: str | None) -> None:
    """Retire the active key, activate the next one, and create a new next key.

    The promoted key was already published, so verifiers know it; the retired key stays
    published for STS_KEY_RETIRED_DAYS so tokens it signed still verify.
    """
    manager = _manager(ctx)
    with ctx.database.session() as session:
        for retired, activated in manager.rotate(session, kty, actor="stsctl keys rotate"):
            click.echo(f"retired {retired or '-'}; active now {activated}")


COMMANDS = [keys_group]
