"""Outgoing messages: the HTTP-POST auto-submit form and the signed HTTP-Redirect URL.

The form is served under a CSP without ``unsafe-inline``: the submit comes from the
static ``saml-post.js``, and a ``<noscript>`` button does it by hand.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from flask import Response, url_for
from lxml import etree
from markupsafe import escape

from idp.saml.signing import Signer, encode_redirect_query
from idp.saml.xmlutil import deflate

_FORM = """<!doctype html>
<html lang="da"><head><meta charset="utf-8"><title>{title}</title>
<script src="{script}" defer></script></head>
<body><form id="saml-post" method="post" action="{action}">
<input type="hidden" name="{field}" value="{value}">{relay}
<noscript><p>{hint}</p><button type="submit">Fortsæt</button></noscript>
</form></body></html>
"""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def secure_headers(response: Response, form_target: str | None = None) -> Response:
    form_action = f"'self' {_origin(form_target)}" if form_target else "'self'"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def post_form(
    action: str, field: str, message: etree._Element, relay_state: str | None
) -> Response:
    """An HTML page that POSTs ``message`` (base64) to ``action``."""
    xml = etree.tostring(message, xml_declaration=True, encoding="UTF-8")
    relay = ""
    if relay_state is not None:
        relay = f'\n<input type="hidden" name="RelayState" value="{escape(relay_state)}">'
    body = _FORM.format(
        title="Sender dig videre",
        script=escape(url_for("saml.static", filename="saml-post.js")),
        action=escape(action),
        field=escape(field),
        value=base64.b64encode(xml).decode("ascii"),
        relay=relay,
        hint="JavaScript er slået fra. Tryk på knappen for at fortsætte.",
    )
    return secure_headers(Response(body, 200, mimetype="text/html"), form_target=action)


def redirect_url(
    location: str, field: str, message: etree._Element, relay_state: str | None, signer: Signer
) -> str:
    """``location`` with the DEFLATEd, signed message in the query string."""
    xml = etree.tostring(message, encoding="UTF-8")
    payload = base64.b64encode(deflate(xml)).decode("ascii")
    query = encode_redirect_query(field, payload, relay_state, signer)
    return location + ("&" if "?" in location else "?") + query


def redirect(location: str) -> Response:
    response = Response("", 302)
    response.headers["Location"] = location
    return secure_headers(response)
