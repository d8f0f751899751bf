"""Today's catalogue package (git HEAD 348c1b4 ``store/catalogue``), for benchmarks only.

The row-by-row importer and whole-store validation as they were before issue 17, kept so
``bench.catalogue_national`` can measure them beside the set-wise importer in the same
run. Not used by the product.
"""

from bench.catalogue_legacy.common import CatalogueError, CatalogueInvalid
from bench.catalogue_legacy.exporter import export_catalogue, normalise
from bench.catalogue_legacy.importer import ImportReport, import_catalogue
from bench.catalogue_legacy.loading import load_file, metadata_entity_id, parse_text
from bench.catalogue_legacy.schema import catalogue_schema
from bench.catalogue_legacy.validation import validate

__all__ = [
    "CatalogueError",
    "CatalogueInvalid",
    "ImportReport",
    "catalogue_schema",
    "export_catalogue",
    "import_catalogue",
    "load_file",
    "metadata_entity_id",
    "normalise",
    "parse_text",
    "validate",
]
