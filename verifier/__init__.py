"""Verify the tokens our identity provider issues: what a fagsystem imports.

Self-contained on purpose: nothing here imports the server's other packages, so a
fagsystem installs ``sts-adgangsstyring[verifier]`` and nothing else. See README.md.

* :func:`verifier.jwt.verify` for JWT access tokens (OIDC / KOMBIT REST tokens);
* :func:`verifier.saml.verify_response` for posted SAML responses (OIOSAML 3.0);
* :mod:`verifier.privileges` for OIO-BPP / ``priv`` privileges and their constraints;
* :mod:`verifier.flask` for a Flask fagsystem (imported on demand, needs Flask).
"""

from __future__ import annotations

from verifier import jwt, privileges, saml
from verifier.errors import InvalidToken
from verifier.privileges import PrivilegeGroup, PrivilegeSet

__all__ = ["InvalidToken", "PrivilegeGroup", "PrivilegeSet", "jwt", "privileges", "saml"]
