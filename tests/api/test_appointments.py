"""POST /api/appointments (consumer-api §4.9)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import Appointment, AuditLog, PickupBooking
from app.services.pickup_slots import PACIFIC
from app.services.trade_in import pacific_today


@pytest.fixture
def application_id(alice, lot):
    return alice.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]


def tomorrow() -> str:
    return (pacific_today() + timedelta(days=1)).isoformat()


def test_book_an_appointment(alice, application_id):
    day = tomorrow()
    body = {"application_id": application_id, "appointment_type": "video", "date": day, "time": "10:00 AM"}
    response = alice.post("/api/appointments", json=body)
    assert response.status_code == 200
    result = response.get_json()
    assert result["ok"] is True and result["message"] == f"video scheduled for {day} at 10:00 AM"
    appointment = Appointment.objects.get(pk=result["appointment_id"])
    local = appointment.starts_at.astimezone(PACIFIC)
    assert (local.date().isoformat(), local.hour) == (day, 10)
    assert appointment.status == "scheduled"
    assert AuditLog.objects(action="create", resource_type="appointment").count() == 1


def test_the_query_form_and_a_pickup_appointment_that_books_no_slot(alice, application_id):
    query = {
        "application_id": application_id,
        "appointment_type": "pickup",
        "date": pacific_today().isoformat(),
        "time": "5:00 PM",
    }
    assert alice.post("/api/appointments", query_string=query).status_code == 200
    assert PickupBooking.objects.count() == 0


def test_ownership(alice, bob, application_id):
    body = {
        "application_id": application_id,
        "appointment_type": "test_drive",
        "date": tomorrow(),
        "time": "9:00 AM",
    }
    assert bob.post("/api/appointments", json=body).get_json() == {"detail": "Not authorized"}
    missing = alice.post("/api/appointments", json={**body, "application_id": "0123456789abcdef01234567"})
    assert missing.status_code == 404 and missing.get_json() == {"detail": "Application not found"}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"application_id": None}, "application_id must be a string"),
        ({"appointment_type": "dinner"}, "appointment_type must be one of: pickup, video, test_drive"),
        (
            {"time": "12:00 PM"},
            "time must be one of: 9:00 AM, 10:00 AM, 11:00 AM, 1:00 PM, 2:00 PM, 3:00 PM, 4:00 PM, 5:00 PM",
        ),
        ({"date": "20-11-2025"}, "date must be a date in YYYY-MM-DD format, today or later"),
        ({"date": "2020-01-01"}, "date must be today or later"),
    ],
)
def test_validation(alice, application_id, change, detail):
    body = {
        "application_id": application_id,
        "appointment_type": "video",
        "date": tomorrow(),
        "time": "10:00 AM",
        **change,
    }
    response = alice.post("/api/appointments", json=body)
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}


def test_a_missing_application_id_is_422(alice):
    response = alice.post(
        "/api/appointments", json={"appointment_type": "video", "date": tomorrow(), "time": "10:00 AM"}
    )
    assert response.status_code == 422 and response.get_json() == {"detail": "application_id is required"}
