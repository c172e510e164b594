"""Alert bookkeeping (business rules §7.3): who was told about which lot event, and the daily cap.

``AlertDelivery`` is the "told once" marker: its unique (user, lot, event_key) index lets any number of
fan-out runs, retries and workers race without a customer ever getting the same alert twice.
``AlertDailyCount`` holds, per customer and Pacific day, the alert events counted against the daily cap; a
conditional ``$addToSet`` (only while the list is shorter than the cap) enforces the cap atomically, and
naming the event makes counting it again (a retry) a no-op.
"""

from __future__ import annotations

from mongoengine import DateTimeField, Document, ListField, ReferenceField, StringField

from app.models.base import utcnow
from app.models.lot import Lot
from app.models.user import User

# pending: recorded, messages not written yet; queued: the messages are in the outbox; capped: dropped by
# the daily cap; no_channel: nothing left to send on (the customer unsubscribed meanwhile).
ALERT_DELIVERY_STATUSES = ("pending", "queued", "capped", "no_channel")


class AlertDelivery(Document):
    meta = {
        "collection": "alert_deliveries",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["user", "lot", "event_key"], "unique": True, "name": "one_alert_per_user_lot_event"},
            ("lot", "event_key", "status"),
            "created_at",
        ],
    }

    user = ReferenceField(User, required=True)
    lot = ReferenceField(Lot, required=True)
    event_key = StringField(required=True, max_length=120)  # "new_listing" or "price_drop:{fleet}:{monthly}"
    day = StringField(required=True, max_length=10)  # Pacific date the alert counts against (YYYY-MM-DD)
    status = StringField(required=True, choices=ALERT_DELIVERY_STATUSES, default="pending")
    channels = ListField(StringField(max_length=20))
    created_at = DateTimeField(default=utcnow, required=True)
    updated_at = DateTimeField(default=utcnow, required=True)


class AlertDailyCount(Document):
    meta = {
        "collection": "alert_daily_counts",
        "auto_create_index": False,
        "indexes": [{"fields": ["user", "day"], "unique": True}, "day"],
    }

    user = ReferenceField(User, required=True)
    day = StringField(required=True, max_length=10)
    events = ListField(StringField(max_length=160))  # "<lot id>:<event key>", at most the cap

    @property
    def count(self) -> int:
        return len(self.events or [])
