"""``stsctl mfa activation-code``: what a Brugeradministrator gives a person to enrol TOTP.

By default (``STS_MFA_ENROLMENT=activation_code``) a first TOTP enrolment needs a
one-time activation code besides the password. ``--reset`` is the lost-phone case: the
person's authenticator and recovery codes are removed, every SSO session and refresh
token of theirs ends (on every server), and a new code is issued. Everything is audited
with actor ``stsctl``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from store.ephemeral import EphemeralState

ACTOR = "stsctl"


@click.group("mfa")
def mfa_group() -> None:
    """Second factor (TOTP): activation codes for enrolment, and reset after a lost phone."""


@mfa_group.command("activation-code")
@click.argument("user")
@click.option("--cvr", help="The user's municipality (8 digits); needed if the name is ambiguous.")
@click.option(
    "--reset",
    is_flag=True,
    help="Lost phone: remove the user's TOTP and recovery codes and end all their sessions "
    "first, then issue the code.",
)
@pass_context
def activation_code_command(ctx: CliContext, user: str, cvr: str | None, reset: bool) -> None:
    """Print a one-time activation code with which USER (username or id) enrols TOTP.

    The code is valid once, for STS_MFA_ACTIVATION_CODE_HOURS (72 by default); a new code
    withdraws any earlier unused one. Give it to the person by a channel other than the
    one their password travels on.
    """
    from admin.service.mfa import issue_code
    from store.models import User

    if cvr is not None and not (len(cvr) == 8 and cvr.isdigit()):
        raise click.BadParameter("a CVR number is 8 digits", param_hint="--cvr")
    settings = ctx.settings
    state = _shared_state(ctx) if reset else None
    try:
        with ctx.database.session() as session:
            query = select(User.id, User.cvr, User.username, User.disabled).where(
                (User.username == user) | (User.id == user)
            )
            if cvr is not None:
                query = query.where(User.cvr == cvr)
            rows = session.execute(query).all()
            if not rows:
                where = f" in municipality {cvr}" if cvr else ""
                raise click.ClickException(f"no user {user!r}{where}; check the name and --cvr")
            if len(rows) > 1:
                found = ", ".join(sorted(row.cvr for row in rows))
                raise click.ClickException(
                    f"{user!r} exists in several municipalities ({found}); name one with --cvr"
                )
            target = rows[0]
            if target.disabled:
                raise click.ClickException(
                    f"{target.username} is disabled; enable the account before issuing a code"
                )
            issued = issue_code(
                session,
                state,
                target.id,
                target.cvr,
                actor=ACTOR,
                lifetime=dt.timedelta(hours=settings.mfa_activation_code_hours),
                reset=reset,
            )
            code, expires = issued.code, issued.expires_at
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise click.ClickException(
            f"cannot use the database: {reason}. Check STS_DATABASE_URL, and run "
            "`stsctl init` if it is new."
        ) from exc
    finally:
        if state is not None:
            state.close()
    if reset:
        click.echo(
            f"reset: {target.username}'s authenticator and recovery codes are removed and "
            "every session of theirs has ended",
            err=True,
        )
    click.echo(code)
    click.echo(
        f"for {target.username} (CVR {target.cvr}); single use, valid until "
        f"{expires.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
        err=True,
    )
    if settings.mfa_enrolment != "activation_code":
        click.echo(
            "note: STS_MFA_ENROLMENT is 'password', so enrolment does not ask for the code",
            err=True,
        )


def _shared_state(ctx: CliContext) -> EphemeralState | None:
    """Redis, when configured: the user's sessions are deleted there at once."""
    if not ctx.settings.redis_url:
        return None  # servers see the change marker within a second
    from store.ephemeral import open_state

    return open_state(ctx.settings.redis_url)


COMMANDS = [mfa_group]
