"""``stsctl init`` and ``stsctl serve``.

``serve`` runs the Flask app on granian (a Rust HTTP server; WSGI interface, one process
per worker, ``--threads`` blocking threads each). Measured against gunicorn's gthread
worker on the same app and machine it answers the hot paths with less CPU per request
(``bench/README.md``). What operators rely on, and where it lives:

* worker respawn: granian replaces a worker that died; :class:`_Server` keeps granian's
  crash-loop stop only for a worker that dies before it has finished loading the app
  (a boot failure), so a worker killed while serving is always replaced;
* graceful restart (``SIGHUP``: new workers one at a time, the old ones finish their
  requests) and shutdown (``SIGTERM``/``SIGINT``: in-flight requests finish, for at most
  ``--graceful-timeout`` seconds);
* request timeouts: headers must arrive within ``--timeout`` seconds (granian), and a
  request still running after ``--timeout`` seconds is logged with its stack and its
  worker replaced (:class:`RequestDeadline`: a thread cannot be stopped from outside);
* trusted-proxy headers: the app's own ``idp.proxy`` (``STS_TLS_TRUSTED_PROXIES``); the
  server adds none and passes no inherited ``HTTP_*`` variables into requests;
* Prometheus metrics of every worker summed at ``/metrics`` (``PROMETHEUS_MULTIPROC_DIR``,
  a fresh directory per run unless the operator names one).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.context import CliContext, pass_context
from store.ephemeral import check_worker_count

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger("sts.server")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# CGI names granian's WSGI environ would otherwise inherit from os.environ when the
# request does not carry them (it starts every environ from a copy of the environment).
_CGI_NAMES = frozenset(
    {"CONTENT_TYPE", "CONTENT_LENGTH", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_USER",
     "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME",
     "SERVER_PORT", "SERVER_PROTOCOL", "SSL_CLIENT_CERT", "ssl_client_cert"}
)  # fmt: skip


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


# -- in each worker ---------------------------------------------------------------------------


class RequestDeadline:
    """WSGI middleware: a request running longer than ``seconds`` ends its worker.

    A Python thread cannot be interrupted, so, like gunicorn's worker timeout, the worker
    is replaced: the stuck request's method, path, request id and stack are logged, then
    the process exits and the server starts a new one (other requests of that worker
    fail with it). Database, Redis and LDAP calls have their own shorter timeouts; this
    is the last resort for a request that hangs anyway.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self.running: dict[int, tuple[float, str]] = {}  # thread id -> (start, what)
        self._watchdog: threading.Thread | None = None
        self._exit: Callable[[int], Any] = os._exit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="deadline", daemon=True)
            self._watchdog.start()
        thread = threading.get_ident()
        what = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        self.running[thread] = (time.monotonic(), what)
        try:
            return self.app(environ, start_response)
        finally:
            self.running.pop(thread, None)

    def overdue(self, now: float) -> list[tuple[int, str]]:
        return [(t, what) for t, (began, what) in list(self.running.items())
                if now - began > self.seconds]  # fmt: skip

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.seconds / 4))
            stuck = self.overdue(time.monotonic())
            if not stuck:
                continue
            frames = sys._current_frames()
            for thread, what in stuck:
                stack = "".join(traceback.format_stack(frames[thread])) if thread in frames else ""
                log.error(
                    "request exceeded %s s, replacing worker %d: %s",
                    self.seconds,
                    os.getpid(),
                    what,
                    extra={"stack": stack},
                )
            logging.shutdown()
            self._exit(1)


def _drop_cgi_environment() -> None:
    """Keep variables out of every request that a request does not itself carry."""
    for name in list(os.environ):
        if (name.startswith("HTTP_") or name in _CGI_NAMES) and name != "HTTP_PROXY":
            del os.environ[name]


def load_worker_app(settings: Settings, timeout: float, ready_dir: str) -> Any:
    """Build the app in a worker (after the fork), then mark the worker as booted."""
    _drop_cgi_environment()
    from app import create_app

    application = RequestDeadline(create_app(settings), timeout)
    Path(ready_dir, str(os.getpid())).touch()
    return application


# -- the server process -----------------------------------------------------------------------


def _server_class() -> type:
    from granian.server import Server

    class _Server(Server):  # type: ignore[misc, valid-type]
        """granian's server; its crash-loop stop is kept for workers that never booted."""

        ready_dir: Path

        def startup(self, spawn_target: Any, target_loader: Any) -> None:
            super().startup(spawn_target, target_loader)
            threading.Thread(target=self._forget_booted, name="booted", daemon=True).start()

        def _forget_booted(self) -> None:
            # granian stops the whole server when a worker dies within 5.5 s of its
            # respawn. That is right for a worker that cannot load the app, wrong for one
            # killed while serving: forget a respawn as soon as its worker has booted.
            while True:
                time.sleep(0.1)
                for idx in list(self.respawned_wrks):
                    try:
                        pid = self.wrks[idx].inner.pid
                    except (IndexError, AttributeError):
                        continue
                    if pid and (self.ready_dir / str(pid)).exists():
                        self.respawned_wrks.pop(idx, None)

    return _Server


def _metrics_directory(runtime: Path) -> Path:
    """``PROMETHEUS_MULTIPROC_DIR`` for this run, emptied: old files would be summed in."""
    named = os.environ.get(MULTIPROC_ENV)
    directory = Path(named) if named else runtime / "metrics"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def serve(
    settings: Settings,
    bind: str,
    workers: int,
    threads: int,
    timeout: int,
    graceful_timeout: int,
) -> None:
    """Run granian until SIGTERM/SIGINT; SIGHUP restarts the workers one by one."""
    host, _sep, port = bind.rpartition(":")
    runtime = Path(tempfile.mkdtemp(prefix="sts-serve-"))
    ready_dir = runtime / "ready"
    ready_dir.mkdir()
    # Before prometheus_client is imported here: forked workers inherit its mode.
    os.environ[MULTIPROC_ENV] = str(_metrics_directory(runtime))
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    import app  # noqa: F401  - imported once here, so a worker (re)starts in a fork's time

    server = _server_class()(
        "app:create_app",  # named for granian's logs; the loader below builds the app
        address=host.strip("[]"),
        port=int(port),
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        backpressure=threads * 4,
        http1_settings=HTTP1Settings(header_read_timeout=timeout * 1000),
        websockets=False,
        respawn_failed_workers=True,
        respawn_interval=2.0,
        workers_kill_timeout=graceful_timeout,
        log_level="warning" if settings.log_level in ("WARNING", "ERROR") else "info",
    )
    server.ready_dir = ready_dir
    try:
        server.serve(
            target_loader=partial(load_worker_app, settings, timeout, str(ready_dir)),
            wrap_loader=False,
        )
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


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
    help="Threads per worker running requests (logins waiting on AD use one each).",
)
@click.option(
    "--timeout",
    type=click.IntRange(1, 600),
    default=30,
    show_default=True,
    help="Seconds for a request's headers to arrive, and for a request to finish before "
    "its worker is replaced.",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(1, 600),
    default=20,
    show_default=True,
    help="Seconds a stopping worker may take to finish its requests (SIGTERM, SIGHUP).",
)
@pass_context
def serve_command(
    ctx: CliContext, bind: str, workers: int, threads: int, timeout: int, graceful_timeout: int
) -> None:
    """Run the production server (granian) on the configured database and state store.

    SIGTERM or SIGINT stops it after the requests in flight; SIGHUP replaces the workers
    one at a time. A worker that dies is replaced.
    """
    settings = ctx.settings
    try:
        check_worker_count(workers, settings.redis_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"serving on http://{bind} with {workers} worker(s)", err=True)
    serve(settings, bind, workers, threads, timeout, graceful_timeout)


COMMANDS = [init_command, serve_command]
