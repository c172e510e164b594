"""Competitor scraper jobs: one run, and the scheduled trigger that queues a run."""

from __future__ import annotations

import logging

from app.errors import Conflict
from app.services import audit, scraper
from workers.context import with_app_context

log = logging.getLogger(__name__)


@with_app_context
def run_scrape(run_id: str) -> str | None:
    """Execute one queued scraper run; returns its final status (the run record holds the log)."""
    run = scraper.execute_run(run_id)
    return run.status if run else None


@with_app_context
def start_scheduled_scrape(scheduled_for: str | None = None) -> str | None:
    """Periodic (when ``SCRAPER_INTERVAL_HOURS`` > 0): queue a run unless one is already going."""
    try:
        run = scraper.start_run(actor=audit.SYSTEM, trigger="schedule")
    except Conflict:
        log.info("scheduled scrape skipped: a run is already queued or running")
        return None
    return str(run.pk)
