"""``make demo``: the IdP and the demo fagsystemer KY, KSD and SAPA, started and stopped together.

``python -m demo.run [--data-dir var] [--idp-port 8000] [--ky-port 8001] ...``

1. passwords for the demo users and SAPA's client secret, generated on this machine
   (``demo-passwords.env``, ``demo-secrets.env``, mode 0600);
2. ``stsctl init`` and ``stsctl import policies/demo.yaml`` (with SAPA's redirect URI
   rewritten when SAPA is not on port 8003);
3. ``stsctl serve`` for the IdP, then the three apps, each waited for;
4. KY and KSD registered as SAML SPs from their own metadata URLs (they make their keys
   at first start): ``stsctl saml sp add URL --fagsystem KY ...``;
5. the URLs and the users printed; Ctrl-C (or SIGTERM) stops everything.

Logs go to ``<data dir>/demo/logs/``. The e2e browser test runs the same :func:`start`
on free ports in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from demo import passwords

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "policies" / "demo.yaml"
DEFAULT_PORTS = {"IdP": 8000, "KY": 8001, "KSD": 8002, "SAPA": 8003}
APPS = {
    "KY": ("demo.ky", "Kommunernes Ydelsessystem (SAML)"),
    "KSD": ("demo.ksd", "Kommunernes Sygedagpengesystem (SAML)"),
    "SAPA": ("demo.sapa", "Sags- og Partsoverblik (OpenID Connect)"),
}
SAML_APPS = ("KY", "KSD")
SP_FLAGS = ("--encrypt-assertion", "--require-signed-requests")
OPERATOR = "ole"  # the demo operator; the role is given at the command line, never in a file
ADMIN_ROLES = {
    "alma": "Administrator, Demo Kommune",
    "jonna": "Jobfunktionsrolleadministrator, Demo Kommune",
    "bent": "Brugeradministrator, Demo Kommune",
    "gitte": "Godkender, Demo Kommune",
    "lars": "Leverandøradministrator for SAPA (and Godkender, Demo Kommune)",
    "nanna": "Godkender, Nabo Kommune: a service agreement awaits her approval",
    "ole": "operator",
}


DEMO_MFA_ENROLMENT = "password"


def stsctl() -> list[str]:
    script = Path(sys.executable).with_name("stsctl")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli import main; main()"]


class DemoError(RuntimeError):
    pass


@dataclass
class Demo:
    """The running demo: its processes, URLs and the users' passwords."""

    data_dir: Path
    ports: dict[str, int]
    env: dict[str, str]
    users: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, IO[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "demo" / "logs"

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name.lower()}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.logs[name] = log
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        self.processes[name] = process
        return process

    def wait_ready(self, name: str, path: str, timeout: float = 60.0) -> None:
        url = self.url(name) + path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise DemoError(f"{name} exited ({process.returncode}); see {self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - ours
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise DemoError(f"{url} did not answer in {timeout:.0f} s; see {self.log_tail(name)}")

    def log_tail(self, name: str) -> str:
        path = self.log_dir / f"{name.lower()}.log"
        try:
            lines = path.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return str(path)
        return f"{path}:\n" + "\n".join(lines)

    def first_exited(self) -> str | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        """SIGTERM to every process (apps first, the IdP last), then wait; kill stragglers."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self.logs.values():
            log.close()
        self.processes.clear()
        self.logs.clear()


def run(command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DemoError(f"{what} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def catalogue_for(ports: dict[str, int], data_dir: Path) -> Path:
    """The demo catalogue; a copy with SAPA's redirect URI moved when SAPA moves."""
    if ports["SAPA"] == DEFAULT_PORTS["SAPA"]:
        return CATALOGUE
    text = CATALOGUE.read_text(encoding="utf-8")
    text = text.replace(
        f"http://127.0.0.1:{DEFAULT_PORTS['SAPA']}/", f"http://127.0.0.1:{ports['SAPA']}/"
    )
    moved = data_dir / "demo" / "catalogue.yaml"
    moved.parent.mkdir(parents=True, exist_ok=True)
    moved.write_text(text, encoding="utf-8")
    return moved


def prepare(data_dir: Path, ports: dict[str, int], base_env: dict[str, str]) -> Demo:
    """Secrets, database, keys and the demo catalogue: everything before serving."""
    data_dir.mkdir(parents=True, exist_ok=True)
    password_file = data_dir / "demo-passwords.env"
    secret_file = data_dir / "demo-secrets.env"
    passwords.write(password_file)
    passwords.write_secrets(secret_file)
    users = passwords.read_env(password_file)
    env = {
        **base_env,
        **users,
        **passwords.read_env(secret_file),
        "STS_DATA_DIR": str(data_dir),
        "STS_BASE_URL": f"http://127.0.0.1:{ports['IdP']}",
        # The demo's people enrol TOTP with their password alone; a real deployment
        # keeps the default, a one-time activation code from a Brugeradministrator.
        "STS_MFA_ENROLMENT": DEMO_MFA_ENROLMENT,
        "PYTHONUNBUFFERED": "1",
    }
    run([*stsctl(), "init"], env, "stsctl init")
    run([*stsctl(), "import", str(catalogue_for(ports, data_dir))], env, "stsctl import")
    run([*stsctl(), "import", str(passwords.ADMINS)], env, "stsctl import (administrators)")
    if "operator" not in run([*stsctl(), "admin", "list", "--format", "json"], env, "admin list"):
        grant = ["admin", "grant", OPERATOR, "--role", "operator", "--user-cvr", "29189846"]
        run([*stsctl(), *grant], env, "stsctl admin grant (operator)")
    demo = Demo(data_dir, ports, env)
    demo.users = {k.removeprefix("DEMO_PASSWORD_").lower(): v for k, v in users.items()}
    return demo


def start(
    data_dir: Path, ports: dict[str, int] | None = None, env: dict[str, str] | None = None
) -> Demo:
    """Prepare, then start the IdP and the three apps; the SAML apps get registered."""
    ports = {**DEFAULT_PORTS, **(ports or {})}
    demo = prepare(data_dir, ports, dict(os.environ if env is None else env))
    try:
        demo.spawn("IdP", [*stsctl(), "serve", "--bind", f"127.0.0.1:{ports['IdP']}"])
        links = [f"--link={name}={demo.url(name)}" for name in APPS]
        for name, (module, _) in APPS.items():
            command = [
                sys.executable,
                "-m",
                module,
                f"--port={ports[name]}",
                f"--idp={demo.url('IdP')}",
                f"--data-dir={data_dir / 'demo' / name.lower()}",
                *links,
            ]
            demo.spawn(name, command)
        demo.wait_ready("IdP", "/readyz")
        for name in APPS:
            demo.wait_ready(name, "/healthz")
        for name in SAML_APPS:
            source = f"{demo.url(name)}/saml/metadata"
            run(
                [*stsctl(), "saml", "sp", "add", source, "--fagsystem", name, *SP_FLAGS],
                demo.env,
                f"registering {name} as a SAML SP",
            )
    except BaseException:
        demo.stop()
        raise
    return demo


def _python() -> str:
    try:
        return str(Path(sys.executable).relative_to(Path.cwd()))
    except ValueError:
        return sys.executable


def banner(demo: Demo) -> str:
    lines = ["", "The demo is running (Ctrl-C stops it all):", ""]
    lines.append(f"  IdP   {demo.url('IdP'):24} identity provider (/healthz, /readyz)")
    for name, (_, title) in APPS.items():
        lines.append(f"  {name:5} {demo.url(name) + '/':24} {title}")
    lines += [
        "",
        f"Demo users (passwords made on this machine, {demo.data_dir}/demo-passwords.env):",
    ]
    lines += [
        f"  {user:8} {password}" for user, password in demo.users.items() if user not in ADMIN_ROLES
    ]
    lines += ["", f"Administrators, at {demo.url('IdP')}/admin/ (same password file):"]
    lines += [
        f"  {user:8} {demo.users.get(user, '?'):18} {role}" for user, role in ADMIN_ROLES.items()
    ]
    lines += [
        "",
        "Start at KY and sign in as peter. KY, KSD and SAPA require NSIS Substantial, so the",
        "first login enrols an authenticator app (TOTP). No app at hand? The page shows the",
        f"secret; `{_python()} -m demo.totp SECRET` prints the current code.",
        f"Note: the demo sets STS_MFA_ENROLMENT={DEMO_MFA_ENROLMENT}, so enrolling needs only the",
        "password. The default (activation_code) also asks for a one-time code that a",
        "Brugeradministrator prints with `stsctl mfa activation-code USER`.",
        f"Logs: {demo.log_dir}/",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("STS_DATA_DIR") or "var")
    )
    for name, port in DEFAULT_PORTS.items():
        parser.add_argument(f"--{name.lower()}-port", type=int, default=port)
    args = parser.parse_args(argv)
    ports = {name: getattr(args, f"{name.lower()}_port") for name in DEFAULT_PORTS}

    def interrupted(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    print("Preparing the demo (database, keys, catalogue) and starting four processes…")
    try:
        demo = start(args.data_dir.resolve(), ports)
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(banner(demo), flush=True)
    try:
        while (exited := demo.first_exited()) is None:
            time.sleep(0.5)
        print(f"demo: {exited} stopped; {demo.log_tail(exited)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
