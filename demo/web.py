"""What the three demo fagsystemer share: command line, secrets on disk, the page, the server.

Built on Flask and :mod:`verifier` only (plus ``cryptography``, a verifier dependency),
as a fagsystem outside this repository would be: nothing here imports the IdP.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from flask import Flask, render_template_string
from werkzeug.serving import make_server

from demo.cases import CONSTRAINT_NAMES, MUNICIPALITIES, ORG_UNITS, Case
from verifier.privileges import ORGENHED, PrivilegeSet


@dataclass(frozen=True)
class AppConfig:
    """Where a demo fagsystem runs, where the IdP is, and where it keeps its secrets."""

    port: int
    idp_url: str
    data_dir: Path
    links: dict[str, str] = field(default_factory=dict)  # "KY" -> its base URL
    host: str = "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def parse_args(name: str, default_port: int, argv: Sequence[str] | None = None) -> AppConfig:
    parser = argparse.ArgumentParser(prog=f"python -m demo.{name.lower()}")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--idp", default="http://127.0.0.1:8000", help="the IdP's base URL")
    parser.add_argument("--data-dir", type=Path, default=Path("var") / "demo" / name.lower())
    parser.add_argument(
        "--link", action="append", default=[], metavar="NAME=URL", help="another demo app"
    )
    args = parser.parse_args(argv)
    links = dict(item.split("=", 1) for item in args.link)
    return AppConfig(args.port, args.idp.rstrip("/"), args.data_dir, links)


def private_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of ``path``; created with ``make()`` (mode 0600) on first use."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    content = make()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return content


def new_flask_app(name: str, config: AppConfig) -> Flask:
    app = Flask(f"demo.{name.lower()}")
    app.config.update(
        SECRET_KEY=private_file(config.data_dir / "secret_key", lambda: secrets.token_bytes(32)),
        # All demo apps and the IdP share the host 127.0.0.1, and cookies ignore ports:
        # each app needs its own cookie name.
        SESSION_COOKIE_NAME=f"demo_{name.lower()}_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )

    @app.get("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}

    return app


def role_name(uri: str) -> str:
    slug = uri.rstrip("/").split("/")[-2] if uri.count("/") > 3 else uri
    return slug.replace("_", " ").replace("laes", "læs").capitalize()


def constraint_text(uri: str, values: tuple[str, ...]) -> str:
    if uri == ORGENHED:
        values = tuple(ORG_UNITS.get(v.lower(), v) for v in values)
    return f"{CONSTRAINT_NAMES.get(uri, uri)}: {', '.join(values)}"


def privilege_rows(privileges: PrivilegeSet) -> list[dict[str, Any]]:
    return [
        {
            "name": role_name(group.privilege),
            "uri": group.privilege,
            "municipality": MUNICIPALITIES.get(group.cvr or "", group.scope),
            "constraints": [constraint_text(u, v) for u, v in sorted(group.constraints.items())]
            or ["ingen (gælder alle data)"],
        }
        for group in privileges
    ]


PAGE = """<!doctype html>
<html lang="da"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ short }} · {{ long }}</title>
<style>
  :root { --accent: {{ accent }}; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f4f5f7; }
  header { background: var(--accent); color: #fff; padding: .8rem 1.5rem; display: flex;
           align-items: baseline; gap: 1rem; }
  header strong { font-size: 1.4rem; } header .who { margin-left: auto; }
  header a { color: #fff; }
  main { max-width: 60rem; margin: 1.2rem auto; padding: 0 1rem; }
  .card { background: #fff; border-radius: 6px; padding: .8rem 1.2rem; margin-bottom: 1rem;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  h2 { font-size: 1.05rem; margin: .3rem 0 .6rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e3e5e8;
           vertical-align: top; }
  th { font-weight: 600; color: #555; font-size: .85rem; }
  code, .uri { font-family: ui-monospace, monospace; font-size: .78rem; color: #666; }
  dl { display: grid; grid-template-columns: 12rem 1fr; margin: 0; }
  dt { color: #555; } dd { margin: 0 0 .2rem; }
  .button { display: inline-block; background: var(--accent); color: #fff; padding: .5rem 1rem;
            border-radius: 4px; text-decoration: none; }
  nav a { margin-right: 1rem; } .muted { color: #666; } .error { color: #a40000; }
  details summary { cursor: pointer; color: #555; margin-top: .6rem; }
</style></head>
<body>
<header><strong>{{ short }}</strong><span>{{ long }}</span>
  <span class="who">{% if user %}<a id="logout" href="/logout">Log ud</a>
  {% endif %}</span></header>
<main>
{% if not user %}
  <section class="card">
    <p>{{ intro }}</p>
    {% if error %}<p class="error" id="error">Login afvist: {{ error }}</p>{% endif %}
    <a class="button" id="login" href="/login">Log ind med Demo Kommunes IdP</a>
  </section>
{% else %}
  <section class="card" id="user">
    <h2>Logget ind som</h2>
    <dl>
      <dt>Navn</dt><dd id="user-name">{{ user.name }}</dd>
      <dt>Bruger-UUID</dt><dd><code>{{ user.uuid }}</code></dd>
      <dt>Kommune (CVR)</dt><dd id="user-cvr">{{ user.municipality }} ({{ user.cvr }})</dd>
      <dt>Sikringsniveau</dt><dd id="user-loa">{{ user.loa }}</dd>
      <dt>Token</dt><dd>{{ user.via }}</dd>
    </dl>
  </section>
  <section class="card" id="privileges">
    <h2>Rettigheder for {{ short }} i tokenet</h2>
    {% if privileges %}
    <table><tr><th>Rolle</th><th>Kommune</th><th>Afgrænsninger</th></tr>
    {% for p in privileges %}
      <tr class="privilege"><td>{{ p.name }}<br><span class="uri">{{ p.uri }}</span></td>
      <td>{{ p.municipality }}</td><td>{% for c in p.constraints %}{{ c }}<br>{% endfor %}</td></tr>
    {% endfor %}</table>
    {% else %}<p class="muted" id="no-privileges">Ingen rettigheder i {{ short }}.</p>{% endif %}
  </section>
  <section class="card" id="cases">
    <h2>Sager du kan se ({{ shown|length }} af {{ shown|length + hidden|length }})</h2>
    <p class="muted">Rolle: {{ role_label }}. Hver sag vises kun, hvis
      <code>privileges.allows(rolle, cvr=…, kle=…{% if by_unit %}, orgenhed=…{% endif %})</code>
      siger ja.</p>
    <table id="visible-cases"><tr><th>Sag</th><th>Titel</th><th>KLE</th>
      {% if by_unit %}<th>Enhed</th>{% endif %}<th>Kommune</th></tr>
    {% for c in shown %}
      <tr class="case" data-case="{{ c.id }}"><td>{{ c.id }}</td><td>{{ c.title }}</td>
      <td>{{ c.kle }}</td>{% if by_unit %}<td>{{ c.unit_name }}</td>{% endif %}
      <td>{{ c.municipality }}</td></tr>
    {% else %}<tr><td colspan="5" class="muted">Ingen sager.</td></tr>{% endfor %}
    </table>
    {% if hidden %}<details id="hidden-cases"><summary>Skjulte sager ({{ hidden|length }})
      og hvorfor</summary><table>
    {% for c, reason in hidden %}
      <tr class="hidden-case" data-case="{{ c.id }}"><td>{{ c.id }}</td><td>{{ c.title }}</td>
      <td>{{ c.kle }}</td><td>{{ reason }}</td></tr>
    {% endfor %}</table></details>{% endif %}
  </section>
  {{ extra|safe }}
{% endif %}
  <nav class="card">Andre fagsystemer (log ind med single sign-on):
  {% for name, url in links.items() %}
    <a id="nav-{{ name|lower }}" href="{{ url }}/login">{{ name }}</a>
  {% endfor %}</nav>
</main></body></html>"""


@dataclass(frozen=True)
class User:
    name: str
    uuid: str
    cvr: str
    loa: str
    via: str

    @property
    def municipality(self) -> str:
        return MUNICIPALITIES.get(self.cvr, self.cvr)


def render_page(
    *,
    short: str,
    long: str,
    accent: str,
    intro: str,
    links: dict[str, str],
    user: User | None = None,
    privileges: PrivilegeSet | None = None,
    role_label: str = "",
    shown: Sequence[Case] = (),
    hidden: Sequence[tuple[Case, str]] = (),
    by_unit: bool = True,
    extra: str = "",
    error: str | None = None,
) -> str:
    return render_template_string(
        PAGE,
        short=short,
        long=long,
        accent=accent,
        intro=intro,
        links={k: v for k, v in links.items() if k != short},
        user=user,
        privileges=privilege_rows(privileges or PrivilegeSet()),
        role_label=role_label,
        shown=shown,
        hidden=hidden,
        by_unit=by_unit,
        extra=extra,
        error=error,
    )


def serve(app: Flask, config: AppConfig) -> None:
    """Serve until SIGTERM or Ctrl-C (threaded werkzeug server: a demo, not production)."""
    server = make_server(config.host, config.port, app, threaded=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"{app.name} on {config.base_url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
