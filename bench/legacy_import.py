"""Benchmark of ``import-legacy`` on a scaled copy of the synthetic legacy dump.

The company's generator (``make_legacy_dump.py``, loaded by path; nothing of it is copied here) produces the
120-lot dump; this script clones it, with fresh ids, e-mails and slugs per copy and every reference
remapped consistently, up to 10,000 lots, 20,000 users and 20,000 applications (reservations,
subscriptions, appointments and audit entries scale along). It writes the result as a ``mongoexport
--jsonArray`` directory with a manifest, starts a fresh embedded database, and imports it:

1. timed, without tracing (wall time, rows per second, peak RSS of this process);
2. again into the same database: the idempotent re-run, where every row is already present;
3. into a second fresh database under ``tracemalloc``, for the peak of Python allocations.

The dump is generated in a child process so that this process's peak RSS is the importer's.

    .venv/bin/python bench/legacy_import.py [--lots 10000 --users 20000 --applications 20000]
                                            [--generator PATH] [--keep DIR] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_GENERATOR = ROOT.parent / "shared" / "data" / "make_legacy_dump.py"
DUMP_AT = datetime(2025, 11, 14, 3, 0, tzinfo=UTC)

# Collections that follow the applications' scale (one full copy of each per copy of the applications).
WITH_APPLICATIONS = ("reservations", "subscriptions", "appointments")


def load_generator(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_legacy_dump", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the generator at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Cloner:
    """Copies of the generated documents with every id, e-mail and slug made unique per copy.

    ``refs`` says which copy each kind of reference points to, so that (for example) the applications of
    copy 7 belong to the users of copy 7 and to lots of an existing lot copy.
    """

    def __init__(self, gen: ModuleType, collections: dict[str, list[dict[str, Any]]]) -> None:
        self.gen = gen
        self.kind: dict[str, str] = {}
        for name, docs in collections.items():
            for doc in docs:
                self.kind[str(doc["_id"])] = name
        self.emails = {user["email"] for user in collections["users"]}
        self.slugs = {lot["slug"] for lot in collections["lots"]}
        self.slugs |= {r["lot_slug"] for r in collections["reservations"]}
        self.slugs |= {
            a["lot_slug"] for app in collections["applications"] for a in app.get("alternatives", [])
        }

    def _id(self, text: str, copy: int) -> str:
        if len(text) == 24 and all(c in "0123456789abcdef" for c in text):
            return text[:8] + hashlib.sha1(f"{text}:{copy}".encode()).hexdigest()[:16]
        return f"{text}-c{copy}"

    def value(self, value: Any, refs: dict[str, int]) -> Any:
        if isinstance(value, dict):
            return {key: self.value(item, refs) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, refs) for item in value]
        if isinstance(value, self.gen.ObjectId):
            copy = refs.get(self.kind.get(value.hex, ""), 0)
            return self.gen.ObjectId(self._id(value.hex, copy)) if copy else value
        if isinstance(value, str):
            if value in self.kind:
                copy = refs.get(self.kind[value], 0)
                return self._id(value, copy) if copy else value
            if value in self.emails and refs.get("users"):
                local, at, domain = value.partition("@")
                return f"{local}+c{refs['users']}@{domain}" if at else f"{value}-c{refs['users']}"
            if value in self.slugs and refs.get("lots"):
                return f"{value}-c{refs['lots']}"
        return value


def scaled(gen: ModuleType, lots: int, users: int, applications: int) -> dict[str, list[dict[str, Any]]]:
    collections, _real_hashes = gen.generate(use_bcrypt=False)
    base = {name: len(docs) for name, docs in collections.items()}
    cloner = Cloner(gen, collections)
    lot_copies = math.ceil(lots / base["lots"])
    full_lot_copies = max(1, lots // base["lots"])  # only complete copies are referenced
    user_copies = math.ceil(users / base["users"])
    app_copies = math.ceil(applications / base["applications"])
    full_app_copies = max(1, applications // base["applications"])
    if app_copies > user_copies:
        raise SystemExit("need at least as many user copies as application copies")
    plan = {
        "users": user_copies,
        "lots": lot_copies,
        "applications": app_copies,
        **{name: full_app_copies for name in WITH_APPLICATIONS},
        "audit_logs": full_lot_copies,
        "user_sessions": 1,
        "status_checks": 1,
    }
    limits = {"users": users, "lots": lots, "applications": applications}
    out: dict[str, list[dict[str, Any]]] = {}
    for name, copies in plan.items():
        docs: list[dict[str, Any]] = []
        for copy in range(copies):
            own_lot_copy = copy if name == "lots" else copy % full_lot_copies
            refs = {
                "users": copy,
                "lots": own_lot_copy,
                "applications": copy,
                "reservations": copy,
                "subscriptions": copy,
                "appointments": copy,
                "audit_logs": copy,
                "user_sessions": copy,
                "status_checks": copy,
            }
            for doc in collections[name]:
                clone = cloner.value(doc, refs) if copy else doc
                if name == "applications" and copy and clone.get("pickup_slot"):
                    # One booking per slot: later copies pick up in later weeks.
                    clone["pickup_slot"] = clone["pickup_slot"] + timedelta(weeks=copy)
                docs.append(clone)
        out[name] = docs[: limits.get(name, len(docs))]
    return out


def write_dump(gen: ModuleType, collections: dict[str, list[dict[str, Any]]], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "generator": "bench/legacy_import.py (scaled make_legacy_dump.py)",
        "collections": {},
    }
    for name, docs in collections.items():
        text = gen.dump_collection(docs, False)
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
        manifest["collections"][name] = {
            "file": f"{name}.json",
            "count": len(docs),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def generate_into(args: argparse.Namespace, directory: Path) -> None:
    """Run in a child process: build the scaled dump and write it."""
    gen = load_generator(args.generator)
    write_dump(gen, scaled(gen, args.lots, args.users, args.applications), directory)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_benchmark(args: argparse.Namespace, directory: Path) -> None:
    from app import create_app
    from app.db import connect_mongo, get_db
    from app.embedded import EmbeddedServer
    from app.migrations_runner import apply_pending
    from app.services.legacy_import import import_legacy

    state = Path(tempfile.mkdtemp(prefix="bench-legacy-"))
    servers = []
    mongo = EmbeddedServer("mongodb", data_dir=state / "db", state_dir=state)
    mongo_uri = mongo.uri(mongo.start())
    servers.append(mongo)
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        redis = EmbeddedServer("redis", data_dir=state / "redis", state_dir=state)
        redis_url = redis.uri(redis.start())
        servers.append(redis)
    try:
        app = create_app(
            {
                "APP_ENV": "test",
                "MONGODB_URI": mongo_uri,
                "MONGODB_DB": "bench_a",
                "REDIS_URL": redis_url,
                "VAR_DIR": str(state / "var"),
            }
        )
        files = sorted(directory.glob("*.json"))
        size = sum(p.stat().st_size for p in files)
        counts = json.loads((directory / "manifest.json").read_text())["collections"]
        rows = sum(info["count"] for info in counts.values())
        print(f"dump: {directory} ({size / 1e6:.1f} MB, {rows} rows)")
        print("  " + ", ".join(f"{name} {info['count']}" for name, info in counts.items()))
        with app.app_context():
            apply_pending(get_db(), echo=lambda _m: None)
            rss_before = _rss_mb()
            started = time.perf_counter()
            report = import_legacy(directory, now=DUMP_AT, batch_size=args.batch_size)
            elapsed = time.perf_counter() - started
            rss_after = _rss_mb()
            print(
                f"\nimport: {elapsed:.1f} s, {rows / elapsed:,.0f} rows/s; peak RSS {rss_after:.0f} MB "
                f"(before the import {rss_before:.0f} MB)"
            )
            for line in report.summary_lines()[: len(report.collections) + 1 + len(report.side_records)]:
                print("  " + line)
            print(f"  {len(report.skipped)} rows skipped, {len(report.notes)} adjustments")

            started = time.perf_counter()
            again = import_legacy(directory, now=DUMP_AT, batch_size=args.batch_size)
            print(
                f"\nre-run (every row already present): {time.perf_counter() - started:.1f} s, "
                f"{again.total_imported} rows written"
            )

            connect_mongo(mongo_uri, "bench_b")
            from app.db import reset_after_fork

            reset_after_fork()  # documents cache their collection: point them at the second database
            apply_pending(get_db(), echo=lambda _m: None)
            tracemalloc.start()
            started = time.perf_counter()
            import_legacy(directory, now=DUMP_AT, batch_size=args.batch_size)
            traced = time.perf_counter() - started
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"\ntracemalloc: peak {peak / 1e6:.1f} MB of Python allocations during the import "
                f"({traced:.1f} s with tracing on)"
            )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--applications", type=int, default=20_000)
    parser.add_argument("--generator", type=Path, default=DEFAULT_GENERATOR)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="write the scaled dump here and keep it")
    parser.add_argument("--write-dump", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.write_dump:
        generate_into(args, args.write_dump)
        return 0
    if not args.generator.is_file():
        raise SystemExit(f"generator not found: {args.generator} (pass --generator)")
    with tempfile.TemporaryDirectory(prefix="legacy-dump-") as scratch:
        directory = args.keep or Path(scratch) / "dump"
        started = time.perf_counter()
        child = [
            sys.executable,
            __file__,
            "--write-dump",
            str(directory),
            "--generator",
            str(args.generator),
            "--lots",
            str(args.lots),
            "--users",
            str(args.users),
            "--applications",
            str(args.applications),
        ]
        subprocess.run(child, check=True)
        print(f"generated in {time.perf_counter() - started:.1f} s")
        run_benchmark(args, directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
