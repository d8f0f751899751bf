"""``stsctl ad check`` and ``stsctl ad sync [--full]``: Active Directory over LDAP."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from cli.context import CliContext, pass_context
from connectors.base import DirectoryUnavailable
from settings import SettingsError

if TYPE_CHECKING:
    from connectors.ldap import LdapDirectory


class _BarProgress:
    """click.progressbar per phase, for a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, phase: str, total: int) -> None:
        self._bar = click.progressbar(length=max(total, 1), label=f"{phase:10}", file=sys.stderr)
        self._bar.__enter__()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _directory(ctx: CliContext) -> LdapDirectory:
    from connectors.ldap import check_configuration, open_directory

    try:
        check_configuration(ctx.settings)
        return open_directory(ctx.settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("ad")
def ad_group() -> None:
    """Active Directory: check the STS_LDAP_* settings, synchronise users and groups."""


@ad_group.command("check")
@pass_context
def check_command(ctx: CliContext) -> None:
    """Connect to every DC with the service account and read the base DN."""
    from connectors.ldap import check_configuration

    try:
        result = check_configuration(ctx.settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    for url in result.usable:
        click.echo(f"ok       {url}")
    for url in result.unusable:
        click.echo(f"FAILING  {url}")
    click.echo("Active Directory" if result.active_directory else "LDAP server (not AD)")


@ad_group.command("sync")
@click.option("--full", is_flag=True, help="Read everything, not only changes since the last run.")
@pass_context
def sync_command(ctx: CliContext, full: bool) -> None:
    """Copy users, groups (with nesting and membership) and OUs from AD into the store.

    Incremental by uSNChanged unless --full or the DC changed. Users disabled or removed
    in AD are disabled here and their sessions end. Prints a summary of the changes.
    """
    from connectors.ldap.sync import DirectorySync, LogProgress
    from store.ephemeral import open_state

    directory = _directory(ctx)
    state = open_state(ctx.settings.redis_url) if ctx.settings.redis_url else None
    progress = _BarProgress() if sys.stderr.isatty() else LogProgress()
    try:
        summary = DirectorySync(directory, ctx.database, state, progress=progress).run(full=full)
        if state is not None and ctx.settings.ldap_cvr:
            # Group memberships, org units and KLE may all have moved: drop the
            # municipality's cached privileges on every server (one counter bump).
            from authz.cache import invalidate_municipality

            invalidate_municipality(state, ctx.settings.ldap_cvr)
    except DirectoryUnavailable as exc:
        raise click.ClickException(f"STS_LDAP_URLS: {exc}") from exc
    finally:
        directory.close()
        if state is not None:
            state.close()
    click.echo(summary.line())
    for conflict in summary.conflicts[:20]:
        click.echo(f"conflict: {conflict}", err=True)


COMMANDS = [ad_group]
