"""``certificates:`` under a fagsystem in the catalogue: import, rotation, export, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from sqlalchemy import select

from store.catalogue import CatalogueInvalid, export_catalogue, import_catalogue
from store.catalogue.loading import load_file
from store.db import Database
from store.models import SystemCertificate
from tests.sts.kit import pki


def catalogue(tmp_path: Path, certificates: list[Any], other: list[Any] | None = None) -> Path:
    systems: list[dict[str, Any]] = [
        {
            "id": "SAPA",
            "name": "SAPA",
            "kind": "anvender",
            "entity_id": "https://sapa.demo.test",
            "certificates": certificates,
        }
    ]
    if other is not None:
        systems.append({"id": "EXT", "name": "Ext", "kind": "anvender", "certificates": other})
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "fagsystemer": systems}))
    return path


def registered(database: Database, system: str = "SAPA") -> set[bytes]:
    with database.session() as session:
        return set(
            session.scalars(
                select(SystemCertificate.der).where(SystemCertificate.fagsystem_id == system)
            )
        )


def test_pem_and_file_entries_register_and_rotate(
    sqlite_database: Database, tmp_path: Path
) -> None:
    keys = pki()
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "next.pem").write_text(keys.sapa_next.pem)
    path = catalogue(tmp_path, [keys.sapa.pem, {"file": "certs/next.pem"}])
    report = import_catalogue(sqlite_database, load_file(path))
    assert report.created["certificate"] == 2
    assert registered(sqlite_database) == {keys.sapa.der, keys.sapa_next.der}
    again = import_catalogue(sqlite_database, load_file(path))
    assert again.created["certificate"] == 0 and again.deleted["certificate"] == 0
    # rotation: the old certificate leaves the list, the new one stays
    report = import_catalogue(sqlite_database, load_file(catalogue(tmp_path, [keys.sapa_next.pem])))
    assert report.deleted["certificate"] == 1
    assert registered(sqlite_database) == {keys.sapa_next.der}


def test_export_writes_the_certificates_back(sqlite_database: Database, tmp_path: Path) -> None:
    keys = pki()
    import_catalogue(sqlite_database, load_file(catalogue(tmp_path, [keys.sapa.pem])))
    with sqlite_database.session() as session:
        exported = export_catalogue(session)
    (system,) = [s for s in exported["fagsystemer"] if s["id"] == "SAPA"]
    assert [x509.load_pem_x509_certificate(p.encode()) for p in system["certificates"]] == [
        keys.sapa.cert
    ]
    # and the export imports again without changing anything
    assert not import_catalogue(sqlite_database, exported).changed


def test_without_the_key_certificates_are_left_alone(
    sqlite_database: Database, tmp_path: Path
) -> None:
    keys = pki()
    import_catalogue(sqlite_database, load_file(catalogue(tmp_path, [keys.sapa.pem])))
    data = yaml.safe_load(catalogue(tmp_path, []).read_text())
    del data["fagsystemer"][0]["certificates"]
    import_catalogue(sqlite_database, data)
    assert registered(sqlite_database) == {keys.sapa.der}


@pytest.mark.parametrize(
    ("entries", "other", "message"),
    [
        (["-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"], None, "PEM"),
        ([{"file": "missing.pem"}], None, "cannot read"),
        (["just text"], None, "not a PEM certificate"),
        ("same", "same", "also listed for SAPA"),
    ],
)
def test_bad_entries_are_reported_with_their_path(
    sqlite_database: Database, tmp_path: Path, entries: Any, other: Any, message: str
) -> None:
    if entries == "same":
        entries = other = [pki().sapa.pem]
    with pytest.raises(CatalogueInvalid) as caught:
        import_catalogue(sqlite_database, load_file(catalogue(tmp_path, entries, other)))
    text = "\n".join(str(e) for e in caught.value.errors)
    assert message in text and "certificates[0]" in text
    assert registered(sqlite_database) == set()


def test_a_certificate_of_another_system_in_the_store_is_refused(
    sqlite_database: Database, tmp_path: Path
) -> None:
    keys = pki()
    import_catalogue(sqlite_database, load_file(catalogue(tmp_path, [keys.sapa.pem])))
    data = yaml.safe_load(catalogue(tmp_path, []).read_text())
    data["fagsystemer"][0]["certificates"] = []
    data["fagsystemer"].append(
        {"id": "EXT", "name": "Ext", "kind": "anvender", "certificates": [keys.sapa.pem]}
    )
    data["fagsystemer"].pop(0)
    with pytest.raises(CatalogueInvalid) as caught:
        import_catalogue(sqlite_database, data)
    assert "registered to fagsystem SAPA" in str(caught.value.errors[0])
