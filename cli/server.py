"""``stsctl init`` and ``stsctl serve``."""

from __future__ import annotations

from typing import Any

import click

from cli.context import CliContext, pass_context
from store.ephemeral import check_worker_count


@click.command("init")
@pass_context
def init_command(ctx: CliContext) -> None:
    """Create or migrate the database and create signing keys if none exist.

    Safe to run again: an up-to-date database and existing keys are left as they are.
    """
    from app import initialise, setup_keys

    settings = ctx.settings
    try:
        created = initialise(settings, ctx.database, setup_keys(settings))
    except Exception as exc:
        raise click.ClickException(
            f"could not initialise the database at {ctx.database.engine.url!r}: {exc}"
        ) from exc
    click.echo(f"database ready: {ctx.database.engine.url.render_as_string(hide_password=True)}")
    if created:
        click.echo(f"created signing keys: {', '.join(created)}")
    else:
        click.echo("signing keys present; none created")


def _parse_bind(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8000")
    return value


@click.command("serve")
@click.option(
    "--bind",
    default="127.0.0.1:8000",
    show_default=True,
    callback=_parse_bind,
    help="Address to listen on, HOST:PORT.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    envvar="STS_WORKERS",
    help="Worker processes; more than one needs STS_REDIS_URL.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Threads per worker.",
)
@pass_context
def serve_command(ctx: CliContext, bind: str, workers: int, threads: int) -> None:
    """Run the production server (gunicorn) on the configured database and state store."""
    settings = ctx.settings
    try:
        check_worker_count(workers, settings.redis_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": bind,
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "accesslog": None,
                "timeout": 30,
                "graceful_timeout": 20,
                "forwarded_allow_ips": "127.0.0.1,::1",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from app import create_app

            return create_app(settings)

    click.echo(f"serving on http://{bind} with {workers} worker(s)", err=True)
    _Server().run()


COMMANDS = [init_command, serve_command]
