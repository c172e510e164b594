"""Backups: a round trip restores every document byte for byte and every file, a damaged or altered archive
is refused before anything is touched, a database with data is never overwritten by accident, and old
archives are pruned by count and age."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from bson import Binary, Decimal128, Int64, ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from app.db import get_db
from app.models import AuditLog, User
from app.pii import get_cipher
from app.services import audit
from app.services.backup import (
    BackupError,
    create_backup,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)
from tests.factories import make_lot, make_user
from tests.ops.conftest import files_snapshot, raw_snapshot

NOW = datetime(2026, 3, 2, 4, 30, tzinfo=UTC)


@pytest.fixture
def backup_dir(app, tmp_path, monkeypatch):
    directory = tmp_path / "backups"
    monkeypatch.setitem(app.config, "BACKUP_DIR", str(directory))
    return directory


def _seed(app) -> None:
    """Data of every kind a backup must carry: models, encrypted values, audit entries, odd BSON types,
    public images in sub-directories and an encrypted private document."""
    user = make_user(email="casey@example.com")
    user.set_sensitive("ssn", "912-34-5678")
    user.save()
    make_lot(msrp=Decimal(41250), discount=Decimal(1990))
    audit.record("update", "lot", "abc", actor=audit.SYSTEM, changes={"msrp": {"old": "1", "new": "2"}})
    get_db()["odd_types"].insert_many(
        [
            {
                "_id": "string-id",
                "int32": 7,
                "int64": Int64(7),
                "double": 7.0,
                "negative_zero": -0.0,
                "decimal": Decimal128("38067.10"),
                "date": datetime(1969, 7, 20, 20, 17, 40, 123000, tzinfo=UTC),
                "far_future": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                "binary": Binary(b"\x00\x01\xff", 0),
                "nested": {"z": 1, "a": [ObjectId("68b7e6f8ce72cc52eb748bb5"), None, True]},
            },
            {"_id": ObjectId(), "only": "one field"},
        ]
    )
    uploads, private = Path(app.config["UPLOAD_DIR"]), Path(app.config["PRIVATE_UPLOAD_DIR"])
    (uploads / "images" / "original").mkdir(parents=True, exist_ok=True)
    (uploads / "images" / "original" / "a.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(4096))
    (uploads / "images" / "medium").mkdir(parents=True, exist_ok=True)
    (uploads / "images" / "medium" / "a.jpg").write_bytes(os.urandom(1024))
    (private / "doc-1").write_bytes(get_cipher().encrypt_bytes(b"%PDF-1.7 paystub", "document"))


def _restore_into(app, archive, db, tmp_path, monkeypatch):
    uploads, private = tmp_path / "restored-uploads", tmp_path / "restored-private"
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(uploads))
    monkeypatch.setitem(app.config, "PRIVATE_UPLOAD_DIR", str(private))
    return restore_backup(archive, db=db), uploads, private


def test_round_trip_restores_every_document_and_file_into_a_fresh_database(
    app, backup_dir, scratch_db, tmp_path, monkeypatch
):
    _seed(app)
    source = get_db()
    documents_before = raw_snapshot(source)
    uploads_before = files_snapshot(Path(app.config["UPLOAD_DIR"]))
    private_before = files_snapshot(Path(app.config["PRIVATE_UPLOAD_DIR"]))
    indexes_before = {name: sorted(source[name].index_information()) for name in documents_before}

    result = create_backup(now=NOW, use_mongodump=False)

    assert result.path.name == "cargwin-backup-20260302T043000Z.tar.gz"
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    manifest = result.manifest
    assert manifest["database_format"] == "extended-json-canonical"
    assert manifest["app_version"] == app.config["VERSION"]
    assert manifest["created_at"] == "2026-03-02T04:30:00Z"
    assert "2026-12-03-create-indexes.py" in manifest["migrations_applied"]
    assert manifest["collections"]["users"]["count"] == 1
    assert manifest["collections"]["odd_types"]["count"] == 2
    assert manifest["files"] == {
        "uploads": {"count": 2, "bytes": 4099 + 1024},
        "private": {"count": 1, "bytes": len(private_before["doc-1"])},
    }

    restored, uploads, private = _restore_into(app, result.path, scratch_db, tmp_path, monkeypatch)

    assert raw_snapshot(scratch_db) == documents_before  # byte for byte, audit log included
    assert {name: sorted(scratch_db[name].index_information()) for name in documents_before} == indexes_before
    assert files_snapshot(uploads) == uploads_before
    assert files_snapshot(private) == private_before
    assert restored.files == 3 and restored.pending_migrations == []
    assert stat.S_IMODE((private / "doc-1").stat().st_mode) == 0o600
    # The restored ciphertexts still open with the same key: backups do not hold keys, and do not need to.
    token = scratch_db["users"].find_one({"email": "casey@example.com"})["ssn_encrypted"]
    assert get_cipher().decrypt(token, "ssn") == "912-34-5678"


def test_the_archive_holds_no_plain_copy_of_encrypted_values(app, backup_dir):
    user = make_user(email="private@example.com")
    user.set_sensitive("ssn", "987-65-4321")
    user.save()
    result = create_backup(now=NOW, use_mongodump=False)
    with tarfile.open(result.path) as tar:
        users_json = tar.extractfile("db/users.json").read()
    assert b"987-65-4321" not in users_json and b"pii1:" in users_json


def test_restore_refuses_a_database_that_holds_data_unless_forced(app, backup_dir):
    make_lot()
    result = create_backup(now=NOW, use_mongodump=False)
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["backup", "restore", str(result.path)])
    assert refused.exit_code != 0
    assert "already hold data" in refused.output and "--force" in refused.output

    # What changed since the backup is replaced by the backup's state when forced.
    extra = make_user(email="after-backup@example.com")
    before = raw_snapshot(get_db())
    forced = runner.invoke(args=["backup", "restore", str(result.path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "Restored" in forced.output
    assert User.objects(pk=extra.pk).first() is None
    after = raw_snapshot(get_db())
    assert after["lots"] == before["lots"]


def test_restore_refuses_non_empty_upload_directories_too(app, backup_dir):
    result = create_backup(now=NOW, use_mongodump=False)
    uploads = Path(app.config["UPLOAD_DIR"])
    (uploads / "stray.jpg").write_bytes(b"x")
    with pytest.raises(BackupError, match="already hold data"):
        restore_backup(result.path)

    # Forced, the stray file goes but the directory itself stays (it may be a mount point).
    inode = uploads.stat().st_ino
    restore_backup(result.path, force=True)
    assert not (uploads / "stray.jpg").exists() and uploads.stat().st_ino == inode


def _rewrite_member(archive: Path, member: str, transform, compresslevel: int = 9) -> None:
    """Rebuild ``archive`` with one member's bytes changed and everything else, manifest included, kept."""
    with tarfile.open(archive) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers() if info.isfile()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=compresslevel) as tar:
        for info, data in members:
            if info.name == member:
                data = transform(data)
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(buffer.getvalue())


def test_a_tampered_member_is_detected_before_anything_is_restored(
    app, backup_dir, scratch_db, tmp_path, monkeypatch
):
    make_lot(msrp=Decimal(30000))
    result = create_backup(now=NOW, use_mongodump=False)
    result.path.with_name(result.path.name + ".sha256").unlink()  # an attacker would drop it too
    _rewrite_member(result.path, "db/lots.json", lambda data: data.replace(b'"30000.00"', b'"3.00"'))

    with pytest.raises(BackupError, match="checksum mismatch for db/lots.json"):
        _restore_into(app, result.path, scratch_db, tmp_path, monkeypatch)
    assert scratch_db.list_collection_names() == []

    cli = app.test_cli_runner().invoke(args=["backup", "verify", str(result.path)])
    assert cli.exit_code != 0 and "checksum mismatch" in cli.output


def test_an_altered_archive_fails_its_sidecar_checksum(app, backup_dir):
    result = create_backup(now=NOW, use_mongodump=False)
    # Every member intact (so only the sidecar can tell), but not the archive that was written.
    _rewrite_member(result.path, "manifest.json", lambda data: data, compresslevel=1)
    assert (
        verify_backup(result.path.rename(result.path.with_name("copy.tar.gz")))["format"] == "cargwin-backup"
    )
    result.path.with_name("copy.tar.gz").rename(result.path)
    with pytest.raises(BackupError, match="does not match .*sha256"):
        verify_backup(result.path)


def test_members_added_to_an_archive_or_escaping_it_are_refused(app, backup_dir, tmp_path):
    result = create_backup(now=NOW, use_mongodump=False)
    result.path.with_name(result.path.name + ".sha256").unlink()
    with tarfile.open(result.path) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers() if info.isfile()]
    for name, message in (("files/uploads/extra.jpg", "does not list"), ("../../escape.txt", "unsafe path")):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data))
            extra = tarfile.TarInfo(name)
            extra.size = 3
            tar.addfile(extra, io.BytesIO(b"bad"))
        altered = tmp_path / f"altered-{len(message)}.tar.gz"
        altered.write_bytes(buffer.getvalue())
        with pytest.raises(BackupError, match=message):
            verify_backup(altered)
    assert not (tmp_path.parent / "escape.txt").exists()


def test_a_truncated_archive_is_refused(app, backup_dir, tmp_path):
    result = create_backup(now=NOW, use_mongodump=False)
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(result.path.read_bytes()[: result.path.stat().st_size // 2])
    with pytest.raises(BackupError, match="cannot be read|no manifest"):
        verify_backup(broken)
    not_ours = tmp_path / "not-ours.tar.gz"
    with tarfile.open(not_ours, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        data = json.dumps({"format": "something-else"}).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match="not a Cargwin backup"):
        verify_backup(not_ours)


def _archive(directory: Path, when: datetime, suffix: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"cargwin-backup-{when:%Y%m%dT%H%M%SZ}{suffix}.tar.gz"
    path.write_bytes(gzip.compress(b"x"))
    path.with_name(path.name + ".sha256").write_text("x\n")
    return path


def test_prune_keeps_the_newest_n(tmp_path):
    archives = [_archive(tmp_path, NOW - timedelta(days=day)) for day in range(6)]
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me")

    deleted = prune_backups(keep=3, max_age_days=0, backup_dir=tmp_path, now=NOW)

    assert sorted(deleted) == sorted(archives[3:])
    assert [info.path for info in list_backups(tmp_path)] == archives[:3]
    assert not any(p.with_name(p.name + ".sha256").exists() for p in archives[3:])
    assert unrelated.exists()


def test_prune_by_age_never_deletes_the_newest_archive(tmp_path):
    recent = _archive(tmp_path, NOW - timedelta(days=2))
    old = _archive(tmp_path, NOW - timedelta(days=40))
    assert prune_backups(keep=0, max_age_days=30, backup_dir=tmp_path, now=NOW) == [old]
    assert [i.path for i in list_backups(tmp_path)] == [recent]

    # Backups stopped two months ago: the last one is still there.
    assert prune_backups(keep=0, max_age_days=30, backup_dir=tmp_path, now=NOW + timedelta(days=60)) == []
    assert recent.exists()


def test_create_applies_the_retention_settings(app, backup_dir, monkeypatch):
    monkeypatch.setitem(app.config, "BACKUP_KEEP", 2)
    monkeypatch.setitem(app.config, "BACKUP_MAX_AGE_DAYS", 30)
    old = _archive(backup_dir, NOW - timedelta(days=45))
    yesterday = _archive(backup_dir, NOW - timedelta(days=1))
    two_days = _archive(backup_dir, NOW - timedelta(days=2))

    result = create_backup(now=NOW, use_mongodump=False)

    assert sorted(result.pruned) == sorted([old, two_days])
    assert [i.path for i in list_backups()] == [result.path, yesterday]


def test_cli_create_and_list(app, backup_dir):
    make_lot()
    runner = app.test_cli_runner()
    created = runner.invoke(args=["backup", "create", "--portable"])
    assert created.exit_code == 0, created.output
    assert "Backup written:" in created.output and "extended-json-canonical" in created.output
    listed = runner.invoke(args=["backup", "list"])
    assert listed.exit_code == 0 and "cargwin-backup-" in listed.output
    verified = runner.invoke(args=["backup", "verify", str(list_backups()[0].path)])
    assert verified.exit_code == 0 and ": OK" in verified.output
    pruned = runner.invoke(args=["backup", "prune", "--keep", "1", "--max-age-days", "0"])
    assert pruned.exit_code == 0 and "0 archives deleted" in pruned.output


FAKE_TOOL = """#!{python}
import json, os, sys
args = sys.argv[1:]
config = next(a.split("=", 1)[1] for a in args if a.startswith("--config="))
with open(os.environ["FAKE_TOOL_LOG"], "a") as log:
    log.write(json.dumps({{"tool": os.path.basename(sys.argv[0]), "args": args,
                           "config": open(config).read(),
                           "config_mode": oct(os.stat(config).st_mode & 0o777)}}) + "\\n")
archive = next(a.split("=", 1)[1] for a in args if a.startswith("--archive="))
if os.path.basename(sys.argv[0]) == "mongodump":
    with open(archive, "wb") as out:
        out.write(b"fake mongodump archive")
"""


def test_mongodump_is_used_when_installed_and_never_sees_the_uri_on_its_command_line(
    app, backup_dir, scratch_db, tmp_path, monkeypatch
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mongodump", "mongorestore"):
        path = bin_dir / tool
        path.write_text(FAKE_TOOL.format(python=sys.executable))
        path.chmod(0o755)
    log = tmp_path / "tools.log"
    monkeypatch.setenv("FAKE_TOOL_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    uri = app.config["MONGODB_URI"]
    source = get_db().client[scratch_db.name + "_src"]
    try:
        result = create_backup(now=NOW, db=source)
        assert result.manifest["database_format"] == "mongodump-archive"
        with tarfile.open(result.path) as tar:
            assert tar.extractfile("db/mongodump.archive.gz").read() == b"fake mongodump archive"

        restore_backup(result.path, db=scratch_db)
    finally:
        source.client.drop_database(source.name)

    dump, restore = (json.loads(line) for line in log.read_text().splitlines())
    assert dump["tool"] == "mongodump" and restore["tool"] == "mongorestore"
    assert f"--db={source.name}" in dump["args"] and "--gzip" in dump["args"]
    assert f"--nsFrom={source.name}.*" in restore["args"] and f"--nsTo={scratch_db.name}.*" in restore["args"]
    for call in (dump, restore):
        assert not any(uri in arg for arg in call["args"])
        assert json.dumps(uri) in call["config"] and call["config_mode"] == "0o600"


def test_restored_audit_entries_keep_their_exact_bytes(app, backup_dir, scratch_db, tmp_path, monkeypatch):
    entry = audit.record(
        "pii_reveal",
        "pii",
        "x",
        actor=audit.Actor(id="u1", email="fm@example.com", role="finance_manager"),
        reason="identity verification",
        details={"field": "ssn", "at": datetime(2026, 1, 1, tzinfo=UTC)},
    )
    options: CodecOptions = CodecOptions(document_class=RawBSONDocument)
    original = get_db().get_collection("audit_logs", codec_options=options).find_one({"_id": entry.pk}).raw
    result = create_backup(now=NOW, use_mongodump=False)
    _restore_into(app, result.path, scratch_db, tmp_path, monkeypatch)
    restored = scratch_db.get_collection("audit_logs", codec_options=options).find_one({"_id": entry.pk}).raw
    assert restored == original
    assert AuditLog.objects.count() == 1
