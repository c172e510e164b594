"""A job runs end to end: web request → outbox → Redis queue → worker (app context) → outbox updated."""

from __future__ import annotations

from rq import Queue

from app.db import get_redis
from app.models import AuditLog, Notification
from tests.factories import make_user
from tests.foundation.test_admin_auth import csrf_from, sign_in
from workers.worker import CargwinWorker


def test_test_notification_travels_from_the_back_office_to_the_worker(app, client):
    admin = make_user(role="admin", email="ops@example.com")
    sign_in(client, admin.email)
    page = client.get("/admin/system/").get_data(as_text=True)
    response = client.post("/admin/system/test-notification", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302

    notification = Notification.objects.get(template="test_message")
    assert notification.status == "queued" and notification.recipient == "ops@example.com"
    queue = Queue("notifications", connection=get_redis())
    assert queue.count == 1
    assert queue.jobs[0].args == (str(notification.pk),)  # jobs carry ids, never documents

    worker = CargwinWorker([queue], connection=get_redis())
    assert worker.work(burst=True) is True

    notification.reload()
    # No provider is configured in tests: the console backend records that nothing was sent.
    assert notification.status == "not_sent_no_provider"
    assert notification.attempts == 1 and notification.provider == "console"
    assert notification.subject == "Cargwin test message"
    assert AuditLog.objects(action="test_notification").count() == 1


def test_delivering_twice_does_not_send_twice(app):
    from app.services.notifications import deliver, queue_message

    first = queue_message(
        channel="email",
        recipient="a@example.com",
        template="test_message",
        idempotency_key="k-1",
        payload={"requested_by": "x", "channel": "email"},
        send=False,
    )
    again = queue_message(
        channel="email", recipient="a@example.com", template="test_message", idempotency_key="k-1", send=False
    )
    assert again.pk == first.pk
    deliver(str(first.pk))
    deliver(str(first.pk))
    first.reload()
    assert first.attempts == 1
