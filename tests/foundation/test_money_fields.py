"""Money is Decimal128 in the database: exact cents, whole dollars on lot prices, updates by queryset."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128
from mongoengine import ValidationError

from app.db import get_db
from app.models import Lot, Reservation
from app.models.base import utcnow
from tests.factories import make_lot, make_user


def test_lot_prices_are_stored_as_decimal128_and_read_back_exactly(app):
    lot = make_lot(msrp=Decimal(32500), discount=Decimal(3100))
    raw = get_db().lots.find_one({"_id": lot.pk})
    assert raw["msrp"] == Decimal128("32500.00")
    assert Lot.objects.get(pk=lot.pk).fleet == Decimal(29400)


def test_lot_prices_must_be_whole_dollars(app):
    with pytest.raises(ValidationError, match="whole number of dollars"):
        make_lot(msrp=Decimal("32500.50"))


def test_amounts_round_half_up_to_cents_and_legacy_floats_keep_their_digits(app):
    reservation = Reservation(
        user=make_user(),
        lot=make_lot(),
        lot_slug="x",
        reserved_price=Decimal("29400.005"),
        monthly_payment=38067.0,  # a double from the old platform's export
        due_at_signing=Decimal("2999"),
        expires_at=utcnow() + timedelta(hours=48),
    ).save()
    reservation.reload()
    assert reservation.reserved_price == Decimal("29400.01")
    assert reservation.monthly_payment == Decimal("38067.00")
    assert reservation.deposit_amount == Decimal("97.49")


def test_queryset_updates_accept_decimals(app):
    lot = make_lot()
    Lot.objects(pk=lot.pk).update_one(set__msrp=Decimal(40000), set__finance__apr=Decimal("4.5"))
    lot.reload()
    assert lot.msrp == Decimal(40000) and lot.finance.apr == Decimal("4.5")
