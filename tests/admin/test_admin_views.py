"""Admins' pages (users, audit log, outbox, background jobs), the finance managers' leads and
appointments, the dashboard per role, and the audit trail every back-office change leaves."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry

from app.db import get_redis
from app.models import Appointment, AuditLog, Lead, Notification, User
from app.models.base import utcnow
from app.services import audit
from tests.admin.conftest import VALID_VIN, make_application, make_customer, signed_in, token
from tests.factories import make_lot, make_user


def test_users_search_filter_and_manage(admin_client):
    make_user(role="editor", email="erin.editor@example.com")
    make_user(role="finance_manager", email="fiona@example.com")
    page = admin_client.get("/admin/user/?search=erin").get_data(as_text=True)
    assert "erin.editor@example.com" in page and "fiona@example.com" not in page
    page = admin_client.get("/admin/user/?flt0_role_is=finance_manager").get_data(as_text=True)
    assert "fiona@example.com" in page and "erin.editor@example.com" not in page
    assert "credit" not in page.lower() and "income" not in page.lower()

    target = User.objects.get(email="fiona@example.com")
    path = f"/admin/user/manage/?id={target.pk}"
    admin_client.post(path, data={"op": "role", "role": "editor", "csrf_token": token(admin_client, path)})
    assert target.reload().role == "editor"
    admin_client.post(path, data={"op": "deactivate", "csrf_token": token(admin_client, path)})
    assert target.reload().is_active is False
    admin_client.post(path, data={"op": "reactivate", "csrf_token": token(admin_client, path)})
    assert target.reload().is_active is True
    response = admin_client.post(path, data={"op": "reset_password", "csrf_token": token(admin_client, path)})
    assert response.headers["Cache-Control"] == "no-store"
    new_password = re.search(r"shown once\): <code>([^<]+)</code>", response.get_data(as_text=True)).group(1)
    from app.services.passwords import verify_password

    assert verify_password(new_password, target.reload().password_hash)
    actions = [e.action for e in AuditLog.objects(resource_id=str(target.pk)).order_by("timestamp")]
    assert actions[-4:] == ["role_changed", "deactivated", "reactivated", "password_reset"]


def test_an_admin_cannot_change_their_own_role(admin_client):
    me = User.objects.get(role="admin")
    path = f"/admin/user/manage/?id={me.pk}"
    admin_client.post(path, data={"op": "role", "role": "editor", "csrf_token": token(admin_client, path)})
    assert me.reload().role == "admin"


def test_audit_log_filters_and_csv_export(admin_client):
    lot = make_lot(vin=VALID_VIN)
    audit.record("publish", "lot", lot.pk, actor=audit.Actor(id="x", email="ed@example.com", role="editor"))
    old = audit.record(
        "archive", "lot", lot.pk, actor=audit.Actor(id="x", email="ed@example.com", role="editor")
    )
    AuditLog._get_collection().update_one(
        {"_id": old.pk}, {"$set": {"timestamp": utcnow() - timedelta(days=40)}}
    )

    def actions(query):
        page = admin_client.get("/admin/audit_log/" + query).get_data(as_text=True)
        return sorted(set(re.findall(r"<td class=\"col-action\">\s*(\w+)\s*</td>", page)))

    assert actions("?flt0_action_is=publish") == ["publish"]
    assert actions("?flt0_actor_is=ed@example.com") == ["archive", "publish"]
    assert actions(f"?flt0_resource_id_is={lot.pk}&flt1_resource_is=lot") == ["archive", "publish"]
    recent = (utcnow() - timedelta(days=5)).strftime("%Y-%m-%d")
    assert actions(f"?flt0_resource_id_is={lot.pk}&flt1_date_on_or_after={recent}") == ["publish"]
    response = admin_client.get(f"/admin/audit_log/export/csv/?flt0_resource_id_is={lot.pk}")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert response.status_code == 200 and sorted(r["Action"] for r in rows) == ["archive", "publish"]
    assert AuditLog.objects(action="export", resource_type="system").count() == 1


def test_outbox_resend_goes_through_the_outbox_service(admin_client):
    from app.services.notifications import queue_message

    message = queue_message(
        channel="email", recipient="x@example.com", template="test_message", idempotency_key="k", send=False
    )
    Notification.objects(pk=message.pk).update_one(
        set__status="failed", set__last_error="bounced", set__attempts=3
    )
    page = admin_client.get("/admin/notification/?flt0_status_is=failed").get_data(as_text=True)
    assert "bounced" in page and 'data-testid="resend"' in page
    admin_client.post(
        "/admin/notification/action/",
        data={"action": "resend", "rowid": str(message.pk), "csrf_token": token(admin_client)},
    )
    message.reload()
    assert message.status == "queued" and message.attempts == 0  # a fresh set of attempts
    assert [j.args for j in Queue("notifications", connection=get_redis()).jobs] == [(str(message.pk),)]
    [entry] = AuditLog.objects(action="notification_resend", resource_id=str(message.pk))
    assert entry.details["previous_error"] == "bounced" and entry.actor_id != "system"


def test_the_row_button_resends_one_failed_message(admin_client):
    from app.services.notifications import queue_message

    message = queue_message(
        channel="email", recipient="x@example.com", template="test_message", idempotency_key="k", send=False
    )
    Notification.objects(pk=message.pk).update_one(set__status="failed")
    response = admin_client.post(
        f"/admin/notification/resend/?id={message.pk}", data={"csrf_token": token(admin_client)}
    )
    assert response.status_code == 302 and message.reload().status == "queued"
    # Without the CSRF token nothing is resent.
    Notification.objects(pk=message.pk).update_one(set__status="failed")
    assert admin_client.post(f"/admin/notification/resend/?id={message.pk}", data={}).status_code == 400
    assert message.reload().status == "failed"


@pytest.mark.parametrize("status", ["sent", "suppressed"])
def test_sent_and_suppressed_messages_are_never_resent(admin_client, status):
    from app.services.notifications import queue_message

    message = queue_message(
        channel="email", recipient="x@example.com", template="test_message", idempotency_key="k", send=False
    )
    Notification.objects(pk=message.pk).update_one(set__status=status)
    page = admin_client.get("/admin/notification/").get_data(as_text=True)
    assert 'data-testid="resend"' not in page
    response = admin_client.post(
        "/admin/notification/action/",
        data={"action": "resend", "rowid": str(message.pk), "csrf_token": token(admin_client)},
    )
    assert message.reload().status == status
    assert f"A {status} message cannot be resent" in admin_client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert Queue("notifications", connection=get_redis()).count == 0
    assert AuditLog.objects(action="notification_resend").count() == 0


def failing_job() -> None:
    raise RuntimeError("provider exploded")


def test_background_jobs_page_lists_failures_and_retries(admin_client):
    queue = Queue("images", connection=get_redis())
    job = queue.enqueue("tests.admin.test_admin_views.failing_job", job_id="job-that-fails")
    from workers.worker import CargwinWorker

    CargwinWorker([queue], connection=get_redis()).work(burst=True)
    assert FailedJobRegistry(queue=queue).count == 1
    page = admin_client.get("/admin/jobs/").get_data(as_text=True)
    assert "job-that-fails" in page and "provider exploded" in page
    admin_client.post(
        "/admin/jobs/retry/", data={"queue": "images", "job_id": job.id, "csrf_token": token(admin_client)}
    )
    assert FailedJobRegistry(queue=queue).count == 0 and queue.count == 1
    assert AuditLog.objects(action="job_retry").count() == 1


def test_leads_are_worked_through_the_service(finance_client):
    lead = Lead(
        kind="lead", name="Lee Lead", phone="+19495550100", email="lee@example.com", consent=True
    ).save()
    path = f"/admin/lead/status/?id={lead.pk}"
    assert "Lee Lead" in finance_client.get("/admin/lead/?flt0_kind_is=lead").get_data(as_text=True)
    finance_client.post(path, data={"status": "contacted", "csrf_token": token(finance_client, path)})
    assert lead.reload().status == "contacted"
    finance_client.post(
        path,
        data={"status": "closed", "outcome": "Bought a Camry", "csrf_token": token(finance_client, path)},
    )
    assert lead.reload().status == "closed" and lead.outcome == "Bought a Camry"
    assert AuditLog.objects(action="status_change", resource_type="lead").count() == 2


def test_appointment_edits_are_audited_with_a_diff(finance_client):
    application = make_application()
    appointment = Appointment(
        user=application.user,
        application=application,
        appointment_type="video",
        date="2030-01-02",
        time="9:00 AM",
        starts_at=utcnow() + timedelta(days=3),
    ).save()
    path = f"/admin/appointment/edit/?id={appointment.pk}"
    response = finance_client.post(
        path, data={"status": "completed", "notes": "Done", "csrf_token": token(finance_client, path)}
    )
    assert response.status_code == 302
    appointment.reload()
    assert appointment.status == "completed" and appointment.appointment_type == "video"
    entry = AuditLog.objects.get(action="update", resource_type="appointment")
    assert entry.changes["status"] == {"old": "scheduled", "new": "completed"} and entry.ip_address


def test_reservations_and_subscriptions_lists_load_references_in_one_query(admin_client):
    from decimal import Decimal

    from app.models import Reservation, Subscription

    lot = make_lot(vin=VALID_VIN)
    for index in range(3):
        customer = make_customer(email=f"holder{index}@example.com")
        Reservation(
            user=customer,
            lot=lot,
            lot_slug=lot.slug,
            reserved_price=Decimal(29400),
            monthly_payment=Decimal(329),
            due_at_signing=Decimal(2999),
            expires_at=utcnow() + timedelta(hours=5),
        ).save()
        Subscription(user=customer, makes=["Toyota"], models=["Camry"]).save()
    page = admin_client.get("/admin/reservation/").get_data(as_text=True)
    assert all(f"holder{i}@example.com" in page for i in range(3))
    page = admin_client.get("/admin/subscription/").get_data(as_text=True)
    assert all(f"holder{i}@example.com" in page for i in range(3)) and "Camry" in page


def test_dashboard_charts_by_role(client, app):
    make_lot(vin=VALID_VIN)
    make_application()
    expectations = {
        "editor": ({"lots_by_status", "lots_by_make"}, {"applications_per_status", "notifications"}),
        "finance_manager": (
            {"applications_per_status", "approval_rate", "reservations", "notifications"},
            {"lots_by_status"},
        ),
        "admin": (
            {"lots_by_status", "applications_per_status", "approval_rate", "reservations", "notifications"},
            set(),
        ),
    }
    for role, (present, absent) in expectations.items():
        browser = app.test_client()
        signed_in(browser, role)
        page = browser.get("/admin/").get_data(as_text=True)
        charts = set(re.findall(r'data-chart="(\w+)"', page))
        assert present <= charts and not (absent & charts), role
        assert "cdn" not in page.lower()
    script = re.search(r'src="([^"]+/vendor/chartjs/chart\.umd\.min\.js)"', page).group(1)
    served = client.get(script)
    assert served.status_code == 200 and b"Chart.js v4" in served.data


def test_every_change_leaves_an_audit_entry_with_context_and_masked_values(client):
    admin = signed_in(client, "admin")
    customer = make_customer()
    customer.set_sensitive("ssn", "900-55-1234")
    customer.save()
    path = f"/admin/user/manage/?id={customer.pk}"
    client.post(path, data={"op": "deactivate", "csrf_token": token(client, path)})
    entry = AuditLog.objects.get(action="deactivated")
    assert (
        entry.actor_id == str(admin.pk) and entry.actor_email == admin.email and entry.actor_role == "admin"
    )
    assert entry.ip_address == "127.0.0.1" and entry.user_agent.startswith("Werkzeug/") and entry.request_id
    assert audit.diff({"ssn": "1", "name": "a"}, {"ssn": "2", "name": "b"}) == {
        "name": {"old": "a", "new": "b"},
        "ssn": {"old": "[redacted]", "new": "[redacted]"},
    }
