"""Events → outbox: the messages of business rules §8, one function per event.

The API and the back office call these when something happens to a customer (an application is received
or changes status, a pickup is booked, a reservation is created or expires, a sign-in link is asked for, an
SMS alert subscription needs consent) or when staff must be told. Each function picks the channels the
recipient may be reached on, writes one outbox row per channel through
:func:`app.services.notifications.queue_message` under an idempotency key built from the event and the
recipient (so calling it twice for one event sends one message), and returns the rows.

Channels (§8.1): transactional messages go by e-mail; by SMS as well only when the account has SMS consent
for account messages on record. The language is the customer's preference (``en`` or ``ru``). Payloads
hold what the template needs and nothing sensitive (§12.1): never an SSN, licence number or birth date.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app

from app.models import Application, Lot, Notification, Reservation, Subscription, User
from app.models.base import as_utc, parse_object_id
from app.services import consent
from app.services.notifications import APPLICATION_STATUS_TEMPLATES, queue_message

log = logging.getLogger(__name__)


def _load(document_class: type, value: Any) -> Any:
    if isinstance(value, document_class):
        return value
    found = document_class.objects(pk=parse_object_id(str(value))).first()
    if found is None:
        raise LookupError(f"{document_class.__name__} {value} not found")
    return found


def _language(*candidates: Any) -> str:
    for candidate in candidates:
        if candidate in ("en", "ru"):
            return candidate
    return "en"


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def _dollars(value: Any) -> str | None:
    return str(Decimal(value)) if value is not None else None


def car_link(slug: str) -> str:
    """``{FRONTEND_URL}/car/{slug}`` (§8: the host comes from configuration)."""
    return f"{current_app.config['FRONTEND_URL'].rstrip('/')}/car/{slug}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


def transactional_channels(user: User) -> list[tuple[str, str]]:
    """(channel, address) pairs for an account message: e-mail, plus SMS with consent on record (§8.1)."""
    channels: list[tuple[str, str]] = []
    if user.email:
        channels.append(("email", user.email))
    phone = consent.normalise_phone(user.phone)
    if phone and consent.has_consent("sms", phone, "transactional"):
        channels.append(("sms", phone))
    return channels


def _send_to_user(
    user: User,
    *,
    template: str,
    event: str,
    payload: dict[str, Any],
    application_id: Any = None,
    lot: Any = None,
) -> list[Notification]:
    language = _language(user.language)
    rows = []
    for channel, address in transactional_channels(user):
        rows.append(
            queue_message(
                channel=channel,
                recipient=address,
                template=template,
                idempotency_key=f"{event}:{channel}:{user.pk}",
                payload=payload,
                language=language,
                user=user.pk,
                application_id=application_id,
                lot=lot,
                event_key=event,
            )
        )
    return rows


# ------------------------------------------------------------------------------------------- applications


def _vehicle(application: Application) -> dict[str, Any]:
    data = application.lot_data
    return {
        "year": data.year if data else None,
        "make": data.make if data else "",
        "model": data.model if data else "",
    }


def application_received(application: Application | Any) -> list[Notification]:
    """ "We've received your application for the {year} {make} {model}..." (§8.1)."""
    application = _load(Application, application)
    user = application.user
    return _send_to_user(
        user,
        template="application_received",
        event=f"application_received:{application.pk}",
        payload=_vehicle(application),
        application_id=application.pk,
        lot=application.lot.pk if application.lot else None,
    )


def application_status_changed(application: Application | Any) -> list[Notification]:
    """The status text of §8.1 for the application's current status (approval included).

    The event is the status change itself: its position in the status history, so a later change back to
    an earlier status is a new message, while calling this twice for one change sends one.
    """
    application = _load(Application, application)
    status = application.status
    template = (
        f"application_status_{status}"
        if status in APPLICATION_STATUS_TEMPLATES
        else "application_status_other"
    )
    step = len(application.status_history or [])
    return _send_to_user(
        application.user,
        template=template,
        event=f"application_status:{application.pk}:{status}:{step}",
        payload={**_vehicle(application), "status": status},
        application_id=application.pk,
        lot=application.lot.pk if application.lot else None,
    )


def pickup_scheduled(application: Application | Any) -> list[Notification]:
    """ "Your vehicle pickup is scheduled for {slot} (Pacific Time) at ..." (§8.1, §5.6)."""
    application = _load(Application, application)
    if application.pickup_slot is None:
        log.warning("pickup message for application %s skipped: no pickup slot", application.pk)
        return []
    slot = _iso(application.pickup_slot)
    return _send_to_user(
        application.user,
        template="pickup_scheduled",
        event=f"pickup_scheduled:{application.pk}:{slot}",
        payload={**_vehicle(application), "slot_at": slot},
        application_id=application.pk,
        lot=application.lot.pk if application.lot else None,
    )


# ------------------------------------------------------------------------------------------- reservations


def _reservation_payload(reservation: Reservation) -> dict[str, Any]:
    lot = Lot.objects(pk=reservation.lot.pk).only("year", "make", "model", "trim", "slug").first()
    title = lot.title if lot else reservation.lot_slug
    return {
        "title": title,
        "expires_at": _iso(reservation.expires_at),
        "link": car_link(reservation.lot_slug),
    }


def _reservation_message(reservation: Reservation | Any, template: str) -> list[Notification]:
    reservation = _load(Reservation, reservation)
    return _send_to_user(
        reservation.user,
        template=template,
        event=f"{template}:{reservation.pk}",
        payload=_reservation_payload(reservation),
        lot=reservation.lot.pk,
    )


def reservation_created(reservation: Reservation | Any) -> list[Notification]:
    """ "Your price for the {title} is reserved until {expires} (Pacific Time)." (§8.1)."""
    return _reservation_message(reservation, "reservation_created")


def reservation_expired(reservation: Reservation | Any) -> list[Notification]:
    """ "Your price reservation for the {title} has expired..." (§8.1, §4.1)."""
    return _reservation_message(reservation, "reservation_expired")


def reservation_cancelled(reservation: Reservation | Any) -> list[Notification]:
    """The lot was sold to someone else and this hold was cancelled (§2.5, CHOICE wording)."""
    return _reservation_message(reservation, "reservation_cancelled")


# ------------------------------------------------------------------------------------------------ sign-in


def magic_link(email: str, link: str, language: str = "en") -> list[Notification]:
    """The sign-in link (consumer-api magic link). E-mail only. The link is wiped from the outbox row as
    soon as the message is final, so a database reader never finds a usable sign-in link."""
    address = consent.normalise_address("email", email)
    user = User.objects.by_email(address)
    return [
        queue_message(
            channel="email",
            recipient=address,
            template="magic_link",
            idempotency_key=f"magic_link:{_digest(link)}:email:{_digest(address)}",
            payload={"link": link},
            language=_language(language, user.language if user else None),
            user=user.pk if user else None,
            event_key="magic_link",
        )
    ]


# ------------------------------------------------------------------------------------------------ consent


def telegram_link(
    user: User | Any, code: str, *, telegram_username: str | None = None, language: str | None = None
) -> list[Notification]:
    """E-mail the account its one-time bot link ``t.me/<bot>?start=<code>`` (from
    :func:`app.services.consent.telegram_link_code`), so that Telegram alerts can reach it.

    The site's alert form asks for a Telegram username, but a bot can only write to a chat that started it:
    the customer opens the link, presses Start, and ``/start <code>`` links the chat. One message per
    account and code; nothing when the bot's username is not configured (no link can be built) or the
    account has no e-mail. Like a sign-in link, the link is wiped from the outbox row once it is final.
    """
    user = _load(User, user)
    link = consent.telegram_link_url(code)
    if link is None or not user.email:
        log.warning("Telegram link for user %s not sent: no bot username or no e-mail", user.pk)
        return []
    return [
        queue_message(
            channel="email",
            recipient=user.email,
            template="telegram_link",
            idempotency_key=f"telegram_link:{user.pk}:{_digest(code)}:email",
            payload={"link": link, "telegram_username": telegram_username or ""},
            language=_language(user.language, language),
            user=user.pk,
            event_key="telegram_link",
        )
    ]


def subscription_label(subscription: Subscription) -> str:
    """What the customer subscribed to, in their words: ``"Lexus RX350"``, ``"Toyota, Lexus"``."""
    makes = ", ".join(subscription.makes or [])
    models = ", ".join(subscription.models or [])
    return " ".join(part for part in (makes, models) if part)


def sms_consent_request(subscription: Subscription | Any) -> list[Notification]:
    """The one confirmation text of §7.4 asking the customer to reply YES (TCPA prior express consent).

    Sent once per subscription and number. If this number already has SMS alert consent, the subscription is
    marked ``granted`` and nothing is sent. The request is recorded in the consent ledger with the
    disclosure version it carries.
    """
    subscription = _load(Subscription, subscription)
    phone = consent.normalise_phone(subscription.phone)
    if phone is None or not subscription.is_active:
        return []
    if consent.has_consent("sms", phone, "marketing_alerts"):
        subscription.update(set__sms_consent_status="granted")
        return []
    if subscription.sms_consent_status != "pending":
        subscription.update(set__sms_consent_status="pending")
    key = f"sms_consent_request:{subscription.pk}:sms:{phone}"
    already = Notification.objects(idempotency_key=key).first()
    if already is not None:
        return [already]
    consent.record(
        channel="sms",
        address=phone,
        purpose="marketing_alerts",
        action="requested",
        user=subscription.user.pk,
        disclosure_version=consent.SMS_ALERTS_DISCLOSURE,
        source=f"subscription {subscription.pk}",
    )
    user = subscription.user
    return [
        queue_message(
            channel="sms",
            recipient=phone,
            template="sms_consent_request",
            idempotency_key=key,
            payload={"subscribed_to": subscription_label(subscription)},
            language=_language(user.language if user else None, subscription.language),
            user=user.pk if user else None,
            event_key="sms_consent_request",
        )
    ]


# -------------------------------------------------------------------------------------------------- staff


def staff_alert(
    subject: str, body: str, *, event_key: str | None = None, roles: tuple[str, ...] = ("admin",)
) -> list[Notification]:
    """E-mail every active admin (or the given staff roles). One message per event and recipient:
    ``event_key`` defaults to a digest of the text, so the same alert raised twice goes out once."""
    event = event_key or _digest(f"{subject}\n{body}")
    rows = []
    for staff in User.objects(role__in=roles, is_active=True).only("id", "email", "language"):
        rows.append(
            queue_message(
                channel="email",
                recipient=staff.email,
                template="staff_alert",
                idempotency_key=f"staff_alert:{event}:email:{staff.pk}",
                payload={"subject": subject[:200], "body": body[:4000]},
                language="en",
                category="system",
                user=staff.pk,
                event_key=f"staff_alert:{event}"[:200],
            )
        )
    return rows
