"""Delivery through the real SendGrid and Twilio SDKs and the Telegram Bot API, against a local server that
plays the providers, run by a real worker: sends, retries with back-off, fail-fast errors, timeouts,
opt-outs reported by providers, and the outbox under failure (nothing lost, nothing doubled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue

from app.db import get_redis
from app.models import AuditLog, Notification, Subscription
from app.services import audit, consent, notifications
from app.services.notifications import DELIVER_JOB, queue_message
from tests.factories import make_user
from tests.workers.conftest import (
    SENDGRID_KEY,
    TELEGRAM_TOKEN,
    TWILIO_FROM,
    TWILIO_SID,
    Answer,
    make_scheduled_jobs_due,
    run_worker,
    scheduled_jobs,
)


def queue_email(key: str = "event-1", **overrides) -> Notification:
    values = dict(
        channel="email",
        recipient="casey@example.com",
        template="application_status_pending",
        idempotency_key=key,
        payload={"status": "pending"},
    )
    values.update(overrides)
    return queue_message(**values)


def test_email_goes_out_through_sendgrid(app, providers):
    row = queue_email()
    assert run_worker("notifications")
    row.reload()
    assert (row.status, row.provider, row.attempts) == ("sent", "sendgrid", 1)
    assert row.provider_message_id == "sg-1" and row.sent_at is not None
    assert row.subject == "Update on your Cargwin application"
    [request] = providers.sent("sendgrid")
    assert request.headers["Authorization"] == f"Bearer {SENDGRID_KEY}"
    mail = request.json()
    assert mail["personalizations"][0]["to"] == [{"email": "casey@example.com"}]
    assert mail["from"] == {"email": "deals@cargwin.com", "name": "Cargwin"}
    assert mail["reply_to"] == {"email": "support@cargwin.com"}
    assert mail["content"] == [
        {
            "type": "text/plain",
            "value": "Your application status has been updated. Our team is reviewing your information.\n",
        }
    ]
    assert mail["custom_args"] == {"notification_id": str(row.pk)}


def test_alert_email_carries_the_one_click_unsubscribe_headers(app, providers):
    user = make_user()
    Subscription(user=user, makes=["Lexus"]).save()
    queue_message(
        channel="email",
        recipient=user.email,
        template="new_listing",
        idempotency_key="alert-1",
        category="alert",
        user=user.pk,
        payload={
            "make": "Lexus",
            "model": "RX350",
            "monthly": "649",
            "fleet": "52400",
            "link": "https://cargwin.example/car/x",
            "subscribed_to": "Lexus",
            "unsubscribe_url": "https://api.cargwin.example/unsubscribe/abc",
        },
    )
    run_worker("notifications")
    mail = providers.sent("sendgrid")[0].json()
    assert mail["headers"] == {
        "List-Unsubscribe": "<https://api.cargwin.example/unsubscribe/abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert "Cargwin LLC, 2855 Michelle Dr, Office 180, Irvine, CA 92606" in mail["content"][0]["value"]
    assert mail["categories"] == ["alert"]


def test_sms_goes_out_through_twilio(app, providers):
    phone = "+19495550111"
    consent.record(channel="sms", address=phone, purpose="transactional", action="granted")
    row = queue_message(
        channel="sms",
        recipient=phone,
        template="application_status_completed",
        idempotency_key="sms-1",
        payload={"status": "completed"},
    )
    run_worker("notifications")
    row.reload()
    assert (row.status, row.provider) == ("sent", "twilio")
    assert row.provider_message_id.startswith("SM")
    [request] = providers.sent("twilio")
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.form() == {
        "To": phone,
        "From": TWILIO_FROM,
        "Body": "Your deal is complete. Thank you for choosing Cargwin!\nReply STOP to opt out.",
    }
    assert request.headers["Authorization"].startswith("Basic ")


def test_telegram_goes_out_through_the_bot_api(app, providers):
    user = make_user(telegram_chat_id="555001")
    Subscription(user=user, makes=["Kia"], notify_email=False, notify_telegram=True).save()
    row = queue_message(
        channel="telegram",
        recipient="555001",
        template="price_drop",
        category="alert",
        user=user.pk,
        idempotency_key="tg-1",
        payload={
            "make": "Kia",
            "model": "EV9",
            "monthly": "599",
            "fleet": "54000",
            "old_monthly": "649",
            "old_fleet": "55000",
            "link": "https://cargwin.example/car/k",
            "subscribed_to": "Kia",
        },
    )
    run_worker("notifications")
    row.reload()
    assert (row.status, row.provider, row.provider_message_id) == ("sent", "telegram", "1")
    [request] = providers.sent("telegram")
    assert request.path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    assert request.json()["chat_id"] == "555001"
    assert request.json()["text"].endswith("/stop to unsubscribe")


def test_provider_fails_twice_then_succeeds_one_send_with_backoff(app, providers):
    providers.script("sendgrid", Answer(503), Answer(502))
    row = queue_email()

    run_worker("notifications")
    row.reload()
    assert (row.status, row.attempts) == ("queued", 1)
    assert "503" in row.last_error
    [(job_id, when)] = scheduled_jobs()
    # RQ holds the retry for the first declared back-off (10 s).
    assert 8 <= (when - datetime.now(UTC)).total_seconds() <= 11

    make_scheduled_jobs_due()
    run_worker("notifications")
    row.reload()
    assert (row.status, row.attempts) == ("queued", 2)
    [(_job, when)] = scheduled_jobs()
    assert 28 <= (when - datetime.now(UTC)).total_seconds() <= 31  # then 30 s

    make_scheduled_jobs_due()
    run_worker("notifications")
    row.reload()
    assert (row.status, row.attempts, row.provider_message_id) == ("sent", 3, "sg-3")
    assert len(providers.sent("sendgrid")) == 3  # two refused, one accepted: one message delivered
    assert scheduled_jobs() == []

    # Late duplicates of the job (a sweep, a replayed retry) find the row sent and do nothing.
    notifications.enqueue_delivery(row, suffix="duplicate")
    run_worker("notifications")
    assert len(providers.sent("sendgrid")) == 3


def test_provider_down_ends_failed_after_the_declared_attempts(app, providers):
    providers.script("twilio", *[Answer(500)] * 10)
    phone = "+19495550112"
    consent.record(channel="sms", address=phone, purpose="transactional", action="granted")
    row = queue_message(
        channel="sms", recipient=phone, template="application_status_pending", idempotency_key="down",
        payload={"status": "pending"},
    )  # fmt: skip
    for _ in range(4):
        run_worker("notifications")
        make_scheduled_jobs_due()
    row.reload()
    assert (row.status, row.attempts) == ("failed", 4)  # the first try and the three declared retries
    assert row.last_error.startswith("Twilio HTTP 500")
    assert len(providers.sent("twilio")) == 4
    assert scheduled_jobs() == []


def test_a_client_error_fails_fast_without_retry(app, providers):
    providers.script("sendgrid", Answer(400, {"errors": [{"message": "Invalid to email"}]}))
    row = queue_email()
    run_worker("notifications")
    row.reload()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == 'SendGrid HTTP 400: {"errors": [{"message": "Invalid to email"}]}'
    assert scheduled_jobs() == []
    assert len(providers.sent("sendgrid")) == 1


def test_a_timeout_is_retried(app, providers):
    providers.script("telegram", Answer(200, delay=2.5))  # longer than PROVIDER_TIMEOUT_SECONDS (1 s)
    consent.record(channel="telegram", address="777", purpose="marketing_alerts", action="granted")
    row = queue_message(
        channel="telegram", recipient="777", template="application_status_pending", idempotency_key="slow",
        payload={"status": "pending"},
    )  # fmt: skip
    run_worker("notifications")
    row.reload()
    assert row.status == "queued" and row.last_error == "Telegram timeout: ReadTimeout"
    make_scheduled_jobs_due()
    run_worker("notifications")
    row.reload()
    assert (row.status, row.attempts) == ("sent", 2)


def test_twilio_unsubscribed_recipient_is_suppressed_and_revoked(app, providers):
    providers.script(
        "twilio", Answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
    )
    user = make_user()
    phone = "+19495550113"
    sub = Subscription(user=user, makes=["Kia"], phone=phone, notify_sms=True, sms_consent_status="granted")
    sub.save()
    consent.record(channel="sms", address=phone, purpose="marketing_alerts", action="granted")
    row = queue_message(
        channel="sms", recipient=phone, template="new_listing", category="alert", user=user.pk,
        idempotency_key="unsub", payload={"make": "Kia", "model": "K4", "monthly": "275", "fleet": "24185",
                                          "link": "https://x", "subscribed_to": "Kia"},
    )  # fmt: skip
    run_worker("notifications")
    row.reload()
    sub.reload()
    assert row.status == "suppressed" and "21610" in row.last_error
    assert consent.is_revoked("sms", phone, "marketing_alerts")
    assert (sub.notify_sms, sub.sms_consent_status) == (False, "revoked")


def test_a_blocked_telegram_bot_unlinks_the_chat(app, providers):
    providers.script(
        "telegram", Answer(403, {"ok": False, "description": "Forbidden: bot was blocked by the user"})
    )
    user = make_user(telegram_chat_id="888")
    Subscription(user=user, makes=["Kia"], notify_telegram=True).save()
    row = queue_message(
        channel="telegram", recipient="888", template="new_listing", category="alert", user=user.pk,
        idempotency_key="blocked", payload={"make": "Kia", "model": "K4", "monthly": "275", "fleet": "24185",
                                            "link": "https://x", "subscribed_to": "Kia"},
    )  # fmt: skip
    run_worker("notifications")
    row.reload()
    user.reload()
    assert row.status == "suppressed" and user.telegram_chat_id is None
    assert Subscription.objects(user=user, notify_telegram=True).count() == 0


def test_redis_down_at_queue_time_loses_nothing(app, providers, monkeypatch):
    def broken_queue(name):
        raise ConnectionError("Redis is down")

    with monkeypatch.context() as patch:
        patch.setattr(notifications, "get_queue", broken_queue)
        row = queue_email()
    assert Notification.objects(pk=row.pk, status="queued").count() == 1  # written before anything is sent
    assert Queue("notifications", connection=get_redis()).count == 0

    assert notifications.sweep(now=datetime.now(UTC)) == 0  # too recent: the sweep waits for a normal job
    assert notifications.sweep(now=datetime.now(UTC) + timedelta(minutes=3)) == 1
    assert notifications.sweep(now=datetime.now(UTC) + timedelta(minutes=3)) == 0  # not twice in a row
    run_worker("notifications")
    row.reload()
    assert row.status == "sent" and len(providers.sent("sendgrid")) == 1


def test_a_message_left_sending_by_a_dead_worker_is_sent_once(app, providers):
    row = queue_email(send=False)
    # The claim of a worker that died right after it (the row says "sending").
    claimed = notifications._claim(row.pk, datetime.now(UTC))
    assert claimed.status == "sending"
    notifications.enqueue_delivery(claimed, suffix="racing")
    run_worker("notifications")
    assert providers.sent("sendgrid") == []  # not stale yet: a live worker may be sending it
    later = datetime.now(UTC) + notifications.STALE_SENDING + timedelta(minutes=3)
    assert notifications.sweep(now=later) == 1  # the sweep re-enqueues it once it is stale
    # What that job does when it runs then: the stale claim is taken over and the message sent, once.
    assert notifications.deliver(str(row.pk), now=later).status == "sent"
    assert notifications.deliver(str(row.pk), now=later).status == "sent"
    run_worker("notifications")
    assert len(providers.sent("sendgrid")) == 1


def test_duplicate_jobs_for_one_message_send_once(app, providers):
    row = queue_email()
    notifications.enqueue_delivery(row, suffix="dup1")
    notifications.enqueue_delivery(row, suffix="dup2")
    assert Queue("notifications", connection=get_redis()).count == 3
    run_worker("notifications")
    assert len(providers.sent("sendgrid")) == 1
    assert Notification.objects.get(pk=row.pk).attempts == 1


def test_resend_of_a_failed_message(app, providers):
    providers.script("sendgrid", Answer(401))
    row = queue_email()
    run_worker("notifications")
    row.reload()
    assert row.status == "failed"
    admin = make_user(role="admin")
    notifications.resend(row.pk, actor=audit.actor_for(admin))
    run_worker("notifications")
    row.reload()
    assert (row.status, row.attempts) == ("sent", 1)
    assert AuditLog.objects(action="notification_resend").count() == 1
    with pytest.raises(Exception, match="sent message cannot be resent"):
        notifications.resend(row.pk, actor=audit.actor_for(admin))


def test_a_magic_link_is_wiped_from_the_outbox_once_sent(app, providers):
    from app.services import messages

    [row] = messages.magic_link("who@example.com", "https://cargwin.example/auth/verify?token=SECRET", "en")
    run_worker("notifications")
    row.reload()
    assert row.status == "sent" and row.payload["link"] == "[redacted]"
    assert "token=SECRET" in providers.sent("sendgrid")[0].json()["content"][0]["value"]


def test_jobs_are_declared_with_retry_and_ttls(app):
    row = queue_email(send=False)
    notifications.enqueue_delivery(row)
    [job] = Queue("notifications", connection=get_redis()).jobs
    assert job.func_name == DELIVER_JOB and job.args == (str(row.pk),)
    assert (job.timeout, job.result_ttl, job.failure_ttl) == (60, 3600, 7 * 24 * 3600)
    assert (job.retries_left, job.retry_intervals) == (3, [10, 30, 60])


def test_an_alert_text_due_at_night_waits_for_the_morning(app, providers):
    from tests.workers.conftest import pacific

    user = make_user()
    phone = "+19495550140"
    Subscription(user=user, makes=["Kia"], phone=phone, notify_sms=True, sms_consent_status="granted").save()
    consent.record(channel="sms", address=phone, purpose="marketing_alerts", action="granted")
    row = queue_message(
        channel="sms", recipient=phone, template="new_listing", category="alert", user=user.pk,
        idempotency_key="night", send=False,
        payload={"make": "Kia", "model": "K4", "monthly": "275", "fleet": "24185", "link": "https://x",
                 "subscribed_to": "Kia"},
    )  # fmt: skip
    night = pacific(2026, 3, 10, 23, 15)
    notifications.deliver(str(row.pk), now=night)
    row.reload()
    assert (row.status, row.attempts) == ("queued", 0)
    assert row.next_attempt_at.replace(tzinfo=UTC) == pacific(2026, 3, 11, 8, 0)
    [(job_id, when)] = scheduled_jobs()
    assert when == pacific(2026, 3, 11, 8, 0) and job_id.endswith(f"-at-{int(when.timestamp())}")
    assert providers.sent("twilio") == []
    # In the morning the scheduled job sends it.
    assert notifications.deliver(str(row.pk), now=pacific(2026, 3, 11, 8, 0)).status == "sent"
    assert len(providers.sent("twilio")) == 1
