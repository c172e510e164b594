"""Customer-side records: reservations, subscriptions, appointments, documents, pickup bookings,
leads and callbacks, and the consent ledger (business rules §4, §5.6, §5.10, §5.11, §7, §9, §13)."""

from __future__ import annotations

from decimal import Decimal

from mongoengine import (
    BooleanField,
    DateTimeField,
    IntField,
    ListField,
    ObjectIdField,
    QuerySet,
    ReferenceField,
    StringField,
)

from app.models.application import Application
from app.models.base import MoneyField, TimestampedDocument, utcnow
from app.models.lot import Lot
from app.models.user import User

RESERVATION_STATUSES = ("active", "expired", "cancelled", "converted", "deposit_paid")
RESERVATION_DEPOSIT = Decimal("97.49")
RESERVATION_HOLD_HOURS = 48


class ReservationQuerySet(QuerySet):
    def active(self) -> QuerySet:
        return self.filter(status="active")


class Reservation(TimestampedDocument):
    meta = {
        "collection": "reservations",
        "queryset_class": ReservationQuerySet,
        "auto_create_index": False,
        "indexes": [
            ("user", "-created_at"),
            ("status", "expires_at"),
            ("lot", "status"),
            # Business rules §4.1: one active reservation per user and lot, enforced by the database.
            {
                "fields": ["user", "lot"],
                "unique": True,
                "partialFilterExpression": {"status": "active"},
                "name": "one_active_reservation_per_user_and_lot",
            },
        ],
        "ordering": ["-created_at"],
    }

    user = ReferenceField(User, required=True)
    lot = ReferenceField(Lot, required=True)
    lot_slug = StringField(required=True)
    reserved_price = MoneyField(required=True)
    monthly_payment = MoneyField(required=True)
    due_at_signing = MoneyField(required=True)
    deposit_amount = MoneyField(required=True, default=RESERVATION_DEPOSIT)
    deposit_paid = BooleanField(required=True, default=False)
    status = StringField(required=True, choices=RESERVATION_STATUSES, default="active")
    expires_at = DateTimeField(required=True)
    application = ReferenceField(Application)
    cancelled_reason = StringField(max_length=200)
    ended_at = DateTimeField()
    expiry_notified = BooleanField(default=False)


SMS_CONSENT_STATUSES = ("not_requested", "pending", "granted", "revoked")


class SubscriptionQuerySet(QuerySet):
    def active(self) -> QuerySet:
        return self.filter(is_active=True)


# Sentinel stored in match_makes/match_models when the list is empty ("any make"), so the alert matcher can
# find subscriptions with one indexed ``$in`` instead of scanning for empty arrays.
MATCH_ANY = "*"


class Subscription(TimestampedDocument):
    """A model alert (business rules §7.1)."""

    meta = {
        "collection": "subscriptions",
        "queryset_class": SubscriptionQuerySet,
        "auto_create_index": False,
        "indexes": [
            ("user", "is_active", "-created_at"),
            # One array per index: MongoDB cannot index two array fields of one document together.
            ("is_active", "match_makes"),
            ("is_active", "match_models"),
        ],
        "ordering": ["-created_at"],
    }

    user = ReferenceField(User, required=True)
    makes = ListField(StringField(max_length=60), max_length=10)
    models = ListField(StringField(max_length=80), max_length=10)
    match_makes = ListField(StringField())
    match_models = ListField(StringField())
    max_price = MoneyField()
    email = StringField(max_length=254)
    phone = StringField(max_length=20)
    telegram_id = StringField(max_length=64)
    notify_email = BooleanField(default=True)
    notify_sms = BooleanField(default=False)
    notify_telegram = BooleanField(default=False)
    notify_on_new_listing = BooleanField(default=True)
    notify_on_price_drop = BooleanField(default=True)
    sms_consent_status = StringField(choices=SMS_CONSENT_STATUSES, default="not_requested")
    language = StringField(choices=("en", "ru"), default="en")
    is_active = BooleanField(default=True)
    unsubscribed_at = DateTimeField()

    def clean(self) -> None:
        self.makes = [m.strip() for m in self.makes or [] if m and m.strip()]
        self.models = [m.strip() for m in self.models or [] if m and m.strip()]
        self.match_makes = sorted({m.lower() for m in self.makes}) or [MATCH_ANY]
        self.match_models = sorted({m.lower() for m in self.models}) or [MATCH_ANY]
        if self.max_price is not None and Decimal(self.max_price) == 0:
            self.max_price = None


APPOINTMENT_TYPES = ("pickup", "video", "test_drive")
APPOINTMENT_TIMES = ("9:00 AM", "10:00 AM", "11:00 AM", "1:00 PM", "2:00 PM", "3:00 PM", "4:00 PM", "5:00 PM")
APPOINTMENT_STATUSES = ("scheduled", "completed", "cancelled", "no_show")


class Appointment(TimestampedDocument):
    meta = {
        "collection": "appointments",
        "auto_create_index": False,
        "indexes": [("user", "-created_at"), "application", ("status", "starts_at")],
        "ordering": ["starts_at"],
    }

    user = ReferenceField(User, required=True)
    application = ReferenceField(Application, required=True)
    appointment_type = StringField(required=True, choices=APPOINTMENT_TYPES)
    date = StringField(required=True, max_length=10)  # YYYY-MM-DD, Pacific
    time = StringField(required=True, choices=APPOINTMENT_TIMES)
    starts_at = DateTimeField(required=True)  # the same instant in UTC
    status = StringField(required=True, choices=APPOINTMENT_STATUSES, default="scheduled")
    notes = StringField(max_length=2000)


DOCUMENT_TYPES = ("drivers_license", "paystub", "proof_of_address", "insurance", "other")


class CustomerDocument(TimestampedDocument):
    """A file a customer uploaded for an application, encrypted in private storage (business rules §5.10)."""

    meta = {
        "collection": "customer_documents",
        "auto_create_index": False,
        "indexes": [("application", "-created_at"), "user", {"fields": ["storage_key"], "unique": True}],
        "ordering": ["-created_at"],
    }

    user = ReferenceField(User, required=True)
    application = ReferenceField(Application, required=True)
    doc_type = StringField(required=True, choices=DOCUMENT_TYPES)
    content_type = StringField(required=True, max_length=60)
    size = IntField(required=True, min_value=0)
    sha256 = StringField(required=True, max_length=64)
    storage_key = StringField(required=True, max_length=100)  # server-generated file name
    original_filename = StringField(max_length=200)


class PickupBooking(TimestampedDocument):
    """One booked pickup slot; the unique start makes double booking impossible (business rules §5.6)."""

    meta = {
        "collection": "pickup_bookings",
        "auto_create_index": False,
        "indexes": [{"fields": ["slot_start"], "unique": True}, {"fields": ["application"], "unique": True}],
    }

    slot_start = DateTimeField(required=True)
    application = ReferenceField(Application, required=True)
    user = ReferenceField(User, required=True)


LEAD_KINDS = ("lead", "callback")
LEAD_STATUSES = ("new", "contacted", "closed")
CALLBACK_STATUSES = ("new", "called", "no_answer", "closed")
PREFERRED_TIMES = ("asap", "morning", "afternoon")


class Lead(TimestampedDocument):
    """A car-page "Get Your Offer" lead or a dashboard callback request (business rules §9)."""

    meta = {
        "collection": "leads",
        "auto_create_index": False,
        "indexes": [("kind", "status", "-created_at"), "-created_at", {"fields": ["user"], "sparse": True}],
        "ordering": ["-created_at"],
    }

    kind = StringField(required=True, choices=LEAD_KINDS)
    status = StringField(
        required=True, default="new", choices=tuple(dict.fromkeys(LEAD_STATUSES + CALLBACK_STATUSES))
    )
    outcome = StringField(max_length=500)
    name = StringField(max_length=100)
    phone = StringField(max_length=20)
    email = StringField(max_length=254)
    message = StringField(max_length=2000)
    consent = BooleanField(default=False)
    consent_text_version = StringField(max_length=40)
    car_id = StringField(max_length=200)
    lot = ReferenceField(Lot)
    car_title = StringField(max_length=200)
    user = ReferenceField(User)
    preferred_time = StringField(choices=PREFERRED_TIMES)
    ip_address = StringField(max_length=64)
    user_agent = StringField(max_length=400)
    handled_by = ObjectIdField()
    handled_at = DateTimeField()


CONSENT_CHANNELS = ("email", "sms", "telegram", "phone")
CONSENT_PURPOSES = ("marketing_alerts", "transactional", "lead_contact", "esign", "credit_pull")
CONSENT_ACTIONS = ("requested", "granted", "revoked")


class ConsentRecord(TimestampedDocument):
    """Append-only consent ledger (business rules §13.2): who agreed to what, where and when."""

    meta = {
        "collection": "consent_records",
        "auto_create_index": False,
        "indexes": [("user", "channel", "purpose", "-created_at"), ("address", "channel", "-created_at")],
        "ordering": ["-created_at"],
    }

    user = ReferenceField(User)
    address = StringField(required=True, max_length=254)  # e-mail, phone (E.164) or telegram chat id
    channel = StringField(required=True, choices=CONSENT_CHANNELS)
    purpose = StringField(required=True, choices=CONSENT_PURPOSES)
    action = StringField(required=True, choices=CONSENT_ACTIONS)
    disclosure_version = StringField(max_length=40)
    checkbox_state = BooleanField()
    source = StringField(max_length=200)
    ip_address = StringField(max_length=64)
    user_agent = StringField(max_length=400)
    recorded_at = DateTimeField(default=utcnow)
