"""RFC 7636 PKCE, S256 only, required for every client unless configured otherwise.

``plain`` is refused (RFC 9700 §2.1.1), a ``code_challenge`` without an explicit
``code_challenge_method=S256`` too (its RFC 7636 default is ``plain``). At the token
endpoint authlib already refuses a ``code_verifier`` when the authorization request had
no ``code_challenge`` (the downgrade of RFC 9700 §4.8.2) and a verifier that does not
match.
"""

from __future__ import annotations

from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge


class S256CodeChallenge(CodeChallenge):
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def __init__(self, required_for_all: bool = True) -> None:
        super().__init__(required=True)
        self.required_for_all = required_for_all

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if not challenge and (self.required_for_all or grant.request.client.is_public):
            raise InvalidRequestError("PKCE is required: send code_challenge with S256")
        super().validate_code_challenge(grant, redirect_uri)
        if challenge and method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")

    def get_authorization_code_challenge(self, authorization_code: Any) -> str | None:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: Any) -> str | None:
        return authorization_code.code_challenge_method
