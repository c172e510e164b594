"""The scheduler (business rules §15.2): periodic jobs declared as data, one leader, deterministic ids,
each slot's job enqueued once whatever the number of scheduler processes or restarts."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from rq import Queue
from rq.cron import CronScheduler

from app.db import get_redis
from app.tasks import JOBS
from workers.scheduler import (
    LOCK_KEY,
    PERIODIC_JOBS,
    CargwinScheduler,
    periodic_job_id,
    slot_start,
)

DECLARED = [job for job in PERIODIC_JOBS if job.name != "competitor-scrape"]  # that one needs a setting


def all_jobs():
    redis = get_redis()
    jobs = []
    for name in ("maintenance", "scraper", "notifications"):
        jobs += Queue(name, connection=redis).jobs
    return jobs


def test_every_periodic_job_is_declared_with_its_spec():
    names = [job.name for job in PERIODIC_JOBS]
    assert len(names) == len(set(names))
    for job in PERIODIC_JOBS:
        spec = JOBS[job.path]
        assert spec.job_timeout and spec.failure_ttl and not spec.retry_intervals
    schedule = {job.name: (job.every, job.offset) for job in PERIODIC_JOBS}
    assert schedule["promote-scheduled-lots"] == (60, 0)  # §2.5: every minute
    assert schedule["archive-expired-offers"][0] == 300  # §15.2: every 5 minutes
    assert schedule["expire-reservations"][0] == 300
    assert schedule["pii-reveal-anomaly-check"][0] == 3600  # hourly
    assert schedule["retention-purge"][0] == 86400  # daily


def test_slots_are_aligned_and_ids_deterministic():
    moment = datetime(2026, 3, 10, 14, 7, 31, tzinfo=UTC)
    assert slot_start(moment, 60) == datetime(2026, 3, 10, 14, 7, tzinfo=UTC)
    assert slot_start(moment, 300) == datetime(2026, 3, 10, 14, 5, tzinfo=UTC)
    assert slot_start(moment, 86400, 10 * 3600 + 1800) == datetime(2026, 3, 10, 10, 30, tzinfo=UTC)
    assert slot_start(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), 86400, 37800) == datetime(
        2026, 3, 9, 10, 30, tzinfo=UTC
    )
    assert periodic_job_id("outbox-sweep", slot_start(moment, 60)) == "periodic-outbox-sweep-20260310T140700Z"


def test_two_schedulers_register_one_set_and_enqueue_each_job_once(app):
    redis = get_redis()
    first = CargwinScheduler(redis, app.config, name="scheduler-a")
    second = CargwinScheduler(redis, app.config, name="scheduler-b")
    assert first.become_leader() is True
    assert second.become_leader() is False
    assert redis.get(LOCK_KEY) == b"scheduler-a"

    enqueued = first.tick() + second.tick()
    assert sorted(enqueued) == sorted(
        periodic_job_id(job.name, slot_start(datetime.now(UTC), job.every, job.offset)) for job in DECLARED
    )
    jobs = all_jobs()
    assert sorted(job.func_name for job in jobs) == sorted(job.path for job in DECLARED)
    sweep = next(job for job in jobs if job.func_name == "workers.jobs.notifications.sweep_outbox")
    spec = JOBS[sweep.func_name]
    assert sweep.origin == spec.queue == "maintenance"
    assert (sweep.timeout, sweep.failure_ttl) == (spec.job_timeout, spec.failure_ttl)
    assert sweep.kwargs["scheduled_for"].endswith("+00:00")

    # rq's cron registry knows exactly one scheduler, with the declared jobs.
    [registered] = CronScheduler.all(redis)
    assert registered.name == "scheduler-a"
    assert sorted(job.name for job in registered.get_jobs()) == sorted(job.name for job in DECLARED)

    # A tick again in the same slots enqueues nothing.
    assert first.tick() == []
    # The leader stops; the standby takes over, and does not repeat the slots already enqueued.
    first.step_down()
    assert CronScheduler.all(redis) == []
    assert second.become_leader() is True
    assert second.tick() == []
    assert len(all_jobs()) == len(DECLARED)
    second.step_down()


def test_the_next_slot_is_enqueued_again(app):
    redis = get_redis()
    scheduler = CargwinScheduler(redis, app.config, name="scheduler-c")
    assert scheduler.become_leader()
    # The next tick must not land on a 5-minute boundary, where the 5-minute (and hourly, daily) jobs join in.
    now = datetime.now(UTC)
    while (now + timedelta(minutes=1)).minute % 5 == 0:
        now += timedelta(minutes=1)
    first = scheduler.tick(now)
    later = scheduler.tick(now + timedelta(minutes=1))
    minute_jobs = {job.name for job in DECLARED if job.every == 60}
    assert {job_id.removeprefix("periodic-").rsplit("-", 1)[0] for job_id in later} == minute_jobs
    assert not set(first) & set(later)
    scheduler.step_down()


def test_two_running_scheduler_processes_enqueue_once(app):
    """Two schedulers started side by side (threads here, processes in production)."""
    redis = get_redis()
    stop = threading.Event()
    schedulers = [CargwinScheduler(redis, app.config, name=f"runner-{n}") for n in (1, 2)]
    threads = [threading.Thread(target=s.run, kwargs={"stop": stop, "poll": 0.1}) for s in schedulers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(all_jobs()) < len(DECLARED) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # several more ticks of both
    leaders = [s.name for s in schedulers if s.leading]
    registered = [s.name for s in CronScheduler.all(redis)]
    jobs = all_jobs()
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    assert len(leaders) == 1 and registered == leaders
    # Each periodic job once (a minute boundary crossed during the test adds that minute's slot only).
    paths = [job.func_name for job in jobs]
    assert set(paths) == {job.path for job in DECLARED}
    assert len({job.id for job in jobs}) == len(jobs)
    assert redis.get(LOCK_KEY) is None  # released on stop
    assert CronScheduler.all(redis) == []


def test_the_scrape_runs_on_schedule_only_when_configured(app, monkeypatch):
    redis = get_redis()
    assert "competitor-scrape" not in [job.name for job in CargwinScheduler(redis, app.config).get_jobs()]
    monkeypatch.setitem(app.config, "SCRAPER_INTERVAL_HOURS", 24)
    [scrape] = [
        job for job in CargwinScheduler(redis, app.config).get_jobs() if job.name == "competitor-scrape"
    ]
    assert scrape.interval == 86400 and scrape.queue_name == "scraper"
