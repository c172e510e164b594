"""The contract's acceptance checklist (consumer-api §7), one test per item, through HTTP as the site calls."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

from app.config import BASE_DIR
from app.models import Application
from app.models.lot import LeaseTerms
from app.services import audit, previews
from app.services.pickup_slots import PACIFIC, parse_slot_instant
from tests.api.helpers import SITE_PROFILE_BODY, TEST_SSN, approve, sign_in
from tests.factories import make_lot, make_user

SENSITIVE_KEYS = ("ssn", "drivers_license_number", "date_of_birth")


def register(client, email):
    return client.post(
        "/api/auth/register", json={"email": email, "password": "a-long-secret-phrase", "name": "Pat"}
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_01_cars_is_an_array_whose_ids_all_open(client):
    make_lot(trim="SE")
    make_lot(make="Kia", model="Niro", trim="", slug="2024-kia-niro", year=2024)
    cars = client.get("/api/cars").get_json()
    assert isinstance(cars, list) and len(cars) == 2
    for car in cars:
        assert car["id"] and car["title"]
        assert set(car["lease"]) >= {"monthly", "dueAtSigning", "termMonths", "milesPerYear"}
        assert set(car["finance"]) == {"apr", "termMonths", "downPayment"}
        assert client.get(f"/api/cars/{car['id']}").status_code == 200


def test_02_detail_gallery_specs_and_the_lots_own_lease_and_finance(client):
    lot = make_lot(
        lease=LeaseTerms(
            monthly=Decimal(412), due_at_signing=Decimal(1999), term_months=24, miles_per_year=12000
        )
    )
    detail = client.get(f"/api/cars/{lot.slug}").get_json()
    assert isinstance(detail["gallery"], list) and isinstance(detail["specs"], dict)
    assert detail["specs"]["year"] == "2025"
    assert detail["lease"] == {"monthly": 412, "dueAtSigning": 1999, "termMonths": 24, "milesPerYear": 12000}
    assert detail["finance"] == {"apr": 3.9, "termMonths": 60, "downPayment": 3000}


def test_03_archived_sold_draft_or_unknown_is_404(client):
    for status in ("archived", "sold", "draft"):
        lot = make_lot(status=status)
        assert client.get(f"/api/cars/{lot.slug}").get_json() == {"detail": "Car not found"}
    response = client.get("/api/cars/no-such-car")
    assert response.status_code == 404 and response.get_json() == {"detail": "Car not found"}


def test_04_tax_fees(client):
    ca = client.get("/api/tax-fees/CA").get_json()
    assert (
        ca["state_code"] == "CA"
        and ca["sales_tax_rate"] == 7.25
        and ca["tire_fee"] == 8.75
        and "note" not in ca
    )
    zz = client.get("/api/tax-fees/ZZ").get_json()
    assert zz["note"] == "State-specific data not available. Showing estimates."
    table = client.get("/api/tax-fees").get_json()
    assert table["total"] == 8
    assert [row["state_code"] for row in table["states"]] == ["CA", "TX", "FL", "NY", "AZ", "NV", "WA", "OR"]


def test_05_register_login_me_and_no_sensitive_key_anywhere(client):
    registered = register(client, "pat@example.com").get_json()
    assert {"user", "access_token", "refresh_token"} <= set(registered)
    logged_in = client.post(
        "/api/auth/login", json={"email": "pat@example.com", "password": "a-long-secret-phrase"}
    ).get_json()
    assert {"user", "access_token", "refresh_token"} <= set(logged_in)
    client.put(
        "/api/user/profile",
        json={**SITE_PROFILE_BODY, "ssn": TEST_SSN},
        headers=bearer(logged_in["access_token"]),
    )
    me = client.get("/api/auth/me", headers=bearer(logged_in["access_token"])).get_json()
    assert me["id"] == registered["user"]["id"] and me["ssn_on_file"] is True
    for body in (registered, logged_in, me):
        text = json.dumps(body)
        assert not any(f'"{key}"' in text for key in SENSITIVE_KEYS)


def test_06_me_without_token_with_refresh_token_and_after_logout(client):
    tokens = register(client, "pat@example.com").get_json()
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me", headers=bearer(tokens["refresh_token"])).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(tokens["access_token"])).status_code == 200
    client.post("/api/auth/logout", json={}, headers=bearer(tokens["access_token"]))
    assert client.get("/api/auth/me", headers=bearer(tokens["access_token"])).status_code == 401


def test_07_profile_accepts_the_sites_body_and_keeps_the_stored_ssn(client):
    token = register(client, "pat@example.com").get_json()["access_token"]
    client.put("/api/user/profile", json={"ssn": TEST_SSN}, headers=bearer(token))
    response = client.put("/api/user/profile", json=SITE_PROFILE_BODY, headers=bearer(token))
    assert response.status_code == 200
    body = response.get_json()
    assert body["ssn_on_file"] is True and body["employment_duration_months"] is None


def test_08_apply_with_query_lot_id_and_no_body_then_duplicate(app):
    session = sign_in(
        app, make_user(credit_score=700, employment_type="W2", address="1 A St", profile_completed=True)
    )
    lot = make_lot()
    first = session.post(f"/api/applications?lot_id={lot.slug}", data=None)
    assert first.status_code == 200 and first.get_json()["application_id"]
    assert session.post(f"/api/applications?lot_id={lot.slug}", data=None).status_code == 400


def test_09_reserve_list_convert_and_delete_converted(alice, lot):
    body = {
        "lot_slug": lot.slug,
        "reserved_price": 29400,
        "monthly_payment": 329,
        "due_at_signing": 2999,
        "deposit_paid": False,
    }
    created = alice.post("/api/reservations", json=body)
    assert created.status_code == 200
    assert alice.post("/api/reservations", json=body).status_code == 400
    listed = alice.get("/api/reservations").get_json()["reservations"]
    assert [r["status"] for r in listed] == ["active"]
    reservation_id = created.get_json()["reservation_id"]
    converted = alice.post(f"/api/reservations/{reservation_id}/convert")
    application = Application.objects.get(pk=converted.get_json()["application_id"])
    assert application.lot_data.fleet_price == Decimal(str(listed[0]["reserved_price"]))
    assert alice.delete(f"/api/reservations/{reservation_id}").status_code == 400


def _approved(session, lot) -> Application:
    application_id = session.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]
    return approve(Application.objects.get(pk=application_id))


def test_10_customer_lists_pickup_slots_in_business_hours_without_booked_ones(alice, bob):
    theirs = _approved(bob, make_lot())
    response = alice.get("/api/admin/pickup-slots")
    assert response.status_code == 200
    slots = response.get_json()["slots"]
    bob.post(f"/api/applications/{theirs.pk}/schedule-pickup", json={"pickup_slot": slots[0]["datetime"]})
    after = alice.get("/api/admin/pickup-slots").get_json()["slots"]
    for slot in after:
        local = parse_slot_instant(slot["datetime"]).astimezone(PACIFIC)
        assert local.weekday() != 6 and 9 <= local.hour <= 16
    assert slots[0]["datetime"] not in [slot["datetime"] for slot in after]


def test_11_schedule_pickup_owner_other_user_and_a_non_offered_instant(alice, bob):
    application = _approved(alice, make_lot())
    url = f"/api/applications/{application.pk}/schedule-pickup"
    slot = alice.get("/api/admin/pickup-slots").get_json()["slots"][0]["datetime"]
    assert bob.post(url, json={"pickup_slot": slot}).status_code == 403
    assert alice.post(url, json={"pickup_slot": "2099-01-01T03:00:00Z"}).status_code == 400
    assert alice.post(url, json={"pickup_slot": slot}).status_code == 200


def test_12_subscription_deleted_by_another_user_is_403_by_the_owner_200(alice, bob):
    subscription_id = alice.post(
        "/api/subscriptions", json={"makes": ["Lexus"], "models": ["RX350"]}
    ).get_json()["subscription_id"]
    assert bob.delete(f"/api/subscriptions/{subscription_id}").status_code == 403
    assert alice.delete(f"/api/subscriptions/{subscription_id}").status_code == 200
    assert alice.get("/api/subscriptions").get_json()["subscriptions"] == []


def test_13_alternatives_without_a_positive_monthly_have_count_zero_inside_and_out(alice):
    lot = make_lot(lease=LeaseTerms(monthly=Decimal(0)))
    application_id = alice.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]
    body = alice.get(f"/api/applications/{application_id}/auto-alternatives").get_json()
    assert body["count"] == 0 and body["alternatives"]["count"] == 0


def test_14_lead_without_consent_is_422_and_a_valid_one_200(client):
    lead = {
        "name": "Pat",
        "phone": "(949) 555-0100",
        "email": "pat@example.com",
        "message": "",
        "carId": "x",
        "carTitle": "X",
    }
    assert client.post("/api/lead", json={**lead, "consent": False}).status_code == 422
    response = client.post("/api/lead", json={**lead, "consent": True})
    assert response.status_code == 200 and response.get_json()["ok"] is True and response.get_json()["id"]


def test_15_calc_returns_the_example_numbers(client):
    body = client.post(
        "/api/calc", json={"msrp": 30000, "state": "CA", "creditScore": "good", "downPayment": 0, "term": 60}
    ).get_json()
    assert body == {"estOtdoor": 32382, "tax": 2175, "fees": 206.75, "apr": 3.5, "monthlyPayment": 589}


def test_16_every_error_under_api_is_json_with_a_string_detail(client):
    for method, path in (
        ("GET", "/api/unknown"),
        ("PUT", "/api/cars"),
        ("GET", "/api/auth/me"),
        ("GET", "/api/cars/nope"),
    ):
        response = client.open(path, method=method)
        assert response.status_code >= 400 and response.is_json
        assert isinstance(response.get_json()["detail"], str)


def test_17_a_preview_survives_a_restart_and_works_from_another_process(app, test_settings):
    token = previews.create_preview(
        lot_id=make_lot(status="draft").pk, actor=audit.actor_for(make_user(role="editor"))
    )
    script = (
        "import json, sys\n"
        "from app import create_app\n"
        "app = create_app(json.loads(sys.argv[1]))\n"
        "with app.app_context():\n"
        "    r = app.test_client().get('/api/preview/' + sys.argv[2])\n"
        "print(json.dumps({'status': r.status_code, 'id': r.get_json().get('id')}))\n"
    )
    settings = {key: value for key, value in test_settings.items() if isinstance(value, (str, int))}
    completed = subprocess.run(
        [sys.executable, "-c", script, json.dumps(settings), token],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome == {"status": 200, "id": f"preview-{token}"}


def test_17b_magic_never_includes_a_token_in_the_response_by_default(client):
    body = client.post("/api/auth/magic", json={"email": "pat@example.com"}).get_json()
    assert body == {"ok": True, "message": "Magic link sent to your email"}


def test_18_cors_preflight_listed_and_unlisted(client):
    listed = client.options(
        "/api/auth/me",
        headers={
            "Origin": "https://cargwin.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert (
        listed.status_code == 204
        and listed.headers["Access-Control-Allow-Origin"] == "https://cargwin.example"
    )
    assert "Authorization" in listed.headers["Access-Control-Allow-Headers"]
    unlisted = client.options(
        "/api/auth/me", headers={"Origin": "https://other.example", "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in unlisted.headers
