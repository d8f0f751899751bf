"""Demo fagsystemer KY, KSD (SAML) and SAPA (OpenID Connect) for the quick start.

Built on :mod:`verifier` and Flask only, as a fagsystem outside this repository would be;
``python -m demo.run`` (``make demo``) starts them with the IdP.
"""
