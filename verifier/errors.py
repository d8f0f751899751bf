"""The one exception a fagsystem has to catch."""

from __future__ import annotations


class InvalidToken(Exception):
    """A token, SAML response or privilege list that must not be trusted.

    ``reason`` is a short machine-readable code (``"bad_signature"``, ``"expired"``,
    ``"wrong_audience"``, ``"replay"``, ``"xsw"``, ...) for logs and metrics; the message
    says what was wrong in words. Never show either to the end user as proof of anything.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        self.message = message or reason.replace("_", " ")
        super().__init__(f"{reason}: {self.message}")
