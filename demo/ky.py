"""KY, Kommunernes Ydelsessystem (demo): a SAML SP, and a service other systems call.

``python -m demo.ky [--port 8001] [--idp URL] [--data-dir DIR]``

``/api/cases`` is KY's service endpoint: it takes a JWT access token whose audience is
KY (``https://ky.demo.test``), such as the one SAPA gets by token exchange on behalf of
the signed-in caseworker, verifies it with :func:`verifier.jwt.verify` (the keys from
the IdP's discovery document) and answers with the cases the token's privileges allow.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from flask import Flask, g, jsonify

from demo.cases import KY_CASES, KY_ENTITY, KY_LAES_SAG, KY_LAES_SAGER_SERVICE, allowed
from demo.saml_sp import create_saml_app
from demo.web import AppConfig, parse_args, serve
from verifier.flask import authenticate_bearer


def create_app(config: AppConfig) -> Flask:
    app = create_saml_app(
        short="KY",
        long="Kommunernes Ydelsessystem",
        accent="#1f5f8b",
        config=config,
        role=KY_LAES_SAG,
        cases=KY_CASES,
    )

    @app.get("/api/cases")
    def api_cases() -> Any:
        claims = authenticate_bearer(
            issuer=config.idp_url,
            audience=KY_ENTITY,
            discovery_url=f"{config.idp_url}/.well-known/openid-configuration",
        )
        privileges = g.verifier_privileges
        # A user's token (exchanged on their behalf) carries brugersystemroller; a system
        # token (client_credentials) the servicesystemrolle of the service agreement.
        cases = [
            case
            for case in KY_CASES
            if allowed(privileges, KY_LAES_SAG, case)
            or privileges.allows(KY_LAES_SAGER_SERVICE, cvr=case.cvr, kle=case.kle)
        ]
        return jsonify(
            {
                "sub": claims["sub"],
                "cvr": claims.get("cvr"),
                "client_id": claims.get("client_id"),
                "act": claims.get("act"),
                "cases": [
                    {"id": c.id, "title": c.title, "kle": c.kle, "unit": c.unit_name} for c in cases
                ],
            }
        )

    return app


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args("KY", 8001, argv)
    serve(create_app(config), config)


if __name__ == "__main__":
    main(sys.argv[1:])
