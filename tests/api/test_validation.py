"""Client mistakes are 400/404/422 with a string detail, never a 500 (consumer-api §1.2, §1.5)."""

from __future__ import annotations

import pytest

from app.models import Application
from tests.api.helpers import approve

OPERATORS = [{"$ne": None}, {"$gt": ""}, {"$where": "sleep(1000)"}, ["a", "b"], 12, True, 1.5]


def bodies(base: dict, field: str) -> list[dict]:
    return [{**base, field: value} for value in OPERATORS]


CASES = [
    ("POST", "/api/auth/register", {"email": "a@example.com", "password": "a-long-secret-phrase", "name": "A"}, ["email", "password", "name"]),
    ("POST", "/api/auth/login", {"email": "a@example.com", "password": "x"}, ["email", "password"]),
    ("POST", "/api/auth/magic", {"email": "a@example.com"}, ["email"]),
    ("POST", "/api/auth/verify", {"token": "x" * 43}, ["token"]),
    ("POST", "/api/auth/refresh", {"refresh_token": "x"}, ["refresh_token"]),
    ("POST", "/api/calc", {"msrp": 30000, "state": "CA"}, ["msrp", "state", "term", "downPayment"]),
    ("POST", "/api/lead", {"name": "A", "phone": "9495550100", "email": "a@example.com", "consent": True}, ["name", "phone", "email", "carId", "carTitle", "message"]),
]  # fmt: skip


def _cases():
    for method, path, base, fields in CASES:
        for field in fields:
            for body in bodies(base, field):
                yield pytest.param(method, path, body, id=f"{path}:{field}:{body[field]!r}")


def check(response, body: dict) -> None:
    """Never a 500; an error has a string detail; an operator object is never accepted anywhere."""
    assert response.status_code < 500, response.get_json()
    if response.status_code >= 400:
        detail = response.get_json()["detail"]
        assert isinstance(detail, str) and detail
    if any(isinstance(value, dict) for value in body.values()):
        assert response.status_code in (400, 401, 404, 422), (body, response.get_json())


@pytest.mark.parametrize(("method", "path", "body"), list(_cases()))
def test_operators_and_wrong_types_never_reach_a_query(client, method, path, body):
    check(client.open(path, method=method, json=body), body)


AUTHED = [
    ("POST", "/api/applications", {"lot_id": "x"}, ["lot_id"]),
    ("POST", "/api/reservations", {"lot_slug": "x"}, ["lot_slug", "monthly_payment", "reserved_price"]),
    ("POST", "/api/subscriptions", {"makes": ["Kia"]}, ["makes", "models", "phone", "telegram_id", "email", "max_price"]),
    ("PUT", "/api/user/profile", {}, ["credit_score", "address", "phone", "ssn", "date_of_birth", "drivers_license_number", "employment_type"]),
    ("POST", "/api/callback-request", {"phone": "9495550100"}, ["phone", "preferred_time"]),
    ("POST", "/api/appointments", {"application_id": "x", "appointment_type": "video", "date": "2099-01-01", "time": "9:00 AM"}, ["application_id", "date", "time", "appointment_type"]),
]  # fmt: skip


def _authed_cases():
    for method, path, base, fields in AUTHED:
        for field in fields:
            for body in bodies(base, field):
                yield pytest.param(method, path, body, id=f"{path}:{field}:{body[field]!r}")


@pytest.mark.parametrize(("method", "path", "body"), list(_authed_cases()))
def test_operators_and_wrong_types_on_customer_endpoints(alice, method, path, body):
    check(alice.open(method, path, json=body), body)


@pytest.mark.parametrize("field", ["vin", "year", "make", "model", "mileage", "condition", "photos"])
def test_trade_in_fields_reject_operators(alice, lot, field):
    application_id = alice.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]
    base = {
        "vin": "",
        "year": 2020,
        "make": "Honda",
        "model": "Civic",
        "mileage": 1000,
        "condition": "good",
        "photos": [],
    }
    for body in bodies(base, field):
        check(alice.post(f"/api/applications/{application_id}/trade-in", json=body), body)


def test_schedule_pickup_rejects_operators(alice, lot):
    application_id = alice.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]
    approve(Application.objects.get(pk=application_id))
    for value in OPERATORS:
        response = alice.post(
            f"/api/applications/{application_id}/schedule-pickup", json={"pickup_slot": value}
        )
        assert response.status_code == 400 and response.get_json() == {"detail": "Invalid datetime format"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/cars/%7B%22%24ne%22%3Anull%7D",
        "/api/preview/%7B%22%24ne%22%3Anull%7D",
        "/api/tax-fees/%24ne",
    ],
)
def test_operators_in_paths_are_plain_unknown_ids(client, path):
    assert client.get(path).status_code == 404


def test_over_long_strings_are_422(alice):
    response = alice.post("/api/reservations", json={"lot_slug": "x" * 5000})
    assert response.status_code == 422 and response.get_json() == {
        "detail": "lot_slug must be at most 200 characters"
    }
    response = alice.put("/api/user/profile", json={"job_title": "j" * 201})
    assert response.status_code == 422


def test_deeply_nested_json_is_a_400(client):
    body = "[" * 100000 + "]" * 100000
    response = client.post("/api/calc", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json() == {"detail": "Malformed JSON body"}


def test_query_string_booleans_accept_the_contract_forms(alice):
    from app.models import Subscription

    forms = {"true": True, "FALSE": False, "1": True, "0": False}
    for value in forms:
        assert alice.post(f"/api/subscriptions?makes=Kia{value}&notify_email={value}").status_code == 200
    assert {sub.makes[0]: sub.notify_email for sub in Subscription.objects} == {
        f"Kia{k}": v for k, v in forms.items()
    }
