"""GET/PUT /api/user/profile (consumer-api §4.5): partial updates, sensitive fields, validation."""

from __future__ import annotations

import pytest

from app.db import get_db
from app.models import AuditLog, User
from tests.api.helpers import SITE_PROFILE_BODY, TEST_DOB, TEST_LICENCE, TEST_SSN, sign_in
from tests.factories import make_user


@pytest.fixture
def newcomer(app):
    return sign_in(app, make_user(email="new@example.com", name="Newcomer"))


def test_get_profile_is_the_bare_user(newcomer):
    body = newcomer.get("/api/user/profile").get_json()
    assert body["id"] == str(newcomer.user.pk) and body["profile_completed"] is False
    assert body == newcomer.get("/api/auth/me").get_json()


def test_the_sites_exact_body_is_accepted_and_completes_the_profile(newcomer):
    response = newcomer.put("/api/user/profile", json=SITE_PROFILE_BODY)
    assert response.status_code == 200
    body = response.get_json()
    assert body["credit_score"] == 720 and body["annual_income"] == 95000 and body["employment_type"] == "W2"
    assert body["employment_duration_months"] is None and body["address"] == "100 Main St, Irvine, CA 92606"
    assert body["profile_completed"] is True
    assert body["ssn_on_file"] is False


def test_sensitive_values_are_stored_encrypted_and_never_returned(newcomer):
    response = newcomer.put(
        "/api/user/profile",
        json={"ssn": TEST_SSN, "drivers_license_number": TEST_LICENCE.lower(), "date_of_birth": TEST_DOB},
    )
    body = response.get_json()
    assert (body["ssn_on_file"], body["drivers_license_on_file"], body["date_of_birth_on_file"]) == (
        True,
        True,
        True,
    )
    raw = get_db()["users"].find_one({"_id": newcomer.user.pk})
    assert TEST_SSN not in str(raw) and "123456789" not in str(raw) and TEST_DOB not in str(raw)
    user = User.objects.get(pk=newcomer.user.pk)
    assert user.decrypt_sensitive("ssn") == TEST_SSN
    assert user.decrypt_sensitive("drivers_license_number") == TEST_LICENCE
    assert user.decrypt_sensitive("date_of_birth") == TEST_DOB


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_sensitive_value_keeps_the_stored_one(newcomer, empty):
    newcomer.put("/api/user/profile", json={"ssn": TEST_SSN})
    body = newcomer.put("/api/user/profile", json={**SITE_PROFILE_BODY, "ssn": empty}).get_json()
    assert body["ssn_on_file"] is True
    assert User.objects.get(pk=newcomer.user.pk).decrypt_sensitive("ssn") == TEST_SSN


def test_absent_keys_stay_and_null_clears(newcomer):
    newcomer.put("/api/user/profile", json=SITE_PROFILE_BODY)
    body = newcomer.put("/api/user/profile", json={"job_title": "Nurse"}).get_json()
    assert body["credit_score"] == 720 and body["job_title"] == "Nurse"
    body = newcomer.put("/api/user/profile", json={"credit_score": None}).get_json()
    assert body["credit_score"] is None
    assert body["profile_completed"] is False  # recomputed on every save


def test_numeric_strings_are_converted_and_the_phone_is_normalised(newcomer):
    body = newcomer.put(
        "/api/user/profile",
        json={"credit_score": "705", "annual_income": "88000", "phone": "+1 949.555.0100"},
    ).get_json()
    assert body["credit_score"] == 705 and body["annual_income"] == 88000
    assert body["phone"] == "(949) 555-0100"


def test_the_audit_entry_names_the_changed_fields_only(newcomer):
    newcomer.put("/api/user/profile", json={"ssn": TEST_SSN, "credit_score": 700, "address": "1 A St"})
    entry = AuditLog.objects(action="profile_updated").get()
    assert entry.details["fields"] == ["address", "credit_score", "ssn"]
    assert TEST_SSN not in entry.to_json() and "1 A St" not in entry.to_json()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"credit_score": 900}, "credit_score must be an integer between 300 and 850"),
        ({"credit_score": "abc"}, "credit_score must be an integer between 300 and 850"),
        ({"credit_score": True}, "credit_score must be an integer between 300 and 850"),
        ({"credit_score": 700.5}, "credit_score must be an integer between 300 and 850"),
        ({"employment_type": "contractor"}, "employment_type must be one of: W2, 1099, self, other"),
        ({"annual_income": -1}, "annual_income must be an integer between 0 and 10000000"),
        (
            {"employment_duration_months": 1201},
            "employment_duration_months must be an integer between 0 and 1200",
        ),
        ({"employer_name": "x" * 201}, "employer_name must be text of at most 200 characters"),
        ({"address": {"$ne": None}}, "address must be text of at most 300 characters"),
        ({"phone": "555-0100"}, "phone must be a 10-digit US phone number"),
        (
            {"immigration_status": "tourist"},
            "immigration_status must be one of: citizen, green_card, asylum, other",
        ),
        ({"ssn": "12345"}, "ssn must be 9 digits (dashes optional)"),
        ({"ssn": "666-12-3456"}, "ssn is not a valid Social Security number"),
        ({"ssn": "900-12-3456"}, "ssn is not a valid Social Security number"),
        ({"drivers_license_number": "D-123"}, "drivers_license_number must be 1-20 letters or digits"),
        (
            {"date_of_birth": "15/04/1990"},
            "date_of_birth must be a date (YYYY-MM-DD) for an age between 18 and 120",
        ),
        (
            {"date_of_birth": "2015-01-01"},
            "date_of_birth must be a date (YYYY-MM-DD) for an age between 18 and 120",
        ),
        ({"auto_loan_history": "maybe"}, "auto_loan_history must be true, false or null"),
    ],
)
def test_validation_names_the_field(newcomer, body, detail):
    response = newcomer.put("/api/user/profile", json=body)
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}


def test_the_profile_needs_a_token(client):
    assert client.put("/api/user/profile", json=SITE_PROFILE_BODY).status_code == 401
    assert client.get("/api/user/profile").get_json() == {"detail": "Authentication required"}
