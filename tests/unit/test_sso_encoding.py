"""The SSO session's hand-written encodings stay equal to the dataclass-derived ones."""

from __future__ import annotations

import json
from dataclasses import asdict

from idp.sso import ServedSystem, SsoSession


def test_session_json_round_trips_every_field() -> None:
    session = SsoSession(
        id="i" * 43,
        public_id="p" * 22,
        user_id="u1",
        cvr="29189846",
        username="anna",
        methods=("pwd", "totp"),
        auth_instant=1.5,
        created_at=1.0,
        last_seen=2.0,
    )
    assert SsoSession.from_json(session.to_json()) == session
    assert set(json.loads(session.to_json())) == set(asdict(session))


def test_served_system_member_text_is_unchanged() -> None:
    system = ServedSystem("saml", "ky", "https://ky.test/sp")
    assert system.encode() == json.dumps(asdict(system), sort_keys=True)
