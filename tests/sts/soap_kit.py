"""Helpers of the SOAP WS-Trust tests: the independent client pointed at a test world."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from store.models import AuditEvent
from tests.sts.kit import BASE_URL, CVR, ISSUER, SERVICE, SOAP_PATH, KeyPair, StsWorld
from tests.sts.wstrust_client import (
    S11,
    S12,
    Fault,
    Identity,
    Request,
    Style,
    Token,
    build_request,
    parse_fault,
    verify_response,
)

STS_URL = BASE_URL + SOAP_PATH
CONTENT_TYPE = {S12: "application/soap+xml; charset=utf-8", S11: "text/xml; charset=utf-8"}


def identity(pair: KeyPair) -> Identity:
    return Identity(pair.key, pair.cert)


def request_for(pair: KeyPair, **options: Any) -> Request:
    options.setdefault("applies_to", SERVICE)
    options.setdefault("cvr", CVR)
    options.setdefault("style", Style.DOTNET)
    return build_request(identity(pair), sts_url=STS_URL, **options)


def post(client: FlaskClient, xml: bytes, soap: str = S12) -> Any:
    return client.post(SOAP_PATH, data=xml, content_type=CONTENT_TYPE[soap])


def issue(
    world: StsWorld, pair: KeyPair, *, holder: KeyPair | None = None, **options: Any
) -> Token:
    """A request that must succeed, verified the way KOMBIT's client does."""
    soap = options.get("soap", S12)
    request = request_for(pair, **options)
    response = post(world.client, request.xml, soap)
    assert response.status_code == 200, response.data[:2000]
    assert response.content_type == CONTENT_TYPE[soap]
    return verify_response(
        response.data,
        request,
        sts_certificate=world.signing_certificate(),
        sts_issuer=ISSUER,
        client=(holder or pair).cert,
        soap=soap,
    )


def refused(world: StsWorld, xml: bytes, soap: str = S12) -> Fault:
    """A request that must be answered with a SOAP fault and no token."""
    response = post(world.client, xml, soap)
    assert response.status_code == 500
    assert response.content_type == CONTENT_TYPE[soap]
    assert b"Assertion" not in response.data
    fault = parse_fault(response.data)
    assert fault is not None, response.data[:2000]
    return fault


def refusals(world: StsWorld) -> list[AuditEvent]:
    with world.database.session() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "sts.token.refuse")
                .order_by(AuditEvent.id)
            )
        )
