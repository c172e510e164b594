"""Applications: create, list, trade-in and automatic alternatives (consumer-api §4.6.1–4.6.4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.models import Application, AuditLog, Notification, User
from app.models.lot import LeaseTerms
from app.services.trade_in import pacific_today
from tests.api.helpers import TEST_SSN, sign_in
from tests.factories import make_lot, make_user

APP_KEYS = {
    "id", "status", "created_at", "updated_at", "lot_id", "lot_slug", "lot_data", "approval_details",
    "contract_sent", "contract_sent_at", "pickup_status", "pickup_slot", "admin_notes", "trade_in", "reservation_id",
}  # fmt: skip


def apply(session, lot_ref):
    return session.post(f"/api/applications?lot_id={lot_ref}", data=None)


# --------------------------------------------------------------------------------------------------------
# Create


def test_apply_with_a_query_parameter_and_no_body(alice, lot):
    response = apply(alice, lot.slug)
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["message"] == "Application submitted successfully"
    application = Application.objects.get(pk=body["application_id"])
    assert application.status == "pending" and application.user.pk == alice.user.pk
    assert [change.to_status for change in application.status_history] == ["pending"]


def test_apply_with_a_json_body_and_a_lot_id(alice, lot):
    response = alice.post("/api/applications", json={"lot_id": str(lot.pk)})
    assert response.status_code == 200


def test_the_json_body_wins_over_the_query_string(alice, lot):
    other = make_lot()
    alice.post(f"/api/applications?lot_id={other.slug}", json={"lot_id": lot.slug})
    assert Application.objects.get().lot.pk == lot.pk


def test_snapshots_are_taken_and_the_sensitive_values_copied_encrypted(app, lot):
    user = make_user(
        credit_score=733,
        employment_type="W2",
        address="9 Elm St",
        profile_completed=True,
        phone="(949) 555-0100",
    )
    user.set_sensitive("ssn", TEST_SSN)
    user.save()
    session = sign_in(app, user)
    apply(session, lot.slug)
    application = Application.objects.get()
    assert application.lot_data.slug == lot.slug and application.lot_data.title == lot.title
    assert application.lot_data.fleet_price == Decimal(29400)
    assert application.lot_data.lease.monthly == Decimal(329)
    assert application.user_data.credit_score == 733 and application.user_data.email == user.email
    assert (
        application.ssn_encrypted == user.ssn_encrypted and application.decrypt_sensitive("ssn") == TEST_SSN
    )
    # Later edits of the lot and the profile never change the snapshot.
    lot.msrp = Decimal(40000)
    lot.save()
    User.objects(pk=user.pk).update_one(set__credit_score=600)
    application.reload()
    assert application.lot_data.msrp == Decimal(32500) and application.user_data.credit_score == 733


def test_creation_is_audited_and_the_customer_is_told(alice, lot):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    entry = AuditLog.objects(action="create", resource_type="application").get()
    assert entry.resource_id == application_id and entry.actor_id == str(alice.user.pk)
    message = Notification.objects(template="application_received").get()
    assert message.recipient == alice.user.email


def test_lot_id_is_required(alice):
    for response in (alice.post("/api/applications"), alice.post("/api/applications", json={"lot_id": ""})):
        assert response.status_code == 422
        assert response.get_json() == {"detail": "lot_id is required"}


def test_an_incomplete_profile_is_400_before_the_lot_is_looked_up(app, lot):
    session = sign_in(app, make_user())
    for ref in (lot.slug, "no-such-car"):
        response = apply(session, ref)
        assert response.status_code == 400
        assert response.get_json() == {"detail": "Please complete your profile before applying"}


@pytest.mark.parametrize("status", ["draft", "archived", "sold", "deleted"])
def test_a_lot_that_is_not_public_is_404(alice, status):
    hidden = make_lot(status=status)
    for ref in (hidden.slug, str(hidden.pk)):
        response = apply(alice, ref)
        assert response.status_code == 404
        assert response.get_json() == {"detail": "Car not found"}


def test_a_second_open_application_for_the_same_lot_is_400(alice, lot):
    apply(alice, lot.slug)
    response = apply(alice, str(lot.pk))
    assert response.status_code == 400
    assert response.get_json() == {"detail": "You already have an open application for this vehicle"}
    Application.objects.update(set__status="rejected", set__is_open=False)
    assert apply(alice, lot.slug).status_code == 200  # a closed one does not block


def test_the_slug_of_a_lot_without_trim_can_be_applied_for(alice):
    niro = make_lot(make="Kia", model="Niro", trim="", year=2024, slug="2024-kia-niro")
    assert apply(alice, niro.slug).status_code == 200


def test_applications_need_a_token(client, lot):
    assert client.post(f"/api/applications?lot_id={lot.slug}").status_code == 401
    assert client.get("/api/applications", headers={"Authorization": "Bearer null"}).status_code == 401


# --------------------------------------------------------------------------------------------------------
# List


def test_the_list_shows_only_my_applications_newest_first(alice, bob, lot):
    second = make_lot()
    first_id = apply(alice, lot.slug).get_json()["application_id"]
    second_id = apply(alice, second.slug).get_json()["application_id"]
    apply(bob, lot.slug)
    body = alice.get("/api/applications").get_json()
    assert body["total"] == 2
    assert [item["id"] for item in body["applications"]] == [second_id, first_id]
    item = body["applications"][1]
    assert set(item) == APP_KEYS
    assert item["lot_data"] == {
        "year": 2025,
        "make": "Toyota",
        "model": "Camry",
        "trim": "SE",
        "msrp": 32500,
        "fleet_price": 29400,
    }
    assert item["lot_slug"] == lot.slug and item["lot_id"] == str(lot.pk)
    assert (
        item["approval_details"] is None and item["pickup_status"] is None and item["contract_sent"] is False
    )
    assert item["created_at"].endswith("Z")


def test_the_customer_view_hides_internal_fields(alice, lot):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    application = Application.objects.get(pk=application_id)
    application.prescoring_data = {"credit_tier": "Tier 1"}
    application.verified_income = Decimal(99000)
    application.admin_notes = "Call us"
    application.save()
    item = alice.get("/api/applications").get_json()["applications"][0]
    assert item["admin_notes"] == "Call us"
    assert "prescoring_data" not in item and "verified_income" not in item and "user_data" not in item


# --------------------------------------------------------------------------------------------------------
# Trade-in

TRADE_IN = {
    "vin": "",
    "year": 2020,
    "make": "Honda",
    "model": "Civic",
    "mileage": 50000,
    "condition": "good",
    "photos": [],
}


def expected_value(year: int, mileage: int, multiplier: Decimal) -> int:
    age = max(0, pacific_today().year - year)
    factor = 1 - Decimal("0.15") * age - Decimal("0.20") * Decimal(mileage) / 100000
    return max(0, int((30000 * factor * multiplier).to_integral_value(rounding="ROUND_FLOOR")))


def test_a_trade_in_is_valued_stored_and_audited(alice, lot):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    response = alice.post(
        f"/api/applications/{application_id}/trade-in", json={**TRADE_IN, "vin": "1hgbh41jxmn109186"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Trade-in added successfully"
    assert body["trade_in_value"] == expected_value(2020, 50000, Decimal("0.90"))
    stored = Application.objects.get(pk=application_id).trade_in
    assert stored.vin == "1HGBH41JXMN109186" and stored.valuation_source == "local_model"
    item = alice.get("/api/applications").get_json()["applications"][0]
    assert item["trade_in"]["make"] == "Honda" and item["trade_in"]["kbb_value"] == body["trade_in_value"]
    assert AuditLog.objects(action="trade_in_added", resource_id=application_id).count() == 1


def test_an_old_high_mileage_car_is_worth_zero_not_negative(alice, lot):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    body = alice.post(
        f"/api/applications/{application_id}/trade-in",
        json={**TRADE_IN, "year": 2012, "mileage": 150000, "condition": "poor"},
    ).get_json()
    assert body["trade_in_value"] == 0


def test_a_new_trade_in_replaces_the_old_one(alice, lot):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    alice.post(f"/api/applications/{application_id}/trade-in", json=TRADE_IN)
    alice.post(
        f"/api/applications/{application_id}/trade-in", json={**TRADE_IN, "make": "Mazda", "model": "3"}
    )
    assert Application.objects.get(pk=application_id).trade_in.make == "Mazda"


def test_trade_in_ownership_and_status(alice, bob, lot):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    forbidden = bob.post(f"/api/applications/{application_id}/trade-in", json=TRADE_IN)
    assert forbidden.status_code == 403 and forbidden.get_json() == {"detail": "Not authorized"}
    for missing in ("0123456789abcdef01234567", "not-an-id"):
        response = alice.post(f"/api/applications/{missing}/trade-in", json=TRADE_IN)
        assert response.status_code == 404 and response.get_json() == {"detail": "Application not found"}
    Application.objects(pk=application_id).update_one(set__status="completed", set__is_open=False)
    closed = alice.post(f"/api/applications/{application_id}/trade-in", json=TRADE_IN)
    assert closed.status_code == 400
    assert closed.get_json() == {"detail": "Trade-in cannot be added to this application"}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"mileage": None}, "mileage is required"),
        ({"mileage": -5}, "mileage must be an integer between 0 and 1000000"),
        ({"mileage": 2_000_000}, "mileage must be an integer between 0 and 1000000"),
        ({"condition": "mint"}, "condition must be one of: excellent, good, fair, poor"),
        ({"year": 1979}, f"year must be an integer between 1980 and {pacific_today().year + 1}"),
        (
            {"year": pacific_today().year + 2},
            f"year must be an integer between 1980 and {pacific_today().year + 1}",
        ),
        ({"make": "  "}, "make is required"),
        ({"model": {"$gt": ""}}, "model is required"),
        ({"vin": "1HGBH41JXMN10918O"}, "vin must be 17 characters from A-Z and 0-9, excluding I, O and Q"),
        ({"photos": ["https://x.example/1.jpg"] * 11}, "photos must be a list of at most 10 URLs"),
        ({"photos": ["javascript:alert(1)"]}, "photos must be a list of at most 10 URLs"),
    ],
)
def test_trade_in_validation(alice, lot, change, detail):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    response = alice.post(f"/api/applications/{application_id}/trade-in", json={**TRADE_IN, **change})
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}


# --------------------------------------------------------------------------------------------------------
# Automatic alternatives


def _lot(make: str, monthly: int | None, model: str = "X") -> object:
    return make_lot(
        make=make, model=model, lease=LeaseTerms(monthly=Decimal(monthly) if monthly is not None else None)
    )


def test_alternatives_follow_the_example_of_the_rules(alice):
    original = _lot("Toyota", 500, "Camry")
    cheaper, similar, luxury = _lot("Kia", 350, "K5"), _lot("Honda", 480, "Accord"), _lot("Lexus", 700, "ES")
    _lot("BMW", 900)
    _lot("Toyota", 0)
    application_id = apply(alice, original.slug).get_json()["application_id"]
    body = alice.get(f"/api/applications/{application_id}/auto-alternatives").get_json()
    assert body["ok"] is True and body["count"] == 3 and body["alternatives"]["count"] == 3
    slots = body["alternatives"]
    assert slots["cheaper"] == {
        "type": "cheaper", "lot_id": str(cheaper.pk), "slug": cheaper.slug, "title": "2025 Kia K5",
        "monthly": 350, "savings_vs_original": 150,
    }  # fmt: skip
    assert slots["similar"]["lot_id"] == str(similar.pk) and slots["similar"]["price_diff"] == -20
    assert slots["luxury"]["lot_id"] == str(luxury.pk) and slots["luxury"]["upgrade_cost"] == 200


def test_without_a_basis_every_slot_is_null_and_count_zero(alice):
    original = _lot("Toyota", 0)
    _lot("Kia", 350)
    application_id = apply(alice, original.slug).get_json()["application_id"]
    body = alice.get(f"/api/applications/{application_id}/auto-alternatives").get_json()
    assert body == {
        "ok": True,
        "alternatives": {"cheaper": None, "similar": None, "luxury": None, "count": 0},
        "count": 0,
    }


def test_the_snapshot_monthly_is_the_basis_when_the_lot_has_none(alice):
    original = _lot("Toyota", 500)
    _lot("Kia", 350)
    application_id = apply(alice, original.slug).get_json()["application_id"]
    original.delete()
    body = alice.get(f"/api/applications/{application_id}/auto-alternatives").get_json()
    assert body["count"] == 1 and body["alternatives"]["cheaper"]["monthly"] == 350


def test_alternatives_are_for_the_owner_and_finance_managers_only(alice, bob, finance, editor, lot):
    application_id = apply(alice, lot.slug).get_json()["application_id"]
    url = f"/api/applications/{application_id}/auto-alternatives"
    assert finance.get(url).status_code == 200
    for outsider in (bob, editor):
        response = outsider.get(url)
        assert response.status_code == 403 and response.get_json() == {"detail": "Not authorized"}
    assert alice.get("/api/applications/0123456789abcdef01234567/auto-alternatives").status_code == 404
