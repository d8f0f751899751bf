"""Protocol front doors (SAML, OIDC) and the shared login and SSO session."""
