"""A built-in test fagsystem at ``/login/test`` (only with STS_DEMO_LOGIN_PAGE=true).

It starts a login like a protocol module would and shows the result, so the login pages
can be tried (and tested in a browser) before SAML and OIDC exist. It accepts POST
without a CSRF token on purpose: it stands in for the SAML HTTP-POST binding, which is a
cross-site form post by design.

Query or form parameters: ``loa`` (Low, Substantial, High), ``force``, ``passive``,
``login_hint``, ``ui_locales``, ``max_age``.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from idp.loa import LoA
from idp.login.core import begin_login
from idp.login.types import LoginFailure, LoginRequest, LoginResult
from idp.web import render_page

TEST_PROTOCOL = "test"
TEST_FAGSYSTEM = "test-fagsystem"

blueprint = Blueprint("login_demo", __name__, url_prefix="/login")


@blueprint.route("/test", methods=["GET", "POST"])
def test_fagsystem() -> ResponseReturnValue:
    values = request.values
    try:
        loa = LoA(values.get("loa", LoA.LOW.value))
    except ValueError:
        loa = LoA.LOW
    max_age = values.get("max_age", "")
    return begin_login(
        LoginRequest(
            fagsystem=values.get("fagsystem", TEST_FAGSYSTEM)[:64],
            protocol=TEST_PROTOCOL,
            client="test-client",
            min_loa=loa,
            force_authn=values.get("force") in ("1", "true"),
            passive=values.get("passive") in ("1", "true"),
            login_hint=values.get("login_hint") or None,
            ui_locale=values.get("ui_locales") or values.get("lang") or None,
            max_age=int(max_age) if max_age.isdigit() else None,
        )
    )


def show_result(login_request: LoginRequest, outcome: LoginResult | LoginFailure) -> Response:
    """The test fagsystem's continuation: show what a protocol module would receive."""
    failure = outcome if isinstance(outcome, LoginFailure) else None
    result = outcome if isinstance(outcome, LoginResult) else None
    return render_page(
        "login/test_result.html",
        login_request=login_request,
        result=result,
        failure=failure,
        status=200,
    )
