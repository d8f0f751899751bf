"""A drop-in for KOMBIT's Security Token Service, at KOMBIT's own paths.

==========================  =============================================================
module                      job
==========================  =============================================================
``core``                    the issuing decision shared by every front door (caller
                            certificate, AppliesTo, approved serviceaftale, audit)
``certificates``            registered anvendersystem certificates, trust anchors, CRLs
``assertion``               the signed SAML 2.0 holder-of-key assertion; bootstrap tokens
``rest``                    B: "STS REST", WS-Trust as JSON (``/runtime/api/rest/wstrust``)
``oauth``                   C: OAuth ``client_credentials`` → PS256 HoK JWT, and the
                            certificate publication (``/runtime/oauth2/certs.idp``)
``views``                   the Flask blueprint of B and C
``soap_views``              A: SOAP WS-Trust Issue (``/runtime/services/kombittrust/14/
                            certificatemixed``) and its WSDL (``…/kombittrust/mex``)
``soap``                    A: reading the RequestSecurityToken, UseKey, SOAP faults
``wssecurity``              A: the WS-Security header (signer, signed parts, Timestamp)
``rstr``                    A: the signed RequestSecurityTokenResponseCollection
``mex``                     A: the WSDL with its security policy and our address
``wsconstants``             A: SOAP, WS-Addressing, WS-Security, WS-Trust namespaces
==========================  =============================================================

The SOAP WS-Trust front door (A) builds on the same core. :func:`setup_sts` wires the
core into an application, after :func:`idp.oidc.setup_oidc` (it shares that provider's
agreement cache, so a revoked agreement stops both kinds of system token alike).
"""

from __future__ import annotations

import logging

from flask import Flask, current_app

from authz.cache import CHANNEL as AUTHZ_CHANNEL
from idp.context import EXTENSION as CORE_EXTENSION
from idp.context import Services
from idp.oidc.authz_port import AgreementCache
from idp.oidc.provider import EXTENSION as OIDC_EXTENSION
from idp.saml.signing import KeyRing
from idp.sts.certificates import CertificateRegistry, TrustStore
from idp.sts.core import StsServices
from settings import SettingsError
from store.audit_batch import batcher_for

__all__ = ["EXTENSION", "StsServices", "current_sts", "setup_sts"]

EXTENSION = "sts.kombit"
log = logging.getLogger(__name__)


def build_sts(services: Services, agreements: AgreementCache | None = None) -> StsServices:
    """The core's handle for one process (also usable without Flask)."""
    settings = services.settings
    try:
        trust = TrustStore.from_files(settings.system_ca_files, settings.system_crl_files)
    except (OSError, ValueError) as exc:
        raise SettingsError(
            f"STS_SYSTEM_CA_FILES / STS_SYSTEM_CRL_FILES: cannot load {exc}; give readable PEM "
            "files of CA certificates (and PEM or DER CRLs)"
        ) from exc
    if not trust.anchored:
        log.warning(
            "STS_SYSTEM_CA_FILES is not set: KOMBIT STS callers are trusted by certificate "
            "registration alone (no chain or CRL check)"
        )
    return StsServices(
        settings=settings,
        database=services.database,
        keys=KeyRing(services, refresh=5.0),
        agreements=agreements or AgreementCache(),
        trust=trust,
        registry=CertificateRegistry(),
        audit_batcher=batcher_for(services.database),
    )


def setup_sts(app: Flask) -> StsServices:
    """Wire the STS core and the JSON/OAuth front doors into ``app``."""
    from idp.sts.soap_views import blueprint as soap_blueprint
    from idp.sts.views import blueprint

    services: Services = app.extensions[CORE_EXTENSION]
    provider = app.extensions.get(OIDC_EXTENSION)
    sts = build_sts(services, provider.agreements if provider is not None else None)
    if provider is None:
        services.state.subscribe(AUTHZ_CHANNEL, sts.agreements.invalidate)
    # A catalogue import or an admin change announces itself on the authz channel: forget
    # registered certificates (and, through the shared cache, agreement decisions) at once.
    services.state.subscribe(AUTHZ_CHANNEL, sts.registry.invalidate)
    app.extensions[EXTENSION] = sts
    app.register_blueprint(blueprint)
    app.register_blueprint(soap_blueprint)
    return sts


def current_sts() -> StsServices:
    sts: StsServices = current_app.extensions[EXTENSION]
    return sts
