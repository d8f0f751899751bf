"""KSD, Kommunernes Sygedagpengesystem (demo): a SAML SP.

``python -m demo.ksd [--port 8002] [--idp URL] [--data-dir DIR]``

Its cases include one of Nabo Kommune's: a caseworker holding Nabo Kommune's delegated
role sees it, because that privilege group is scoped to Nabo Kommune's CVR.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from flask import Flask

from demo.cases import KSD_CASES, KSD_LAES_SAG
from demo.saml_sp import create_saml_app
from demo.web import AppConfig, parse_args, serve


def create_app(config: AppConfig) -> Flask:
    return create_saml_app(
        short="KSD",
        long="Kommunernes Sygedagpengesystem",
        accent="#2e7d4f",
        config=config,
        role=KSD_LAES_SAG,
        cases=KSD_CASES,
    )


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args("KSD", 8002, argv)
    serve(create_app(config), config)


if __name__ == "__main__":
    main(sys.argv[1:])
