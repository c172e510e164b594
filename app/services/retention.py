"""The daily retention purge (business rules §15.1), declared as data.

Each :class:`RetentionRule` names a record kind, how long it is kept and why, and the function that
deletes what is past it. :func:`purge` applies every rule, deletes the private files of purged documents
too, writes one log line and one audit entry (``retention_purge``) with the counts, and returns them.

What is deliberately **not** purged here:

* the audit log (5 years): it is append-only and the application's database user has no delete right on
  it (§11); it is trimmed by a privileged maintenance task outside the application;
* customer accounts unused for 2 years: deleting or de-identifying an account is a product and counsel
  decision (§13.1, §16); the purge only counts them in its report so the decision can be made with numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app

from app.models import (
    AlertDelivery,
    Application,
    Appointment,
    ConsentRecord,
    CustomerDocument,
    Lead,
    Notification,
    PickupBooking,
    Reservation,
    User,
)
from app.models.base import utcnow
from app.services import audit

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionRule:
    name: str
    keep: timedelta
    reason: str
    purge: Callable[[datetime], int]  # receives the cutoff; returns the number of records deleted


def _purge_leads(cutoff: datetime) -> int:
    # "2 years after last contact": a handled lead's last contact is when it was handled or updated.
    return Lead.objects(updated_at__lte=cutoff, created_at__lte=cutoff).delete()


def _purge_notifications(cutoff: datetime) -> int:
    return Notification.objects(created_at__lte=cutoff, status__nin=("queued", "sending")).delete()


def _purge_alert_deliveries(cutoff: datetime) -> int:
    return AlertDelivery.objects(created_at__lte=cutoff).delete()


def _purge_consent(cutoff: datetime) -> int:
    """Ledger entries of addresses whose latest entry is older than the cutoff (4 years after last use)."""
    stale = ConsentRecord._get_collection().aggregate(
        [
            {"$group": {"_id": {"c": "$channel", "a": "$address"}, "last": {"$max": "$created_at"}}},
            {"$match": {"last": {"$lte": cutoff}}},
        ]
    )
    deleted = 0
    for group in stale:
        deleted += ConsentRecord.objects(
            channel=group["_id"]["c"], address=group["_id"]["a"], created_at__lte=cutoff
        ).delete()
    return deleted


def _purge_reservations(cutoff: datetime) -> int:
    # Holds that ended without a deal and without a deposit; converted ones live on with their application,
    # deposit-paid ones with the deposit ledger (5 years).
    return Reservation.objects(
        status__in=("expired", "cancelled"), deposit_paid__ne=True, updated_at__lte=cutoff
    ).delete()


def _delete_application(application: Application) -> None:
    root = Path(current_app.config["PRIVATE_UPLOAD_DIR"]).resolve()
    for document in CustomerDocument.objects(application=application.pk):
        path = (root / document.storage_key).resolve()
        if path.parent == root:  # never follow a stored value outside the private directory
            path.unlink(missing_ok=True)
        document.delete()
    Appointment.objects(application=application.pk).delete()
    PickupBooking.objects(application=application.pk).delete()
    application.delete()


def _purge_applications(status: str) -> Callable[[datetime], int]:
    def purge(cutoff: datetime) -> int:
        count = 0
        for application in Application.objects(status=status, updated_at__lte=cutoff).only("id"):
            _delete_application(application)
            count += 1
        return count

    return purge


RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "rejected_applications",
        25 * 30 * DAY + 10 * DAY,  # ≥ 25 months after the decision
        "Regulation B: applications and adverse-action notices ≥ 25 months",
        _purge_applications("rejected"),
    ),
    RetentionRule(
        "completed_applications",
        5 * 365 * DAY + 2 * DAY,
        "Autobroker deal records: 3 years, designed for 5",
        _purge_applications("completed"),
    ),
    RetentionRule(
        "notifications",
        25 * 30 * DAY + 10 * DAY,
        "Customer communications ≥ 2 years (SB 766), with application notices ≥ 25 months (Reg. B)",
        _purge_notifications,
    ),
    RetentionRule(
        "alert_deliveries",
        25 * 30 * DAY + 10 * DAY,
        "Alert bookkeeping follows the messages it describes",
        _purge_alert_deliveries,
    ),
    RetentionRule(
        "consent_records",
        4 * 365 * DAY + DAY,
        "TCPA limitation period: ≥ 4 years after last use",
        _purge_consent,
    ),
    RetentionRule(
        "leads",
        2 * 365 * DAY,
        "Leads and callbacks: 2 years after last contact (GLBA disposal)",
        _purge_leads,
    ),
    RetentionRule(
        "ended_reservations",
        2 * 365 * DAY,
        "Other customer information: disposed ≤ 2 years after last use (GLBA)",
        _purge_reservations,
    ),
)


def purge(now: datetime | None = None) -> dict[str, int]:
    """Apply every rule; returns ``{rule: deleted}`` plus ``inactive_customers`` (counted, not deleted)."""
    now = now or utcnow()
    results: dict[str, int] = {}
    for rule in RULES:
        try:
            results[rule.name] = int(rule.purge(now - rule.keep))
        except Exception:  # noqa: BLE001 - one failing rule must not stop the others; it is logged
            log.exception("retention rule %s failed", rule.name)
            results[rule.name] = -1
    results["inactive_customers"] = User.objects(
        role="user", created_at__lte=now - 2 * 365 * DAY, last_login__not__gte=now - 2 * 365 * DAY
    ).count()
    log.info("retention purge: %s", results)
    audit.record("retention_purge", "system", "retention", actor=audit.SYSTEM, details=results)
    return results
