"""The customer's profile (consumer-api §4.5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response, jsonify
from pydantic import Field, field_validator

from app.errors import ValidationFailed
from app.models import User
from app.models.user import EMPLOYMENT_TYPES, IMMIGRATION_STATUSES
from app.services import profile
from public_api.parsing import ApiModel, Text, int_field
from public_api.routing import api_route
from public_api.schemas import UserOut

Months = int_field(ge=0, le=1200)
Dollars = int_field(ge=0, le=10_000_000)


def _domain(check: Any, value: str | None) -> str | None:
    """Run a profile rule, turning its ``ValidationFailed`` into the pydantic error that carries its text."""
    if value is None:
        return None
    try:
        return check(value)
    except ValidationFailed as exc:
        raise ValueError(exc.detail) from None


class ProfileUpdate(ApiModel):
    """Partial update: absent keys are left alone, ``null`` clears, and for ``ssn``,
    ``drivers_license_number`` and ``date_of_birth`` an empty value keeps what is stored."""

    credit_score: int_field(ge=300, le=850) | None = None
    auto_loan_history: bool | None = None
    employment_type: Literal[EMPLOYMENT_TYPES] | None = None  # type: ignore[valid-type]
    annual_income: Dollars | None = None
    monthly_income_pretax: int_field(ge=0, le=1_000_000) | None = None
    employment_duration_months: Months | None = None
    time_at_job_months: Months | None = None
    residence_duration_months: Months | None = None
    current_address_duration_months: Months | None = None
    monthly_expenses: Dollars | None = None
    down_payment_ready: Dollars | None = None
    employer_name: Annotated[Text, Field(max_length=200)] | None = None
    job_title: Annotated[Text, Field(max_length=200)] | None = None
    address: Annotated[Text, Field(max_length=300)] | None = None
    current_address: Annotated[Text, Field(max_length=300)] | None = None
    previous_address: Annotated[Text, Field(max_length=300)] | None = None
    phone: Text | None = None
    immigration_status: Literal[IMMIGRATION_STATUSES] | None = None  # type: ignore[valid-type]
    ssn: Text | None = None
    drivers_license_number: Text | None = None
    date_of_birth: Text | None = None

    error_messages = {
        "credit_score": "credit_score must be an integer between 300 and 850",
        "auto_loan_history": "auto_loan_history must be true, false or null",
        "employment_type": f"employment_type must be one of: {', '.join(EMPLOYMENT_TYPES)}",
        "annual_income": "annual_income must be an integer between 0 and 10000000",
        "monthly_income_pretax": "monthly_income_pretax must be an integer between 0 and 1000000",
        "employment_duration_months": "employment_duration_months must be an integer between 0 and 1200",
        "time_at_job_months": "time_at_job_months must be an integer between 0 and 1200",
        "residence_duration_months": "residence_duration_months must be an integer between 0 and 1200",
        "current_address_duration_months": "current_address_duration_months must be an integer between 0 and 1200",
        "monthly_expenses": "monthly_expenses must be an integer between 0 and 10000000",
        "down_payment_ready": "down_payment_ready must be an integer between 0 and 10000000",
        "employer_name": "employer_name must be text of at most 200 characters",
        "job_title": "job_title must be text of at most 200 characters",
        "address": "address must be text of at most 300 characters",
        "current_address": "current_address must be text of at most 300 characters",
        "previous_address": "previous_address must be text of at most 300 characters",
        "phone": "phone must be a 10-digit US phone number",
        "immigration_status": f"immigration_status must be one of: {', '.join(IMMIGRATION_STATUSES)}",
        "ssn": "ssn must be 9 digits (dashes optional)",
        "drivers_license_number": "drivers_license_number must be 1-20 letters or digits",
        "date_of_birth": "date_of_birth must be a date (YYYY-MM-DD) for an age between 18 and 120",
    }

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        # An emptied phone input clears the stored number.
        return _domain(profile.normalise_phone, value) if value and value.strip() else None

    @field_validator("ssn")
    @classmethod
    def _ssn(cls, value: str | None) -> str | None:
        return _domain(profile.normalise_ssn, value) if value and value.strip() else None

    @field_validator("drivers_license_number")
    @classmethod
    def _licence(cls, value: str | None) -> str | None:
        return _domain(profile.normalise_licence, value) if value and value.strip() else None

    @field_validator("date_of_birth")
    @classmethod
    def _date_of_birth(cls, value: str | None) -> str | None:
        return _domain(profile.normalise_date_of_birth, value) if value and value.strip() else None


@api_route(
    "/user/profile",
    summary="Read the profile",
    tags=["Profile"],
    auth="bearer",
    response=UserOut,
    errors={401: "Authentication required"},
)
def get_profile(user: User) -> Response:
    """The bare user object, the same as ``/api/auth/me``."""
    return jsonify(profile.public_user(user))


@api_route(
    "/user/profile",
    methods=["PUT"],
    summary="Update the profile",
    tags=["Profile"],
    auth="bearer",
    params=ProfileUpdate,
    response=UserOut,
    errors={401: "Authentication required", 422: "credit_score must be an integer between 300 and 850"},
)
def update_profile(user: User, params: ProfileUpdate) -> Response:
    """Accepts the site's wizard body as is (nulls, partial bodies, ``ssn: ""``). ``profile_completed``
    is recomputed; SSN, licence number and date of birth are stored encrypted and never returned."""
    changes = {name: getattr(params, name) for name in params.model_fields_set}
    updated = profile.update_profile(user, changes)
    return jsonify(profile.public_user(updated))
