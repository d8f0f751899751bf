"""The role catalogue (docs/CATALOGUE.md): load, validate, import and export.

A catalogue is one YAML or JSON document holding municipalities, fagsystemer,
jobfunktionsroller, users, assignments and serviceaftaler. ``stsctl import`` and
``stsctl export`` are thin wrappers around the functions re-exported here.
"""

from store.catalogue.common import CatalogueError, CatalogueInvalid
from store.catalogue.exporter import export_catalogue, iter_catalogue, normalise, write_catalogue
from store.catalogue.importer import ImportReport, import_catalogue
from store.catalogue.loading import load_file, metadata_entity_id, parse_text
from store.catalogue.schema import catalogue_schema
from store.catalogue.validation import validate

__all__ = [
    "CatalogueError",
    "CatalogueInvalid",
    "ImportReport",
    "catalogue_schema",
    "export_catalogue",
    "import_catalogue",
    "iter_catalogue",
    "load_file",
    "metadata_entity_id",
    "normalise",
    "parse_text",
    "validate",
    "write_catalogue",
]
