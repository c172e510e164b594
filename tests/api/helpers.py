"""Helpers of the API tests: the personal-data rules, signed-in clients, and state set-up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.wrappers import Response

from app.models import Application, User
from app.models.application import ApprovalDetails
from app.models.base import utcnow
from app.services import tokens

TEST_SSN = "123-45-6789"
TEST_LICENCE = "D7654321"
TEST_DOB = "1990-04-15"
FORBIDDEN_VALUES = (TEST_SSN, TEST_SSN.replace("-", ""), TEST_LICENCE, TEST_DOB)
FORBIDDEN_KEYS = frozenset(
    {
        "ssn",
        "drivers_license_number",
        "date_of_birth",
        "ssn_encrypted",
        "drivers_license_number_encrypted",
        "date_of_birth_encrypted",
        "password",
        "password_hash",
        "mfa_secret_encrypted",
        "oauth_subject",
        "user_data",
        "prescoring_data",
        "manager_comments",
        "verified_income",
    }
)
# The OpenAPI document and the docs page describe request fields by name (``ssn`` is a profile input).
KEY_CHECK_EXEMPT_PATHS = ("/api/openapi.json", "/api/docs")

# The site's exact profile wizard body (consumer-api §4.5.2).
SITE_PROFILE_BODY = {
    "credit_score": 720,
    "auto_loan_history": True,
    "employment_type": "W2",
    "annual_income": 95000,
    "employment_duration_months": None,
    "address": "100 Main St, Irvine, CA 92606",
    "residence_duration_months": 36,
    "monthly_expenses": 2500,
    "down_payment_ready": 3000,
    "ssn": "",
}


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def pii_violations(path: str, response: Response) -> list[str]:
    """What is wrong with one response, by the rules above (empty when it is clean)."""
    problems: list[str] = []
    if response.is_streamed:
        return problems
    body = response.get_data()
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for value in FORBIDDEN_VALUES:
        if value.encode() in body or value in headers:
            problems.append(f"{path}: response contains the test value {value!r}")
    if response.mimetype == "application/json" and body and not path.startswith(KEY_CHECK_EXEMPT_PATHS):
        try:
            parsed = json.loads(body)
        except ValueError:
            problems.append(f"{path}: JSON response does not parse")
        else:
            leaked = FORBIDDEN_KEYS.intersection(_keys(parsed))
            if leaked:
                problems.append(f"{path}: response has sensitive keys {sorted(leaked)}")
    return problems


# --------------------------------------------------------------------------------------------------------
# Signed-in clients


@dataclass
class Session:
    """A test client acting as one signed-in user."""

    client: FlaskClient
    user: User
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.open("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.open("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.open("DELETE", path, **kwargs)


def sign_in(app: Flask, user: User) -> Session:
    """A session for ``user`` without going through the (rate-limited) login endpoint."""
    pair = tokens.open_session(user)
    return Session(app.test_client(), user, pair.access_token, pair.refresh_token)


def completed_profile(**fields: Any) -> dict[str, Any]:
    values = {
        "credit_score": 720,
        "employment_type": "W2",
        "address": "1 Test Way, Irvine, CA",
        "profile_completed": True,
    }
    values.update(fields)
    return values


def approve(application: Application, *, now: Any = None) -> Application:
    """Put an application in the state the finance manager's approval leaves it (back-office action)."""
    application.update(
        set__status="approved",
        set__is_open=True,
        set__pickup_status="ready_for_pickup",
        set__approval_details=ApprovalDetails(
            apr=Decimal("3.9"),
            loan_term=60,
            down_payment=Decimal(3000),
            monthly_payment=Decimal(512),
            approved_at=now or utcnow(),
        ),
    )
    application.reload()
    return application
