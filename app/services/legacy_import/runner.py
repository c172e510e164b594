"""The import run: stream each collection of the dump, map every row, write in batches, report.

Rows are written with ``bulk_write`` in batches (``UpdateOne(..., {"$setOnInsert": doc}, upsert=True)``
keyed by the legacy id), so a row that is already in the database is left exactly as it is: running the
import twice changes nothing, and an import never overwrites what staff changed after the cut-over. Audit
entries are plain inserts (the audit collection is insert-only). A row's own document is written first and
its side records (slug redirects, pickup bookings) only once that succeeded, so no row is half-written.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from app.models.base import as_utc, utcnow
from app.services import audit
from app.services.legacy_import import values as v
from app.services.legacy_import.mapping import (
    MAPPERS,
    NOT_MIGRATED,
    ORDER,
    ImportContext,
    Mapped,
    SideWrite,
    Skip,
    lot_object_id,
    mongo_doc,
)
from app.services.legacy_import.reader import LegacyDump, open_dump
from app.services.slugs import is_valid_slug

DEFAULT_BATCH_SIZE = 500

#: Our collection for each legacy collection that is imported.
TARGETS = {
    "users": "users",
    "lots": "lots",
    "applications": "applications",
    "reservations": "reservations",
    "subscriptions": "subscriptions",
    "appointments": "appointments",
    "audit_logs": "audit_logs",
}


@dataclass
class CollectionReport:
    """Counts for one legacy collection. ``imported`` counts rows written by this run (or that a dry run
    would write); ``existing`` rows already present from an earlier run, left unchanged."""

    name: str
    expected: int | None = None
    read: int = 0
    imported: int = 0
    existing: int = 0
    skipped: int = 0


@dataclass
class SkippedRow:
    collection: str
    legacy_id: str
    reason: str


@dataclass
class Note:
    collection: str
    legacy_id: str
    kind: str
    detail: str


@dataclass
class ImportReport:
    dry_run: bool
    collections: dict[str, CollectionReport] = field(default_factory=dict)
    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    side_records: Counter[str] = field(default_factory=Counter)  # collection → records written
    seconds: float = 0.0

    def collection(self, name: str) -> CollectionReport:
        return self.collections.setdefault(name, CollectionReport(name))

    @property
    def total_imported(self) -> int:
        return sum(c.imported for c in self.collections.values())

    def note_counts(self) -> Counter[tuple[str, str]]:
        return Counter((n.collection, n.kind) for n in self.notes)

    def summary_lines(self, *, verbose: bool = False) -> list[str]:
        """The printable report: counts per collection, every skipped row with its reason, and the
        adjustments made (counted; listed one by one with ``verbose``)."""
        verb = "would import" if self.dry_run else "imported"
        lines = [f"{'collection':<16}{'in dump':>9}{'read':>9}{verb:>14}{'present':>9}{'skipped':>9}"]
        for c in self.collections.values():
            expected = "" if c.expected is None else str(c.expected)
            lines.append(f"{c.name:<16}{expected:>9}{c.read:>9}{c.imported:>14}{c.existing:>9}{c.skipped:>9}")
        for name, count in sorted(self.side_records.items()):
            lines.append(f"{name}: {count} {'to write' if self.dry_run else 'written'}")
        if self.skipped:
            lines.append("")
            lines.append(f"Skipped rows ({len(self.skipped)}):")
            lines += [f"  {s.collection} {s.legacy_id}: {s.reason}" for s in self.skipped]
        if self.notes:
            lines.append("")
            lines.append("Adjustments (rows imported with a change):")
            for (collection, kind), count in sorted(self.note_counts().items()):
                lines.append(f"  {collection}: {kind} × {count}")
            if verbose:
                lines += [f"    {n.collection} {n.legacy_id}: {n.kind}: {n.detail}" for n in self.notes]
        return lines


@dataclass
class _Row:
    legacy_id: str
    mapped: Mapped


class _BatchWriter:
    """Collects mapped rows of one collection and writes them ``batch_size`` at a time."""

    def __init__(
        self,
        db: Database,
        source: str,
        report: ImportReport,
        ctx: ImportContext,
        *,
        dry_run: bool,
        batch_size: int,
    ) -> None:
        self.db = db
        self.source = source
        self.target = db[TARGETS[source]]
        self.report = report
        self.stats = report.collection(source)
        self.ctx = ctx
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.rows: list[_Row] = []
        self.insert_only = source == "audit_logs"

    def add(self, legacy_id: str, mapped: Mapped) -> None:
        self.rows.append(_Row(legacy_id, mapped))
        if len(self.rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        if not rows:
            return
        if self.dry_run:
            # Nothing is written: ask which rows an earlier run already imported, to predict the counts.
            ids = [row.mapped.document.pk for row in rows]
            present = {doc["_id"] for doc in self.target.find({"_id": {"$in": ids}}, {"_id": 1})}
            for row in rows:
                if row.mapped.document.pk in present:
                    self.stats.existing += 1
                else:
                    self.stats.imported += 1
            written = rows
        else:
            # The write itself tells inserted from already present (upserted or matched), so no read first.
            written = self._write(rows)
        for row in written:
            for kind, detail in row.mapped.notes:
                self.report.notes.append(Note(self.source, row.legacy_id, kind, detail))
        self._write_side(written)

    def _write(self, rows: list[_Row]) -> list[_Row]:
        ops: list[Any] = []
        for row in rows:
            document = mongo_doc(row.mapped.document)
            if self.insert_only:
                ops.append(InsertOne({"_id": row.mapped.document.pk, **document}))
            else:
                ops.append(
                    UpdateOne({"_id": row.mapped.document.pk}, {"$setOnInsert": document}, upsert=True)
                )
        failed: dict[int, str] = {}
        already: set[int] = set()
        try:
            result = self.target.bulk_write(ops, ordered=False)
            upserted = set(result.upserted_ids or {})
        except BulkWriteError as exc:
            details = exc.details
            upserted = {item["index"] for item in details.get("upserted", [])}
            for error in details.get("writeErrors", []):
                key = error.get("keyPattern") or {}
                if error.get("code") == 11000 and list(key) == ["_id"]:
                    already.add(error["index"])  # inserted meanwhile (insert-only audit entries)
                else:
                    failed[error["index"]] = _write_error_message(error)
        ok: list[_Row] = []
        for index, row in enumerate(rows):
            if index in failed:
                self._skip(row.legacy_id, f"refused by the database: {failed[index]}")
                continue
            if self.insert_only:
                if index in already:
                    self.stats.existing += 1
                else:
                    self.stats.imported += 1
            elif index in upserted:
                self.stats.imported += 1
            else:
                self.stats.existing += 1  # matched: another process inserted it after our check
            ok.append(row)
        return ok

    def _skip(self, legacy_id: str, reason: str) -> None:
        self.stats.skipped += 1
        self.report.skipped.append(SkippedRow(self.source, legacy_id, reason))
        forget(self.ctx, self.source, legacy_id, reason)

    def _write_side(self, rows: list[_Row]) -> None:
        by_collection: dict[str, list[tuple[_Row, SideWrite]]] = {}
        for row in rows:
            for side in row.mapped.side:
                by_collection.setdefault(side.collection, []).append((row, side))
        for collection, items in by_collection.items():
            target = self.db[collection]
            if self.dry_run:
                present = {
                    _filter_key(doc, items[0][1].filter)
                    for doc in target.find({"$or": [side.filter for _row, side in items]})
                }
                self.report.side_records[collection] += sum(
                    1 for _row, side in items if _filter_key(side.filter, side.filter) not in present
                )
                continue
            ops = [UpdateOne(side.filter, {"$setOnInsert": side.doc}, upsert=True) for _row, side in items]
            try:
                result = target.bulk_write(ops, ordered=False)
                self.report.side_records[collection] += len(result.upserted_ids or {})
            except BulkWriteError as exc:
                self.report.side_records[collection] += len(exc.details.get("upserted", []))
                for error in exc.details.get("writeErrors", []):
                    row, side = items[error["index"]]
                    self.report.notes.append(
                        Note(
                            self.source,
                            row.legacy_id,
                            "side record not written",
                            f"{side.describe}: {_write_error_message(error)}",
                        )
                    )


def _filter_key(doc: dict[str, Any], filter_: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(doc.get(key) for key in sorted(filter_))


def _write_error_message(error: dict[str, Any]) -> str:
    if error.get("code") == 11000:
        return f"duplicate {error.get('keyValue') or error.get('keyPattern')}"
    return str(error.get("errmsg") or error)[:300]


def forget(ctx: ImportContext, source: str, legacy_id: str, reason: str) -> None:
    """Undo what mapping a row told the context, once the database refused the row, so that rows referring
    to it are skipped with a clear reason instead of pointing at nothing."""
    if source == "users":
        oid = ctx.user_ids.pop(legacy_id, None)
        ctx.skipped_users[legacy_id] = reason
        for email in [e for e, owner in ctx.user_by_email.items() if owner == oid]:
            del ctx.user_by_email[email]
    elif source == "lots":
        ref = ctx.lots.pop(legacy_id, None)
        ctx.skipped_lots[legacy_id] = reason
        if ref is not None:
            for owners in (ctx.assigned_slugs, ctx.redirect_owner):
                for slug in [s for s, owner in owners.items() if owner == ref.id]:
                    del owners[slug]
    elif source == "applications":
        ctx.applications.pop(legacy_id, None)
        ctx.skipped_applications[legacy_id] = reason


def remember_skip(ctx: ImportContext, source: str, legacy_id: str, reason: str) -> None:
    """Record why a row was not mapped, for the rows that refer to it. A merged account keeps its mapping
    (references to it resolve to the account it was merged into)."""
    if source == "users" and legacy_id not in ctx.user_ids:
        ctx.skipped_users[legacy_id] = reason
    elif source == "lots":
        ctx.skipped_lots[legacy_id] = reason
    elif source == "applications":
        ctx.skipped_applications[legacy_id] = reason


def _preload(db: Database, ctx: ImportContext) -> None:
    """What the database already holds that the mapping must respect: slugs, redirects, e-mails."""
    for doc in db["lots"].find({}, {"slug": 1}):
        if doc.get("slug"):
            ctx.db_slug_owner[doc["slug"]] = doc["_id"]
            ctx.db_lot_slug[doc["_id"]] = doc["slug"]
    for doc in db["lot_slug_redirects"].find({}, {"old_slug": 1, "lot": 1}):
        ctx.redirect_owner[doc["old_slug"]] = doc["lot"]
    for doc in db["users"].find({}, {"email": 1}):
        if doc.get("email"):
            ctx.user_by_email[doc["email"]] = doc["_id"]


def _prepass(dump: LegacyDump, ctx: ImportContext) -> None:
    """Two cheap reads before the import proper.

    * Valid legacy slugs are reserved for their own lots first, so that normalising another lot's invalid
      slug (``Custom Slug!`` → ``custom-slug``) can never take a slug that old links already use.
    * Converted reservations name their application; the application records the reservation back.
    """
    lots = dump.get("lots")
    if lots is not None:
        for raw in lots.documents():
            stored = raw.get("slug")
            oid = lot_object_id(raw, ctx.now)
            if isinstance(stored, str) and is_valid_slug(stored) and oid is not None:
                ctx.reserved_slugs.setdefault(stored, oid)
    reservations = dump.get("reservations")
    if reservations is not None:
        for raw in reservations.documents():
            app_id = v.legacy_id(raw.get("application_id"))
            created = v.moment(raw.get("created_at"))
            rid = v.object_id_for("reservations", raw.get("_id"), created)
            if app_id and rid is not None:
                ctx.reservation_for_app.setdefault(app_id, rid)


def import_legacy(
    directory: Path | str,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    actor: audit.Actor = audit.SYSTEM,
    echo: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import a dump of the old platform into the current database (or, with ``dry_run``, only report what
    would be imported). Safe to run again: rows already present are left unchanged.

    ``now`` decides which holds and schedules are already over (default: the current time).
    """
    from app.db import get_db
    from app.services.lots import end_of_month_pacific, validate_for_publish

    started = time.monotonic()
    dump = open_dump(directory)
    now = as_utc(now) or utcnow()
    db = get_db()
    ctx = ImportContext(now=now, validate_for_publish=validate_for_publish, end_of_month=end_of_month_pacific)
    _preload(db, ctx)
    _prepass(dump, ctx)
    report = ImportReport(dry_run=dry_run)

    for name in ORDER:
        source = dump.get(name)
        if source is None:
            continue
        stats = report.collection(name)
        stats.expected = source.expected_count
        writer = _BatchWriter(db, name, report, ctx, dry_run=dry_run, batch_size=batch_size)
        mapper = MAPPERS[name]
        for raw in source.documents():
            stats.read += 1
            legacy = v.legacy_id(raw.get("_id")) or f"row {stats.read}"
            try:
                mapped = mapper(raw, ctx)
            except Skip as exc:
                stats.skipped += 1
                report.skipped.append(SkippedRow(name, legacy, exc.reason))
                remember_skip(ctx, name, legacy, exc.reason)
                continue
            writer.add(legacy, mapped)
        writer.flush()
        if echo:
            echo(
                f"{name}: {stats.read} read, {stats.imported} {'to import' if dry_run else 'imported'}, "
                f"{stats.existing} present, {stats.skipped} skipped"
            )

    for name, source in dump.collections.items():
        if name in MAPPERS:
            continue
        reason = NOT_MIGRATED.get(name, "collection unknown to the importer")
        stats = report.collection(name)
        stats.expected = source.expected_count
        for raw in source.documents():
            stats.read += 1
            stats.skipped += 1
            report.skipped.append(
                SkippedRow(
                    name, v.legacy_id(raw.get("_id")) or f"row {stats.read}", f"not migrated: {reason}"
                )
            )

    report.seconds = time.monotonic() - started
    if not dry_run and report.total_imported:
        audit.record(
            "legacy_import",
            "system",
            str(dump.directory.name),
            actor=actor,
            details={
                "imported": {c.name: c.imported for c in report.collections.values()},
                "skipped": len(report.skipped),
            },
        )
    return report
