"""``stsctl import`` and ``stsctl export``: the role catalogue in and out of the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.context import CliContext, pass_context
from store.catalogue import CatalogueInvalid, import_catalogue, load_file, write_catalogue
from store.catalogue.progress import QUIET, Progress


class _BarProgress(Progress):
    """A click.progressbar per pass over users or assignments, on standard error."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, label: str, total: int) -> None:
        self._bar = click.progressbar(length=max(total, 1), label=f"{label:22}", file=sys.stderr)
        self._bar.__enter__()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _progress() -> Progress:
    """Bars on a terminal, nothing otherwise."""
    return _BarProgress() if sys.stderr.isatty() else QUIET


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--prune",
    is_flag=True,
    help="Also remove what the file no longer names, for the municipalities it names.",
)
@pass_context
def import_command(ctx: CliContext, file: Path, prune: bool) -> None:
    """Validate FILE (YAML or JSON catalogue) and import it in one transaction."""
    try:
        data = load_file(file)
        report = import_catalogue(ctx.database, data, prune=prune, progress=_progress())
    except CatalogueInvalid as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        click.echo(
            f"{len(exc.errors)} problem(s) in {file}; nothing was changed. "
            "Fix them and import again.",
            err=True,
        )
        sys.exit(1)
    click.echo(f"imported {file}" + ("" if report.changed else ": nothing changed"))
    click.echo(report.summary())
    if report.changed:
        _invalidate_privileges(ctx, data)


def _invalidate_privileges(ctx: CliContext, data: dict[str, Any]) -> None:
    """Tell running servers (through Redis) to drop cached privileges the file touched.

    Without Redis a server's cache is private to its process; it sees the change marker
    the import bumped (``store.change_marker``) within a second and drops its caches.
    """
    if not ctx.settings.redis_url:
        return
    from authz.cache import invalidate_catalogue
    from store.ephemeral import StateUnavailable, open_state

    state = open_state(ctx.settings.redis_url)
    try:
        invalidate_catalogue(state, data)
    except StateUnavailable as exc:
        click.echo(
            f"warning: could not tell running servers about the change ({exc}); "
            "cached privileges expire by themselves within the hour",
            err=True,
        )
    finally:
        state.close()


@click.command("export")
@click.option(
    "--cvr", help="Only this municipality (8-digit CVR); fagsystemer are always included."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
)
@pass_context
def export_command(ctx: CliContext, cvr: str | None, output_format: str) -> None:
    """Write the catalogue (without secrets) to standard output, streamed from the store."""
    if cvr is not None and not (len(cvr) == 8 and cvr.isdigit()):
        raise click.BadParameter("a CVR number is 8 digits", param_hint="--cvr")
    out = sys.stdout
    with ctx.database.session() as session:
        write_catalogue(session, out, cvr, output_format, progress=_progress())
    out.flush()


COMMANDS = [import_command, export_command]
