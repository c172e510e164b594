"""Uniqueness rules the database itself enforces, and migrations that can run twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from mongoengine import NotUniqueError

from app.db import get_db
from app.migrations_runner import apply_pending, declared_index_specs
from app.models import Application, PickupBooking, Reservation
from app.models.application import LotSnapshot, UserSnapshot
from app.models.base import utcnow
from tests.factories import make_lot, make_user


def reservation(user, lot, status="active"):
    return Reservation(
        user=user,
        lot=lot,
        lot_slug=lot.slug,
        reserved_price=lot.fleet,
        monthly_payment=Decimal(329),
        due_at_signing=Decimal(2999),
        status=status,
        expires_at=utcnow() + timedelta(hours=48),
    )


def application(user, lot, status="pending"):
    return Application(
        user=user,
        lot=lot,
        status=status,
        lot_data=LotSnapshot(slug=lot.slug),
        user_data=UserSnapshot(email=user.email),
    )


def test_lot_slug_is_unique(app):
    make_lot(slug="2025-toyota-camry-se")
    with pytest.raises(NotUniqueError):
        make_lot(slug="2025-toyota-camry-se")


def test_email_is_unique_after_normalisation(app):
    make_user(email="Dana@Example.com")
    with pytest.raises(NotUniqueError):
        make_user(email="  dana@example.COM ")


def test_two_active_reservations_of_one_lot_by_one_user_are_impossible(app):
    user, lot = make_user(), make_lot()
    reservation(user, lot).save()
    with pytest.raises(NotUniqueError):
        reservation(user, lot).save()
    # Ended holds do not count: the customer may reserve again after expiry or cancellation.
    reservation(user, lot, status="cancelled").save()
    reservation(user, lot, status="expired").save()
    reservation(make_user(), lot).save()


def test_one_open_application_per_user_and_lot(app):
    user, lot = make_user(), make_lot()
    application(user, lot).save()
    with pytest.raises(NotUniqueError):
        application(user, lot, status="contacted").save()
    application(user, lot, status="rejected").save()  # closed ones do not block


def test_a_pickup_slot_is_booked_once(app):
    user, lot = make_user(), make_lot()
    first, second = application(user, lot).save(), application(make_user(), lot).save()
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    PickupBooking(slot_start=start, application=first, user=user).save()
    with pytest.raises(NotUniqueError):
        PickupBooking(slot_start=start, application=second, user=second.user).save()


def test_token_collections_expire_through_ttl_indexes(app):
    indexes = get_db().preview_tokens.index_information()
    assert any(info.get("expireAfterSeconds") == 0 for info in indexes.values())


def test_every_declared_index_exists(app):
    db = get_db()
    for collection, keys, _options in declared_index_specs():
        existing = [list(map(tuple, info["key"])) for info in db[collection].index_information().values()]
        assert keys in existing, f"{collection} lacks index {keys}"


def test_migrations_are_recorded_and_a_second_run_changes_nothing(app):
    db = get_db()
    before = {name: db[name].index_information() for name in db.list_collection_names()}
    report = apply_pending(db, echo=lambda _m: None)
    assert report.applied == [] and report.indexes_created == []
    after = {name: db[name].index_information() for name in db.list_collection_names()}
    assert before == after
    recorded = db.migrations.find_one({"_id": "2026-12-03-create-indexes.py"})
    assert recorded["status"] == "applied" and recorded["applied_at"] is not None
