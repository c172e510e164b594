"""One alert per burst of sensitive-data reveals (business rules §12.2): the back office alerts the admins
as a staff member crosses the threshold, and the hourly job checks the hour afterwards. Both use one event
key per staff member and hour, so each admin gets exactly one message for a burst, whichever path sees it
first; a burst in another hour is a new message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models import AuditLog, Notification
from app.services import application_review as review
from app.services import audit, periodic
from app.tasks import enqueue
from tests.admin.conftest import make_application
from tests.factories import make_user
from tests.workers.conftest import run_worker


def hourly_check(slot: datetime) -> None:
    """The scheduler's hourly slot (:05), run by a real worker: it judges the hour before the slot."""
    enqueue("workers.jobs.periodic.pii_reveal_anomaly_check", scheduled_for=slot.isoformat())
    assert run_worker("maintenance")


def alerts() -> list[Notification]:
    return list(Notification.objects(template="staff_alert").order_by("recipient"))


def test_a_burst_seen_by_the_back_office_and_the_hourly_job_is_one_message_per_admin(app):
    admins = sorted([make_user(role="admin"), make_user(role="admin")], key=lambda u: u.email)
    busy = make_user(role="finance_manager", email="busy@example.com")
    actor = audit.actor_for(busy)
    application = make_application()
    threshold = app.config["PII_REVEAL_ALERT_THRESHOLD"]

    for _ in range(threshold + 1):
        review.reveal(application.pk, "ssn", actor=actor, reason="customer_request")
    crossed_at = (
        AuditLog.objects(action="pii_reveal").order_by("-timestamp").first().timestamp.replace(tzinfo=UTC)
    )
    assert [a.recipient for a in alerts()] == [a.email for a in admins]  # at once, from the back office
    for _ in range(4):  # the burst goes on within the hour: nothing more
        review.reveal(application.pk, "date_of_birth", actor=actor, reason="customer_request")
    assert len(alerts()) == 2

    # The hourly job then judges that hour, finds the same burst, and sends nothing new.
    hour = crossed_at.replace(minute=0, second=0, microsecond=0)
    hourly_check(hour + timedelta(hours=1, minutes=5))
    rows = alerts()
    assert [a.recipient for a in rows] == [a.email for a in admins]
    key = periodic.pii_reveal_burst_key(str(busy.pk), crossed_at)
    assert key == f"pii_reveal_burst:{busy.pk}:{hour:%Y%m%dT%H}Z"
    assert {a.event_key for a in rows} == {f"staff_alert:{key}"}
    assert "busy@example.com (finance_manager)" in rows[0].payload["subject"]


def _reveals(staff, count: int, start: datetime) -> None:
    for n in range(count):
        AuditLog(
            timestamp=start + timedelta(seconds=30 * n),
            actor_id=str(staff.pk),
            actor_email=staff.email,
            actor_role=staff.role,
            action="pii_reveal",
            resource_type="pii",
        ).save()


def test_the_hourly_job_first_then_the_back_office_and_a_later_hour(app):
    admin = make_user(role="admin")
    busy = make_user(role="finance_manager")
    actor = audit.actor_for(busy)
    hour = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    _reveals(busy, 21, hour + timedelta(minutes=10))  # the 21st at 14:20
    last = hour + timedelta(minutes=20)

    hourly_check(hour + timedelta(hours=1, minutes=5))
    [alert] = alerts()
    assert alert.recipient == admin.email and "revealed 21 sensitive values" in alert.payload["body"]
    # The back office's check for a reveal of that burst (as if it had come late): the same message.
    review._alert_on_many_reveals(actor, now=last)
    review._alert_on_many_reveals(actor, now=hour + timedelta(minutes=59))
    assert len(alerts()) == 1
    # Below the threshold nothing is sent; the same person bursting again in a later hour is a new message.
    review._alert_on_many_reveals(actor, now=hour + timedelta(hours=1, minutes=25))  # 14:20 is out of reach
    assert len(alerts()) == 1
    _reveals(busy, 21, hour + timedelta(hours=2, minutes=30))
    review._alert_on_many_reveals(actor, now=hour + timedelta(hours=2, minutes=41))
    hourly_check(hour + timedelta(hours=3, minutes=5))
    assert len(alerts()) == 2
    assert periodic.pii_reveals_within(str(busy.pk), last) == 21
