"""The logout result page in headless Chromium: no serious accessibility violation (axe-core).

The page is the one a person sees after a SAML SP's logout that an RP refused: both lists
(logged out, did not confirm) and the link on to the SP. Chromium gets it, and the
stylesheet, from the application through request routing, with the page's own headers
(CSP included).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from saml2 import BINDING_HTTP_REDIRECT

from settings import Settings
from tests.e2e.accessibility import serious_violations
from tests.e2e.browser import chromium_context
from tests.logout_kit import RSA_SHA256, running_rp, staged
from tests.saml_kit import IDP_ENTITY, SLO, SpKeys, path_and_query

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 not installed")


def test_the_logout_result_page_has_no_serious_accessibility_violation(
    settings: Settings, tmp_path: Path
) -> None:
    with running_rp() as rp:
        stage = staged(settings, tmp_path, SpKeys.generate("a11y-sp"), rp)
        rp.jwks = {"keys": []}  # the RP refuses the token: the page lists it
        _id, request = stage.sp.create_logout_request(
            destination=SLO,
            issuer_entity_id=IDP_ENTITY,
            name_id=stage.name_id,
            session_indexes=[stage.session_index],
            sign=False,  # signed in the query string instead (HTTP-Redirect)
        )
        sent = stage.sp.apply_binding(
            BINDING_HTTP_REDIRECT, str(request), SLO, sign=True, sigalg=RSA_SHA256
        )
        result = stage.world.client.get(path_and_query(dict(sent["headers"])["Location"]))
    html = result.get_data(as_text=True)
    assert 'id="not-answered"' in html and 'id="continue"' in html
    base = "http://127.0.0.1:8000"
    client = stage.world.app.test_client()

    def serve(route: Any) -> None:
        path = urlsplit(route.request.url).path
        if path == "/logout-result":
            route.fulfill(status=200, headers=dict(result.headers), body=html)
            return
        answer = client.get(path)
        route.fulfill(status=answer.status_code, headers=dict(answer.headers), body=answer.data)

    with chromium_context(timeout_ms=15_000) as context:
        context.route(re.compile(r"^http://127\.0\.0\.1:8000/"), serve)
        page = context.new_page()
        page.goto(base + "/logout-result")
        assert page.locator("main h1").count() == 1
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 0  # styled, as served
        assert serious_violations(page) == []
