"""Pickup slots and scheduling (consumer-api §4.6.5–4.6.6, business rules §5.6)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from app.models import Application, AuditLog, Notification, PickupBooking
from app.services import applications, pickup
from app.services.pickup_slots import PACIFIC, parse_slot_instant
from tests.api.helpers import approve, completed_profile, sign_in
from tests.factories import make_lot, make_user


def approved_application(session, lot=None) -> Application:
    lot = lot or make_lot()
    application_id = session.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]
    return approve(Application.objects.get(pk=application_id))


def slots(session, **query) -> list[dict]:
    response = session.get("/api/admin/pickup-slots", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["slots"]


# --------------------------------------------------------------------------------------------------------
# Listing


def test_any_signed_in_customer_lists_free_slots_in_pacific_business_hours(alice):
    listed = slots(alice)
    assert listed, "a 14-day window always has future slots"
    starts = [parse_slot_instant(slot["datetime"]) for slot in listed]
    assert starts == sorted(starts)
    for slot, start in zip(listed, starts, strict=True):
        local = start.astimezone(PACIFIC)
        assert slot["datetime"].endswith("Z") and slot["available"] is True
        assert local.weekday() != 6 and 9 <= local.hour <= 16 and local.minute == 0
        assert slot["display"] == local.strftime("%A, %B %d at %I:%M %p")
    assert len(listed) <= 96


def test_anonymous_callers_get_401(client):
    response = client.get("/api/admin/pickup-slots")
    assert response.status_code == 401 and response.get_json() == {"detail": "Authentication required"}


def test_the_date_parameter_starts_the_window_and_application_id_is_ignored(alice):
    listed = slots(alice, date="2099-06-15", application_id="whatever")
    first = parse_slot_instant(listed[0]["datetime"]).astimezone(PACIFIC)
    assert first.date().isoformat() == "2099-06-15" and first.hour == 9
    assert listed[0]["datetime"] == "2099-06-15T16:00:00Z"  # 09:00 PDT
    winter = slots(alice, date="2099-11-16")
    assert winter[0]["datetime"] == "2099-11-16T17:00:00Z"  # 09:00 PST
    assert winter[0]["display"] == "Monday, November 16 at 09:00 AM"


@pytest.mark.parametrize("value", ["15-06-2099", "2099-13-01", "tomorrow", "2099-6-1"])
def test_a_bad_date_is_400(alice, value):
    response = alice.get("/api/admin/pickup-slots", query_string={"date": value})
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Invalid date format"}


def test_a_booked_slot_is_offered_to_nobody(app, alice, bob):
    application = approved_application(alice)
    first = slots(alice)[0]["datetime"]
    assert (
        alice.post(
            f"/api/applications/{application.pk}/schedule-pickup", json={"pickup_slot": first}
        ).status_code
        == 200
    )
    assert first not in [slot["datetime"] for slot in slots(bob)]
    assert first not in [slot["datetime"] for slot in slots(alice)]


# --------------------------------------------------------------------------------------------------------
# Scheduling


def test_scheduling_an_offered_slot(alice):
    application = approved_application(alice)
    chosen = slots(alice)[3]["datetime"]
    response = alice.post(f"/api/applications/{application.pk}/schedule-pickup", json={"pickup_slot": chosen})
    assert response.status_code == 200
    assert response.get_json() == {
        "ok": True,
        "message": "Pickup time scheduled successfully",
        "pickup_slot": chosen,
    }
    application.reload()
    assert application.pickup_status == "scheduled"
    assert application.pickup_slot == parse_slot_instant(chosen)
    assert PickupBooking.objects.get().slot_start == parse_slot_instant(chosen)
    assert AuditLog.objects(action="pickup_scheduled", resource_id=str(application.pk)).count() == 1
    assert Notification.objects(template="pickup_scheduled").count() == 1
    item = alice.get("/api/applications").get_json()["applications"][0]
    assert item["pickup_status"] == "scheduled" and item["pickup_slot"] == chosen


def test_the_query_form_and_an_offset_are_accepted(alice):
    application = approved_application(alice)
    chosen = parse_slot_instant(slots(alice)[0]["datetime"])
    as_pacific = chosen.astimezone(PACIFIC).isoformat()  # e.g. 2025-11-17T09:00:00-08:00
    response = alice.post(
        f"/api/applications/{application.pk}/schedule-pickup", query_string={"pickup_slot": as_pacific}
    )
    assert response.status_code == 200
    assert response.get_json()["pickup_slot"] == chosen.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("value", [None, "", "next monday", {"$ne": None}, 1700000000])
def test_a_missing_or_unparseable_value_is_400(alice, value):
    application = approved_application(alice)
    response = alice.post(f"/api/applications/{application.pk}/schedule-pickup", json={"pickup_slot": value})
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Invalid datetime format"}


def test_the_checks_in_the_contracts_order(alice, bob):
    lot = make_lot()
    application_id = alice.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]
    url = f"/api/applications/{application_id}/schedule-pickup"
    slot = slots(alice)[0]["datetime"]

    def post(session, value=slot, target=url):
        response = session.post(target, json={"pickup_slot": value})
        return response.status_code, response.get_json()["detail"]

    assert post(alice, target="/api/applications/0123456789abcdef01234567/schedule-pickup") == (
        404,
        "Application not found",
    )
    assert post(bob) == (403, "Not authorized")
    assert post(alice) == (400, "Application must be approved first")
    approve(Application.objects.get(pk=application_id))
    sunday = "2099-06-14T16:00:00Z"  # a Sunday, 09:00 PDT
    assert post(alice, sunday) == (400, "Selected time is not available")
    assert post(alice, "2099-06-15T16:30:00Z") == (400, "Selected time is not available")
    assert alice.post(url, json={"pickup_slot": slot}).status_code == 200
    assert post(alice, slots(alice)[0]["datetime"]) == (400, "Pickup already scheduled")


def test_contract_sent_applications_can_schedule_too(alice):
    application = approved_application(alice)
    application.update(set__status="contract_sent", set__contract_sent=True)
    slot = slots(alice)[0]["datetime"]
    assert (
        alice.post(
            f"/api/applications/{application.pk}/schedule-pickup", json={"pickup_slot": slot}
        ).status_code
        == 200
    )


def test_losing_the_race_for_a_slot_is_409(app, alice, bob, monkeypatch):
    mine, theirs = approved_application(alice), approved_application(bob)
    slot = slots(alice)[0]
    offered = pickup.list_free_slots()
    # Bob books the slot between Alice's availability check and her booking.
    assert (
        bob.post(
            f"/api/applications/{theirs.pk}/schedule-pickup", json={"pickup_slot": slot["datetime"]}
        ).status_code
        == 200
    )
    monkeypatch.setattr(pickup, "list_free_slots", lambda now=None, start_date=None: offered)
    response = alice.post(
        f"/api/applications/{mine.pk}/schedule-pickup", json={"pickup_slot": slot["datetime"]}
    )
    assert response.status_code == 409
    assert response.get_json() == {"detail": "This time slot is no longer available"}
    mine.reload()
    assert mine.pickup_status == "ready_for_pickup" and mine.pickup_slot is None


def test_two_customers_can_never_book_one_slot(app):
    sessions = [sign_in(app, make_user(**completed_profile())) for _ in range(6)]
    apps = [approved_application(session) for session in sessions]
    slot = slots(sessions[0])[0]["datetime"]

    def book(index: int) -> int:
        with app.app_context():
            session = sessions[index]
            client = app.test_client()
            return client.post(
                f"/api/applications/{apps[index].pk}/schedule-pickup",
                json={"pickup_slot": slot},
                headers=session.headers,
            ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(book, range(6)))
    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 400, 409}
    assert PickupBooking.objects.count() == 1


def test_release_booking_frees_the_slot(app, alice):
    application = approved_application(alice)
    slot = slots(alice)[0]["datetime"]
    alice.post(f"/api/applications/{application.pk}/schedule-pickup", json={"pickup_slot": slot})
    pickup.release_booking(str(application.pk))
    assert slot in [s["datetime"] for s in slots(alice)]


def test_slot_hours_come_from_the_app_setting(app, alice):
    from app.models import AppSetting

    AppSetting(
        key="pickup_slots", value={"first_hour": 10, "last_hour": 11, "closed_weekdays": [5, 6]}
    ).save()
    listed = slots(alice, date="2099-06-15")
    hours = {parse_slot_instant(s["datetime"]).astimezone(PACIFIC).hour for s in listed}
    days = {parse_slot_instant(s["datetime"]).astimezone(PACIFIC).weekday() for s in listed}
    assert hours == {10, 11} and not days & {5, 6}


def test_schedule_pickup_service_checks_offered_slots_at_the_given_time(app, alice):
    application = approved_application(alice)
    now = datetime(2099, 6, 15, 15, 30, tzinfo=PACIFIC)
    with pytest.raises(Exception, match="Selected time is not available"):
        applications.schedule_pickup(
            application.pk, alice.user, "2099-06-15T22:00:00Z", now=now
        )  # 15:00, past
    booked = applications.schedule_pickup(
        application.pk, alice.user, "2099-06-15T23:00:00Z", now=now
    )  # 16:00
    assert booked.pickup_status == "scheduled"
