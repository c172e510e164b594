"""Backups: one archive holding the whole database and every uploaded file, and its restore.

``create_backup`` writes ``BACKUP_DIR/cargwin-backup-<UTC time>.tar.gz`` with

* ``db/<collection>.json``: every document of every collection as canonical Extended JSON, one per line,
  exported through the driver one batch at a time (canonical mode keeps every BSON type exact: int32 vs
  int64, Decimal128, dates, binary), so a restored document is byte-for-byte the original — the audit log
  included. When ``mongodump`` is on the PATH its archive (``db/mongodump.archive.gz``) is used instead;
* ``db/indexes.json``: every index with its options;
* ``files/uploads/…`` and ``files/private/…``: ``UPLOAD_DIR`` and ``PRIVATE_UPLOAD_DIR`` (customer
  documents are already encrypted there; SSNs and the other sensitive values are encrypted in the
  database, so the archive is useless without ``PII_ENCRYPTION_KEYS``, which are kept elsewhere);
* ``manifest.json`` (format, app version, applied migrations, creation time, per-collection counts and the
  SHA-256 of every member) and ``SHA256SUMS``, last, because they describe the bytes actually written;

plus a ``.sha256`` file next to the archive. ``restore_backup`` verifies all of it before it touches the
database, and refuses a database that already holds data unless forced.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import IO, Any

from bson import json_util
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion
from flask import current_app
from pymongo.database import Database
from pymongo.errors import OperationFailure

from app.models.base import as_utc, utcnow

log = logging.getLogger(__name__)

FORMAT = "cargwin-backup"
FORMAT_VERSION = 1
PORTABLE = "extended-json-canonical"
MONGODUMP = "mongodump-archive"
MONGODUMP_MEMBER = "db/mongodump.archive.gz"
INDEXES_MEMBER = "db/indexes.json"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FILE_ROOTS = (("uploads", "UPLOAD_DIR"), ("private", "PRIVATE_UPLOAD_DIR"))
INSERT_BATCH = 1000
READ_BATCH = 1000
CHUNK = 1 << 20
TOOL_TIMEOUT_SECONDS = 6 * 3600

ARCHIVE_NAME = re.compile(r"^cargwin-backup-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar\.gz$")

# Canonical Extended JSON, and the matching read options: every date (even outside Python's range) and UUID
# survives the round trip unchanged.
EXPORT_JSON = json_util.JSONOptions(
    json_mode=json_util.JSONMode.CANONICAL,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
    tz_aware=True,
    tzinfo=UTC,
    uuid_representation=UuidRepresentation.STANDARD,
)
READ_OPTIONS: CodecOptions = CodecOptions(
    tz_aware=True,
    tzinfo=UTC,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
    uuid_representation=UuidRepresentation.STANDARD,
)


class BackupError(Exception):
    """A backup cannot be written, read, verified or restored; the message says why."""


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    pruned: list[Path] = field(default_factory=list)

    @property
    def documents(self) -> int:
        return sum(c["count"] for c in self.manifest["collections"].values())

    @property
    def files(self) -> int:
        return sum(f["count"] for f in self.manifest["files"].values())


@dataclass
class BackupInfo:
    path: Path
    created_at: datetime
    size: int


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    collections: dict[str, int]
    files: int
    indexes_created: list[str]
    pending_migrations: list[str]


# --------------------------------------------------------------------------------------------------------
# Helpers


class _HashingReader(io.RawIOBase):
    """Reads through to ``source`` and hashes what was read, so the checksum is of the bytes archived."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data


def _settings_path(name: str, override: Path | str | None = None) -> Path:
    return Path(override) if override is not None else Path(current_app.config[name])


def _archive_time(name: str) -> datetime | None:
    match = ARCHIVE_NAME.match(name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _collections(db: Database) -> list[str]:
    names = []
    for info in db.list_collections():
        name = info["name"]
        if not name.startswith("system.") and info.get("type", "collection") == "collection":
            names.append(name)
    return sorted(names)


def _iter_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under ``root`` (symlinks are not followed), as (path, POSIX relative name)."""
    if not root.is_dir():
        return
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                log.warning("backup skips %s: not a regular file", path)
                continue
            yield path, path.relative_to(root).as_posix()


def _tool_config(directory: Path, uri: str) -> Path:
    """A 0600 YAML config for mongodump/mongorestore, so the URI (and its password) never shows in ``ps``."""
    path = directory / "mongo-tool.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(f"uri: {json.dumps(uri)}\n")  # a JSON string is a valid YAML double-quoted scalar
    return path


def _run_tool(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise BackupError(f"{Path(command[0]).name} failed: {detail[0]}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{Path(command[0]).name} could not run: {exc}") from None


# --------------------------------------------------------------------------------------------------------
# Create


def _export_collection(db: Database, name: str, target: Path) -> tuple[int, str]:
    """Stream one collection to canonical Extended JSON lines; returns (count, sha256)."""
    collection = db.get_collection(name, codec_options=READ_OPTIONS)
    digest = hashlib.sha256()
    count = 0
    with open(target, "wb") as stream:
        for document in collection.find({}, batch_size=READ_BATCH).sort("_id", 1):
            line = (json_util.dumps(document, json_options=EXPORT_JSON) + "\n").encode("utf-8")
            stream.write(line)
            digest.update(line)
            count += 1
    return count, digest.hexdigest()


def _index_specs(db: Database, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    specs: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        entries = []
        for index_name, info in db[name].index_information().items():
            if index_name == "_id_":
                continue
            options = {k: val for k, val in info.items() if k not in ("key", "v", "ns")}
            entries.append(
                {"name": index_name, "key": [list(pair) for pair in info["key"]], "options": options}
            )
        specs[name] = entries
    return specs


def create_backup(
    *,
    backup_dir: Path | str | None = None,
    now: datetime | None = None,
    use_mongodump: bool | None = None,
    prune: bool = True,
    db: Database | None = None,
) -> BackupResult:
    """Write one backup archive of the database and the upload directories.

    ``use_mongodump``: None uses ``mongodump`` when it is on the PATH, False forces the driver export.
    With ``prune`` the retention settings (``BACKUP_KEEP``, ``BACKUP_MAX_AGE_DAYS``) are applied afterwards.
    ``db`` defaults to the application's database.
    """
    from app import __version__
    from app.db import get_db

    now = as_utc(now) or utcnow()
    directory = _settings_path("BACKUP_DIR", backup_dir)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(directory, 0o700)  # the archive holds customer data
    except PermissionError:
        log.warning("cannot restrict %s to its owner; check its permissions", directory)
    db = get_db() if db is None else db
    mongodump = shutil.which("mongodump") if use_mongodump in (None, True) else None
    if use_mongodump and not mongodump:
        raise BackupError("mongodump is not on the PATH")

    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    final = directory / f"cargwin-backup-{stamp}.tar.gz"
    counter = 2
    while final.exists():
        final = directory / f"cargwin-backup-{stamp}-{counter}.tar.gz"
        counter += 1
    partial = directory / f".{final.name}.partial"
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    checksums: dict[str, str] = {}
    try:
        (staging / "db").mkdir()
        names = _collections(db)
        collections: dict[str, dict[str, Any]] = {}
        db_members: list[tuple[str, Path]] = []
        if mongodump:
            target = staging / MONGODUMP_MEMBER
            config = _tool_config(staging, current_app.config["MONGODB_URI"])
            _run_tool([mongodump, f"--config={config}", f"--db={db.name}", f"--archive={target}", "--gzip"])
            config.unlink()
            for name in names:
                collections[name] = {"count": db[name].count_documents({})}
            db_members.append((MONGODUMP_MEMBER, target))
        else:
            for name in names:
                target = staging / "db" / f"{name}.json"
                count, _digest = _export_collection(db, name, target)
                collections[name] = {"file": f"db/{name}.json", "count": count}
                db_members.append((f"db/{name}.json", target))
        indexes_path = staging / INDEXES_MEMBER
        indexes_path.write_text(json_util.dumps(_index_specs(db, names), json_options=EXPORT_JSON))
        db_members.append((INDEXES_MEMBER, indexes_path))
        migrations = sorted(d["_id"] for d in db["migrations"].find({"status": "applied"}, {"_id": 1}))

        files: dict[str, dict[str, int]] = {}
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for member, path in db_members:
                checksums[member] = _add_file(tar, member, path, 0o600)
            for kind, setting in FILE_ROOTS:
                count = size = 0
                for path, relative in _iter_files(_settings_path(setting)):
                    member = f"files/{kind}/{relative}"
                    try:
                        checksums[member] = _add_file(
                            tar, member, path, 0o600 if kind == "private" else 0o644
                        )
                    except FileNotFoundError:
                        log.warning("backup skips %s: removed while the backup ran", path)
                        continue
                    count += 1
                    size += tar.getmember(member).size
                files[kind] = {"count": count, "bytes": size}
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created_at": now.isoformat().replace("+00:00", "Z"),
                "app_version": __version__,
                "database": db.name,
                "database_format": MONGODUMP if mongodump else PORTABLE,
                "migrations_applied": migrations,
                "collections": collections,
                "files": files,
                "checksums": checksums,
            }
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
            sums = "".join(f"{digest}  {member}\n" for member, digest in sorted(checksums.items()))
            _add_bytes(tar, SUMS, sums.encode())
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, final)
        sidecar = final.with_name(final.name + ".sha256")
        sidecar.write_text(f"{_sha256_file(final)}  {final.name}\n")
        os.chmod(sidecar, 0o600)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = BackupResult(final, manifest)
    if prune:
        result.pruned = prune_backups(
            keep=current_app.config["BACKUP_KEEP"],
            max_age_days=current_app.config["BACKUP_MAX_AGE_DAYS"],
            backup_dir=directory,
            now=now,
        )
    log.info("backup written: %s (%d documents, %d files)", final.name, result.documents, result.files)
    return result


def _add_file(tar: tarfile.TarFile, member: str, path: Path, mode: int) -> str:
    with open(path, "rb") as stream:
        stat = os.fstat(stream.fileno())
        info = tarfile.TarInfo(member)
        info.size = stat.st_size
        info.mtime = int(stat.st_mtime)
        info.mode = mode
        reader = _HashingReader(stream)
        # tarfile copies exactly ``size`` bytes: a file that grows meanwhile is cut at its size when opened,
        # one that shrinks makes tarfile raise, and the backup fails rather than record a torn file.
        tar.addfile(info, reader)
        return reader.digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, member: str, data: bytes) -> None:
    info = tarfile.TarInfo(member)
    info.size = len(data)
    info.mtime = int(utcnow().timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


# --------------------------------------------------------------------------------------------------------
# List and prune


def list_backups(backup_dir: Path | str | None = None) -> list[BackupInfo]:
    """The archives in ``BACKUP_DIR``, newest first (their time is the UTC stamp in the name)."""
    directory = _settings_path("BACKUP_DIR", backup_dir)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        created = _archive_time(path.name)
        if created is not None and path.is_file():
            found.append(BackupInfo(path, created, path.stat().st_size))
    return sorted(found, key=lambda info: (info.created_at, info.path.name), reverse=True)


def prune_backups(
    *,
    keep: int,
    max_age_days: int,
    backup_dir: Path | str | None = None,
    now: datetime | None = None,
) -> list[Path]:
    """Delete archives beyond the ``keep`` newest and those older than ``max_age_days``; 0 turns a limit
    off. The newest archive is never deleted, so a stalled backup job cannot age every copy away."""
    if keep < 0 or max_age_days < 0:
        raise BackupError("keep and max age must be 0 (no limit) or more")
    now = as_utc(now) or utcnow()
    directory = _settings_path("BACKUP_DIR", backup_dir)
    deleted: list[Path] = []
    for position, info in enumerate(list_backups(directory)):
        if position == 0:
            continue
        too_many = keep > 0 and position >= keep
        too_old = max_age_days > 0 and info.created_at < now - timedelta(days=max_age_days)
        if too_many or too_old:
            info.path.unlink(missing_ok=True)
            info.path.with_name(info.path.name + ".sha256").unlink(missing_ok=True)
            deleted.append(info.path)
    # Leftovers of a run that died mid-write.
    for stale in directory.glob(".cargwin-backup-*.partial") if directory.is_dir() else []:
        if datetime.fromtimestamp(stale.stat().st_mtime, UTC) < now - timedelta(days=1):
            stale.unlink(missing_ok=True)
    return deleted


# --------------------------------------------------------------------------------------------------------
# Verify and restore


def _safe_member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or name.startswith("/"):
        raise BackupError(f"unsafe path in the archive: {name!r}")
    return path


def extract_verified(archive: Path | str, destination: Path) -> dict[str, Any]:
    """Unpack ``archive`` into ``destination`` and check it against its manifest; return the manifest.

    Checks, in order: the ``.sha256`` file next to the archive (when present), that every member is a
    regular file with a safe relative path, that the manifest is ours, and that every member listed in it is
    present with the recorded SHA-256 and nothing else is. Raises ``BackupError`` on any mismatch.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist")
    sidecar = archive.with_name(archive.name + ".sha256")
    if sidecar.is_file():
        expected = sidecar.read_text().split()[0] if sidecar.read_text().strip() else ""
        if expected != _sha256_file(archive):
            raise BackupError(
                f"{archive.name} does not match {sidecar.name}: the archive is damaged or altered"
            )
    seen: dict[str, str] = {}
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BackupError(
                        f"unexpected entry in the archive: {member.name!r} is not a regular file"
                    )
                relative = _safe_member_path(member.name)
                if member.name in seen:
                    raise BackupError(f"{member.name} appears twice in the archive")
                target = destination.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                digest = hashlib.sha256()
                with open(target, "wb") as out:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                seen[member.name] = digest.hexdigest()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive.name} cannot be read: {exc}") from None
    manifest_path = destination / MANIFEST
    if MANIFEST not in seen:
        raise BackupError(f"{archive.name} has no {MANIFEST}: not a Cargwin backup")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError:
        raise BackupError(f"{MANIFEST} is not valid JSON") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive.name} is not a Cargwin backup")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"backup format version {manifest.get('format_version')} is not supported")
    expected_sums: dict[str, str] = manifest.get("checksums") or {}
    for member, digest in sorted(expected_sums.items()):
        if member not in seen:
            raise BackupError(f"{member} is missing from the archive")
        if seen[member] != digest:
            raise BackupError(f"checksum mismatch for {member}: the archive is damaged or altered")
    extra = sorted(set(seen) - set(expected_sums) - {MANIFEST, SUMS})
    if extra:
        raise BackupError(f"the archive holds files its manifest does not list: {', '.join(extra[:5])}")
    return manifest


def verify_backup(archive: Path | str) -> dict[str, Any]:
    """Check an archive completely (into a scratch directory that is removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="cargwin-verify-") as scratch:
        return extract_verified(archive, Path(scratch))


def database_is_empty(db: Database) -> bool:
    """No document in any collection except the migrations record (a freshly migrated database is empty)."""
    return all(db[name].estimated_document_count() == 0 for name in _collections(db) if name != "migrations")


def _directory_has_files(path: Path) -> bool:
    return path.is_dir() and any(p.is_file() or p.is_symlink() for p in path.rglob("*"))


def restore_backup(
    archive: Path | str,
    *,
    force: bool = False,
    db: Database | None = None,
    echo: Callable[[str], None] | None = None,
) -> RestoreResult:
    """Restore an archive into the configured database and upload directories.

    The archive is verified completely first. The database must be empty (and the upload directories
    too) unless ``force``, which drops every collection and deletes every uploaded file before restoring.
    Indexes are recreated (those recorded in the backup, then any the models declare), and the restored
    counts are checked against the manifest. ``db`` defaults to the application's database.
    """
    from app.db import get_db
    from app.migrations_runner import ensure_declared_indexes, pending

    say = echo or (lambda _message: None)
    db = get_db() if db is None else db
    roots = {kind: _settings_path(setting) for kind, setting in FILE_ROOTS}
    scratch_parent = _settings_path("BACKUP_DIR")
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=scratch_parent) as scratch:
        staging = Path(scratch)
        say("verifying the archive…")
        manifest = extract_verified(archive, staging)
        occupied = not database_is_empty(db) or any(_directory_has_files(root) for root in roots.values())
        if occupied and not force:
            raise BackupError(
                "the database or the upload directories already hold data; restore into an empty "
                "installation, or pass --force to replace everything"
            )
        for name in _collections(db):
            db.drop_collection(name)
        for root in roots.values():
            _empty_directory(root)

        say("restoring the database…")
        if manifest["database_format"] == MONGODUMP:
            _restore_mongodump(staging / MONGODUMP_MEMBER, manifest["database"], db.name, staging)
        else:
            for name, info in sorted(manifest["collections"].items()):
                _import_collection(db, name, staging / info["file"])
        indexes = json_util.loads((staging / INDEXES_MEMBER).read_text(), json_options=EXPORT_JSON)
        created = _restore_indexes(db, indexes)
        created += ensure_declared_indexes(db)

        say("restoring files…")
        restored_files = 0
        for kind, root in roots.items():
            source = staging / "files" / kind
            if not source.is_dir():
                continue
            for path, relative in _iter_files(source):
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
                os.chmod(target, 0o600 if kind == "private" else 0o644)
                restored_files += 1
        if roots["private"].is_dir():
            os.chmod(roots["private"], 0o700)

    counts = {name: db[name].count_documents({}) for name in manifest["collections"]}
    wrong = {
        n: (c, manifest["collections"][n]["count"])
        for n, c in counts.items()
        if c != manifest["collections"][n]["count"]
    }
    if wrong:
        detail = ", ".join(
            f"{n}: {got} restored, {want} in the backup" for n, (got, want) in sorted(wrong.items())
        )
        raise BackupError(f"restored counts differ from the manifest: {detail}")
    expected_files = sum(f["count"] for f in manifest["files"].values())
    if restored_files != expected_files:
        raise BackupError(f"{restored_files} files restored, {expected_files} in the backup")
    return RestoreResult(
        manifest=manifest,
        collections=counts,
        files=restored_files,
        indexes_created=created,
        pending_migrations=[path.name for path in pending(db)],
    )


def _empty_directory(root: Path) -> None:
    """Delete what ``root`` holds but keep the directory itself: it may be a mount point (a Docker volume)."""
    root.mkdir(parents=True, exist_ok=True)
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _import_collection(db: Database, name: str, path: Path) -> None:
    collection = db.get_collection(name, codec_options=READ_OPTIONS)
    db.create_collection(name)
    batch: list[Any] = []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if not line.strip():
                continue
            batch.append(json_util.loads(line, json_options=EXPORT_JSON))
            if len(batch) >= INSERT_BATCH:
                collection.insert_many(batch, ordered=True)
                batch = []
    if batch:
        collection.insert_many(batch, ordered=True)


def _restore_indexes(db: Database, specs: dict[str, list[dict[str, Any]]]) -> list[str]:
    created = []
    for name, entries in sorted(specs.items()):
        existing = {index_name for index_name in db[name].index_information()}
        for entry in entries:
            if entry["name"] in existing:
                continue
            keys = [(field_name, direction) for field_name, direction in entry["key"]]
            try:
                created.append(
                    f"{name}.{db[name].create_index(keys, name=entry['name'], **entry['options'])}"
                )
            except OperationFailure as exc:
                # The models' own indexes are ensured afterwards; anything else is reported, not fatal.
                log.warning("index %s.%s not recreated: %s", name, entry["name"], exc)
    return created


def _restore_mongodump(archive: Path, source_db: str, target_db: str, scratch: Path) -> None:
    mongorestore = shutil.which("mongorestore")
    if not mongorestore:
        raise BackupError(
            "this backup was made with mongodump; install mongorestore (MongoDB Database Tools)"
        )
    config = _tool_config(scratch, current_app.config["MONGODB_URI"])
    _run_tool(
        [
            mongorestore,
            f"--config={config}",
            f"--archive={archive}",
            "--gzip",
            f"--nsInclude={source_db}.*",
            f"--nsFrom={source_db}.*",
            f"--nsTo={target_db}.*",
        ]
    )
