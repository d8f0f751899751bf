"""Namespaces and URIs of SOAP, WS-Addressing, WS-Security and WS-Trust as KOMBIT uses them.

Shared by the SOAP front door's parser (:mod:`idp.sts.soap`), the WS-Security check
(:mod:`idp.sts.wssecurity`), the response (:mod:`idp.sts.rstr`) and the WSDL
(:mod:`idp.sts.mex`). REFERENCE-KOMBIT-STS.md §2 and §3 show them on the wire.
"""

from __future__ import annotations

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
WSP15 = "http://www.w3.org/ns/ws-policy"
AUTH = "http://docs.oasis-open.org/wsfed/authorization/200706"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"  # InclusiveNamespaces

X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
SKI = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0"
    "#X509SubjectKeyIdentifier"
)
SAML_TOKEN_TYPE = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"  # noqa: S105
SAML_TOKEN_TYPES = frozenset({SAML_TOKEN_TYPE, "urn:oasis:names:tc:SAML:2.0:assertion"})
SAML_ID = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID"

ISSUE = WST + "/Issue"
PUBLIC_KEY = WST + "/PublicKey"
ACTION_ISSUE = WST + "/RST/Issue"
ACTION_ISSUE_FINAL = WST + "/RSTRC/IssueFinal"
ACTION_FAULT = WSA + "/soap/fault"
UNSPECIFIED_MESSAGE = WSA + "/unspecified"  # RelatesTo for a request without MessageID
AUTHCLAIMS = AUTH + "/authclaims"
CVR_CLAIM = "dk:gov:saml:attribute:CvrNumberIdentifier"

C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

STS_PATH = "/runtime/services/kombittrust/14/certificatemixed"
MEX_PATH = "/runtime/services/kombittrust/mex"
