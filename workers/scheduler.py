"""The scheduler: periodic jobs declared as data, enqueued by exactly one process."""

from __future__ import annotations

import logging

from flask import current_app
from rq.cron import CronScheduler

from app.db import get_redis

log = logging.getLogger(__name__)

# (dotted job path, queue, interval seconds). Filled in by the periodic-jobs work.
PERIODIC_JOBS: tuple[tuple[str, str, int], ...] = ()


def run_scheduler() -> None:
    scheduler = CronScheduler(connection=get_redis(), logging_level=current_app.config["LOG_LEVEL"])
    for path, queue, interval in PERIODIC_JOBS:
        scheduler.register(func=None, queue_name=queue, interval=interval, name=path)  # type: ignore[arg-type]
    log.info("scheduler started with %d periodic jobs", len(PERIODIC_JOBS))
    scheduler.start()
