"""The STS's WSDL (``/runtime/services/kombittrust/mex``), so WIF/.NET and CXF clients can
generate proxies and read the security policy, with our own address.

It is KOMBIT's ``sts.wsdl`` (kombit/kosdy_infrastructureSamples-java,
``src/main/resources/wsdl/sts.wsdl``; REFERENCE-KOMBIT-STS.md §2.1): SOAP 1.2 binding
``CertificateWSTrustBinding_IWSTrust13Sync``, the asymmetric binding policy (X.509 initiator
token always included, Basic256Sha256, timestamp, signed Body and WS-Addressing headers),
input action ``…/RST/Issue``, output ``…/RSTRC/IssueFinal``.
"""

from __future__ import annotations

import functools

from lxml import etree

from idp.sts.wsconstants import (
    ACTION_ISSUE,
    ACTION_ISSUE_FINAL,
    STS_PATH,
    WSA,
    WSP,
    WST,
    WSU,
)

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_WSDL = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
SP = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"
XS = "http://www.w3.org/2001/XMLSchema"
TNS = "http://schemas.microsoft.com/ws/2008/06/identity/securitytokenservice"
INCLUDE_TOKEN = SP + "/IncludeToken/"
BINDING = "CertificateWSTrustBinding_IWSTrust13Sync"
SIGNED_HEADERS = ("To", "From", "FaultTo", "ReplyTo", "MessageID", "RelatesTo", "Action")


def _el(parent: etree._Element, ns: str, tag: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{ns}}}{tag}", attributes)


def _policy(parent: etree._Element) -> etree._Element:
    """``wsp:Policy`` (the nested one SecurityPolicy assertions carry)."""
    return _el(parent, WSP, "Policy")


def _all(parent: etree._Element, policy_id: str) -> etree._Element:
    policy = _el(parent, WSP, "Policy")
    policy.set(f"{{{WSU}}}Id", policy_id)
    return _el(_el(policy, WSP, "ExactlyOne"), WSP, "All")


def _x509_token(parent: etree._Element, role: str, include: str, *extra: str) -> None:
    token = _el(_policy(_el(parent, SP, role)), SP, "X509Token")
    token.set(f"{{{SP}}}IncludeToken", INCLUDE_TOKEN + include)
    nested = _policy(token)
    for name in ("WssX509V3Token10", *extra):
        _el(nested, SP, name)


def _binding_policy(root: etree._Element) -> None:
    alternative = _all(root, f"{BINDING}_policy")
    binding = _policy(_el(alternative, SP, "AsymmetricBinding"))
    _x509_token(binding, "InitiatorToken", "AlwaysToRecipient")
    _x509_token(binding, "RecipientToken", "Never", "RequireIssuerSerialReference")
    _el(_policy(_el(binding, SP, "AlgorithmSuite")), SP, "Basic256Sha256")
    _el(_policy(_el(binding, SP, "Layout")), SP, "Lax")
    for name in ("ProtectTokens", "IncludeTimestamp", "OnlySignEntireHeadersAndBody"):
        _el(binding, SP, name)
    _el(_policy(_el(alternative, SP, "Wss11")), SP, "MustSupportRefThumbprint")
    trust = _policy(_el(alternative, SP, "Trust13"))
    for name in ("MustSupportIssuedTokens", "RequireClientEntropy", "RequireServerEntropy"):
        _el(trust, SP, name)
    _el(alternative, WSAW, "UsingAddressing")
    signed = _el(_all(root, "Input_policy"), SP, "SignedParts")
    _el(signed, SP, "Body")
    for name in SIGNED_HEADERS:
        _el(signed, SP, "Header", Name=name, Namespace=WSA)


def _open_type(schema: etree._Element, name: str) -> None:
    complex_type = _el(schema, XS, "complexType", name=name)
    choice = _el(complex_type, XS, "choice", minOccurs="0", maxOccurs="unbounded")
    _el(choice, XS, "any", minOccurs="0", maxOccurs="unbounded", namespace="##any",
        processContents="lax")  # fmt: skip
    _el(complex_type, XS, "attribute", name="Context", type="xs:anyURI", use="optional")
    _el(complex_type, XS, "anyAttribute", namespace="##other", processContents="lax")


def _types(root: etree._Element) -> None:
    types = _el(root, WSDL, "types")
    schema = etree.SubElement(
        types, f"{{{XS}}}schema", elementFormDefault="qualified", targetNamespace=WST,
        nsmap={"xs": XS},
    )  # fmt: skip
    for name in ("RequestSecurityToken", "RequestSecurityTokenResponse"):
        _el(schema, XS, "element", name=name, type=f"trust:{name}Type")
        _open_type(schema, f"{name}Type")
    collection = "RequestSecurityTokenResponseCollection"
    _el(schema, XS, "element", name=collection, type=f"trust:{collection}Type")
    complex_type = _el(schema, XS, "complexType", name=f"{collection}Type")
    _el(_el(complex_type, XS, "sequence"), XS, "element", minOccurs="1",
        maxOccurs="unbounded", ref="trust:RequestSecurityTokenResponse")  # fmt: skip
    _el(complex_type, XS, "anyAttribute", namespace="##other", processContents="lax")


def _operation(root: etree._Element, address: str) -> None:
    prefix = "IWSTrust13Sync_Trust13Issue_"
    message = _el(root, WSDL, "message", name=prefix + "InputMessage")
    _el(message, WSDL, "part", name="message", element="trust:RequestSecurityToken")
    message = _el(root, WSDL, "message", name=prefix + "OutputMessage")
    _el(message, WSDL, "part", name="Trust13IssueResult",
        element="trust:RequestSecurityTokenResponseCollection")  # fmt: skip
    port_type = _el(root, WSDL, "portType", name="IWSTrust13Sync")
    operation = _el(port_type, WSDL, "operation", name="Trust13Issue")
    for direction, action in (("Input", ACTION_ISSUE), ("Output", ACTION_ISSUE_FINAL)):
        element = _el(operation, WSDL, direction.lower(), message=f"tns:{prefix}{direction}Message")
        element.set(f"{{{WSAW}}}Action", action)

    binding = _el(root, WSDL, "binding", name=BINDING, type="tns:IWSTrust13Sync")
    _el(binding, WSP, "PolicyReference", URI=f"#{BINDING}_policy")
    _el(binding, SOAP12_WSDL, "binding", transport="http://schemas.xmlsoap.org/soap/http")
    operation = _el(binding, WSDL, "operation", name="Trust13Issue")
    _el(operation, SOAP12_WSDL, "operation", soapAction=ACTION_ISSUE, style="document")
    body_input = _el(operation, WSDL, "input")
    _el(body_input, WSP, "PolicyReference", URI="#Input_policy")
    _el(body_input, SOAP12_WSDL, "body", use="literal")
    _el(_el(operation, WSDL, "output"), SOAP12_WSDL, "body", use="literal")

    service = _el(root, WSDL, "service", name="SecurityTokenService")
    port = _el(service, WSDL, "port", name=BINDING, binding=f"tns:{BINDING}")
    _el(port, SOAP12_WSDL, "address", location=address)
    _el(_el(port, WSA, "EndpointReference"), WSA, "Address").text = address


@functools.lru_cache(maxsize=4)
def wsdl(base_url: str) -> bytes:
    """The WSDL document whose service address is ``<base_url>`` + KOMBIT's STS path."""
    address = base_url.rstrip("/") + STS_PATH
    root = etree.Element(
        f"{{{WSDL}}}definitions",
        name="SecurityTokenService",
        targetNamespace=TNS,
        nsmap={
            "wsdl": WSDL, "wsp": WSP, "wsu": WSU, "soap12": SOAP12_WSDL, "tns": TNS,
            "wsa10": WSA, "wsaw": WSAW, "trust": WST, "sp": SP,
        },
    )  # fmt: skip
    _binding_policy(root)
    _types(root)
    _operation(root, address)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
