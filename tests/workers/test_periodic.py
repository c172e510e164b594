"""Each periodic job's effect, run the way production runs it: the scheduler enqueues the slot's job and a
real worker executes it inside the application."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rq import Queue
from rq.registry import FailedJobRegistry

from app.db import get_redis
from app.models import (
    AlertDailyCount,
    Application,
    AuditLog,
    ConsentRecord,
    CustomerDocument,
    Lead,
    MagicLinkToken,
    Notification,
    PreviewToken,
    Reservation,
    ScrapeRun,
    Subscription,
)
from app.models.application import LotSnapshot, UserSnapshot
from app.services import audit, periodic
from app.tasks import enqueue
from tests.factories import make_lot, make_user
from tests.workers.conftest import run_worker
from workers.scheduler import CargwinScheduler

NOW = datetime.now(UTC)
VALID_VIN = "1HGCM82633A004352"


def run(path: str) -> None:
    """Enqueue a periodic job as the scheduler does (with its slot time) and run it in a real worker."""
    enqueue(path, scheduled_for=NOW.isoformat())
    assert run_worker("maintenance", "scraper")


def test_scheduled_lots_are_published_and_announced(app):
    due = make_lot(
        status="scheduled", publish_at=NOW - timedelta(minutes=2), published_at=None, vin=VALID_VIN
    )
    future = make_lot(status="scheduled", publish_at=NOW + timedelta(hours=1), published_at=None)
    run("workers.jobs.periodic.promote_scheduled_lots")
    due.reload()
    future.reload()
    assert due.status == "published" and future.status == "scheduled"
    assert abs(due.published_at.replace(tzinfo=UTC) - (NOW - timedelta(minutes=2))) < timedelta(seconds=1)
    assert AuditLog.objects(action="auto_publish", resource_id=str(due.pk), actor_id="system").count() == 1


def test_ended_offers_are_archived(app):
    ended = make_lot(offer_ends_at=NOW - timedelta(minutes=1))
    running = make_lot(offer_ends_at=NOW + timedelta(days=3))
    run("workers.jobs.periodic.archive_expired_offers")
    ended.reload()
    running.reload()
    assert (ended.status, running.status) == ("archived", "published")
    assert ended.archived_at is not None


def test_reservations_expire_and_the_customer_is_told(app):
    user = make_user()
    lot = make_lot()
    reservation = Reservation(
        user=user, lot=lot, lot_slug=lot.slug, reserved_price=lot.fleet, monthly_payment=329, due_at_signing=2999,
        expires_at=NOW - timedelta(minutes=1),
    )  # fmt: skip
    reservation.save()
    run("workers.jobs.periodic.expire_reservations")
    reservation.reload()
    assert reservation.status == "expired"
    [message] = Notification.objects(template="reservation_expired")
    assert message.recipient == user.email and message.payload["title"] == lot.title


def test_expired_tokens_are_purged(app):
    PreviewToken(token_hash="a" * 64, expires_at=NOW - timedelta(minutes=1)).save()
    fresh = PreviewToken(token_hash="b" * 64, expires_at=NOW + timedelta(hours=1))
    fresh.save()
    MagicLinkToken(
        token_hash="c" * 64,
        email="x@example.com",
        expires_at=NOW - timedelta(days=2),
        purge_at=NOW - timedelta(days=1),
    ).save()
    run("workers.jobs.periodic.purge_expired_tokens")
    assert [t.pk for t in PreviewToken.objects] == [fresh.pk]
    assert MagicLinkToken.objects.count() == 0


def test_old_job_records_are_purged(app):
    old = ScrapeRun(status="succeeded")
    old.save()
    ScrapeRun.objects(pk=old.pk).update_one(set__created_at=NOW - timedelta(days=200))
    recent = ScrapeRun(status="guarded")
    recent.save()
    user = make_user()
    AlertDailyCount(
        user=user, day=(NOW - timedelta(days=10)).date().isoformat(), events=["a:new_listing"]
    ).save()
    AlertDailyCount(user=user, day=NOW.date().isoformat(), events=["b:new_listing"]).save()
    run("workers.jobs.periodic.purge_job_records")
    assert [r.pk for r in ScrapeRun.objects] == [recent.pk]
    assert AlertDailyCount.objects.count() == 1


def _backdate(document, days: int) -> None:
    moment = NOW - timedelta(days=days)
    type(document).objects(pk=document.pk).update_one(set__created_at=moment, set__updated_at=moment)


def test_retention_purge_applies_the_table_and_logs_it(app):
    old_lead = Lead(kind="lead", name="Old", phone="+19495550199")
    old_lead.save()
    _backdate(old_lead, 800)
    new_lead = Lead(kind="callback", phone="+19495550198")
    new_lead.save()

    old_message = Notification(
        idempotency_key="old",
        channel="email",
        recipient="a@example.com",
        template="test_message",
        status="sent",
    )
    old_message.save()
    _backdate(old_message, 800)

    for days, address in ((1500, "gone@example.com"), (1500, "kept@example.com"), (10, "kept@example.com")):
        entry = ConsentRecord(address=address, channel="email", purpose="marketing_alerts", action="revoked")
        entry.save()
        _backdate(entry, days)

    user = make_user()
    lot = make_lot()
    rejected = Application(
        user=user,
        lot=lot,
        status="rejected",
        lot_data=LotSnapshot(title=lot.title),
        user_data=UserSnapshot(name="x"),
    )
    rejected.save()
    private = Path(app.config["PRIVATE_UPLOAD_DIR"])
    (private / "aaaa.bin").write_bytes(b"encrypted")
    CustomerDocument(
        user=user, application=rejected, doc_type="paystub", content_type="application/pdf", size=9,
        sha256="0" * 64, storage_key="aaaa.bin",
    ).save()  # fmt: skip
    _backdate(rejected, 800)
    open_application = Application(
        user=user,
        lot=make_lot(),
        status="pending",
        lot_data=LotSnapshot(title="t"),
        user_data=UserSnapshot(name="x"),
    )
    open_application.save()
    _backdate(open_application, 2000)  # open applications are never purged

    run("workers.jobs.periodic.retention_purge")
    assert [lead.pk for lead in Lead.objects] == [new_lead.pk]
    assert Notification.objects(pk=old_message.pk).count() == 0
    assert sorted(ConsentRecord.objects.scalar("address")) == ["kept@example.com", "kept@example.com"]
    assert list(Application.objects.scalar("id")) == [open_application.pk]
    assert CustomerDocument.objects.count() == 0 and not (private / "aaaa.bin").exists()
    [entry] = AuditLog.objects(action="retention_purge")
    assert entry.actor_id == "system"
    assert entry.details["leads"] == 1 and entry.details["rejected_applications"] == 1
    assert entry.details["consent_records"] == 1


def _reveals(staff, count: int, start: datetime, action: str = "pii_reveal", **details) -> None:
    for n in range(count):
        AuditLog(
            timestamp=start + timedelta(seconds=30 * n),
            actor_id=str(staff.pk),
            actor_email=staff.email,
            actor_role=staff.role,
            action=action,
            resource_type="pii",
            details=details,
        ).save()


def test_pii_reveal_anomaly_alerts_admins_once(app):
    admin = make_user(role="admin")
    busy = make_user(role="finance_manager", email="busy@example.com")
    calm = make_user(role="finance_manager", email="calm@example.com")
    hour_end = NOW.replace(minute=0, second=0, microsecond=0)
    _reveals(busy, 21, hour_end - timedelta(minutes=40))
    _reveals(calm, 20, hour_end - timedelta(minutes=40))
    run("workers.jobs.periodic.pii_reveal_anomaly_check")
    [alert] = Notification.objects(template="staff_alert")
    assert alert.recipient == admin.email
    assert (
        alert.payload["subject"]
        == "Unusual number of sensitive-data reveals by busy@example.com (finance_manager)"
    )
    assert "revealed 21 sensitive values within one hour" in alert.payload["body"]
    run("workers.jobs.periodic.pii_reveal_anomaly_check")  # the same hour judged again: no second alert
    assert Notification.objects(template="staff_alert").count() == 1


def test_a_burst_across_the_hour_and_copy_to_fleet_count(app):
    staff = make_user(role="finance_manager")
    hour_end = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    # 12 reveals before 14:00 and 9 after, all within 20 minutes: one 60-minute window holds 21.
    _reveals(staff, 12, hour_end - timedelta(minutes=70))
    _reveals(staff, 9, hour_end - timedelta(minutes=59))
    assert periodic.pii_reveal_anomalies(hour_end, threshold=20) == {str(staff.pk): 21}
    other = make_user(role="admin")
    # A copy-to-fleet reveals every sensitive field it contains.
    _reveals(other, 7, hour_end - timedelta(minutes=30), action="copy_to_fleet", fields=["ssn", "dl", "dob"])
    assert periodic.pii_reveal_anomalies(hour_end, threshold=20)[str(other.pk)] == 21


def test_a_scheduler_tick_runs_every_periodic_job_in_the_worker(app):
    scheduler = CargwinScheduler(get_redis(), app.config, name="t")
    assert scheduler.become_leader()
    assert len(scheduler.tick()) == 8
    scheduler.step_down()
    assert run_worker("maintenance", "notifications", "scraper")
    for name in ("maintenance", "notifications"):
        assert FailedJobRegistry(name, connection=get_redis()).count == 0
        assert Queue(name, connection=get_redis()).count == 0
    assert AuditLog.objects(action="retention_purge").count() == 1


def test_lots_promoted_with_a_price_baseline_get_price_drop_alerts(app):
    """Publication (back office) → new-listing fan-out → price change → price-drop fan-out (workers)."""
    from app.services import lots

    editor = make_user(role="editor")
    lot = make_lot(status="draft", published_at=None, vin=VALID_VIN, make="Kia", model="Telluride")
    subscriber = make_user()
    Subscription(user=subscriber, makes=["kia"], models=["telluride"]).save()
    lots.publish(lot.pk, actor=audit.actor_for(editor))
    run_worker("notifications")
    assert Notification.objects(template="new_listing", user=subscriber.pk).count() == 1
    lots.update_lot(lot.pk, {"discount": Decimal(3700)}, actor=audit.actor_for(editor))
    run_worker("notifications")
    [drop] = Notification.objects(template="price_drop", user=subscriber.pk)
    assert drop.payload["old_fleet"] == "29400" and drop.payload["fleet"] == "28800"
