"""The demo data shows customers with applications and reservations in various states."""

from __future__ import annotations

from rq import Queue

from app.db import get_redis
from app.models import Application, AuditLog, Reservation, User
from app.services.demo import load_demo_data
from tests.api.helpers import sign_in


def test_demo_customers_have_applications_and_reservations_in_various_states(app):
    result = load_demo_data()
    assert result.applications == 5 and result.reservations == 5
    assert {a.status for a in Application.objects} == {"pending", "contacted", "approved", "rejected"}
    assert {r.status for r in Reservation.objects} == {"active", "expired", "cancelled", "converted"}
    approved = Application.objects.get(status="approved")
    assert approved.pickup_status == "ready_for_pickup" and approved.approval_details.monthly_payment > 0
    converted = Reservation.objects.get(status="converted")
    assert Application.objects.get(pk=converted.application.pk).reservation == converted.pk
    # Made through the services: snapshots and audit entries are the real ones.
    assert all(a.lot_data.slug and a.user_data.email for a in Application.objects)
    assert AuditLog.objects(resource_type="reservation", action="expire").count() == 1
    # Every demo picture goes to the worker for its variants, like an upload.
    assert Queue("images", connection=get_redis()).count == result.lots > 0
    # A second load adds nothing.
    again = load_demo_data()
    assert (again.applications, again.reservations, again.customers) == (0, 0, 0)


def test_a_demo_customer_sees_their_dashboard_through_the_api(app):
    load_demo_data()
    olga = sign_in(app, User.objects.get(email="olga.petrova@example.com"))
    applications = olga.get("/api/applications").get_json()["applications"]
    assert [a["status"] for a in applications] == ["approved"]
    assert (
        applications[0]["pickup_status"] == "ready_for_pickup"
        and applications[0]["approval_details"]["apr"] == 4.9
    )
    assert [r["status"] for r in olga.get("/api/reservations").get_json()["reservations"]] == ["cancelled"]
