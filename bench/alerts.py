"""Benchmark of the alert fan-out: 10,000 subscriptions, 200 newly published lots.

What it does, in one run:

1. starts a fresh embedded MongoDB-compatible server and an embedded Redis in a temporary directory (or uses
   ``--mongodb-uri`` / ``--redis-url``), applies the migrations (so every declared index exists);
2. seeds customers and 10,000 subscriptions shaped like the site's: "this model" subscriptions from car pages
   (make + model), whole-make ones, model-only ones, multi-make ones, 30 % with a price limit, some with
   Telegram or SMS alerts too, a few inactive or with the new-listing switch off; and 200 published lots of
   the same makes and models;
3. runs the new-listing fan-out of every lot (``alerts.fan_out_new_listing``: what the
   ``workers.jobs.alerts.fan_out_new_listing`` job runs), timing each, and prints the time to compute and
   enqueue every alert, the number of messages written to the outbox and of delivery jobs enqueued, and
   the deliveries the daily cap (5 per customer) dropped.

Usage::

    .venv/bin/python -m bench.alerts [--subscriptions 10000] [--lots 200] [--users 6000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from bson import ObjectId

from app.embedded import EmbeddedServer

CATALOGUE = {
    "Toyota": ["Camry", "Corolla", "RAV4", "Highlander", "Tacoma", "Prius"],
    "Honda": ["Civic", "Accord", "CR-V", "Pilot", "HR-V"],
    "Kia": ["K5", "Sportage", "Telluride", "Niro EV", "Sorento", "EV9"],
    "Hyundai": ["Elantra", "Sonata", "Tucson", "Santa Fe", "IONIQ 5"],
    "Lexus": ["ES", "RX350", "NX", "IS", "GX"],
    "BMW": ["330i", "X3", "X5", "i4", "5 Series"],
    "Mercedes-Benz": ["C-Class", "E-Class", "GLC", "GLE"],
    "Nissan": ["Sentra", "Altima", "Rogue", "Kicks"],
    "Subaru": ["Outback", "Forester", "Crosstrek", "Impreza"],
    "Mazda": ["CX-5", "CX-50", "Mazda3", "CX-90"],
    "Ford": ["Mustang Mach-E", "Escape", "Bronco Sport", "F-150"],
    "Volkswagen": ["Jetta", "Tiguan", "ID.4", "Atlas"],
}
# Popular makes get more subscriptions and more lots, as on the real site.
WEIGHTS = [14, 12, 11, 11, 9, 7, 6, 7, 6, 6, 6, 5]


def start_servers(args: argparse.Namespace, workdir: Path) -> tuple[str, str, list[EmbeddedServer]]:
    servers: list[EmbeddedServer] = []
    mongo_uri, redis_url = args.mongodb_uri, args.redis_url
    if not mongo_uri:
        server = EmbeddedServer("mongodb", data_dir=workdir / "db", state_dir=workdir)
        mongo_uri = server.uri(server.start())
        servers.append(server)
    if not redis_url:
        server = EmbeddedServer("redis", data_dir=workdir / "redis", state_dir=workdir)
        redis_url = server.uri(server.start())
        servers.append(server)
    return mongo_uri, redis_url, servers


def seed(args: argparse.Namespace, rng: random.Random) -> tuple[list[ObjectId], int]:
    """Customers, subscriptions and lots, inserted in bulk; returns the lot ids and the customer count."""
    from app.models import Lot, Subscription, User
    from app.models.lot import FinanceTerms, LeaseTerms, LotImage
    from app.services.slugs import lot_slug_base

    now = datetime.now(UTC)
    users = []
    for n in range(args.users):
        user = User(
            email=f"customer{n}@example.com",
            name=f"Customer {n}",
            role="user",
            language="ru" if n % 7 == 0 else "en",
        )
        user.clean()
        doc = user.to_mongo().to_dict()
        doc["_id"] = ObjectId()
        if n % 6 == 0:
            doc["telegram_chat_id"] = str(100000 + n)
        users.append(doc)
    User._get_collection().insert_many(users)
    user_ids = [doc["_id"] for doc in users]

    makes = list(CATALOGUE)
    subs = []
    for n in range(args.subscriptions):
        make = rng.choices(makes, WEIGHTS)[0]
        shape = rng.random()
        if shape < 0.45:  # "this model", from a car page
            fields = {"makes": [make], "models": [rng.choice(CATALOGUE[make])]}
        elif shape < 0.75:  # the whole make
            fields = {"makes": [make.lower() if n % 5 == 0 else make]}
        elif shape < 0.85:  # model only
            fields = {"models": [rng.choice(CATALOGUE[make])]}
        else:  # two makes, any model
            fields = {"makes": [make, rng.choice(makes)]}
        if rng.random() < 0.3:
            fields["max_price"] = Decimal(rng.choice([25000, 30000, 40000, 55000, 70000]))
        user_id = user_ids[n % len(user_ids)] if n < len(user_ids) else rng.choice(user_ids)
        sub = Subscription(user=user_id, **fields)
        sub.notify_telegram = n % 6 == 0
        if n % 10 == 0:
            sub.phone, sub.notify_sms, sub.sms_consent_status = f"+1949555{n % 10000:04d}", True, "granted"
        sub.is_active = n % 40 != 0
        sub.notify_on_new_listing = n % 50 != 1
        sub.created_at = now - timedelta(days=rng.randrange(1, 300))
        sub.clean()
        subs.append(sub.to_mongo().to_dict())
    Subscription._get_collection().insert_many(subs)

    lots = []
    for n in range(args.lots):
        make = rng.choices(makes, WEIGHTS)[0]
        model = rng.choice(CATALOGUE[make])
        msrp = Decimal(rng.randrange(24000, 80000, 5))
        lot = Lot(
            make=make,
            model=model,
            year=2025,
            trim=f"Trim {n}",
            msrp=msrp,
            discount=Decimal(rng.randrange(500, 5000, 5)),
            dealer_addons=Decimal(2500),
            description="x" * 150,
            lease=LeaseTerms(
                monthly=Decimal(rng.randrange(199, 999)),
                due_at_signing=Decimal(2999),
                term_months=36,
                miles_per_year=10000,
            ),
            finance=FinanceTerms(apr=Decimal("4.9"), term_months=60, down_payment=Decimal(3000)),
            images=[LotImage(image_id=f"i{n}", original=f"images/original/i{n}.jpg", is_hero=True)],
            status="published",
            published_at=now,
            slug=f"{lot_slug_base(2025, make, model, f'Trim {n}')}",
        )
        lot.clean()
        doc = lot.to_mongo().to_dict()
        doc["_id"] = ObjectId()
        lots.append(doc)
    Lot._get_collection().insert_many(lots)
    return [doc["_id"] for doc in lots], len(users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--lots", type=int, default=200)
    parser.add_argument("--users", type=int, default=6_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mongodb-uri", default="", help="use this server instead of a fresh embedded one")
    parser.add_argument("--redis-url", default="", help="use this Redis instead of an embedded one")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="cargwin-bench-alerts-") as tmp:
        workdir = Path(tmp)
        mongo_uri, redis_url, servers = start_servers(args, workdir)
        try:
            return run(args, rng, mongo_uri, redis_url, workdir)
        finally:
            for server in reversed(servers):
                server.stop()


def run(args: argparse.Namespace, rng: random.Random, mongo_uri: str, redis_url: str, workdir: Path) -> int:
    from app import create_app
    from app.db import get_db, get_redis
    from app.migrations_runner import apply_pending
    from app.models import AlertDelivery, Notification
    from app.services import alerts
    from app.tasks import QUEUE_NAMES, get_queue

    app = create_app(
        {
            "APP_ENV": "test",
            "MONGODB_URI": mongo_uri,
            "MONGODB_DB": f"bench_alerts_{ObjectId()}",
            "REDIS_URL": redis_url,
            "VAR_DIR": str(workdir / "var"),
            "LOG_LEVEL": "WARNING",
            "FRONTEND_URL": "https://cargwin.example",
        }
    )
    with app.app_context():
        get_redis().flushdb()
        apply_pending(get_db(), echo=lambda _msg: None)
        t0 = time.perf_counter()
        lot_ids, customers = seed(args, rng)
        seed_seconds = time.perf_counter() - t0

        # 11:00 Pacific: texts are within sending hours, so every channel is enqueued at once.
        now = datetime(2026, 3, 10, 11, tzinfo=ZoneInfo("America/Los_Angeles")).astimezone(UTC)
        timings: list[float] = []
        started = time.perf_counter()
        for lot_id in lot_ids:
            t = time.perf_counter()
            alerts.fan_out_new_listing(lot_id, now=now)
            timings.append(time.perf_counter() - t)
        total = time.perf_counter() - started

        messages = Notification.objects.count()
        by_channel = {c: Notification.objects(channel=c).count() for c in ("email", "sms", "telegram")}
        jobs = sum(get_queue(name).count for name in QUEUE_NAMES)
        told = AlertDelivery.objects(status="queued").count()
        capped = AlertDelivery.objects(status="capped").count()
        # Idempotency: the same 200 events again write nothing.
        again = time.perf_counter()
        repeat = sum(alerts.fan_out_new_listing(lot_id, now=now) for lot_id in lot_ids)
        again = time.perf_counter() - again

    ordered = sorted(timings)
    print(f"alert fan-out benchmark ({'embedded' if not args.mongodb_uri else 'given'} database)")
    print(f"  subscriptions            {args.subscriptions:>10,}  ({customers:,} customers)")
    print(f"  lots published           {len(lot_ids):>10,}")
    print(f"  seeding                  {seed_seconds:>10.2f} s")
    print(f"  compute + enqueue, total {total:>10.2f} s")
    print(f"  per lot: mean            {statistics.mean(timings) * 1000:>10.1f} ms")
    print(
        f"  per lot: p50 / p95 / max {ordered[len(ordered) // 2] * 1000:>6.1f} / {ordered[int(len(ordered) * 0.95)] * 1000:.1f} / {ordered[-1] * 1000:.1f} ms"
    )
    print(f"  customers told (events)  {told:>10,}  capped by the daily limit: {capped:,}")
    print(
        f"  messages in the outbox   {messages:>10,}  (e-mail {by_channel['email']:,}, SMS {by_channel['sms']:,}, Telegram {by_channel['telegram']:,})"
    )
    print(f"  delivery jobs enqueued   {jobs:>10,}")
    print(f"  throughput               {messages / total:>10.0f} messages/s")
    print(f"  same 200 events again    {again:>10.2f} s, {repeat} new messages")
    return 0 if repeat == 0 and jobs == messages else 1


if __name__ == "__main__":
    sys.exit(main())
