"""The notification outbox (business rules §7.3, §7.5, §8, §15.2).

Every message is written to the ``notifications`` collection before anything is sent, under an idempotency
key the database keeps unique (one per event and recipient), and only then is a delivery job enqueued. The
row is the source of truth; the queue only carries work:

* :func:`queue_message` records a message once per key and enqueues its delivery. A Redis outage leaves
  the row ``queued``; the periodic :func:`sweep` enqueues it again.
* :func:`deliver` (the job) claims the row with a conditional update (``queued`` → ``sending``), so two
  jobs for one message never both send it; checks consent again at send time; renders the template; sends
  through the channel's backend; and records the outcome. A retryable provider failure puts the row back to
  ``queued`` and raises :class:`DeliveryRetry`, so RQ retries the job with the back-off declared in
  ``app.tasks.JOBS`` (10 s, 30 s, 60 s); the last attempt, or a non-retryable failure, ends ``failed`` with
  ``last_error``. A row left ``sending`` by a worker that died is claimable again after
  :data:`STALE_SENDING`, so nothing is lost (delivery is at-least-once only in that crash case).
* :func:`resend` is the back office's action on a failed message.

Templates live in ``templates/notifications/<name>.<en|ru>.txt``; the first line is the subject. Each
channel composes them as §8.2 says: e-mail = subject + body (+ the alert footer with the unsubscribe link
and postal address), SMS = (subject line for alerts) + short body + the STOP ending, at most 320
characters, Telegram = body + "/stop to unsubscribe".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from flask import current_app
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from mongoengine import NotUniqueError, Q
from pymongo.errors import BulkWriteError

from app.config import BASE_DIR
from app.errors import Conflict, NotFound, RuleViolation
from app.integrations.messaging import ProviderError, RenderedMessage, backend_for
from app.models import Notification
from app.models.base import as_utc, parse_object_id, utcnow
from app.services import audit
from app.services.money import round_dollars
from app.tasks import JOBS, get_queue

log = logging.getLogger(__name__)

PACIFIC = ZoneInfo("America/Los_Angeles")
DELIVER_JOB = "workers.jobs.notifications.deliver_notification"
RETRY_INTERVALS: tuple[int, ...] = JOBS[DELIVER_JOB].retry_intervals
MAX_ATTEMPTS = 1 + len(RETRY_INTERVALS)
# Far beyond the job timeout (60 s) and the provider timeout: a row still "sending" after this was left by
# a worker that died mid-send.
STALE_SENDING = timedelta(minutes=10)
# The sweep leaves rows alone for this long after their planned attempt, so it never races a job that is
# about to run (or an RQ retry that is due).
SWEEP_GRACE = timedelta(minutes=2)
SMS_MAX_LENGTH = 320
FINAL_STATUSES = ("sent", "failed", "suppressed", "not_sent_no_provider")
REDACTED = "[redacted]"
TEMPLATE_DIR = BASE_DIR / "templates" / "notifications"


class DeliveryRetry(Exception):
    """Raised by :func:`deliver` after a retryable provider failure, so RQ schedules the next attempt."""


@dataclass(frozen=True)
class TemplateSpec:
    """How a template is sent: its category, how an SMS is composed, consent and secrets."""

    category: str = "transactional"
    sms_subject: bool = False  # alerts: the SMS starts with the subject line (§8.2)
    sms_stop_ending: bool = True  # every SMS ends with the STOP instruction, unless the text has its own
    consent_exempt: bool = False  # the one consent-request text goes out before consent exists
    secret_keys: tuple[str, ...] = ()  # payload values wiped once the message is final (sign-in links)


APPLICATION_STATUS_TEMPLATES = ("pending", "contacted", "approved", "rejected", "contract_sent", "completed")

TEMPLATES: dict[str, TemplateSpec] = {
    "application_received": TemplateSpec(),
    **{f"application_status_{status}": TemplateSpec() for status in APPLICATION_STATUS_TEMPLATES},
    "application_status_other": TemplateSpec(),
    "pickup_scheduled": TemplateSpec(),
    "reservation_created": TemplateSpec(),
    "reservation_expired": TemplateSpec(),
    "reservation_cancelled": TemplateSpec(),
    "magic_link": TemplateSpec(secret_keys=("link",)),
    # The bot link carries a one-time code that ties a Telegram chat to the account: a secret, like a
    # sign-in link, so it is wiped from the row once the message is final.
    "telegram_link": TemplateSpec(secret_keys=("link",)),
    "new_listing": TemplateSpec(category="alert", sms_subject=True),
    "price_drop": TemplateSpec(category="alert", sms_subject=True),
    "sms_consent_request": TemplateSpec(sms_stop_ending=False, consent_exempt=True),
    "staff_alert": TemplateSpec(category="system"),
    "test_message": TemplateSpec(category="system"),
}


def template_spec(name: str) -> TemplateSpec:
    return TEMPLATES.get(name, TemplateSpec())


# ----------------------------------------------------------------------------------------------- formatting

_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# Russian dates put the month in the genitive: "5 марта".
_RU_MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip


def format_money(value: Any) -> str:
    """Whole dollars with thousands separators, half-up, without the sign: ``29400`` → ``"29,400"`` (§8)."""
    if value is None or value == "":
        return ""
    try:
        dollars = round_dollars(value if isinstance(value, Decimal | int) else str(value))
    except (TypeError, ValueError, InvalidOperation):
        return str(value)
    return f"{dollars:,}"


def format_pacific(value: Any, language: str = "en") -> str:
    """A date and time in Pacific time, written the message language's way (§8).

    ``en``: ``March 5, 2026 at 3:30 PM``; ``ru``: ``5 марта 2026 г. в 15:30``.
    """
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = (as_utc(moment) or moment).astimezone(PACIFIC)
    if language == "ru":
        return f"{local.day} {_RU_MONTHS[local.month - 1]} {local.year} г. в {local.hour}:{local.minute:02d}"
    hour = local.hour % 12 or 12
    suffix = "AM" if local.hour < 12 else "PM"
    return f"{_EN_MONTHS[local.month - 1]} {local.day}, {local.year} at {hour}:{local.minute:02d} {suffix}"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Plain text, not HTML: no autoescaping. StrictUndefined turns a missing payload key into an error
    # (the message fails with that error) instead of a silently blank placeholder.
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )
    env.filters["money"] = format_money
    env.filters["pacific"] = format_pacific
    return env


def render_text(name: str, language: str, context: Mapping[str, Any]) -> str:
    env = _environment()
    for lang in (language, "en"):
        try:
            template = env.get_template(f"{name}.{lang}.txt")
        except TemplateNotFound:
            continue
        return template.render(**context)
    raise LookupError(f"no template for {name}")


def message_context(notification: Notification) -> dict[str, Any]:
    context = dict(notification.payload or {})
    context.update(
        channel=notification.channel,
        language=notification.language or "en",
        company_address=current_app.config.get("COMPANY_POSTAL_ADDRESS", ""),
    )
    return context


def render(notification: Notification) -> RenderedMessage:
    """Render the message as its channel sends it (business rules §8.2 "How each channel is composed")."""
    spec = template_spec(notification.template)
    language = notification.language or "en"
    context = message_context(notification)
    text = render_text(notification.template, language, context)
    subject, _, body = text.partition("\n")
    subject, body = subject.strip(), body.strip()
    if notification.channel == "email":
        headers: dict[str, str] = {}
        if notification.category == "alert":
            body = body + "\n\n" + render_text("_alert_email_footer", language, context).strip()
            url = context.get("unsubscribe_url")
            if url:
                # RFC 8058 one-click unsubscribe: mail clients POST "List-Unsubscribe=One-Click" to the URL.
                headers["List-Unsubscribe"] = f"<{url}>"
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return RenderedMessage(subject=subject, body=body + "\n", headers=headers)
    if notification.channel == "sms":
        ending = render_text("_sms_ending", language, context).strip() if spec.sms_stop_ending else ""
        return RenderedMessage(
            subject=subject, body=compose_sms(subject if spec.sms_subject else "", body, ending)
        )
    ending = render_text("_telegram_ending", language, context).strip()
    return RenderedMessage(subject=subject, body=f"{body}\n\n{ending}")


def compose_sms(head: str, body: str, ending: str, limit: int = SMS_MAX_LENGTH) -> str:
    """Head line, a real line break, the body, then the ending; at most ``limit`` characters.

    When too long, body lines are dropped from the top, keeping the last one (the link), then the
    remaining text is cut; the ending (the STOP instruction) is never cut.
    """

    def join(lines: list[str]) -> str:
        return "\n".join(part for part in [head, *lines, ending] if part)

    lines = [line for line in body.splitlines() if line.strip()]
    while len(join(lines)) > limit and len(lines) > 1:
        lines.pop(0)
    text = join(lines)
    if len(text) <= limit:
        return text
    prefix = "\n".join(part for part in [head, *lines] if part)
    if not ending:
        return prefix[: limit - 1].rstrip() + "…"
    return prefix[: limit - len(ending) - 2].rstrip() + "…\n" + ending


# --------------------------------------------------------------------------------------------------- queueing


def queue_message(
    *,
    channel: str,
    recipient: str,
    template: str,
    idempotency_key: str,
    payload: dict[str, Any] | None = None,
    language: str = "en",
    category: str | None = None,
    user: Any = None,
    application_id: Any = None,
    lot: Any = None,
    event_key: str | None = None,
    send: bool = True,
    not_before: datetime | None = None,
) -> Notification:
    """Record a message in the outbox (once per idempotency key) and enqueue its delivery.

    A second call with the same key returns the existing row and enqueues nothing. ``not_before`` holds the
    message until then (quiet hours); ``send=False`` only records it (the sweep sends it later).
    """
    now = utcnow()
    notification = Notification(
        idempotency_key=idempotency_key,
        channel=channel,
        category=category or template_spec(template).category,
        recipient=recipient,
        template=template,
        language=language if language in ("en", "ru") else "en",
        payload=payload or {},
        user=user,
        application=application_id,
        lot=lot,
        event_key=event_key,
        next_attempt_at=not_before or now,
    )
    try:
        notification.save(force_insert=True)
    except NotUniqueError:
        return Notification.objects.get(idempotency_key=idempotency_key)
    if send:
        enqueue_delivery(notification, at=not_before if not_before and not_before > now else None)
    return notification


def insert_messages(documents: list[dict[str, Any]]) -> list[ObjectId]:
    """Bulk-insert outbox rows (raw documents with an ``idempotency_key``); returns the ids actually inserted.

    Rows whose key already exists are skipped by the unique index: this is how a repeated fan-out writes
    nothing twice. Used by the alert fan-out, which writes thousands of rows per lot.
    """
    if not documents:
        return []
    collection = Notification._get_collection()
    now = utcnow()
    for document in documents:
        document.setdefault("_id", ObjectId())
        document.setdefault("status", "queued")
        document.setdefault("attempts", 0)
        document.setdefault("created_at", now)
        document.setdefault("updated_at", now)
        document.setdefault("next_attempt_at", now)
    failed: set[int] = set()
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") != 11000:
                raise
            failed.add(error["index"])
    return [doc["_id"] for index, doc in enumerate(documents) if index not in failed]


def _job_options() -> dict[str, Any]:
    from rq import Retry

    spec = JOBS[DELIVER_JOB]
    return {
        "timeout": spec.job_timeout,
        "result_ttl": spec.result_ttl,
        "failure_ttl": spec.failure_ttl,
        "retry": Retry(max=len(spec.retry_intervals), interval=list(spec.retry_intervals)),
        "description": spec.description,
    }


def enqueue_delivery(
    notification: Notification, *, at: datetime | None = None, suffix: str | None = None
) -> None:
    """Hand a queued message to the worker (at ``at``, when given). A Redis outage leaves it ``queued``
    for the outbox sweep: the row, not the queue, is the source of truth."""
    job_id = f"notification-{notification.pk}-{notification.attempts}" + (f"-{suffix}" if suffix else "")
    options = _job_options()
    try:
        queue = get_queue(JOBS[DELIVER_JOB].queue)
        if at is not None:
            queue.enqueue_at(
                at,
                DELIVER_JOB,
                str(notification.pk),
                job_id=job_id,
                job_timeout=options["timeout"],
                result_ttl=options["result_ttl"],
                failure_ttl=options["failure_ttl"],
                retry=options["retry"],
                description=options["description"],
            )
        else:
            queue.enqueue(
                DELIVER_JOB,
                str(notification.pk),
                job_id=job_id,
                job_timeout=options["timeout"],
                result_ttl=options["result_ttl"],
                failure_ttl=options["failure_ttl"],
                retry=options["retry"],
                description=options["description"],
            )
    except Exception:  # noqa: BLE001 - the outbox row is the source of truth; the sweep retries
        log.warning("could not enqueue notification %s; the outbox sweep will pick it up", notification.pk)


def enqueue_deliveries(notification_ids: Iterable[ObjectId | str], *, chunk: int = 500) -> int:
    """Enqueue delivery jobs for many queued rows in a few Redis round trips (the alert fan-out)."""
    from rq import Queue

    ids = [str(pk) for pk in notification_ids]
    if not ids:
        return 0
    options = _job_options()
    try:
        queue = get_queue(JOBS[DELIVER_JOB].queue)
        for start in range(0, len(ids), chunk):
            batch = [
                Queue.prepare_data(
                    DELIVER_JOB,
                    args=(pk,),
                    timeout=options["timeout"],
                    result_ttl=options["result_ttl"],
                    failure_ttl=options["failure_ttl"],
                    description=options["description"],
                    job_id=f"notification-{pk}-0",
                    retry=options["retry"],
                )
                for pk in ids[start : start + chunk]
            ]
            queue.enqueue_many(batch)
    except Exception:  # noqa: BLE001 - see enqueue_delivery
        log.warning("could not enqueue %d notifications; the outbox sweep will pick them up", len(ids))
        return 0
    return len(ids)


# --------------------------------------------------------------------------------------------------- delivery


def sms_quiet_until(now: datetime, config: Mapping[str, Any] | None = None) -> datetime | None:
    """When alert texts may go out again, or ``None`` if ``now`` is within sending hours (§7.4).

    Hours are the recipient's; we do not know their time zone, so Pacific (the rule's default) applies.
    """
    config = config if config is not None else current_app.config
    start = int(config.get("SMS_SEND_FROM_HOUR", 8))
    end = int(config.get("SMS_SEND_UNTIL_HOUR", 21))
    local = now.astimezone(PACIFIC)
    if start <= local.hour < end:
        return None
    day = local.date() if local.hour < start else local.date() + timedelta(days=1)
    return datetime.combine(day, time(start), PACIFIC).astimezone(UTC)


def _claim(notification_id: Any, now: datetime) -> Notification | None:
    oid = parse_object_id(str(notification_id))
    if oid is None:
        return None
    claimable = Q(status="queued") | Q(status="sending", next_attempt_at__lte=now)
    return Notification.objects(Q(pk=oid) & claimable).modify(
        set__status="sending",
        inc__attempts=1,
        set__next_attempt_at=now + STALE_SENDING,
        set__updated_at=now,
        new=True,
    )


def _finish(
    claimed: Notification,
    status: str,
    now: datetime,
    *,
    provider: str | None = None,
    provider_message_id: str | None = None,
    subject: str | None = None,
    error: str | None = None,
) -> Notification:
    updates: dict[str, Any] = {
        "set__status": status,
        "set__updated_at": now,
        "unset__next_attempt_at": True,
    }
    if provider:
        updates["set__provider"] = provider
    if provider_message_id:
        updates["set__provider_message_id"] = provider_message_id[:200]
    if subject is not None:
        updates["set__subject"] = subject[:300]
    if status == "sent":
        updates["set__sent_at"] = now
    if error is not None:
        updates["set__last_error"] = error[:1000]
    for key in template_spec(claimed.template).secret_keys:
        if key in (claimed.payload or {}):
            updates[f"set__payload__{key}"] = REDACTED
    # Conditional on our claim: a row re-claimed after being declared stale is not overwritten.
    Notification.objects(pk=claimed.pk, status="sending", attempts=claimed.attempts).update_one(**updates)
    claimed.reload()
    if claimed.application is not None and status == "sent":
        audit.record(
            "notification_sent",
            "application",
            claimed.application,
            actor=audit.SYSTEM,
            details={
                "notification_id": str(claimed.pk),
                "channel": claimed.channel,
                "template": claimed.template,
            },
        )
    return claimed


def deliver(notification_id: str, now: datetime | None = None) -> Notification | None:
    """Send one outbox message (the delivery job). Idempotent: a row that is not claimable is left alone.

    Raises :class:`DeliveryRetry` after a retryable provider failure while attempts remain; the row is then
    back to ``queued`` with ``last_error`` and the planned time of the next attempt.
    """
    now = now or utcnow()
    claimed = _claim(notification_id, now)
    if claimed is None:
        return Notification.objects(pk=parse_object_id(str(notification_id))).first()

    from app.services import consent  # consent needs the models only; imported late to keep imports acyclic

    reason = consent.suppression_reason(claimed)
    if reason:
        return _finish(claimed, "suppressed", now, error=reason)
    if claimed.channel == "sms" and claimed.category == "alert":
        resume = sms_quiet_until(now)
        if resume is not None:
            Notification.objects(pk=claimed.pk, status="sending", attempts=claimed.attempts).update_one(
                set__status="queued", dec__attempts=1, set__next_attempt_at=resume, set__updated_at=now
            )
            claimed.reload()
            enqueue_delivery(claimed, at=resume, suffix=f"at-{int(resume.timestamp())}")
            return claimed
    try:
        message = render(claimed)
    except (TemplateError, LookupError) as exc:
        return _finish(claimed, "failed", now, error=f"template {claimed.template}: {exc}")

    backend = backend_for(claimed.channel)
    try:
        result = backend.send(claimed, message)
    except ProviderError as exc:
        if exc.opted_out:
            consent.revoke_at_provider(claimed.channel, claimed.recipient, exc.detail)
            return _finish(
                claimed,
                "suppressed",
                now,
                provider=backend.provider,
                subject=message.subject,
                error=exc.detail,
            )
        if exc.retryable and claimed.attempts < MAX_ATTEMPTS:
            delay = RETRY_INTERVALS[min(claimed.attempts - 1, len(RETRY_INTERVALS) - 1)]
            Notification.objects(pk=claimed.pk, status="sending", attempts=claimed.attempts).update_one(
                set__status="queued",
                set__last_error=exc.detail[:1000],
                set__provider=backend.provider,
                set__next_attempt_at=now + timedelta(seconds=delay),
                set__updated_at=now,
            )
            log.info(
                "notification %s attempt %d failed, retrying: %s", claimed.pk, claimed.attempts, exc.detail
            )
            raise DeliveryRetry(exc.detail) from None
        log.warning(
            "notification %s failed after %d attempt(s): %s", claimed.pk, claimed.attempts, exc.detail
        )
        return _finish(
            claimed, "failed", now, provider=backend.provider, subject=message.subject, error=exc.detail
        )
    return _finish(
        claimed,
        result.status,
        now,
        provider=result.provider,
        provider_message_id=result.provider_message_id,
        subject=message.subject,
    )


def sweep(now: datetime | None = None, limit: int = 1000) -> int:
    """Re-enqueue messages stuck in ``queued`` (Redis was down, a retry was lost) or left ``sending`` by a
    worker that died; returns how many were enqueued. Also finishes alert fan-outs that stopped half-way."""
    now = now or utcnow()
    cutoff = now - SWEEP_GRACE
    stuck = (
        Notification.objects(
            Q(status__in=("queued", "sending"), next_attempt_at__lte=cutoff)
            | Q(status="queued", next_attempt_at=None, created_at__lte=cutoff)
        )
        .order_by("next_attempt_at")
        .limit(limit)
    )
    enqueued = 0
    for row in stuck:
        # Moving the planned time makes the next sweep wait another grace period for this job to run.
        moved = Notification.objects(pk=row.pk, status=row.status, attempts=row.attempts).update_one(
            set__next_attempt_at=now, set__updated_at=now
        )
        if moved:
            enqueue_delivery(row, suffix=f"sweep-{int(now.timestamp())}")
            enqueued += 1
    if enqueued:
        log.info("outbox sweep re-enqueued %d message(s)", enqueued)
    from app.services import alerts

    alerts.resume_incomplete(now)
    return enqueued


def resend(notification_id: Any, *, actor: audit.Actor, now: datetime | None = None) -> Notification:
    """Queue a failed (or never sent) message again: the back office's resend action.

    A sent or suppressed message is never resent: the first was delivered, the second has no consent.
    """
    now = now or utcnow()
    row = Notification.objects(pk=parse_object_id(str(notification_id))).first()
    if row is None:
        raise NotFound("Notification not found")
    if row.status not in ("failed", "not_sent_no_provider"):
        raise RuleViolation(f"A {row.status} message cannot be resent")
    if any((row.payload or {}).get(key) == REDACTED for key in template_spec(row.template).secret_keys):
        raise RuleViolation("This message held a one-time link that was wiped; the customer must ask again")
    updated = Notification.objects(pk=row.pk, status=row.status).modify(
        set__status="queued", set__attempts=0, set__next_attempt_at=now, set__updated_at=now, new=True
    )
    if updated is None:
        raise Conflict("The message changed meanwhile; reload and try again")
    audit.record(
        "notification_resend",
        "notification",
        row.pk,
        actor=actor,
        details={
            "previous_status": row.status,
            "previous_error": row.last_error or "",
            "attempts": row.attempts,
        },
    )
    enqueue_delivery(updated, suffix=f"resend-{int(now.timestamp())}")
    return updated
