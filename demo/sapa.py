"""SAPA, Sags- og Partsoverblik (demo): an OpenID Connect client that calls KY for the user.

``SAPA_WEB_SECRET=... python -m demo.sapa [--port 8003] [--idp URL] [--link KY=URL]``

* Sign-in: authorization code flow with PKCE as client ``sapa-web``
  (``client_secret_basic``); the access token (audience SAPA) and the ID token are
  checked with :func:`verifier.jwt.verify`, the privileges read from its ``priv`` claim.
* SAPA is registered without personal data, so it learns the caseworker's UUID and CVR,
  not their name.
* On every page view SAPA exchanges the user's access token for one to KY (RFC 8693
  token exchange; allowed by the service agreement SAPA→KY with ``on_behalf_of``) and
  calls KY's ``/api/cases`` with it: KY answers with what *the user* may see in KY.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import secrets
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from flask import Flask, redirect, request, session

from demo.cases import KY_ENTITY, SAPA_CASES, SAPA_ENTITY, SAPA_LAES_SAG, split
from demo.web import AppConfig, User, new_flask_app, parse_args, render_page, serve
from verifier import InvalidToken, jwt
from verifier.privileges import PrivilegeSet, from_priv

CLIENT_ID = "sapa-web"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105


class OAuthError(Exception):
    pass


def _post_form(url: str, form: dict[str, str], client_id: str, secret: str) -> dict[str, Any]:
    credentials = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    request_ = urllib.request.Request(  # noqa: S310 - the IdP's own endpoint
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request_, timeout=10) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read())
        except ValueError:
            body = {}
        raise OAuthError(
            f"{error.code} {body.get('error', '')}: {body.get('error_description', '')}"
        ) from error


def _get_json(url: str, bearer: str | None = None) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request_ = urllib.request.Request(url, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request_, timeout=10) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def create_app(config: AppConfig, *, client_secret: str | None = None) -> Flask:
    secret = client_secret or os.environ.get("SAPA_WEB_SECRET", "")
    if not secret:
        raise SystemExit("SAPA needs its client secret in SAPA_WEB_SECRET")
    app = new_flask_app("SAPA", config)
    redirect_uri = f"{config.base_url}/callback"
    discovery_url = f"{config.idp_url}/.well-known/openid-configuration"
    ky_url = config.links.get("KY", "http://127.0.0.1:8001")
    discovery: dict[str, Any] = {}
    # Tokens stay on the server (a cookie is too small for them); the cookie has a key.
    tokens: dict[str, str] = {}
    lock = threading.Lock()

    def endpoint(name: str) -> str:
        if not discovery:
            discovery.update(_get_json(discovery_url))
        return str(discovery[name])

    def page(**extra: Any) -> str:
        return render_page(
            short="SAPA",
            long="Sags- og Partsoverblik",
            accent="#7a3e9d",
            intro="SAPA er et demo-fagsystem: det logger ind med OpenID Connect og henter "
            "sager fra KY på dine vegne (token exchange).",
            links=config.links,
            **extra,
        )

    @app.get("/")
    def index() -> Any:
        stored = session.get("user")
        access_token = tokens.get(session.get("token_key", ""))
        if stored is None or access_token is None:
            return page(error=request.args.get("error"))
        privileges = from_priv(stored["priv"]) if stored["priv"] else PrivilegeSet()
        user = User(
            # SAPA is registered without personal data: no name in its tokens.
            name="(ikke udleveret: SAPA behandler ikke persondata)",
            uuid=stored["sub"],
            cvr=stored["cvr"],
            loa=stored.get("loa") or "",
            via="JWT access token (OIDC), verificeret med verifier.jwt",
        )
        shown, hidden = split(privileges, SAPA_LAES_SAG, SAPA_CASES)
        return page(
            user=user,
            privileges=privileges,
            role_label=SAPA_LAES_SAG,
            shown=shown,
            hidden=hidden,
            by_unit=False,
            extra=ky_section(access_token),
        )

    def ky_section(access_token: str) -> str:
        """Exchange the user's token for one to KY, call KY, and show what it answered."""
        try:
            exchanged = _post_form(
                endpoint("token_endpoint"),
                {
                    "grant_type": TOKEN_EXCHANGE,
                    "subject_token": access_token,
                    "subject_token_type": ACCESS_TOKEN_TYPE,
                    "audience": KY_ENTITY,
                },
                CLIENT_ID,
                secret,
            )
            answer = _get_json(f"{ky_url}/api/cases", bearer=exchanged["access_token"])
        except (OAuthError, OSError, ValueError, KeyError) as error:
            return (
                '<section class="card" id="ky-cases"><h2>Sager i KY</h2>'
                f'<p class="error" id="ky-error">{html.escape(str(error))}</p></section>'
            )
        rows = (
            "".join(
                f'<tr class="ky-case" data-case="{html.escape(c["id"])}"><td>{html.escape(c["id"])}'
                f"</td><td>{html.escape(c['title'])}</td><td>{html.escape(c['kle'])}</td>"
                f"<td>{html.escape(c['unit'])}</td></tr>"
                for c in answer["cases"]
            )
            or '<tr><td colspan="4" class="muted">KY viser ingen sager.</td></tr>'
        )
        act = (answer.get("act") or {}).get("sub", "–")
        return (
            '<section class="card" id="ky-cases"><h2>Sager i KY, hentet på dine vegne</h2>'
            '<p class="muted">SAPA byttede dit token til et token til KY (RFC 8693 token '
            f"exchange, serviceaftale SAPA→KY). KY verificerede det (aud {KY_ENTITY}, "
            f"act.sub <code>{html.escape(str(act))}</code>) og viser de sager, "
            "<em>dine</em> KY-rettigheder dækker:</p>"
            "<table><tr><th>Sag</th><th>Titel</th><th>KLE</th><th>Enhed</th></tr>"
            f"{rows}</table></section>"
        )

    @app.get("/login")
    def login() -> Any:
        verifier_ = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier_.encode()).digest())
        session["oidc"] = {
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "verifier": verifier_,
        }
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": redirect_uri,
                "scope": "openid",
                "state": session["oidc"]["state"],
                "nonce": session["oidc"]["nonce"],
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            }
        )
        return redirect(f"{endpoint('authorization_endpoint')}?{query}")

    @app.get("/callback")
    def callback() -> Any:
        pending = session.pop("oidc", None)
        if pending is None or request.args.get("state") != pending["state"]:
            return redirect("/?error=state")
        if "error" in request.args:
            return redirect(f"/?error={urllib.parse.quote(request.args['error'])}")
        try:
            answer = _post_form(
                endpoint("token_endpoint"),
                {
                    "grant_type": "authorization_code",
                    "code": request.args.get("code", ""),
                    "redirect_uri": redirect_uri,
                    "code_verifier": pending["verifier"],
                },
                CLIENT_ID,
                secret,
            )
            claims = jwt.verify(
                answer["access_token"],
                issuer=config.idp_url,
                audience=SAPA_ENTITY,
                discovery_url=discovery_url,
            )
            id_claims = jwt.verify(
                answer["id_token"],
                issuer=config.idp_url,
                audience=CLIENT_ID,
                discovery_url=discovery_url,
                token_type="JWT",  # noqa: S106 - the ID token's typ
            )
        except InvalidToken as error:
            app.logger.warning("token refused: %s", error)
            return redirect(f"/?error={error.reason}")
        except (OAuthError, OSError, KeyError) as error:
            app.logger.warning("sign-in failed: %s", error)
            return redirect("/?error=token_endpoint")
        if id_claims.get("nonce") != pending["nonce"] or id_claims["sub"] != claims["sub"]:
            return redirect("/?error=nonce")
        session.clear()
        key = secrets.token_urlsafe(24)
        with lock:
            tokens[key] = answer["access_token"]
        session["token_key"] = key
        session["user"] = {
            "sub": claims["sub"],
            "cvr": claims["cvr"],
            "loa": claims.get("loa"),
            "priv": claims.get("priv") or "",
        }
        return redirect("/")

    @app.get("/logout")
    def logout() -> Any:
        with lock:
            tokens.pop(session.get("token_key", ""), None)
        session.clear()
        return redirect(f"{config.idp_url}/login/logout")

    return app


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args("SAPA", 8003, argv)
    serve(create_app(config), config)


if __name__ == "__main__":
    main(sys.argv[1:])
