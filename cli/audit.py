"""``stsctl audit verify``: check the audit trail's hash chain."""

from __future__ import annotations

import datetime as dt
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from cli.context import CliContext, pass_context


@click.group("audit")
def audit_group() -> None:
    """The audit trail (append-only, hash-chained)."""


@audit_group.command("verify")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Start at the first event of this day (UTC, YYYY-MM-DD) and check its link to "
    "the event before it; default: the whole chain.",
)
@pass_context
def verify_command(ctx: CliContext, since: dt.datetime | None) -> None:
    """Check that no audit event was changed, removed or reordered.

    Streams the whole chain (or the part from --since) in id order, in bounded memory.
    Prints "audit chain intact: N events checked" and exits 0, or names the first broken
    link (its id, time, action and actor, and whether its content or its link to the
    previous event is wrong) and exits 1. Removing the newest events leaves no trace in
    the chain itself: compare the count with your backups.
    """
    from store.audit import ChainBreak, check_chain

    start = since.replace(tzinfo=dt.UTC) if since else None
    try:
        with ctx.database.session() as session:
            result = check_chain(session, since=start)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        click.echo(f"cannot read the audit trail: {reason}", err=True)
        click.echo(
            "Check STS_DATABASE_URL, and run `stsctl init` if the database is new.", err=True
        )
        sys.exit(1)
    where = ""
    if start is not None:
        where = f" from {start.date().isoformat()}"
        if result.first_id is not None:
            where += f" (event {result.first_id} on)"
    broken: ChainBreak | None = result.broken
    if broken is None:
        click.echo(f"audit chain intact: {result.checked} events checked{where}")
        return
    click.echo(
        f"audit chain BROKEN at event {broken.id}: {broken.at.isoformat()} "
        f"{broken.action} by {broken.actor}"
    )
    if not broken.content_ok:
        click.echo(
            "  its content does not match its hash: the event was changed after it was written"
        )
    if not broken.link_ok:
        click.echo(
            "  its link to the previous event is wrong: an event before it was removed, "
            "or it was moved"
        )
    click.echo(
        f"{result.checked} events before it{where} are intact. Compare event {broken.id} and "
        "its neighbours with a backup of the audit_events table, and keep this database "
        "for investigation.",
    )
    sys.exit(1)


COMMANDS = [audit_group]
