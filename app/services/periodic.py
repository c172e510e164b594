"""Housekeeping the scheduler runs (business rules §12.2, §15): token and job-record purges, and the hourly
check for staff who reveal too many sensitive values.

The reveal check shares its counting and its alert with the back office, which alerts as the threshold is
crossed: both go through :func:`alert_pii_reveal_burst` under :func:`pii_reveal_burst_key`, so admins get
one message per staff member and hour for a burst, whichever path sees it first.

The lot, reservation and outbox jobs call their owners' services directly (``lots.promote_due_scheduled``,
``lots.archive_expired_offers``, ``reservations.expire_due``, ``notifications.sweep``); retention lives in
:mod:`app.services.retention`.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from app.models import AlertDailyCount, AuditLog, MagicLinkToken, PreviewToken, ScrapeRun
from app.models.base import as_utc, utcnow
from app.tasks import QUEUE_NAMES

log = logging.getLogger(__name__)

SCRAPE_RUN_KEEP = timedelta(days=180)
DAILY_COUNT_KEEP = timedelta(days=7)
PII_REVEAL_ACTIONS = ("pii_reveal", "copy_to_fleet")
PII_BURST_WINDOW = timedelta(hours=1)


def purge_expired_tokens(now: datetime | None = None) -> dict[str, int]:
    """Delete preview and magic-link tokens past their lifetime (§15.1: kept until expiry).

    Their TTL indexes normally remove them; this sweep keeps the rule true on servers where the TTL monitor
    is slow or absent. The API's revoked-token records are purged by ``tokens.purge_expired`` when present.
    """
    now = now or utcnow()
    counts = {
        "preview_tokens": PreviewToken.objects(expires_at__lte=now).delete(),
        "magic_link_tokens": MagicLinkToken.objects(purge_at__lte=now).delete(),
    }
    try:
        tokens = importlib.import_module("app.services.tokens")
    except ImportError:
        tokens = None
    purge = getattr(tokens, "purge_expired", None)
    if callable(purge):
        counts["revoked_tokens"] = int(purge(now) or 0)
    log.info("purged expired tokens: %s", counts)
    return counts


def purge_job_records(now: datetime | None = None) -> dict[str, int]:
    """Drop old job records: RQ's expired registry entries, scraper runs older than 180 days, daily alert
    counters older than a week."""
    from rq.registry import clean_registries

    from app.tasks import get_queue

    now = now or utcnow()
    for name in QUEUE_NAMES:
        clean_registries(get_queue(name))
    counts = {
        "scrape_runs": ScrapeRun.objects(
            created_at__lte=now - SCRAPE_RUN_KEEP, status__in=("succeeded", "guarded", "failed")
        ).delete(),
        "alert_daily_counts": AlertDailyCount.objects(
            day__lt=(now - DAILY_COUNT_KEEP).date().isoformat()
        ).delete(),
    }
    log.info("purged old job records: %s", counts)
    return counts


def _reveal_weight(entry: dict[str, Any]) -> int:
    """A reveal shows one value; "copy to fleet" counts as a reveal of every field it contains (§12.2)."""
    if entry.get("action") != "copy_to_fleet":
        return 1
    details = entry.get("details") or {}
    fields = details.get("fields") or list((entry.get("changes") or {}).keys())
    return max(1, len(fields) if isinstance(fields, list | tuple) else 1)


def pii_reveal_anomalies(hour_end: datetime, threshold: int | None = None) -> dict[str, int]:
    """Staff who revealed more than ``threshold`` values within any 60 minutes ending in the hour before
    ``hour_end``: ``{actor_id: the highest count}``.

    Looking back two hours and sliding a 60-minute window catches bursts that straddle an hour boundary; a
    window is judged by the run covering its end, so each burst is reported once per hour it continues.
    """
    threshold = threshold if threshold is not None else pii_reveal_threshold()
    window = PII_BURST_WINDOW
    entries = AuditLog._get_collection().find(
        {
            "action": {"$in": list(PII_REVEAL_ACTIONS)},
            "timestamp": {"$gte": hour_end - 2 * window, "$lt": hour_end},
            "actor_id": {"$nin": [None, "system"]},
        },
        {"actor_id": 1, "timestamp": 1, "action": 1, "details": 1, "changes": 1},
    )
    by_actor: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for entry in entries:
        by_actor[entry["actor_id"]].append((as_utc(entry["timestamp"]), _reveal_weight(entry)))
    flagged: dict[str, int] = {}
    for actor_id, reveals in by_actor.items():
        reveals.sort()
        start, total, best = 0, 0, 0
        for moment, weight in reveals:
            total += weight
            while reveals[start][0] <= moment - window:
                total -= reveals[start][1]
                start += 1
            if moment >= hour_end - window:
                best = max(best, total)
        if best > threshold:
            flagged[actor_id] = best
    return flagged


def pii_reveal_threshold() -> int:
    """Reveals by one staff member within 60 minutes that are still normal (§12.2); one more alerts."""
    return int(current_app.config.get("PII_REVEAL_ALERT_THRESHOLD", 20))


def pii_burst_hour(moment: datetime) -> datetime:
    """The clock hour (UTC) a burst is reported under: the hour in which its 60-minute window ends."""
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


def pii_reveal_burst_key(staff_id: str, moment: datetime) -> str:
    """The event key of "this staff member revealed too much in this hour" (``pii_reveal_burst:<id>:<hour>``).

    Both paths that notice a burst use it, so admins get one message per staff member and hour however
    many times, and by whichever path, the burst is noticed: the back office as the threshold is crossed
    (``application_review``) and the hourly :func:`pii_reveal_anomaly_check` afterwards.
    """
    return f"pii_reveal_burst:{staff_id}:{pii_burst_hour(moment):%Y%m%dT%H}Z"


def pii_reveals_within(staff_id: str, until: datetime, window: timedelta = PII_BURST_WINDOW) -> int:
    """Values revealed by one staff member in the ``window`` ending at ``until`` (a "copy to fleet" counts
    each field it contains): the same count the hourly check slides over the hour."""
    entries = AuditLog._get_collection().find(
        {
            "action": {"$in": list(PII_REVEAL_ACTIONS)},
            "actor_id": staff_id,
            "timestamp": {"$gt": until - window, "$lte": until},
        },
        {"action": 1, "details": 1, "changes": 1},
    )
    return sum(_reveal_weight(entry) for entry in entries)


def alert_pii_reveal_burst(staff_id: str, count: int, moment: datetime) -> list[Any]:
    """E-mail the admins that ``staff_id`` revealed ``count`` values within 60 minutes ending in the hour of
    ``moment``; once per staff member and hour (the key of :func:`pii_reveal_burst_key`), whichever path
    calls first. The message names the staff member and the count, never a value."""
    from app.models import User
    from app.services import messages

    staff = User.objects(pk=staff_id).only("email", "role").first() if len(staff_id) == 24 else None
    who = f"{staff.email} ({staff.role})" if staff else f"user id {staff_id}"
    hour_start = pii_burst_hour(moment)
    hour_end = hour_start + timedelta(hours=1)
    rows = messages.staff_alert(
        f"Unusual number of sensitive-data reveals by {who}",
        f"{who} revealed {count} sensitive values within one hour (the alert threshold is "
        f"{pii_reveal_threshold()}), in a 60-minute window ending between {hour_start.isoformat()} and "
        f"{hour_end.isoformat()} UTC.\n\nReview the audit log (action pii_reveal / copy_to_fleet) for this "
        f"staff member between {(hour_start - PII_BURST_WINDOW).isoformat()} and {hour_end.isoformat()} UTC.",
        event_key=pii_reveal_burst_key(staff_id, moment),
    )
    log.warning("PII reveal anomaly: %s revealed %d values in an hour", staff_id, count)
    return rows


def pii_reveal_anomaly_check(now: datetime | None = None) -> int:
    """The hourly check of §12.2: alert the admins about each staff member over the threshold in the hour
    before ``now``. Returns the number of staff reported. A burst the back office already reported as it
    happened is not reported again (same event key)."""
    now = now or utcnow()
    hour_end = now.replace(minute=0, second=0, microsecond=0)
    flagged = pii_reveal_anomalies(hour_end)
    for actor_id, count in flagged.items():
        alert_pii_reveal_burst(actor_id, count, hour_end - PII_BURST_WINDOW)
    return len(flagged)
