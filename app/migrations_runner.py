"""Dated data migrations (``migrations/YYYY-MM-DD-what.py``, each with ``migrate(db)`` on raw pymongo).

Applied ones are recorded in the ``migrations`` collection under their file name, so running the command
again applies nothing twice. After the scripts, the indexes declared in every document's ``meta`` are
created if missing: declaring an index in a model and running ``flask migrate`` is all it takes.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pymongo.database import Database

from app.config import BASE_DIR
from app.models import ALL_DOCUMENTS
from app.models.base import utcnow

log = logging.getLogger(__name__)

MIGRATIONS_DIR = BASE_DIR / "migrations"
MIGRATIONS_COLLECTION = "migrations"
_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.py$")
_INDEX_OPTIONS = ("unique", "sparse", "name", "partialFilterExpression", "expireAfterSeconds", "collation")


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    indexes_created: list[str] = field(default_factory=list)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.py") if _NAME.match(p.name))


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cargwin_migration_{path.stem.replace('-', '_')}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load migration {path.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "migrate", None)):
        raise RuntimeError(f"migration {path.name} has no migrate(db)")
    return module


def pending(db: Database, directory: Path = MIGRATIONS_DIR) -> list[Path]:
    done = {doc["_id"] for doc in db[MIGRATIONS_COLLECTION].find({"status": "applied"}, {"_id": 1})}
    return [path for path in discover(directory) if path.name not in done]


def declared_index_specs() -> list[tuple[str, list[tuple[str, Any]], dict[str, Any]]]:
    """(collection, keys, options) for every index declared in a document's ``meta``."""
    specs = []
    for document in ALL_DOCUMENTS:
        collection = document._get_collection_name()
        for spec in document._meta.get("index_specs", []):
            keys = [(name, direction) for name, direction in spec["fields"]]
            options = {
                k: spec[k] for k in _INDEX_OPTIONS if spec.get(k) is not None and spec.get(k) is not False
            }
            specs.append((collection, keys, options))
    return specs


def ensure_declared_indexes(db: Database) -> list[str]:
    """Create every declared index that is missing; returns the names of those created."""
    created = []
    for collection, keys, options in declared_index_specs():
        existing = db[collection].index_information()
        existing_keys = {tuple(tuple(k) for k in info["key"]) for info in existing.values()}
        if tuple(keys) in existing_keys:
            continue
        name = db[collection].create_index(keys, **options)
        created.append(f"{collection}.{name}")
    return created


def apply_pending(
    db: Database, directory: Path = MIGRATIONS_DIR, echo: Callable[[str], None] = log.info
) -> MigrationReport:
    report = MigrationReport()
    for path in pending(db, directory):
        module = load(path)
        echo(f"applying {path.name}")
        started = time.monotonic()
        # The record goes in first: its unique _id stops a second process from running the same script.
        db[MIGRATIONS_COLLECTION].update_one(
            {"_id": path.name}, {"$set": {"status": "running", "started_at": utcnow()}}, upsert=True
        )
        try:
            module.migrate(db)
        except Exception:
            db[MIGRATIONS_COLLECTION].delete_one({"_id": path.name, "status": "running"})
            raise
        db[MIGRATIONS_COLLECTION].update_one(
            {"_id": path.name},
            {
                "$set": {
                    "status": "applied",
                    "applied_at": utcnow(),
                    "duration_ms": round((time.monotonic() - started) * 1000),
                    "description": (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else "",
                }
            },
        )
        report.applied.append(path.name)
    report.indexes_created = ensure_declared_indexes(db)
    return report
