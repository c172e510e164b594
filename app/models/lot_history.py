"""Price history of lots: one entry per change of MSRP, discount or monthly payment (back office)."""

from __future__ import annotations

from mongoengine import Document, ObjectIdField, StringField
from mongoengine.fields import DateTimeField

from app.models.base import MoneyField, utcnow


class LotPriceChange(Document):
    """An append-only record of a lot's prices after a change, with the values before it.

    Written by ``app.services.lots`` whenever a create, edit or import touches ``msrp``, ``discount`` or
    ``lease.monthly``, so editors can see how an offer moved and the alert rules can be explained.
    """

    meta = {
        "collection": "lot_price_history",
        "auto_create_index": False,
        "indexes": [("lot", "-at")],
        "ordering": ["-at"],
    }

    lot = ObjectIdField(required=True)
    at = DateTimeField(default=utcnow, required=True)
    actor_id = StringField(max_length=40)
    actor_email = StringField(max_length=254)
    source = StringField(max_length=20, default="edit")  # create, edit, import
    msrp = MoneyField()
    discount = MoneyField()
    fleet = MoneyField()
    monthly = MoneyField()
    old_msrp = MoneyField()
    old_discount = MoneyField()
    old_fleet = MoneyField()
    old_monthly = MoneyField()
