"""``stsctl admin grant|revoke|list``: administrative roles, from the operator's shell.

The commands call :mod:`admin.service.roles` as the command-line operator
(:func:`admin.actor.command_line`): every role may be given here, the operator role only
here, and each change is audited with actor ``stsctl``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from authz.admin import CVR_ROLES, FAGSYSTEM_ROLE, OPERATOR
from cli.context import CliContext, pass_context

F = TypeVar("F", bound=Callable[..., Any])

CLIENT_PREFIX = "client:"
_ROLE_HELP = (
    f"Municipal ({', '.join(CVR_ROLES)}; with --cvr), {FAGSYSTEM_ROLE} (with --fagsystem) "
    f"or {OPERATOR} (neither; only ever given here)."
)
_HOLDER_HELP = """
USER_OR_CLIENT is a username, or client:CLIENT_ID for an OIDC client (an integration
using the admin API). A user is looked up in --user-cvr if given, else in the --cvr
municipality; for the operator and leverandoeradministrator roles (no --cvr) a username
that exists in several municipalities needs --user-cvr to say which.
"""
# Where the service's JSON pointers are on this command line.
_OPTIONS = {
    "/role": "--role",
    "/cvr": "--cvr",
    "/fagsystem": "--fagsystem",
    "/user": "USER_OR_CLIENT",
    "/client": "USER_OR_CLIENT",
    "/user_cvr": "--user-cvr",
}


@click.group("admin")
def admin_group() -> None:
    """Administrative roles: who administers which municipality or fagsystem."""


def _scope_options(function: F) -> F:
    for decorator in reversed(
        [
            click.option("--role", help=_ROLE_HELP),
            click.option("--cvr", help="The municipality a municipal role is held for (8 digits)."),
            click.option("--fagsystem", help="The fagsystem a leverandoeradministrator maintains."),
            click.option(
                "--user-cvr",
                help="The user's own municipality, when it is not --cvr or the name is ambiguous.",
            ),
        ]
    ):
        function = decorator(function)
    return function


def _holder(value: str) -> dict[str, str | None]:
    """USER_OR_CLIENT as the service's ``username`` / ``client_id`` arguments."""
    if value.startswith(CLIENT_PREFIX):
        return {"username": None, "client_id": value.removeprefix(CLIENT_PREFIX)}
    return {"username": value, "client_id": None}


def _fail(exc: Exception, hint: str = "") -> NoReturn:
    """Print what went wrong (and where on the command line), what to do; exit 1."""
    from admin.errors import AdminError, Conflict, NotFound

    if isinstance(exc, SQLAlchemyError):
        reason = getattr(exc, "orig", None) or exc
        click.echo(f"error: cannot use the database: {reason}", err=True)
        click.echo("Check STS_DATABASE_URL, and run `stsctl init` if it is new.", err=True)
        sys.exit(1)
    assert isinstance(exc, AdminError)
    click.echo(f"error: {exc.detail}", err=True)
    unknown_user = False
    pointers = set()
    for pointer, detail in exc.errors:
        pointers.add(pointer)
        unknown_user = unknown_user or (pointer == "/user" and detail.startswith("no user"))
        click.echo(f"  {_OPTIONS.get(pointer, pointer)}: {detail}", err=True)
    if unknown_user:
        hint = (
            "Check the username and its municipality (--user-cvr); for an OIDC client write "
            "client:CLIENT_ID."
        )
    elif "/user_cvr" in pointers:
        hint = "Add --user-cvr CVR to say which user is meant."
    elif isinstance(exc, Conflict):
        hint = "Nothing was changed; `stsctl admin list` shows the roles held."
    elif isinstance(exc, NotFound) and not hint:
        hint = "`stsctl admin list` shows the roles held, with their ids."
    if hint:
        click.echo(hint, err=True)
    sys.exit(1)


@admin_group.command("grant", epilog=_HOLDER_HELP)
@click.argument("holder", metavar="USER_OR_CLIENT")
@_scope_options
@pass_context
def grant_command(
    ctx: CliContext,
    holder: str,
    role: str | None,
    cvr: str | None,
    fagsystem: str | None,
    user_cvr: str | None,
) -> None:
    """Give an administrative role to a user or an OIDC client.

    \b
    stsctl admin grant karen --role godkender --cvr 29189846
    stsctl admin grant client:sapa-admin --role leverandoeradministrator --fagsystem SAPA
    stsctl admin grant ops --role operator --user-cvr 29189846
    """
    from admin.actor import command_line
    from admin.errors import AdminError
    from admin.service import roles

    if role is None:
        raise click.UsageError("give the role with --role", ctx=click.get_current_context())
    try:
        grant = roles.grant(
            ctx.database,
            command_line(),
            role=role,
            cvr=cvr,
            fagsystem=fagsystem,
            user_cvr=user_cvr,
            **_holder(holder),
        )
    except (AdminError, SQLAlchemyError) as exc:
        _fail(exc)
    click.echo(
        f"granted {grant.role} for {grant.scope_name} to {grant.holder_name} (grant {grant.id})"
    )


@admin_group.command("revoke", epilog=_HOLDER_HELP)
@click.argument("holder", metavar="[USER_OR_CLIENT]", required=False)
@_scope_options
@click.option("--id", "grant_id", type=int, help="The grant's id (from `stsctl admin list`).")
@pass_context
def revoke_command(
    ctx: CliContext,
    holder: str | None,
    role: str | None,
    cvr: str | None,
    fagsystem: str | None,
    user_cvr: str | None,
    grant_id: int | None,
) -> None:
    """Take an administrative role back: by holder, role and scope, or by --id.

    \b
    stsctl admin revoke karen --role godkender --cvr 29189846
    stsctl admin revoke --id 17
    """
    from admin.actor import command_line
    from admin.errors import AdminError
    from admin.service import roles

    context = click.get_current_context()
    if grant_id is not None:
        if holder or role or cvr or fagsystem or user_cvr:
            raise click.UsageError("give either --id or USER_OR_CLIENT with --role", ctx=context)
    elif holder is None or role is None:
        raise click.UsageError(
            "give USER_OR_CLIENT and --role (with its scope), or --id", ctx=context
        )
    actor = command_line()
    try:
        if grant_id is None:
            assert holder is not None and role is not None
            grant_id = roles.find_grant(
                ctx.database,
                actor,
                role=role,
                cvr=cvr,
                fagsystem=fagsystem,
                user_cvr=user_cvr,
                **_holder(holder),
            ).id
        grant = roles.revoke(ctx.database, actor, grant_id)
    except (AdminError, SQLAlchemyError) as exc:
        _fail(exc)
    click.echo(
        f"revoked {grant.role} for {grant.scope_name} from {grant.holder_name} (grant {grant.id})"
    )


@admin_group.command("list")
@click.option("--cvr", help="Only the roles held for this municipality.")
@click.option("--fagsystem", help="Only the leverandoeradministrator roles of this fagsystem.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@pass_context
def list_command(ctx: CliContext, cvr: str | None, fagsystem: str | None, fmt: str) -> None:
    """List the administrative roles held (all of them without --cvr or --fagsystem)."""
    from admin.actor import command_line
    from admin.errors import AdminError
    from admin.service import roles

    try:
        grants = roles.list_roles(ctx.database, command_line(), cvr=cvr, fagsystem=fagsystem)
    except (AdminError, SQLAlchemyError) as exc:
        _fail(exc, "Check the CVR or fagsystem id; `stsctl admin list` shows every role.")
    if fmt == "json":
        click.echo(json.dumps([g.as_dict() for g in grants], indent=2, ensure_ascii=False))
        return
    rows = [
        (
            str(g.id),
            g.role,
            g.scope_name,
            g.holder_name,
            g.granted_by or "",
            g.granted_at.isoformat(timespec="seconds") if g.granted_at else "",
        )
        for g in grants
    ]
    header = ("ID", "ROLE", "FOR", "HELD BY", "GRANTED BY", "GRANTED AT")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    click.echo(f"{len(grants)} administrative role(s)")


COMMANDS = [admin_group]
