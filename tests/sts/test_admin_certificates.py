"""The admin API for a fagsystem's KOMBIT STS certificates: read, replace (rotate), errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from store.models import AuditEvent
from tests.admin_kit import ApiWorld, build_template, make_world
from tests.sts.kit import pki

PATH = "/fagsystemer/SAPA/certificates"


@pytest.fixture(scope="module")
def admin_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sts-admin") / "data"
    build_template(path)
    return path


@pytest.fixture
def api(admin_template: Path, tmp_path: Path) -> Iterator[ApiWorld]:
    world = make_world(admin_template, tmp_path / "data")
    yield world
    world.database.dispose()


def test_the_supplier_replaces_and_rotates_the_certificates(api: ApiWorld) -> None:
    keys = pki()
    response = api.call("PUT", PATH, "sapa-lev", {"certificates": [keys.sapa.pem]})
    assert response.status_code == 200, response.get_json()
    assert [c["sha256"] for c in response.get_json()["items"]] == [
        keys.sapa.cert.fingerprint(hashes.SHA256()).hex()
    ]
    both = api.call("PUT", PATH, "sapa-lev", {"certificates": [keys.sapa.pem, keys.sapa_next.pem]})
    assert len(both.get_json()["items"]) == 2
    rotated = api.call("PUT", PATH, "sapa-lev", {"certificates": [keys.sapa_next.pem]})
    assert [c["subject"] for c in rotated.get_json()["items"]] == [
        keys.sapa_next.cert.subject.rfc4514_string()
    ]
    listed = api.call("GET", PATH, "ky-lev")  # every administrative role may read
    assert listed.status_code == 200 and listed.get_json() == rotated.get_json()
    with api.database.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "fagsystem.certificates")
        ).all()
    assert len(events) == 3 and events[-1].object_id == "SAPA"


def test_only_the_supplier_or_an_operator_may_change_them(api: ApiWorld) -> None:
    body = {"certificates": [pki().sapa.pem]}
    assert api.call("PUT", PATH, "ky-lev", body).status_code == 403
    assert api.call("PUT", PATH, "ops", body).status_code == 200
    assert api.call("GET", PATH, None).status_code == 401


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"certificates": ["not a certificate"]}, "/certificates/0"),
        ({"certificates": "x"}, "/certificates"),
        ({"certs": []}, "/certs"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(api: ApiWorld, body: object, pointer: str) -> None:
    response = api.call("PUT", PATH, "sapa-lev", body)
    assert response.status_code == 422, response.get_json()
    fields = {error["pointer"] for error in response.get_json()["errors"]}
    assert pointer in fields


def test_a_certificate_of_another_system_is_refused(api: ApiWorld) -> None:
    keys = pki()
    assert api.call("PUT", PATH, "sapa-lev", {"certificates": [keys.sapa.pem]}).status_code == 200
    response = api.call(
        "PUT", "/fagsystemer/KY/certificates", "ky-lev", {"certificates": [keys.sapa.pem]}
    )
    assert response.status_code == 422
    assert "registered to fagsystem SAPA" in str(response.get_json())
