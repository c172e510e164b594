"""Fixtures of the operations tests: a second, throw-away database on the same server and fresh upload
directories, so that a restore can be checked against a database that never saw the data."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database

FIXTURE_DUMP = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_dump"
_names = itertools.count(1)


@pytest.fixture
def scratch_db(app: Any) -> Iterator[Database]:
    """An empty database on the test server, dropped afterwards."""
    from app.db import get_db

    main = get_db()
    db = main.client[f"{main.name}_scratch_{next(_names)}"]
    main.client.drop_database(db.name)
    yield db
    main.client.drop_database(db.name)


def raw_snapshot(db: Database) -> dict[str, list[bytes]]:
    """Every document of every collection as its exact BSON bytes, ordered by ``_id``."""
    options: CodecOptions = CodecOptions(document_class=RawBSONDocument)
    snapshot = {}
    for name in sorted(db.list_collection_names()):
        if name.startswith("system."):
            continue
        collection = db.get_collection(name, codec_options=options)
        snapshot[name] = [doc.raw for doc in collection.find({}).sort("_id", 1)]
    return snapshot


def files_snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
