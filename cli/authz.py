"""``stsctl privileges USER --cvr CVR --fagsystem ID [--explain]``: what a token would carry."""

from __future__ import annotations

import datetime as dt
import json

import click

from cli.context import CliContext, pass_context


@click.command("privileges")
@click.argument("user")
@click.option("--cvr", required=True, help="Municipality the user acts for (8 digits).")
@click.option("--fagsystem", "fagsystem", required=True, help="Fagsystem id or entity id.")
@click.option("--explain", is_flag=True, help="Show where each group comes from, and notes.")
@click.option(
    "--date",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Resolve as of this day (Europe/Copenhagen; default today).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "bpp", "priv"]),
    default="text",
    show_default=True,
    help="text; json (with sources); bpp (the OIO-BPP XML); priv (the JWT claim).",
)
@pass_context
def privileges_command(
    ctx: CliContext,
    user: str,
    cvr: str,
    fagsystem: str,
    explain: bool,
    on: dt.datetime | None,
    fmt: str,
) -> None:
    """Resolve USER's privileges (username or user id) for one fagsystem, today.

    Exits non-zero, naming the problem, for an unknown or disabled user, an unknown
    fagsystem or an unknown municipality; "no privilege groups" means exactly that.
    """
    from authz.bpp import encode_xml
    from authz.engine import find_user, resolve
    from authz.errors import AuthzError
    from authz.priv import encode_priv

    try:
        user_id = find_user(ctx.database, user, cvr)
        result = resolve(ctx.database, user_id, cvr, fagsystem, on=on.date() if on else None)
    except AuthzError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    if fmt == "bpp":
        click.echo(encode_xml(result).decode("utf-8"))
        return
    if fmt == "priv":
        click.echo(encode_priv(result))
        return
    if explain:
        click.echo(result.explain())
        return
    click.echo(
        f"{result.username} · CVR {result.cvr} · {result.fagsystem_id} · {result.on.isoformat()}: "
        f"{len(result.groups)} privilege group(s)"
    )
    for group in result.groups:
        click.echo(f"  {group.privilege}  [{group.scope}]")
        for constraint in group.constraints:
            click.echo(f"      {constraint.name} = {constraint.value}")


COMMANDS = [privileges_command]
