"""Periodic jobs run by the scheduler (see ``workers.scheduler.PERIODIC_JOBS``).

Each receives ``scheduled_for``, the ISO start of its schedule slot, which is also part of its job id. The
lot and reservation jobs call their owners' services, imported when the job runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.models.base import utcnow
from workers.context import with_app_context


def _slot(scheduled_for: str | None) -> datetime:
    return datetime.fromisoformat(scheduled_for) if scheduled_for else utcnow()


@with_app_context
def promote_scheduled_lots(scheduled_for: str | None = None) -> int:
    """Publish every scheduled lot whose ``publish_at`` has passed (business rules §2.5)."""
    from app.services import lots

    return lots.promote_due_scheduled(utcnow())


@with_app_context
def archive_expired_offers(scheduled_for: str | None = None) -> int:
    """Archive every published lot whose offer has ended (business rules §2.8)."""
    from app.services import lots

    return lots.archive_expired_offers(utcnow())


@with_app_context
def expire_reservations(scheduled_for: str | None = None) -> int:
    """Expire reservations past their 48 hours; the service tells each customer (business rules §4.1)."""
    from app.services import reservations

    return reservations.expire_due(utcnow())


@with_app_context
def purge_expired_tokens(scheduled_for: str | None = None) -> dict[str, int]:
    from app.services import periodic

    return periodic.purge_expired_tokens(utcnow())


@with_app_context
def purge_job_records(scheduled_for: str | None = None) -> dict[str, int]:
    from app.services import periodic

    return periodic.purge_job_records(utcnow())


@with_app_context
def retention_purge(scheduled_for: str | None = None) -> dict[str, Any]:
    from app.services import retention

    return retention.purge(utcnow())


@with_app_context
def pii_reveal_anomaly_check(scheduled_for: str | None = None) -> int:
    """Hourly: the hour judged is the one before the slot, so a late run judges the same hour."""
    from app.services import periodic

    return periodic.pii_reveal_anomaly_check(_slot(scheduled_for))
