"""Benchmark of the public catalogue: ``GET /api/cars`` and ``GET /api/cars/{slug}``.

What it does, in one run:

1. starts an embedded MongoDB-compatible server and an embedded Redis in a temporary directory, applies the
   migrations and seeds 1,000 published lots (with images and variants, like real ones);
2. serves the real application with gunicorn (2 sync workers, ``wsgi:app``);
3. saves the exact bytes the app returns for the list and for one detail, and serves them from a bare Flask
   app (one route each, no extensions) with the same gunicorn settings: the framework ceiling;
4. drives each endpoint with concurrent client processes for a fixed time and prints requests per second
   and p50/p99 latency, app next to ceiling.

The rate limits are switched off for the run (``RATELIMIT_ENABLED=false``): 120 requests a minute per
address would otherwise end the benchmark; in production they add one Redis round trip per request.
``LOG_LEVEL=WARNING`` keeps the per-request log line out of both apps, so the comparison is the framework
and our code; the line costs a few microseconds more in production.

Usage::

    .venv/bin/python -m bench.api_cars [--seconds 10] [--clients 4] [--lots 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from flask import Flask, Response

from app.config import BASE_DIR
from app.embedded import EmbeddedServer, free_port

MAKES = {
    "Toyota": ["Camry", "Corolla", "RAV4", "Highlander", "Tacoma"],
    "Honda": ["Civic", "Accord", "CR-V", "Pilot", "HR-V"],
    "Kia": ["K5", "Sportage", "Telluride", "Niro", "Sorento"],
    "Hyundai": ["Elantra", "Sonata", "Tucson", "Santa Fe", "Ioniq 5"],
    "Lexus": ["ES", "RX", "NX", "IS", "GX"],
    "BMW": ["330i", "X3", "X5", "i4", "530i"],
}
TRIMS = ["", "SE", "LE", "XLE", "Sport", "Limited", "Premium", "Touring"]


# --------------------------------------------------------------------------------------------------------
# The bare ceiling app (served by gunicorn as ``bench.api_cars:bare_app()``)


def bare_app() -> Flask:
    """Two routes returning the saved bytes of the real responses, with the same content type."""
    app = Flask("bare")
    list_body = Path(os.environ["BENCH_LIST_FILE"]).read_bytes()
    detail_body = Path(os.environ["BENCH_DETAIL_FILE"]).read_bytes()

    @app.get("/bare/cars")
    def cars() -> Response:
        return Response(list_body, mimetype="application/json")

    @app.get("/bare/car")
    def car() -> Response:
        return Response(detail_body, mimetype="application/json")

    return app


# --------------------------------------------------------------------------------------------------------
# Set-up


def seed_lots(count: int) -> str:
    """Insert ``count`` published lots in one bulk write; return one slug to ask for."""
    from app.models import Lot
    from app.models.base import utcnow
    from app.models.lot import CompetitorPrice, CompetitorPrices, FinanceTerms, LeaseTerms, LotImage
    from app.services import catalog
    from app.services.slugs import lot_slug_base

    now = utcnow()
    lots = []
    pairs = [(make, model) for make, models in MAKES.items() for model in models]
    for n in range(count):
        make, model = pairs[n % len(pairs)]
        trim = TRIMS[n % len(TRIMS)]
        year = 2025 + n % 2
        msrp = 25000 + (n * 137) % 40000
        slug = f"{lot_slug_base(year, make, model, trim)}-{n + 1}"
        images = [
            LotImage(
                image_id=f"{n}-{i}",
                original=f"images/original/{n}-{i}.jpg",
                variants={
                    v: f"images/processed/{n}-{i}_{v}.jpg" for v in ("thumbnail", "medium", "large", "hero")
                },
                is_hero=i == 0,
                position=i,
                processing_status="ready",
            )
            for i in range(4)
        ]
        lots.append(
            Lot(
                make=make,
                model=model,
                year=year,
                trim=trim,
                vin=None,
                engine="2.5L I4",
                transmission="AT",
                drivetrain="FWD",
                exterior_color="White",
                interior_color="Black",
                description=f"{year} {make} {model} {trim} at a negotiated fleet price, no dealer add-ons. "
                * 3,
                msrp=Decimal(msrp),
                discount=Decimal(1500 + n % 3000),
                dealer_addons=Decimal(1800),
                fees_hint=Decimal(2200),
                lease=LeaseTerms(
                    monthly=Decimal(250 + n % 400),
                    due_at_signing=Decimal(2999),
                    term_months=36,
                    miles_per_year=10000,
                    incentives=Decimal(500),
                ),
                finance=FinanceTerms(apr=Decimal("4.9"), term_months=60, down_payment=Decimal(3000)),
                competitor_prices=CompetitorPrices(
                    autobandit=CompetitorPrice(
                        monthly=Decimal(300 + n % 400), due_at_signing=Decimal(3500), term=36, updated_at=now
                    )
                ),
                images=images,
                status="published",
                published_at=now,
                offer_ends_at=now.replace(microsecond=0),
                slug=slug,
            )
        )
    Lot.objects.insert(lots, load_bulk=False)
    catalog.invalidate()
    return lots[count // 2].slug


def start_gunicorn(target: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", target]
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=handle, stderr=handle)


def wait_for(port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path}")


def fetch(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {body[:200]!r}")
    return body


# --------------------------------------------------------------------------------------------------------
# Load


def _client(port: int, path: str, seconds: float, queue: multiprocessing.Queue) -> None:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            # gunicorn's sync workers close the connection after each response, as they do in production.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 200:
                errors += 1
                continue
        except OSError:
            errors += 1
            continue
        latencies.append(time.perf_counter() - started)
    queue.put((latencies, errors))


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    size: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def drive(name: str, port: int, path: str, seconds: float, clients: int, size: int) -> Result:
    for _ in range(20):  # warm-up: imports, caches, connection pools
        fetch(port, path)
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_client, args=(port, path, seconds, queue)) for _ in range(clients)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    outcomes = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(latency for sample, _ in outcomes for latency in sample)
    errors = sum(errors for _, errors in outcomes)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return Result(name, len(latencies), errors, elapsed, quantiles[49] * 1000, quantiles[98] * 1000, size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each scenario")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--lots", type=int, default=1000, help="published lots to seed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cargwin-bench-") as tmp:
        base = Path(tmp)
        mongo = EmbeddedServer("mongodb", data_dir=base / "db", state_dir=base / "state-db")
        redis_server = EmbeddedServer("redis", data_dir=base / "redis", state_dir=base / "state-redis")
        for server in (mongo, redis_server):
            server.state_dir.mkdir(parents=True, exist_ok=True)
        processes: list[subprocess.Popen] = []
        try:
            mongo_uri = mongo.uri(mongo.start())
            redis_uri = redis_server.uri(redis_server.start())
            env = {
                **os.environ,
                "APP_ENV": "development",
                "MONGODB_URI": mongo_uri,
                "MONGODB_DB": "cargwin_bench",
                "REDIS_URL": redis_uri,
                "VAR_DIR": str(base / "var"),
                "RATELIMIT_ENABLED": "false",
                "METRICS_ENABLED": "false",
                "LOG_LEVEL": "WARNING",
            }
            os.environ.update(env)

            from app import create_app
            from app.db import get_db
            from app.migrations_runner import apply_pending

            app = create_app()
            with app.app_context():
                apply_pending(get_db(), echo=lambda _msg: None)
                slug = seed_lots(args.lots)

            app_port, bare_port = free_port(), free_port()
            processes.append(start_gunicorn("wsgi:app", app_port, env, base / "gunicorn-app.log"))
            wait_for(app_port, "/api/health")
            list_body = fetch(app_port, "/api/cars")
            detail_body = fetch(app_port, f"/api/cars/{slug}")
            assert len(json.loads(list_body)) == args.lots
            (base / "list.json").write_bytes(list_body)
            (base / "detail.json").write_bytes(detail_body)
            bare_env = {
                **env,
                "BENCH_LIST_FILE": str(base / "list.json"),
                "BENCH_DETAIL_FILE": str(base / "detail.json"),
            }
            processes.append(
                start_gunicorn("bench.api_cars:bare_app()", bare_port, bare_env, base / "gunicorn-bare.log")
            )
            wait_for(bare_port, "/bare/car")

            print(
                f"Seeded {args.lots} published lots; list body {len(list_body):,} bytes, detail {len(detail_body):,} bytes."
            )
            print(
                f"gunicorn, 2 sync workers each; {args.clients} client processes; {args.seconds:.0f} s per scenario.\n"
            )
            results = [
                drive(
                    "GET /api/cars (app)", app_port, "/api/cars", args.seconds, args.clients, len(list_body)
                ),
                drive(
                    "same bytes, bare Flask",
                    bare_port,
                    "/bare/cars",
                    args.seconds,
                    args.clients,
                    len(list_body),
                ),
                drive(
                    "GET /api/cars/{slug} (app)",
                    app_port,
                    f"/api/cars/{slug}",
                    args.seconds,
                    args.clients,
                    len(detail_body),
                ),
                drive(
                    "same bytes, bare Flask",
                    bare_port,
                    "/bare/car",
                    args.seconds,
                    args.clients,
                    len(detail_body),
                ),
            ]
            print(f"{'scenario':<32} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
            for result in results:
                print(
                    f"{result.name:<32} {result.requests:>9,} {result.rps:>9.1f} {result.p50_ms:>8.2f}"
                    f" {result.p99_ms:>8.2f} {result.errors:>7}"
                )
            for app_result, ceiling in (results[0], results[1]), (results[2], results[3]):
                print(
                    f"{app_result.name}: {100 * app_result.rps / ceiling.rps:.0f}% of the bare-Flask ceiling"
                )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
            redis_server.stop()
            mongo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
