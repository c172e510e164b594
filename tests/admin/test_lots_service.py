"""Lot rules of the back office (business rules §2): input mapping, publish validation, transitions, slugs,
offer end, alerts, price history, duplicate, scheduled promotion and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rq import Queue

from app.db import get_redis
from app.errors import PermissionDenied, RuleViolation
from app.models import AuditLog, Lot, LotPriceChange, Reservation
from app.models.base import utcnow
from app.services import audit, lots
from app.services.lots import LotInvalid
from tests.admin.conftest import VALID_VIN, make_customer
from tests.factories import LONG_DESCRIPTION, make_lot, make_user

EDITOR = audit.Actor(id="000000000000000000000001", email="ed@example.com", role="editor")
ADMIN = audit.Actor(id="000000000000000000000002", email="ad@example.com", role="admin")
FINANCE = audit.Actor(id="000000000000000000000003", email="fm@example.com", role="finance_manager")

DRAFT = {
    "make": "Toyota",
    "model": "Camry",
    "year": "2025",
    "trim": "SE",
    "vin": VALID_VIN,
    "msrp": "32,500",
    "discount": "3100",
    "dealer_addons": "2800",
    "fees_hint": "3200",
    "description": LONG_DESCRIPTION,
    "lease_monthly": "329",
    "lease_due_at_signing": "2999",
    "lease_term_months": "36",
    "lease_miles_per_year": "10000",
    "finance_apr": "3.9",
    "finance_term_months": "60",
    "finance_down_payment": "3000",
}


def publishable_draft(**overrides: object) -> Lot:
    lot = lots.create_lot({**DRAFT, **overrides}, actor=EDITOR)
    from app.models.lot import LotImage

    Lot.objects(pk=lot.pk).update_one(push__images=LotImage(image_id="a1", original="images/original/a1.jpg"))
    return lot.reload()


def jobs(queue: str = "notifications") -> list[tuple[str, tuple]]:
    return [(job.func_name, job.args) for job in Queue(queue, connection=get_redis()).jobs]


def test_create_maps_known_fields_only_and_derives_the_slug(app):
    lot = lots.create_lot({**DRAFT, "status": "published", "announced_fleet": "1", "evil": "x"}, actor=EDITOR)
    assert lot.status == "draft" and lot.announced_fleet is None  # never mass-assigned
    assert lot.slug == "2025-toyota-camry-se"
    assert (
        lot.msrp == Decimal(32500) and lot.lease.monthly == Decimal(329) and lot.finance.apr == Decimal("3.9")
    )
    assert LotPriceChange.objects(lot=lot.pk).count() == 1
    entry = AuditLog.objects.get(action="create", resource_id=str(lot.pk))
    assert entry.actor_email == "ed@example.com" and entry.changes["make"] == {"old": None, "new": "Toyota"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("vin", "1HGCM82633A00435", "17 characters"),
        ("vin", "1HGCM82623A004352", "check digit"),
        ("discount", "40000", "above the MSRP"),
        ("msrp", "-5", "negative"),
        ("lease_term_months", "72", "at most 60"),
        ("lease_miles_per_year", "9000", "must be one of"),
        ("finance_apr", "31", "at most 30"),
        ("msrp", "32500.50", "whole dollars"),
        ("year", "", "required"),
        ("publish_at", "soon", "date and time"),
    ],
)
def test_invalid_input_is_reported_per_field(app, field, value, message):
    with pytest.raises(LotInvalid) as caught:
        lots.create_lot({**DRAFT, field: value}, actor=EDITOR)
    assert message in caught.value.errors[field]
    assert Lot.objects.count() == 0


def test_only_editors_and_admins_change_lots(app):
    with pytest.raises(PermissionDenied):
        lots.create_lot(DRAFT, actor=FINANCE)
    lot = publishable_draft()
    with pytest.raises(PermissionDenied):
        lots.publish(lot.pk, actor=FINANCE)
    with pytest.raises(PermissionDenied):
        lots.soft_delete(lot.pk, actor=EDITOR)


def test_publish_validation_lists_all_nine_checks(app):
    lot = Lot(make="Kia", model="Niro", year=2010, msrp=Decimal(500), discount=Decimal(600), slug="Bad Slug")
    lot.save(validate=False)
    messages = " | ".join(lots.validate_for_publish(lot))
    for expected in (
        "Trim is required",
        "Year must be between 2015",
        "MSRP must be at least 1,000",
        "Discount must be between 0 and the MSRP",
        "Description must have at least 140",
        "At least one image",
        "VIN is required",
        "monthly payment greater than 0",
        "Dealer add-ons greater than 0",
        "required to publish",  # lease / finance completeness
        "slug is not valid",
    ):
        assert expected in messages


def test_publish_refuses_a_bad_check_digit_and_a_short_description(app):
    lot = publishable_draft()
    Lot.objects(pk=lot.pk).update_one(set__vin="1HGCM82623A004352", set__description="Too short")
    with pytest.raises(LotInvalid) as caught:
        lots.publish(lot.pk, actor=EDITOR)
    assert set(caught.value.errors) == {"vin", "description"}
    assert Lot.objects.get(pk=lot.pk).status == "draft"


def test_first_publication_stamps_dates_announces_and_freezes_the_slug(app):
    lot = publishable_draft()
    now = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
    lots.publish(lot.pk, actor=EDITOR, now=now)
    lot.reload()
    assert lot.status == "published" and lot.published_at is not None
    # End of March, 23:59:59 Pacific (daylight time: UTC−7).
    assert lot.offer_ends_at == datetime(2026, 4, 1, 6, 59, 59, tzinfo=UTC)
    assert lot.announced_fleet == Decimal(29400) and lot.announced_monthly == Decimal(329)
    assert ("workers.jobs.alerts.fan_out_new_listing", (str(lot.pk),)) in jobs()
    with pytest.raises(LotInvalid) as caught:
        lots.update_lot(lot.pk, {"slug": "something-else"}, actor=EDITOR)
    assert "frozen" in caught.value.errors["slug"]
    lots.update_lot(lot.pk, {"trim": "XSE"}, actor=EDITOR)
    assert lot.reload().slug == "2025-toyota-camry-se"  # the trim changed, the slug did not

    # Archive and publish again: not a new listing (§7.2), published_at unchanged. (The March offer end
    # has passed by now, and an expired offer cannot be re-published until it is extended.)
    first = lot.published_at
    lots.update_lot(lot.pk, {"offer_ends_at": (utcnow() + timedelta(days=9)).isoformat()}, actor=EDITOR)
    lots.archive(lot.pk, actor=EDITOR)
    lots.publish(lot.pk, actor=EDITOR)
    assert lot.reload().published_at == first
    assert [j for j in jobs() if j[0].endswith("fan_out_new_listing")] == [
        ("workers.jobs.alerts.fan_out_new_listing", (str(lot.pk),))
    ]


def test_the_slug_follows_edits_until_published_and_collisions_use_the_vin(app):
    make_lot(make="Toyota", model="Camry", year=2025, trim="SE", slug="2025-toyota-camry-se")
    lot = lots.create_lot(DRAFT, actor=EDITOR)
    assert lot.slug == "2025-toyota-camry-se-04352"
    lot = lots.update_lot(lot.pk, {"trim": "XLE"}, actor=EDITOR)
    assert lot.slug == "2025-toyota-camry-xle"
    lot = lots.update_lot(lot.pk, {"slug": "My Camry!"}, actor=EDITOR)
    assert lot.slug == "my-camry"
    with pytest.raises(LotInvalid):
        lots.update_lot(lot.pk, {"slug": "2025-toyota-camry-se"}, actor=EDITOR)


def test_transitions_follow_the_table(app):
    lot = publishable_draft()
    with pytest.raises(RuleViolation):
        lots.archive(lot.pk, actor=EDITOR)  # draft → archived is not in the table
    with pytest.raises(RuleViolation):
        lots.mark_sold(lot.pk, actor=EDITOR)
    lots.publish(lot.pk, actor=EDITOR)
    lots.mark_sold(lot.pk, actor=EDITOR)
    assert lot.reload().status == "sold" and lot.sold_at is not None
    with pytest.raises(RuleViolation):
        lots.publish(lot.pk, actor=EDITOR)
    with pytest.raises(RuleViolation):
        lots.update_lot(lot.pk, {"trim": "X"}, actor=EDITOR)
    with pytest.raises(PermissionDenied):
        lots.restore(lot.pk, actor=EDITOR, reason="mistake")
    with pytest.raises(Exception, match="reason"):
        lots.restore(lot.pk, actor=ADMIN, reason="")
    lots.restore(lot.pk, actor=ADMIN, reason="Sold by mistake")
    assert lot.reload().status == "published"
    entry = AuditLog.objects.get(action="restore", resource_id=str(lot.pk))
    assert entry.reason == "Sold by mistake"
    lots.soft_delete(lot.pk, actor=ADMIN)
    assert lot.reload().status == "deleted" and lot.status_before_terminal == "published"


def test_unpublish_is_refused_while_a_reservation_is_active(app):
    lot = publishable_draft()
    lots.publish(lot.pk, actor=EDITOR)
    customer = make_customer()
    Reservation(
        user=customer,
        lot=lot,
        lot_slug=lot.slug,
        reserved_price=Decimal(29400),
        monthly_payment=Decimal(329),
        due_at_signing=Decimal(2999),
        expires_at=utcnow() + timedelta(hours=10),
    ).save()
    with pytest.raises(RuleViolation, match="active reservation"):
        lots.unpublish(lot.pk, actor=EDITOR)
    lots.archive(lot.pk, actor=EDITOR)  # archiving is the way out, and the hold is honoured


def test_mark_sold_cancels_other_reservations(app):
    lot = publishable_draft()
    lots.publish(lot.pk, actor=EDITOR)
    for _ in range(2):
        Reservation(
            user=make_customer(),
            lot=lot,
            lot_slug=lot.slug,
            reserved_price=Decimal(29400),
            monthly_payment=Decimal(329),
            due_at_signing=Decimal(2999),
            expires_at=utcnow() + timedelta(hours=10),
        ).save()
    lots.mark_sold(lot.pk, actor=EDITOR)
    assert Reservation.objects(lot=lot.pk, status="active").count() == 0
    assert Reservation.objects(lot=lot.pk, status="cancelled").count() == 2


def test_price_drop_alerts_past_the_thresholds_only(app):
    lot = publishable_draft()
    lots.publish(lot.pk, actor=EDITOR)
    get_redis().flushdb()
    lots.update_lot(lot.pk, {"discount": "3500"}, actor=EDITOR)  # fleet −400: below the $500 threshold
    lots.update_lot(lot.pk, {"lease_monthly": "321"}, actor=EDITOR)  # monthly −8: below $10
    assert jobs() == []
    lots.update_lot(lot.pk, {"discount": "3600"}, actor=EDITOR)  # fleet −500 against the announced price
    assert jobs() == [("workers.jobs.alerts.fan_out_price_drop", (str(lot.pk),))]
    history = lots.price_history(lot.pk)
    assert [h.fleet for h in history[:3]] == [Decimal(28900), Decimal(29000), Decimal(29000)]
    assert history[0].old_fleet == Decimal(29000)


def test_a_public_lot_cannot_be_edited_into_an_unpublishable_state(app):
    lot = publishable_draft()
    lots.publish(lot.pk, actor=EDITOR)
    with pytest.raises(LotInvalid) as caught:
        lots.update_lot(lot.pk, {"lease_monthly": "", "description": "short"}, actor=EDITOR)
    assert {"lease_monthly", "description"} <= set(caught.value.errors)
    assert lot.reload().lease.monthly == Decimal(329)


def test_scheduled_lots_are_promoted_when_due_and_blocked_ones_stay(app):
    good = publishable_draft()
    bad = publishable_draft(trim="XSE")
    now = utcnow()
    lots.schedule(good.pk, now + timedelta(hours=1), actor=EDITOR)
    lots.schedule(bad.pk, now + timedelta(hours=1), actor=EDITOR)
    with pytest.raises(LotInvalid):
        lots.schedule(publishable_draft(trim="LE").pk, now - timedelta(minutes=1), actor=EDITOR)
    Lot.objects(pk=bad.pk).update_one(set__description="now too short")
    make_user(role="editor", email="editor-on-duty@example.com")

    assert lots.promote_due_scheduled(now) == 0
    later = now + timedelta(hours=2)
    assert lots.promote_due_scheduled(later) == 1
    assert lots.promote_due_scheduled(later) == 0
    good.reload()
    assert good.status == "published" and abs(good.published_at - (now + timedelta(hours=1))) < timedelta(
        seconds=1
    )
    assert bad.reload().status == "scheduled"
    assert AuditLog.objects(action="auto_publish", actor_id="system").count() == 1
    assert AuditLog.objects(action="auto_publish_blocked", resource_id=str(bad.pk)).count() == 1  # told once
    from app.models import Notification

    assert Notification.objects(template="staff_alert", recipient="editor-on-duty@example.com").count() == 1


def test_expired_offers_are_archived_by_the_system(app):
    lot = publishable_draft()
    lots.publish(lot.pk, actor=EDITOR)
    Lot.objects(pk=lot.pk).update_one(set__offer_ends_at=utcnow() - timedelta(minutes=1))
    other = make_lot()  # ends in 20 days
    assert lots.archive_expired_offers() == 1
    assert lot.reload().status == "archived" and lot.archived_at is not None
    assert other.reload().status == "published"
    assert AuditLog.objects(action="auto_archive", resource_id=str(lot.pk)).first().actor_id == "system"


def test_batch_actions_apply_per_lot_rules_and_audit_each_lot(app):
    ready = publishable_draft()
    incomplete = lots.create_lot({**DRAFT, "trim": "LE", "description": "short"}, actor=EDITOR)
    result = lots.batch("publish", [ready.pk, incomplete.pk, "nope"], actor=EDITOR)
    assert result.done == [str(ready.pk)]
    assert {lot_id for lot_id, _ in result.failed} == {str(incomplete.pk), "nope"}
    assert AuditLog.objects(action="publish").count() == 1
    with pytest.raises(PermissionDenied):
        lots.batch("delete", [ready.pk], actor=EDITOR)


def test_duplicate_makes_a_draft_without_vin(app):
    lot = publishable_draft()
    lots.publish(lot.pk, actor=EDITOR)
    copy = lots.duplicate(lot.pk, actor=EDITOR)
    assert copy.status == "draft" and copy.vin is None and copy.published_at is None
    assert copy.slug == "2025-toyota-camry-se-2"
    assert copy.lease.monthly == Decimal(329) and copy.msrp == lot.msrp
    assert AuditLog.objects(action="duplicate", resource_id=str(copy.pk)).first().details[
        "duplicated_from"
    ] == str(lot.pk)


def test_competitor_prices_are_stamped_when_their_numbers_change(app):
    lot = lots.create_lot(
        {**DRAFT, "autobandit_monthly": "389", "autobandit_term": "36"}, actor=EDITOR
    ).reload()
    stamped = lot.competitor_prices.autobandit.updated_at
    assert stamped is not None and lot.competitor_prices.dealer_average is None
    lot = lots.update_lot(lot.pk, {"description": LONG_DESCRIPTION + " More."}, actor=EDITOR)
    assert lot.competitor_prices.autobandit.updated_at == stamped
