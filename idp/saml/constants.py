"""Namespaces, bindings, algorithm URIs and the OIOSAML 3.0 attribute names.

Copied exactly from ``shared/docs/DOMAIN.md`` ("SAML: OIOSAML 3.0 attribute profile");
a change here changes the wire format every fagsystem depends on.
"""

from __future__ import annotations

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
ALG = "urn:oasis:names:tc:SAML:metadata:algsupport"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

# Signature and digest algorithms. Anything not listed as accepted is refused
# (SHA-1, HMAC, DSA, MD5: SECURITY.md "SAML, as IdP receiving requests" 3).
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
RSA_PSS_SHA256 = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
HMAC_SHA1 = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

ACCEPTED_SIGNATURE_METHODS = frozenset({RSA_SHA256, RSA_SHA384, RSA_SHA512})
ACCEPTED_DIGEST_METHODS = frozenset({SHA256, SHA384, SHA512})
SUPPORTED_SIGNING_METHODS = (RSA_SHA256, RSA_PSS_SHA256)

AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
RSA_OAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_X509 = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_FORMATS = (NAMEID_PERSISTENT, NAMEID_X509)

ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
STATUS_NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
STATUS_INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
STATUS_PARTIAL_LOGOUT = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"

# NSIS assurance levels, lowest first.
LOA_LEVELS = ("Low", "Substantial", "High")
LOA_URI_PREFIX = "https://data.gov.dk/concept/core/nsis/loa/"

# OIOSAML 3.0 attribute names (DOMAIN.md).
ATTR_SPEC_VERSION = "https://data.gov.dk/model/core/specVersion"
ATTR_LOA = "https://data.gov.dk/concept/core/nsis/loa"
ATTR_CVR = "https://data.gov.dk/model/core/eid/professional/cvr"
ATTR_ORG_NAME = "https://data.gov.dk/model/core/eid/professional/orgName"
ATTR_PERSISTENT_UUID = "https://data.gov.dk/model/core/eid/professional/uuid/persistent"
ATTR_EMAIL = "https://data.gov.dk/model/core/eid/email"
ATTR_FIRST_NAME = "https://data.gov.dk/model/core/eid/firstName"
ATTR_LAST_NAME = "https://data.gov.dk/model/core/eid/lastName"
ATTR_FULL_NAME = "https://data.gov.dk/model/core/eid/fullName"
ATTR_PRIVILEGES = "https://data.gov.dk/model/core/eid/privilegesIntermediate"
ATTR_KOMBIT_SPEC_VER = "dk:gov:saml:attribute:KombitSpecVer"
SPEC_VERSION = "OIO-SAML-3.0"
KOMBIT_SPEC_VER = "2.0"
PERSONAL_ATTRIBUTES = frozenset({ATTR_EMAIL, ATTR_FIRST_NAME, ATTR_LAST_NAME, ATTR_FULL_NAME})

# Limits on what a browser may send us.
MAX_RELAY_STATE = 80  # bytes (SAML bindings §3.4.3 / §3.5.3)
MAX_INFLATED = 256 * 1024  # Redirect-binding DEFLATE payload, inflated
MAX_MESSAGE = 512 * 1024  # a base64-decoded POST message


def loa_uri(level: str) -> str:
    return LOA_URI_PREFIX + level


def loa_rank(level: str) -> int:
    return LOA_LEVELS.index(level)


def max_loa(*levels: str | None) -> str:
    present = [level for level in levels if level in LOA_LEVELS]
    return max(present, key=loa_rank) if present else LOA_LEVELS[0]
