"""Reading a dump of the old platform's database, one document at a time.

Two shapes are understood:

* ``mongoexport --jsonArray``: one ``<collection>.json`` file per collection holding a JSON array of
  Extended JSON documents (relaxed or canonical). The array is parsed incrementally, so a file of any size
  is read with memory bounded by its largest document.
* ``mongodump``: ``<collection>.bson`` (or ``.bson.gz``) files, read with ``bson.decode_file_iter``. A dump
  directory that holds a single database sub-directory is accepted as well.

Dates come back timezone-aware in UTC: the old application stored UTC without saying so. An optional
``manifest.json`` (written by our synthetic dump generator, not by the MongoDB tools) lists expected counts
and SHA-256 checksums; when present the files are checked against it before anything is imported.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import IO, Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions, DatetimeConversion

READ_CHUNK = 1 << 20

JSON_OPTIONS = json_util.JSONOptions(
    tz_aware=True, tzinfo=UTC, datetime_conversion=DatetimeConversion.DATETIME_CLAMP
)
BSON_OPTIONS: CodecOptions = CodecOptions(
    tz_aware=True, tzinfo=UTC, datetime_conversion=DatetimeConversion.DATETIME_CLAMP
)


class LegacyDumpError(Exception):
    """The dump cannot be read: missing directory, malformed file, checksum mismatch."""


def _object_pairs_hook(pairs: list[tuple[str, Any]]) -> Any:
    return json_util.object_pairs_hook(pairs, JSON_OPTIONS)


_DECODER = json.JSONDecoder(object_pairs_hook=_object_pairs_hook)


def iter_json_array(stream: IO[str], name: str = "<stream>") -> Iterator[dict[str, Any]]:
    """Yield the documents of a JSON array one by one without loading the whole array.

    ``raw_decode`` is retried with more text whenever a document straddles the end of the buffer; the read
    size doubles on each retry so that a single huge document is not re-parsed quadratically.
    """
    buffer = ""
    pos = 0
    eof = False
    chunk = READ_CHUNK

    def fill() -> bool:
        nonlocal buffer, pos, eof, chunk
        if eof:
            return False
        data = stream.read(chunk)
        if not data:
            eof = True
            return False
        buffer = buffer[pos:] + data
        pos = 0
        return True

    def skip_ws() -> None:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(buffer) or not fill():
                return

    skip_ws()
    if pos >= len(buffer):
        return  # an empty file is an empty collection
    if buffer[pos] != "[":
        raise LegacyDumpError(f"{name}: expected a JSON array (mongoexport --jsonArray)")
    pos += 1
    expect_value = True
    while True:
        skip_ws()
        if pos >= len(buffer):
            raise LegacyDumpError(f"{name}: the JSON array is not closed")
        char = buffer[pos]
        if char == "]":
            return
        if char == ",":
            if expect_value:
                raise LegacyDumpError(f"{name}: unexpected ',' in the JSON array")
            pos += 1
            expect_value = True
            continue
        if not expect_value:
            raise LegacyDumpError(f"{name}: expected ',' between documents")
        while True:
            try:
                value, end = _DECODER.raw_decode(buffer, pos)
                break
            except json.JSONDecodeError as exc:
                if not fill():
                    raise LegacyDumpError(f"{name}: malformed JSON near character {exc.pos}") from None
                chunk *= 2
        chunk = READ_CHUNK
        pos = end
        expect_value = False
        if not isinstance(value, dict):
            raise LegacyDumpError(f"{name}: array items must be documents")
        yield value


@dataclass
class CollectionSource:
    """Where one collection of the dump lives."""

    name: str
    path: Path
    kind: str  # "json" or "bson"
    expected_count: int | None = None

    def documents(self) -> Iterator[dict[str, Any]]:
        if self.kind == "json":
            with open(self.path, encoding="utf-8") as stream:
                yield from iter_json_array(stream, self.path.name)
            return
        opener = gzip.open if self.path.name.endswith(".gz") else open
        with opener(self.path, "rb") as stream:
            try:
                yield from bson.decode_file_iter(stream, codec_options=BSON_OPTIONS)
            except bson.errors.InvalidBSON as exc:
                raise LegacyDumpError(f"{self.path.name}: invalid BSON ({exc})") from None


@dataclass
class LegacyDump:
    """The collections found in a dump directory, and what its manifest (if any) says about them."""

    directory: Path
    collections: dict[str, CollectionSource] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None

    def get(self, name: str) -> CollectionSource | None:
        return self.collections.get(name)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(READ_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def open_dump(directory: Path | str, *, verify_manifest: bool = True) -> LegacyDump:
    """Find the collections of a dump directory and check them against its manifest when it has one."""
    root = Path(directory)
    if not root.is_dir():
        raise LegacyDumpError(f"{root} is not a directory")
    dump = LegacyDump(directory=root)
    found = _scan(root)
    if not found:
        # mongodump writes <out>/<database>/<collection>.bson: accept the parent directory too.
        subdirs = [p for p in root.iterdir() if p.is_dir()]
        if len(subdirs) == 1:
            found = _scan(subdirs[0])
    if not found:
        raise LegacyDumpError(f"{root} holds no <collection>.json or <collection>.bson files")
    dump.collections = found
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        try:
            dump.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise LegacyDumpError("manifest.json is not valid JSON") from None
        for name, info in (dump.manifest.get("collections") or {}).items():
            source = found.get(name)
            if source is None:
                raise LegacyDumpError(f"manifest.json lists {name} but the dump has no file for it")
            source.expected_count = info.get("count")
            if verify_manifest and info.get("sha256") and _sha256_file(source.path) != info["sha256"]:
                raise LegacyDumpError(f"{source.path.name} does not match the checksum in manifest.json")
    return dump


def _scan(directory: Path) -> dict[str, CollectionSource]:
    found: dict[str, CollectionSource] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        name = path.name
        if name == "manifest.json" or name.endswith(".metadata.json"):
            continue
        if name.endswith(".json"):
            found[name[: -len(".json")]] = CollectionSource(name[: -len(".json")], path, "json")
        elif name.endswith(".bson") or name.endswith(".bson.gz"):
            stem = name[: -len(".bson")] if name.endswith(".bson") else name[: -len(".bson.gz")]
            found[stem] = CollectionSource(stem, path, "bson")
    return found
