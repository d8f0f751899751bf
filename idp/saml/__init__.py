"""SAML 2.0 identity provider on the OIOSAML 3.0 profile.

One module per concern: ``xmlutil`` (hardened parsing, binding encodings), ``signing``
(in-process xmlsec), ``metadata`` (SP registrations, IdP metadata), ``requests``
(AuthnRequest checks), ``assertion`` (OIOSAML 3.0 Response/Assertion), ``encryption``,
``slo`` (single logout), ``login`` and ``privileges`` (the seams to ``idp.login`` and
``authz``), ``bindings`` (auto-POST form, Redirect URLs) and ``views`` (the blueprint).
"""

from __future__ import annotations
