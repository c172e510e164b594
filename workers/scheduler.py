"""The scheduler: periodic jobs declared as data, enqueued by exactly one process (business rules §15.2).

``PERIODIC_JOBS`` lists every periodic job once: a stable name, the job's dotted path (declared in
``app.tasks.JOBS`` with its queue, timeouts and TTLs), how often it runs and at which offset. Time is cut
into slots aligned on those intervals (every minute at :00, every five minutes, daily at 10:30 UTC...); the
job of a slot has the deterministic id ``periodic-<name>-<slot start>``.

Exactly one scheduler enqueues: :class:`CargwinScheduler` (an ``rq.cron.CronScheduler``, so ``rq``'s cron
monitoring sees it) takes a Redis lock with a short TTL and renews it on every tick; a second scheduler
process waits on standby and takes over when the lock lapses (the first stopped or died). As a second line
of defence, each slot is claimed in Redis (``SET NX``) before its job is enqueued, so even two schedulers
that both believed they lead, or a restart inside a slot, enqueue a slot's job once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.cron import CronJob, CronScheduler
from rq.exceptions import StopRequested

from app.tasks import JOBS

log = logging.getLogger(__name__)

LOCK_KEY = "cargwin:scheduler:leader"
SLOT_KEY = "cargwin:periodic:{name}:{slot}"
LOCK_TTL_SECONDS = 30
POLL_SECONDS = 5.0
MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job. ``every`` and ``offset`` are seconds; slots start at ``k * every + offset`` UTC."""

    name: str
    path: str
    every: int
    offset: int = 0
    enabled: Callable[[Mapping[str, Any]], bool] | None = None
    every_from: Callable[[Mapping[str, Any]], int] | None = None  # interval read from settings

    def interval(self, config: Mapping[str, Any]) -> int:
        return self.every_from(config) if self.every_from else self.every

    def is_enabled(self, config: Mapping[str, Any]) -> bool:
        return self.enabled(config) if self.enabled else True


def _scrape_hours(config: Mapping[str, Any]) -> int:
    return int(config.get("SCRAPER_INTERVAL_HOURS") or 0)


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("promote-scheduled-lots", "workers.jobs.periodic.promote_scheduled_lots", every=MINUTE),
    PeriodicJob("outbox-sweep", "workers.jobs.notifications.sweep_outbox", every=MINUTE),
    PeriodicJob("archive-expired-offers", "workers.jobs.periodic.archive_expired_offers", every=5 * MINUTE),
    PeriodicJob("expire-reservations", "workers.jobs.periodic.expire_reservations", every=5 * MINUTE),
    PeriodicJob(
        "pii-reveal-anomaly-check",
        "workers.jobs.periodic.pii_reveal_anomaly_check",
        every=HOUR,
        offset=5 * MINUTE,
    ),
    PeriodicJob(
        "purge-expired-tokens", "workers.jobs.periodic.purge_expired_tokens", every=HOUR, offset=20 * MINUTE
    ),
    # Daily jobs at night in California (10:30 / 11:00 UTC is 02:30-04:00 Pacific).
    PeriodicJob(
        "retention-purge", "workers.jobs.periodic.retention_purge", every=DAY, offset=10 * HOUR + 30 * MINUTE
    ),
    PeriodicJob("purge-job-records", "workers.jobs.periodic.purge_job_records", every=DAY, offset=11 * HOUR),
    PeriodicJob(
        "competitor-scrape",
        "workers.jobs.scraper.start_scheduled_scrape",
        every=DAY,
        offset=12 * HOUR,
        enabled=lambda config: _scrape_hours(config) > 0,
        every_from=lambda config: max(1, _scrape_hours(config)) * HOUR,
    ),
)


def slot_start(moment: datetime, every: int, offset: int = 0) -> datetime:
    """The start of the slot containing ``moment``."""
    epoch = int(moment.timestamp())
    start = (epoch - offset) // every * every + offset
    return datetime.fromtimestamp(start, UTC)


def periodic_job_id(name: str, slot: datetime) -> str:
    return f"periodic-{name}-{slot.strftime('%Y%m%dT%H%M%SZ')}"


class SlotCronJob(CronJob):
    """A cron job that runs once per aligned slot, under a deterministic job id, with its declared spec."""

    def __init__(self, job: PeriodicJob, interval: int) -> None:
        spec = JOBS[job.path]
        super().__init__(
            queue_name=spec.queue,
            func_name=job.path,
            interval=interval,
            job_timeout=spec.job_timeout,
            result_ttl=spec.result_ttl,
            failure_ttl=spec.failure_ttl,
            name=job.name,
        )
        self.periodic = job
        self.offset = job.offset % interval
        self.next_enqueue_time = slot_start(datetime.now(UTC), interval, self.offset)

    def get_next_enqueue_time(self) -> datetime:
        base = self.latest_enqueue_time or datetime.now(UTC)
        assert self.interval is not None
        return slot_start(base, self.interval, self.offset) + timedelta(seconds=self.interval)

    def should_run(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return self.next_enqueue_time is not None and now >= self.next_enqueue_time

    def enqueue_slot(self, connection: Redis, now: datetime) -> str | None:
        """Enqueue this slot's job unless the slot was already claimed; returns the job id if enqueued."""
        assert self.interval is not None
        slot = slot_start(now, self.interval, self.offset)
        job_id = periodic_job_id(self.name, slot)
        marker = SLOT_KEY.format(name=self.name, slot=int(slot.timestamp()))
        if not connection.set(marker, job_id, nx=True, ex=max(2 * self.interval, 3600)):
            return None
        try:
            Queue(self.queue_name, connection=connection).enqueue(
                self.func_name,
                kwargs={"scheduled_for": slot.isoformat()},
                job_id=job_id,
                description=f"{self.name} ({slot.isoformat()})",
                **self.job_options,
            )
        except Exception:
            connection.delete(marker)  # let the next tick try this slot again
            raise
        return job_id


class CargwinScheduler(CronScheduler):
    """The one scheduler process: leader lock, slot-aligned periodic jobs, rq cron registry membership."""

    def __init__(
        self,
        connection: Redis,
        config: Mapping[str, Any],
        *,
        jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS,
        name: str = "",
        logging_level: str | int = logging.INFO,
    ) -> None:
        name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        super().__init__(connection=connection, logging_level=logging_level, name=name)
        self.config = config
        self.leading = False
        for job in jobs:
            if job.path not in JOBS:
                raise KeyError(f"periodic job {job.name}: {job.path} is not declared in app.tasks.JOBS")
            if job.is_enabled(config):
                self._cron_jobs.append(SlotCronJob(job, job.interval(config)))

    # ---------------------------------------------------------------------------------------- leadership

    def try_lead(self) -> bool:
        """Take the leader lock if it is free (or already ours)."""
        if self.connection.set(LOCK_KEY, self.name, nx=True, ex=LOCK_TTL_SECONDS):
            return True
        return self.renew()

    def renew(self) -> bool:
        """Extend the lock if we still hold it (atomically: never extend another scheduler's lock)."""
        script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
        return bool(self.connection.eval(script, 1, LOCK_KEY, self.name, LOCK_TTL_SECONDS))

    def release(self) -> None:
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
        )
        self.connection.eval(script, 1, LOCK_KEY, self.name)

    def current_leader(self) -> str | None:
        value = self.connection.get(LOCK_KEY)
        return value.decode() if isinstance(value, bytes) else value

    def become_leader(self) -> bool:
        if not self.try_lead():
            return False
        if not self.leading:
            self.leading = True
            self.register_birth()
            self.log.info("scheduler %s leads with %d periodic job(s)", self.name, len(self._cron_jobs))
        return True

    def step_down(self) -> None:
        if self.leading:
            self.leading = False
            self.register_death()
            self.release()

    # --------------------------------------------------------------------------------------------- ticks

    def tick(self, now: datetime | None = None) -> list[str]:
        """Enqueue every due slot (only while leading); returns the job ids enqueued."""
        if not self.leading:
            return []
        now = now or datetime.now(UTC)
        enqueued: list[str] = []
        for job in self._cron_jobs:
            if not isinstance(job, SlotCronJob) or not job.should_run(now):
                continue
            try:
                job_id = job.enqueue_slot(self.connection, now)
            except Exception:  # noqa: BLE001 - one job's enqueue failure must not stop the others
                self.log.exception("could not enqueue periodic job %s", job.name)
                continue
            job.set_enqueue_time(now)
            if job_id:
                enqueued.append(job_id)
        if enqueued:
            self.save()
        return enqueued

    def run(self, stop: threading.Event | None = None, poll: float = POLL_SECONDS) -> None:
        """Lead (or wait to lead) and tick until stopped (SIGINT/SIGTERM, or ``stop`` set)."""
        stop = stop or threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._request_stop)
            signal.signal(signal.SIGTERM, self._request_stop)
        waiting_logged = False
        try:
            while not stop.is_set():
                if not self.leading:
                    if not self.become_leader():
                        if not waiting_logged:
                            self.log.info(
                                "scheduler %s on standby: %s holds the lock", self.name, self.current_leader()
                            )
                            waiting_logged = True
                        stop.wait(poll)
                        continue
                    waiting_logged = False
                elif not self.renew():
                    self.log.warning("scheduler %s lost the leader lock; standing by", self.name)
                    self.leading = False
                    self.register_death()
                    continue
                self.tick()
                self.heartbeat()
                stop.wait(min(poll, max(self.calculate_sleep_interval(), 0.2)))
        except (KeyboardInterrupt, StopRequested):
            self.log.info("scheduler %s stopping", self.name)
        finally:
            self.step_down()


def run_scheduler() -> None:
    """``flask --app wsgi scheduler``: run until stopped; a second process waits on standby."""
    from flask import current_app

    from app.db import get_redis

    scheduler = CargwinScheduler(
        get_redis(), current_app.config, logging_level=current_app.config.get("LOG_LEVEL", "INFO")
    )
    log.info("scheduler %s starting (%d periodic jobs)", scheduler.name, len(scheduler.get_jobs()))
    scheduler.run()
