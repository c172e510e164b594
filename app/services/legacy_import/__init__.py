"""Import of the old platform's database (issue 6 §3): ``flask --app wsgi import-legacy DIR [--dry-run]``.

* :mod:`.reader` streams a ``mongoexport --jsonArray`` or ``mongodump`` directory;
* :mod:`.values` turns loosely typed legacy values into ours;
* :mod:`.mapping` maps each collection (and documents the status and role vocabularies);
* :mod:`.runner` batches the writes and builds the report.
"""

from app.services.legacy_import.mapping import (
    APPLICATION_STATUS_MAP,
    LOT_STATUS_MAP,
    RESERVATION_STATUS_MAP,
    ROLE_MAP,
)
from app.services.legacy_import.reader import LegacyDumpError, open_dump
from app.services.legacy_import.runner import CollectionReport, ImportReport, SkippedRow, import_legacy

__all__ = [
    "APPLICATION_STATUS_MAP",
    "LOT_STATUS_MAP",
    "RESERVATION_STATUS_MAP",
    "ROLE_MAP",
    "CollectionReport",
    "ImportReport",
    "LegacyDumpError",
    "SkippedRow",
    "import_legacy",
    "open_dump",
]
