"""The neutral login types, assurance levels, the CSP and the language choice."""

from __future__ import annotations

import pytest

from idp.i18n import MESSAGES, pick_language
from idp.loa import LoA, loa_for
from idp.login.types import LoginRequest
from idp.web import content_security_policy


def test_levels_are_ordered() -> None:
    assert LoA.SUBSTANTIAL.satisfies(LoA.LOW)
    assert LoA.LOW.satisfies(LoA.LOW)
    assert not LoA.LOW.satisfies(LoA.SUBSTANTIAL)
    assert not LoA.SUBSTANTIAL.satisfies(LoA.HIGH)


@pytest.mark.parametrize(
    ("methods", "level"),
    [
        (("pwd",), LoA.LOW),
        (("pwd", "otp"), LoA.SUBSTANTIAL),
        (("pwd", "rcode"), LoA.SUBSTANTIAL),
        (("otp",), LoA.LOW),  # a second factor alone is not two factors
        ((), LoA.LOW),
    ],
)
def test_two_factors_reach_substantial(methods: tuple[str, ...], level: LoA) -> None:
    assert loa_for(methods) is level


def test_a_login_request_survives_the_ephemeral_store() -> None:
    request = LoginRequest(
        fagsystem="ky",
        protocol="saml",
        return_state={"request": "abc"},
        client="https://ky.test/sp",
        min_loa=LoA.SUBSTANTIAL,
        force_authn=True,
        passive=False,
        login_hint="anne",
        ui_locale="en",
        max_age=300,
    )
    assert LoginRequest.from_json(request.to_json()) == request


def test_the_csp_has_no_unsafe_inline_and_forbids_framing() -> None:
    policy = content_security_policy()
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert policy.endswith("form-action 'self'")
    assert content_security_policy(["https://sp.test/acs"]).endswith(
        "form-action 'self' https://sp.test/acs"
    )


@pytest.mark.parametrize(
    ("candidates", "chosen"),
    [
        (["en-GB da"], "en"),
        (["fr", "da-DK"], "da"),
        ([None, "de"], None),
        (["EN"], "en"),
    ],
)
def test_language_choice(candidates: list[str | None], chosen: str | None) -> None:
    assert pick_language(candidates) == chosen


def test_both_languages_have_every_text() -> None:
    assert set(MESSAGES["da"]) == set(MESSAGES["en"])
