"""POST /api/lead, /api/deal-intent and /api/callback-request (consumer-api §4.10, business rules §9)."""

from __future__ import annotations

import pytest

from app.models import AuditLog, ConsentRecord, Lead, Notification, User
from app.services import audit, leads
from tests.factories import make_lot, make_user

LEAD = {
    "name": "Pat Doe",
    "phone": "(949) 555-0100",
    "email": "Pat@Example.com",
    "message": "",
    "consent": True,
    "carId": "2025-toyota-camry-se",
    "carTitle": "2025 Toyota Camry SE",
}


def test_a_lead_is_stored_with_its_consent_evidence(client, lot):
    make_user(role="finance_manager", email="fm@example.com")
    response = client.post("/api/lead", json=LEAD, headers={"User-Agent": "TestBrowser/1.0"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["message"] == "Lead submitted successfully"
    lead = Lead.objects.get(pk=body["id"])
    assert (lead.kind, lead.status, lead.name, lead.phone, lead.email) == (
        "lead",
        "new",
        "Pat Doe",
        "(949) 555-0100",
        "pat@example.com",
    )
    assert lead.consent is True and lead.consent_text_version == leads.LEAD_CONSENT_VERSION
    assert lead.lot.pk == lot.pk and lead.car_title == "2025 Toyota Camry SE"
    assert lead.ip_address == "127.0.0.1" and lead.user_agent == "TestBrowser/1.0"
    assert ConsentRecord.objects(purpose="lead_contact", action="granted").count() == 2
    assert AuditLog.objects(action="create", resource_type="lead").count() == 1
    alert = Notification.objects(template="staff_alert").get()
    assert alert.recipient == "fm@example.com" and "Pat" not in str(alert.payload)


def test_an_unknown_car_id_is_still_accepted(client):
    body = client.post("/api/lead", json={**LEAD, "carId": "no-such-car"}).get_json()
    lead = Lead.objects.get(pk=body["id"])
    assert lead.car_id == "no-such-car" and lead.lot is None


def test_a_numeric_car_id_is_kept_as_text(client):
    # "An unknown value is still accepted" (consumer-api §4.10.1): a demo car's numeric id is one.
    response = client.post("/api/lead", json={**LEAD, "carId": 3})
    assert response.status_code == 200
    assert Lead.objects.get(pk=response.get_json()["id"]).car_id == "3"


def test_the_honeypot_answers_200_and_stores_nothing(client):
    response = client.post("/api/lead", json={**LEAD, "consent": False, "website": "http://spam.example"})
    assert response.status_code == 200
    assert response.get_json()["ok"] is True and len(response.get_json()["id"]) == 24
    assert Lead.objects.count() == 0


def test_deal_intent_is_an_alias_with_deal_id(client):
    make_lot(slug="2025-kia-k5-gt")
    body = {key: value for key, value in LEAD.items() if key != "carId"} | {"dealId": "2025-kia-k5-gt"}
    response = client.post("/api/deal-intent", json=body)
    assert response.status_code == 200
    assert Lead.objects.get().car_id == "2025-kia-k5-gt"


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"consent": False}, "Consent is required"),
        ({"consent": None}, "Consent is required"),
        ({"consent": "true"}, "Consent is required"),
        ({"name": ""}, "name is required"),
        ({"name": "x" * 101}, "name must be 1-100 characters"),
        ({"phone": "555-0100"}, "phone must be a 10-digit US phone number"),
        ({"email": "nope"}, "email must be a valid e-mail address"),
        ({"email": {"$ne": None}}, "email must be a valid e-mail address"),
        ({"message": "m" * 2001}, "message must be at most 2000 characters"),
    ],
)
def test_lead_validation(client, change, detail):
    response = client.post("/api/lead", json={**LEAD, **change})
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}
    assert Lead.objects.count() == 0


def test_a_missing_consent_is_422(client):
    body = {key: value for key, value in LEAD.items() if key != "consent"}
    assert client.post("/api/lead", json=body).get_json() == {"detail": "Consent is required"}


def test_a_callback_request_is_linked_to_the_customer(alice):
    response = alice.post("/api/callback-request", json={"phone": "9495550100", "preferred_time": "morning"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["message"] == "Callback requested"
    lead = Lead.objects.get(pk=body["id"])
    assert (lead.kind, lead.user.pk, lead.preferred_time, lead.phone) == (
        "callback",
        alice.user.pk,
        "morning",
        "(949) 555-0100",
    )


def test_callback_needs_a_token_and_valid_fields(client, alice):
    for headers in ({}, {"Authorization": "Bearer null"}):
        response = client.post("/api/callback-request", json={"phone": "9495550100"}, headers=headers)
        assert response.status_code == 401
    assert alice.post("/api/callback-request", json={"phone": "1"}).get_json() == {
        "detail": "phone must be a 10-digit US phone number"
    }
    assert alice.post(
        "/api/callback-request", json={"phone": "9495550100", "preferred_time": "night"}
    ).get_json() == {"detail": "preferred_time must be one of: asap, morning, afternoon"}


def test_staff_move_leads_through_their_statuses(app):
    actor = audit.actor_for(make_user(role="finance_manager"))
    lead = leads.create_lead(name="A", phone="9495550100", email="a@example.com", consent=True)
    assert leads.set_status(lead.pk, "contacted", actor=actor).status == "contacted"
    with pytest.raises(Exception, match="An outcome is required"):
        leads.set_status(lead.pk, "closed", actor=actor)
    closed = leads.set_status(str(lead.pk), "closed", actor=actor, outcome="Bought a Camry")
    assert closed.outcome == "Bought a Camry" and str(closed.handled_by) == actor.id
    with pytest.raises(Exception, match="status must be one of"):
        leads.set_status(lead.pk, "called", actor=actor)
    entry = AuditLog.objects(action="status_change", resource_type="lead").order_by("-timestamp").first()
    assert entry.changes["status"] == {"old": "contacted", "new": "closed"}
    assert User.objects.count() == 1
