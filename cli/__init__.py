"""``stsctl``: the operator's command line. One module per command group."""

from __future__ import annotations

import click

from cli.context import pass_context

__all__ = ["main", "pass_context"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sts-adgangsstyring")
def main() -> None:
    """Operate the identity provider: database, keys, catalogue, directory sync.

    Configuration comes from STS_* environment variables and the TOML file named
    by STS_CONFIG; see the README's configuration table.
    """


def _register() -> None:
    from cli import ad, admin, audit, authz, catalogue, keys, mfa, saml, server, token

    for module in (server, keys, catalogue, authz, ad, saml, token, admin, audit, mfa):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
