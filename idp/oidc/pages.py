"""The few HTML pages of the OpenID provider: errors, logout confirmation, logged out.

Self-contained (no inline script or style, so the site's CSP holds), escaped by Jinja,
never cached. An error page is what a browser sees when there is no registered redirect
URI to send the error to: the user is never redirected anywhere unverified.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, make_response, render_template_string, session

from idp.logs import current_request_id

_PAGE = """<!doctype html>
<html lang="da"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main>
<h1>{{ title }}</h1>
<p>{{ text }}</p>
{% if reference %}<p>Reference: <code>{{ reference }}</code></p>{% endif %}
{% if form %}
<form method="post" action="{{ form.action }}">
{% for name, value in form.fields.items() %}
<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<button type="submit">{{ form.button }}</button>
</form>
{% endif %}
</main></body></html>
"""

_CSRF_KEY = "oidc_logout_csrf"


def page(title: str, text: str, status: int = 200, **context: Any) -> Response:
    body = render_template_string(
        _PAGE, title=title, text=text, reference=current_request_id(), **context
    )
    response = make_response(body, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(error: str, description: str | None, status: int = 400) -> Response:
    text = f"Login-anmodningen kan ikke gennemføres / the request cannot be completed: {error}"
    if description:
        text += f" ({description})"
    return page("Fejl / Error", text, status)


def logout_csrf_token() -> str:
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session[_CSRF_KEY] = token
    return token


def logout_csrf_ok(given: str | None) -> bool:
    expected = session.get(_CSRF_KEY)
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and secrets.compare_digest(expected, given)
    )
