"""Bringing customer and event files in: CSV, JSON Lines and Parquet, streamed in batches."""

from regard.customers.importers.mapping import ColumnMapping
from regard.customers.importers.pipeline import (
    ImportKind,
    ImportSummary,
    RejectsFile,
    check_request,
    import_file,
)

__all__ = [
    "ColumnMapping",
    "ImportKind",
    "ImportSummary",
    "RejectsFile",
    "check_request",
    "import_file",
]
