"""The notification outbox (business rules §7.5, §8).

``queue_message`` writes the message to the ``notifications`` collection first, under an idempotency key
that the database keeps unique, and only then enqueues the job that sends it. A second call for the same
event and recipient returns the existing message instead of creating another, so nothing is sent twice.
``deliver`` is what the worker runs: it renders the template, picks the channel's backend (a real provider
when configured, otherwise the console backend, which records ``not_sent_no_provider``) and records the
outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from jinja2 import TemplateNotFound
from mongoengine import NotUniqueError

from app.models import Notification
from app.models.base import utcnow
from app.tasks import enqueue

log = logging.getLogger(__name__)

DELIVER_JOB = "workers.jobs.notifications.deliver_notification"


def queue_message(
    *,
    channel: str,
    recipient: str,
    template: str,
    idempotency_key: str,
    payload: dict[str, Any] | None = None,
    language: str = "en",
    category: str = "transactional",
    user: Any = None,
    application_id: Any = None,
    lot: Any = None,
    event_key: str | None = None,
    send: bool = True,
) -> Notification:
    """Record a message in the outbox (once per idempotency key) and enqueue its delivery."""
    notification = Notification(
        idempotency_key=idempotency_key,
        channel=channel,
        category=category,
        recipient=recipient,
        template=template,
        language=language if language in ("en", "ru") else "en",
        payload=payload or {},
        user=user,
        application=application_id,
        lot=lot,
        event_key=event_key,
    )
    try:
        notification.save(force_insert=True)
    except NotUniqueError:
        return Notification.objects.get(idempotency_key=idempotency_key)
    if send:
        enqueue_delivery(notification)
    return notification


def enqueue_delivery(notification: Notification) -> None:
    """Hand a queued message to the worker. A Redis outage leaves it ``queued`` for the outbox sweep."""
    try:
        enqueue(DELIVER_JOB, str(notification.pk), job_id=f"notification-{notification.pk}-{notification.attempts}")
    except Exception:  # noqa: BLE001 - the outbox row is the source of truth; the sweep retries
        log.warning("could not enqueue notification %s; the outbox sweep will pick it up", notification.pk)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str


def render(notification: Notification) -> RenderedMessage:
    """Render ``templates/notifications/<template>.<language>.txt``; the first line is the subject."""
    context = dict(notification.payload or {})
    context.setdefault("company_address", current_app.config.get("COMPANY_POSTAL_ADDRESS", ""))
    for language in (notification.language, "en"):
        try:
            text = render_template(f"notifications/{notification.template}.{language}.txt", **context)
            break
        except TemplateNotFound:
            continue
    else:
        raise LookupError(f"no template for {notification.template}")
    subject, _, body = text.partition("\n")
    return RenderedMessage(subject=subject.strip(), body=body.strip() + "\n")


def deliver(notification_id: str) -> Notification | None:
    """Send one outbox message. Idempotent: a message already sent, suppressed or failed is left alone."""
    claimed = Notification.objects(pk=notification_id, status__in=("queued", "sending")).modify(
        set__status="sending", inc__attempts=1, set__updated_at=utcnow(), new=True
    )
    if claimed is None:
        return Notification.objects(pk=notification_id).first()
    message = render(claimed)
    from app.integrations.messaging import backend_for  # imported late: it pulls in provider SDKs

    result = backend_for(claimed.channel).send(claimed, message)
    claimed.update(
        set__status=result.status,
        set__provider=result.provider,
        set__provider_message_id=result.provider_message_id,
        set__subject=message.subject[:300],
        set__sent_at=utcnow() if result.status == "sent" else None,
        set__updated_at=utcnow(),
    )
    claimed.reload()
    return claimed
