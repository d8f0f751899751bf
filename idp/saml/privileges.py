"""The seam to the authorization engine: ``privilegesIntermediate`` for one fagsystem.

Uses the cached engine when the application has one (``app.extensions["authz"]`` with
``resolve(user_id, cvr, fagsystem_id)``), else ``authz.engine.resolve`` directly, and
``authz.bpp.encode_bpp`` for the OIO-BPP encoding. Tests may install a replacement as
``app.extensions["saml.privileges"]``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from idp.context import current_services

PrivilegeSource = Callable[[str, str, str], str]


def privileges_b64(user_id: str, cvr: str, fagsystem_id: str) -> str:
    """base64 OIO-BPP of the user's privileges for this fagsystem only."""
    override: PrivilegeSource | None = current_app.extensions.get("saml.privileges")
    if override is not None:
        return override(user_id, cvr, fagsystem_id)
    from authz.bpp import encode_bpp

    engine = current_app.extensions.get("authz")
    if engine is not None and hasattr(engine, "resolve"):
        result = engine.resolve(user_id, cvr, fagsystem_id)
    else:
        from authz.engine import resolve

        result = resolve(current_services().database, user_id, cvr, fagsystem_id)
    return encode_bpp(result)
