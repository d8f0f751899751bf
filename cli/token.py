"""``stsctl token inspect TOKEN``: verify a JWT or a SAML response as a fagsystem would.

Verification is the fagsystem SDK's (:mod:`verifier`), not the IdP's own code, so what
this command accepts is what a fagsystem using ``verifier`` accepts. Keys come from this
installation's database (the published signing keys, the same the IdP serves), or from
``--jwks-url`` / ``--metadata-url`` to check against a running IdP elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import sys
import urllib.request
from typing import Any

import click

from cli.context import CliContext, pass_context

_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_TYPS = ("at+jwt", "application/at+jwt", "JWT", "logout+jwt")
MAX_DOCUMENT = 1024 * 1024


def _fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise click.ClickException(f"{url}: only http(s) URLs are fetched")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - scheme checked
            data: bytes = response.read(MAX_DOCUMENT + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot fetch {url}: {exc}") from exc
    if len(data) > MAX_DOCUMENT:
        raise click.ClickException(f"{url}: larger than 1 MiB")
    return data


def _b64url_json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        value = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError) as exc:
        raise click.ClickException(f"not a JWT: {exc}") from exc
    if not isinstance(value, dict):
        raise click.ClickException("not a JWT: a segment is not a JSON object")
    return value


def _privileges_json(privileges: Any) -> list[dict[str, Any]]:
    return [
        {
            "privilege": group.privilege,
            "scope": group.scope,
            "constraints": {uri: list(values) for uri, values in group.constraints.items()},
        }
        for group in privileges
    ]


def _echo_privileges(privileges: list[dict[str, Any]]) -> None:
    click.echo(f"privileges: {len(privileges)} group(s)")
    for group in privileges:
        click.echo(f"  {group['privilege']}  [{group['scope']}]")
        for uri, values in sorted(group["constraints"].items()):
            click.echo(f"      {uri} = {','.join(values)}")


def _echo_mapping(title: str, values: dict[str, Any]) -> None:
    click.echo(title)
    width = min(max((len(k) for k in values), default=0), 40)
    for key, value in values.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"  {key:{width}}  {shown}")


def _local_jwks(ctx: CliContext) -> dict[str, Any]:
    from app import setup_keys
    from certs.publish import jwks

    with ctx.database.session() as session:
        rows = setup_keys(ctx.settings).published(session)
        if not rows:
            raise click.ClickException("no published keys; run `stsctl init` or use --jwks-url")
        return jwks(list(rows))


def _local_metadata(ctx: CliContext) -> bytes:
    from app import create_app

    response = create_app(ctx.settings).test_client().get("/saml/metadata")
    if response.status_code != 200:
        raise click.ClickException("cannot build the IdP metadata; run `stsctl init` first")
    return response.get_data()


def inspect_jwt(
    ctx: CliContext,
    token: str,
    *,
    jwks_url: str | None,
    issuer: str | None,
    audience: str | None,
    token_type: str | None,
) -> dict[str, Any]:
    from verifier import InvalidToken, jwt
    from verifier.privileges import from_priv

    header_segment, payload_segment, _ = token.split(".")
    header = _b64url_json(header_segment)
    unverified = _b64url_json(payload_segment)
    aud = unverified.get("aud")
    stated = aud[0] if isinstance(aud, list) and aud else aud
    audience = audience or (str(stated) if stated is not None else None)
    issuer = issuer or ctx.settings.base_url
    typ = token_type or (header.get("typ") if header.get("typ") in _TYPS else "at+jwt")
    result: dict[str, Any] = {"kind": "jwt", "header": header}
    try:
        key_set = json.loads(_fetch(jwks_url)) if jwks_url else _local_jwks(ctx)
        claims = jwt.verify(
            token, issuer=issuer, audience=str(audience or ""), jwks=key_set, token_type=str(typ)
        )
        privileges = from_priv(claims["priv"]) if "priv" in claims else None
    except InvalidToken as error:
        return {**result, "valid": False, "reason": error.reason, "message": error.message,
                "unverified_claims": unverified}  # fmt: skip
    result.update(valid=True, claims=claims)
    if privileges is not None:
        result["privileges"] = _privileges_json(privileges)
    return result


def _saml_defaults(xml: bytes) -> tuple[str | None, str | None, str | None]:
    """(Destination, first Audience, InResponseTo) as the response states them, unverified."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise click.ClickException(f"not a SAML response: {exc}") from exc
    saml = "urn:oasis:names:tc:SAML:2.0:assertion"
    audience = root.findtext(f".//{{{saml}}}Audience")
    return root.get("Destination"), audience, root.get("InResponseTo")


def inspect_saml(
    ctx: CliContext,
    posted: str,
    *,
    metadata_url: str | None,
    audience: str | None,
    acs_url: str | None,
    request_id: str | None,
    decryption_key: bytes | None,
) -> dict[str, Any]:
    from verifier import InvalidToken
    from verifier.replay import MemoryReplayCache
    from verifier.saml import verify_response

    text = posted.strip()
    if text.startswith("<"):
        xml = text.encode()
        text = base64.b64encode(xml).decode()
    else:
        try:
            xml = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise click.ClickException("neither a JWT nor a base64 SAML response") from exc
    destination, stated_audience, in_response_to = _saml_defaults(xml)
    result: dict[str, Any] = {"kind": "saml"}
    try:
        metadata = _fetch(metadata_url) if metadata_url else _local_metadata(ctx)
        assertion = verify_response(
            text,
            idp_metadata=metadata,
            sp_entity_id=audience or stated_audience or "",
            acs_url=acs_url or destination or "",
            request_id=request_id or in_response_to,
            decryption_key=decryption_key,
            replay_cache=MemoryReplayCache(),  # inspecting twice is not a replay
        )
    except InvalidToken as error:
        return {**result, "valid": False, "reason": error.reason, "message": error.message}
    result.update(
        valid=True,
        issuer=assertion.issuer,
        name_id=assertion.name_id,
        audiences=list(assertion.audiences),
        not_on_or_after=assertion.not_on_or_after.isoformat(),
        attributes={name: values for name, values in assertion.attributes.items()},
        privileges=_privileges_json(assertion.privileges),
    )
    return result


def _when(name: str, value: Any) -> Any:
    """Epoch seconds with the time in UTC beside them."""
    if name in ("iat", "nbf", "exp", "auth_time") and isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{value}  ({moment})"
    return value


def _print_text(result: dict[str, Any]) -> None:
    if result["kind"] == "jwt":
        header = result["header"]
        click.echo(
            f"JWT (typ {header.get('typ')}, alg {header.get('alg')}, kid {header.get('kid')})"
        )
    else:
        click.echo("SAML response")
    if not result["valid"]:
        click.echo(f"INVALID: {result['reason']}: {result['message']}")
        if "unverified_claims" in result:
            _echo_mapping("claims (NOT verified):", result["unverified_claims"])
        return
    click.echo("valid: signature, issuer, audience and lifetime checked by verifier")
    if result["kind"] == "jwt":
        claims = {k: _when(k, v) for k, v in result["claims"].items() if k != "priv"}
        _echo_mapping("claims:", claims)
    else:
        _echo_mapping(
            "assertion:",
            {
                "issuer": result["issuer"],
                "name_id": result["name_id"],
                "audiences": result["audiences"],
                "not_on_or_after": result["not_on_or_after"],
            },
        )
        attributes = {k: v for k, v in result["attributes"].items() if "rivileges" not in k}
        _echo_mapping("attributes:", {k: ", ".join(v) for k, v in attributes.items()})
    if "privileges" in result:
        _echo_privileges(result["privileges"])


@click.group("token")
def token_group() -> None:
    """Look inside tokens the IdP issued."""


@token_group.command("inspect")
@click.argument("token")
@click.option("--jwks-url", default=None, help="Take JWT keys from here, not the database.")
@click.option("--metadata-url", default=None, help="Take SAML keys from this IdP metadata.")
@click.option("--issuer", default=None, help="Expected JWT iss (default: STS_BASE_URL).")
@click.option("--audience", default=None, help="Expected audience (default: the token's own).")
@click.option(
    "--type", "token_type", default=None, help="Expected JWT typ (default: the token's own)."
)
@click.option("--acs-url", default=None, help="SAML: the ACS URL (default: the Destination).")
@click.option("--request-id", default=None, help="SAML: the AuthnRequest ID it answers.")
@click.option(
    "--decryption-key",
    type=click.File("rb"),
    default=None,
    help="SAML: the SP's private key (PEM) for an encrypted assertion.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_context
def inspect_command(
    ctx: CliContext,
    token: str,
    jwks_url: str | None,
    metadata_url: str | None,
    issuer: str | None,
    audience: str | None,
    token_type: str | None,
    acs_url: str | None,
    request_id: str | None,
    decryption_key: Any,
    fmt: str,
) -> None:
    """Verify TOKEN (a JWT, or a SAML response as posted: base64; - reads stdin) and show
    its claims or attributes and its privileges. Exits 1 when it does not verify.

    The audience, and for SAML the ACS URL and InResponseTo, default to what the token
    itself states: this checks signature, issuer, lifetime and structure, and shows what
    a fagsystem would get. Give them to check them too.
    """
    value = (sys.stdin.read() if token == "-" else token).strip()  # noqa: S105 - "-" is stdin
    if not value:
        raise click.ClickException("no token given")
    if _JWT.match(value):
        result = inspect_jwt(
            ctx,
            value,
            jwks_url=jwks_url,
            issuer=issuer,
            audience=audience,
            token_type=token_type,
        )
    else:
        result = inspect_saml(
            ctx,
            value,
            metadata_url=metadata_url,
            audience=audience,
            acs_url=acs_url,
            request_id=request_id,
            decryption_key=decryption_key.read() if decryption_key else None,
        )
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    else:
        _print_text(result)
    if not result["valid"]:
        sys.exit(1)


COMMANDS = [token_group]
