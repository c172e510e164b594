"""Background jobs, declared as data and enqueued by dotted name.

The web app and the back office never import ``workers``: they call ``enqueue("workers.jobs....", id)``.
Each job's queue, timeouts, TTLs and retry policy are declared once in ``JOBS``; only idempotent jobs retry.
Jobs take ids, never documents or personal data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rq import Queue, Retry
from rq.job import Job

from app.db import get_redis

log = logging.getLogger(__name__)

QUEUE_NAMES = ("notifications", "images", "scraper", "maintenance", "default")

DAY = 24 * 3600


@dataclass(frozen=True)
class JobSpec:
    queue: str
    job_timeout: int  # seconds; RQ's default (180 s) is too long for most of ours and too short for some
    result_ttl: int = 3600
    failure_ttl: int = 7 * DAY  # RQ keeps failures a year unless told otherwise
    retry_intervals: tuple[int, ...] = ()  # non-empty only for idempotent jobs
    description: str = ""


JOBS: dict[str, JobSpec] = {
    "workers.jobs.notifications.deliver_notification": JobSpec(
        queue="notifications",
        job_timeout=60,
        retry_intervals=(10, 30, 60),
        description="Send one outbox message (idempotent: a sent message is never sent again)",
    ),
    "workers.jobs.alerts.fan_out_new_listing": JobSpec(
        queue="notifications",
        job_timeout=300,
        retry_intervals=(30, 120),
        description="Alert matching subscribers about a lot's first publication (idempotent per user, lot, event)",
    ),
    "workers.jobs.alerts.fan_out_price_drop": JobSpec(
        queue="notifications",
        job_timeout=300,
        retry_intervals=(30, 120),
        description="Alert matching subscribers about a price drop (idempotent per user, lot, event)",
    ),
    "workers.jobs.images.process_lot_image": JobSpec(
        queue="images",
        job_timeout=120,
        retry_intervals=(10, 60),
        description="Produce the thumbnail/medium/large/hero variants of one lot image (idempotent)",
    ),
    "workers.jobs.scraper.run_scrape": JobSpec(
        queue="scraper",
        job_timeout=900,
        description="Read the competitor's deals and store scraped offers (not retried: a run is logged once)",
    ),
    # Periodic jobs (workers/scheduler.py). Not retried: each runs again at its next slot anyway.
    "workers.jobs.notifications.sweep_outbox": JobSpec(
        queue="maintenance",
        job_timeout=300,
        description="Re-enqueue outbox messages stuck in queued/sending; finish interrupted alert fan-outs",
    ),
    "workers.jobs.periodic.promote_scheduled_lots": JobSpec(
        queue="maintenance",
        job_timeout=120,
        description="Publish scheduled lots whose publish_at has passed",
    ),
    "workers.jobs.periodic.archive_expired_offers": JobSpec(
        queue="maintenance",
        job_timeout=120,
        description="Archive published lots whose offer_ends_at has passed",
    ),
    "workers.jobs.periodic.expire_reservations": JobSpec(
        queue="maintenance",
        job_timeout=120,
        description="Expire 48-hour reservations and tell the customers",
    ),
    "workers.jobs.periodic.purge_expired_tokens": JobSpec(
        queue="maintenance",
        job_timeout=120,
        description="Delete expired preview and magic-link tokens",
    ),
    "workers.jobs.periodic.purge_job_records": JobSpec(
        queue="maintenance",
        job_timeout=300,
        description="Clean RQ registries, old scraper runs and alert counters",
    ),
    "workers.jobs.periodic.retention_purge": JobSpec(
        queue="maintenance",
        job_timeout=1800,
        description="Apply the data-retention table (business rules §15.1)",
    ),
    "workers.jobs.periodic.pii_reveal_anomaly_check": JobSpec(
        queue="maintenance",
        job_timeout=120,
        description="Alert admins about staff revealing > 20 values an hour",
    ),
    "workers.jobs.scraper.start_scheduled_scrape": JobSpec(
        queue="scraper",
        job_timeout=60,
        description="Queue a scheduled competitor scraper run",
    ),
}


def get_queue(name: str) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())


def enqueue(path: str, *args: Any, job_id: str | None = None, **kwargs: Any) -> Job:
    """Enqueue a declared job by its dotted path. ``job_id`` makes enqueueing idempotent per business key."""
    spec = JOBS.get(path)
    if spec is None:
        raise KeyError(f"job {path!r} is not declared in app.tasks.JOBS")
    retry = (
        Retry(max=len(spec.retry_intervals), interval=list(spec.retry_intervals))
        if spec.retry_intervals
        else None
    )
    return get_queue(spec.queue).enqueue(
        path,
        *args,
        job_id=job_id,
        job_timeout=spec.job_timeout,
        result_ttl=spec.result_ttl,
        failure_ttl=spec.failure_ttl,
        retry=retry,
        description=spec.description or path,
        **kwargs,
    )
