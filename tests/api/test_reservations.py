"""Reservations (consumer-api §4.7, business rules §4)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from app.models import Application, AuditLog, Notification, Reservation
from app.models.base import utcnow
from app.models.lot import FinanceTerms, LeaseTerms
from app.services import reservations
from tests.api.helpers import completed_profile, sign_in
from tests.factories import make_lot, make_user

RESERVATION_KEYS = {
    "id", "lot_id", "lot_slug", "reserved_price", "monthly_payment", "due_at_signing", "deposit_amount",
    "deposit_paid", "status", "expires_at", "created_at", "application_id",
}  # fmt: skip


def site_body(lot, **overrides):
    """What the site's "Reserve Price" dialog sends."""
    body = {
        "lot_slug": lot.slug,
        "reserved_price": 29400,
        "monthly_payment": 329,
        "due_at_signing": 2999,
        "deposit_paid": False,
    }
    body.update(overrides)
    return body


def reserve(session, lot, **overrides):
    return session.post("/api/reservations", json=site_body(lot, **overrides))


# --------------------------------------------------------------------------------------------------------
# Create


def test_reserve_with_the_sites_body(alice, lot):
    response = reserve(alice, lot)
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["message"] == "Price reserved for 48 hours"
    reservation = Reservation.objects.get(pk=body["reservation_id"])
    assert body["expires_at"].endswith("Z")
    assert reservation.expires_at - reservation.created_at == timedelta(hours=48)
    assert reservation.deposit_amount == Decimal("97.49") and reservation.deposit_paid is False
    assert (
        AuditLog.objects(action="create", resource_type="reservation").get().resource_id
        == body["reservation_id"]
    )
    assert Notification.objects(template="reservation_created").get().recipient == alice.user.email


def test_the_server_sets_the_prices_whatever_the_client_sends(alice, lot):
    body = reserve(
        alice, lot, reserved_price=1, monthly_payment=5, due_at_signing=0, deposit_paid=True
    ).get_json()
    reservation = Reservation.objects.get(pk=body["reservation_id"])
    assert reservation.reserved_price == Decimal(29400)  # the fleet price
    assert reservation.monthly_payment == Decimal(329)  # the lease payment
    assert reservation.due_at_signing == Decimal(2999)
    assert reservation.deposit_paid is False


@pytest.mark.parametrize(
    "hints",
    [
        {"reserved_price": -1, "monthly_payment": -12.5, "due_at_signing": -3000},
        {"reserved_price": "n/a", "monthly_payment": {"$gt": 0}, "due_at_signing": True},
        {"reserved_price": 1e12, "monthly_payment": None, "due_at_signing": None},
    ],
)
def test_unusable_price_hints_are_dropped_never_refused(alice, lot, hints):
    # Hints are only hints (business rules §4.2); the contract refuses a reservation for its listed reasons only.
    response = reserve(alice, lot, **hints)
    assert response.status_code == 200
    reservation = Reservation.objects.get(pk=response.get_json()["reservation_id"])
    assert (reservation.reserved_price, reservation.monthly_payment) == (Decimal(29400), Decimal(329))


def test_a_client_monthly_within_a_dollar_of_the_finance_payment_is_kept(alice):
    lot = make_lot(
        msrp=Decimal(33000), discount=Decimal(3000), lease=LeaseTerms(monthly=Decimal(329), due_at_signing=None),
        finance=FinanceTerms(apr=Decimal("3.9"), term_months=60, down_payment=Decimal(3000)),
    )  # fmt: skip
    finance_payment = reservations.finance_payment(lot)
    assert finance_payment == Decimal(496)  # 27,000 at 3.9% over 60 months
    body = reserve(alice, lot, monthly_payment=495.6).get_json()
    reservation = Reservation.objects.get(pk=body["reservation_id"])
    assert reservation.monthly_payment == Decimal("495.60")
    assert reservation.due_at_signing == Decimal(3000)  # no lease due-at-signing: the default


def test_lot_slug_may_be_a_lot_id_and_the_query_form_works(alice, bob, lot):
    assert alice.post("/api/reservations", json={"lot_slug": str(lot.pk)}).status_code == 200
    assert bob.post(f"/api/reservations?lot_slug={lot.slug}&monthly_payment=329").status_code == 200


def test_lot_slug_is_required(alice):
    for response in (alice.post("/api/reservations", json={}), alice.post("/api/reservations")):
        assert response.status_code == 422
        assert response.get_json() == {"detail": "lot_slug is required"}


@pytest.mark.parametrize("status", ["draft", "archived", "sold", "deleted"])
def test_only_public_lots_can_be_reserved(alice, status):
    hidden = make_lot(status=status)
    response = reserve(alice, hidden)
    assert response.status_code == 404 and response.get_json() == {"detail": "Car not found"}


def test_a_second_active_reservation_is_400(alice, lot):
    reserve(alice, lot)
    response = reserve(alice, lot)
    assert response.status_code == 400
    assert response.get_json() == {"detail": "You already have an active reservation for this vehicle"}


def test_five_customers_at_most_hold_one_lot(app, lot):
    for _ in range(5):
        assert reserve(sign_in(app, make_user()), lot).status_code == 200
    response = reserve(sign_in(app, make_user()), lot)
    assert response.status_code == 400
    assert response.get_json() == {"detail": "This vehicle cannot be reserved right now"}


def test_twenty_simultaneous_identical_requests_create_exactly_one(app, alice, lot):
    barrier = threading.Barrier(20)

    def attempt(_: int) -> tuple[int, str | None]:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = client.post("/api/reservations", json=site_body(lot), headers=alice.headers)
            return response.status_code, response.get_json().get("detail")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert Reservation.objects(user=alice.user.pk, lot=lot.pk).count() == 1
    assert [status for status, _ in results].count(200) == 1
    # The others are refused as duplicates, or by the per-user rate limit (10 per minute).
    for status, detail in results:
        assert (status, detail) in {
            (200, None),
            (400, "You already have an active reservation for this vehicle"),
            (429, "Too many requests. Please try again later."),
        }


def test_the_unique_index_decides_when_every_request_passes_the_pre_check(app, lot, monkeypatch):
    """All 20 calls get past the "already reserved?" check before any of them inserts: only the database's
    unique partial index can keep them to one."""
    user = make_user(**completed_profile())
    barrier = threading.Barrier(20)
    original_save = Reservation.save

    def save_together(self, *args, **kwargs):
        barrier.wait(timeout=30)
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Reservation, "save", save_together)

    def attempt(_: int) -> str:
        with app.app_context():
            try:
                reservations.create(user, lot.slug)
                return "created"
            except Exception as exc:  # noqa: BLE001
                return getattr(exc, "detail", repr(exc))

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert outcomes.count("created") == 1
    assert set(outcomes) == {"created", "You already have an active reservation for this vehicle"}
    assert Reservation.objects(user=user.pk, status="active").count() == 1


# --------------------------------------------------------------------------------------------------------
# List, expiry, cancel


def test_the_list_shows_every_status_newest_first_and_expires_lazily(alice, bob, lot):
    other = make_lot()
    first = reserve(alice, lot).get_json()["reservation_id"]
    second = reserve(alice, other).get_json()["reservation_id"]
    reserve(bob, lot)
    Reservation.objects(pk=first).update_one(set__expires_at=utcnow() - timedelta(minutes=1))
    body = alice.get("/api/reservations").get_json()
    assert body["total"] == 2
    assert [item["id"] for item in body["reservations"]] == [second, first]
    assert [item["status"] for item in body["reservations"]] == ["active", "expired"]
    item = body["reservations"][0]
    assert set(item) == RESERVATION_KEYS
    assert (
        item["deposit_amount"] == 97.49 and item["lot_slug"] == other.slug and item["application_id"] is None
    )
    entry = AuditLog.objects(action="expire", resource_id=first).get()
    assert entry.actor_id == "system"
    assert Notification.objects(template="reservation_expired").count() == 1


def test_an_expired_hold_does_not_block_a_new_one(alice, lot):
    first = reserve(alice, lot).get_json()["reservation_id"]
    Reservation.objects(pk=first).update_one(set__expires_at=utcnow() - timedelta(seconds=1))
    assert reserve(alice, lot).status_code == 200
    assert Reservation.objects.get(pk=first).status == "expired"


def test_cancel(alice, bob, lot):
    reservation_id = reserve(alice, lot).get_json()["reservation_id"]
    forbidden = bob.delete(f"/api/reservations/{reservation_id}")
    assert forbidden.status_code == 403 and forbidden.get_json() == {"detail": "Not authorized"}
    response = alice.delete(f"/api/reservations/{reservation_id}")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "message": "Reservation cancelled"}
    assert Reservation.objects.get(pk=reservation_id).status == "cancelled"
    again = alice.delete(f"/api/reservations/{reservation_id}")
    assert again.status_code == 400 and again.get_json() == {"detail": "Reservation is not active"}
    assert AuditLog.objects(action="cancel", resource_id=reservation_id).count() == 1
    assert reserve(alice, lot).status_code == 200  # may reserve again after cancelling


@pytest.mark.parametrize("reservation_id", ["0123456789abcdef01234567", "nope", "%7B%22%24ne%22%3A1%7D"])
def test_unknown_and_malformed_ids_are_404(alice, reservation_id):
    for response in (
        alice.delete(f"/api/reservations/{reservation_id}"),
        alice.post(f"/api/reservations/{reservation_id}/convert"),
    ):
        assert response.status_code == 404
        assert response.get_json() == {"detail": "Reservation not found"}


# --------------------------------------------------------------------------------------------------------
# Convert


def test_convert_creates_an_application_at_the_reserved_price(app, lot):
    session = sign_in(app, make_user())  # no completed profile needed
    reservation_id = reserve(session, lot).get_json()["reservation_id"]
    lot.msrp = Decimal(35000)  # the price rose during the hold
    lot.save()
    response = session.post(f"/api/reservations/{reservation_id}/convert")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["message"] == "Application submitted successfully"
    application = Application.objects.get(pk=body["application_id"])
    assert application.lot_data.fleet_price == Decimal(29400)
    assert application.reservation == Reservation.objects.get(pk=reservation_id).pk
    assert application.profile_completed_at_submission is False
    reservation = Reservation.objects.get(pk=reservation_id)
    assert reservation.status == "converted" and reservation.application.pk == application.pk
    listed = session.get("/api/reservations").get_json()["reservations"][0]
    assert listed["status"] == "converted" and listed["application_id"] == body["application_id"]
    assert session.get("/api/applications").get_json()["applications"][0]["reservation_id"] == reservation_id
    assert AuditLog.objects(action="convert", resource_id=reservation_id).count() == 1
    deleted = session.delete(f"/api/reservations/{reservation_id}")
    assert deleted.status_code == 400 and deleted.get_json() == {"detail": "Reservation is not active"}


def test_a_price_that_fell_during_the_hold_is_passed_on(alice, lot):
    reservation_id = reserve(alice, lot).get_json()["reservation_id"]
    lot.discount = Decimal(4100)
    lot.save()
    application_id = alice.post(f"/api/reservations/{reservation_id}/convert").get_json()["application_id"]
    assert Application.objects.get(pk=application_id).lot_data.fleet_price == Decimal(28400)


def test_convert_checks_in_order(alice, bob, lot):
    reservation_id = reserve(alice, lot).get_json()["reservation_id"]
    url = f"/api/reservations/{reservation_id}/convert"
    assert bob.post(url).get_json() == {"detail": "Not authorized"}
    Reservation.objects(pk=reservation_id).update_one(set__expires_at=utcnow() - timedelta(seconds=1))
    expired = alice.post(url)
    assert expired.status_code == 400 and expired.get_json() == {"detail": "Reservation has expired"}
    assert Reservation.objects.get(pk=reservation_id).status == "expired"
    assert alice.post(url).get_json() == {"detail": "Reservation is not active"}


def test_convert_refuses_a_sold_lot_but_honours_an_archived_one(alice, bob, lot):
    mine = reserve(alice, lot).get_json()["reservation_id"]
    theirs = reserve(bob, lot).get_json()["reservation_id"]
    lot.update(set__status="archived")
    assert alice.post(f"/api/reservations/{mine}/convert").status_code == 200
    lot.update(set__status="sold")
    response = bob.post(f"/api/reservations/{theirs}/convert")
    assert response.status_code == 404 and response.get_json() == {"detail": "Car not found"}
    assert Reservation.objects.get(pk=theirs).status == "active"


def test_a_failed_conversion_puts_the_reservation_back(alice, lot):
    alice.post(f"/api/applications?lot_id={lot.slug}")  # an open application for this lot already
    reservation_id = reserve(alice, lot).get_json()["reservation_id"]
    response = alice.post(f"/api/reservations/{reservation_id}/convert")
    assert response.status_code == 400
    assert response.get_json() == {"detail": "You already have an open application for this vehicle"}
    assert Reservation.objects.get(pk=reservation_id).status == "active"


# --------------------------------------------------------------------------------------------------------
# System sweeps


def test_expire_due_sweeps_every_customer(app, alice, bob, lot):
    ids = [reserve(alice, lot).get_json()["reservation_id"], reserve(bob, lot).get_json()["reservation_id"]]
    assert reservations.expire_due(utcnow() + timedelta(hours=49)) == 2
    assert {r.status for r in Reservation.objects(pk__in=ids)} == {"expired"}
    assert reservations.expire_due(utcnow() + timedelta(hours=49)) == 0


def test_cancel_others_on_sold_keeps_the_buyers_hold(app, alice, bob, lot):
    keep = reserve(alice, lot).get_json()["reservation_id"]
    other = reserve(bob, lot).get_json()["reservation_id"]
    assert reservations.cancel_others_on_sold(str(lot.pk), keep_reservation_id=keep) == 1
    assert Reservation.objects.get(pk=keep).status == "active"
    cancelled = Reservation.objects.get(pk=other)
    assert cancelled.status == "cancelled" and cancelled.cancelled_reason == "lot_sold"
    assert AuditLog.objects(action="cancel", resource_id=other).get().actor_id == "system"
    assert Notification.objects(template="reservation_cancelled").get().recipient == bob.user.email
