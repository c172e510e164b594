"""The site's lead and callback forms (consumer-api §4.10.1, §4.10.2, §4.10.4)."""

from __future__ import annotations

from typing import Annotated, Any

from bson import ObjectId
from flask import Response, jsonify
from pydantic import Field, field_validator

from app.errors import ValidationFailed
from app.models import User
from app.models.customer import PREFERRED_TIMES
from app.services import leads, profile, users
from public_api.limits import FORM_LIMITS
from public_api.parsing import ApiModel, Text, json_body, validate
from public_api.responses import ok
from public_api.routing import api_route
from public_api.schemas import Created

HONEYPOT = "website"


def _checked(check: Any, value: str) -> str:
    try:
        return check(value)
    except ValidationFailed as exc:
        raise ValueError(exc.detail) from None


class LeadRequest(ApiModel):
    name: Annotated[Text, Field(max_length=100)]
    phone: Annotated[Text, Field(max_length=40)]
    email: Annotated[Text, Field(max_length=254)]
    message: Annotated[Text, Field(max_length=2000)] | None = ""
    consent: Any = Field(None, validate_default=True)
    carId: Annotated[Text, Field(max_length=200)] | None = None
    carTitle: Annotated[Text, Field(max_length=200)] | None = None

    error_messages = {
        "name": "name must be 1-100 characters",
        "phone": "phone must be a 10-digit US phone number",
        "email": "email must be a valid e-mail address",
        "message": "message must be at most 2000 characters",
    }

    @field_validator("carId", "carTitle", mode="before")
    @classmethod
    def _car_reference(cls, value: Any) -> Any:
        # The car the form was on is kept as sent and only resolved when possible ("an unknown value is
        # still accepted"), so a numeric id of one of the site's demo cars must not refuse the lead.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name is required")
        return value.strip()

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _checked(profile.normalise_phone, value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _checked(users.clean_email, value)

    @field_validator("consent", mode="before")
    @classmethod
    def _consent(cls, value: Any) -> bool:
        if value is not True:
            raise ValueError("Consent is required")
        return True


def _is_spam() -> bool:
    body = json_body() or {}
    trap = body.get(HONEYPOT)
    return trap not in (None, "", False)


def _submit_lead(car_key: str) -> Response:
    if _is_spam():
        # Answer like a real submission, so the bot learns nothing; nothing is stored.
        return jsonify(ok("Lead submitted successfully", id=str(ObjectId())))
    body = dict(json_body() or {})
    if car_key != "carId":
        body["carId"] = body.pop(car_key, None)
    params = validate(LeadRequest, body)
    lead = leads.create_lead(
        name=params.name,
        phone=params.phone,
        email=params.email,
        message=params.message or "",
        consent=params.consent,
        car_id=params.carId,
        car_title=params.carTitle,
    )
    return jsonify(ok("Lead submitted successfully", id=str(lead.pk)))


LEAD_ERRORS = {
    422: [
        "Consent is required",
        "phone must be a 10-digit US phone number",
        "email must be a valid e-mail address",
    ],
    429: "Too many requests. Please try again later.",
}


@api_route(
    "/lead",
    methods=["POST"],
    summary="Get your offer (lead form)",
    tags=["Forms"],
    params=LeadRequest,
    parse_params=False,
    response=Created,
    errors=LEAD_ERRORS,
    limits=FORM_LIMITS,
)
def create_lead() -> Response:
    """Stored as a lead for the finance managers, with the consent evidence (text version, time, address,
    user agent). A non-empty ``website`` field (the honeypot) gets the normal answer and is discarded."""
    return _submit_lead("carId")


@api_route(
    "/deal-intent",
    methods=["POST"],
    summary="Deal intent (alias of the lead form)",
    tags=["Forms"],
    params=LeadRequest,
    parse_params=False,
    response=Created,
    errors=LEAD_ERRORS,
    limits=FORM_LIMITS,
)
def create_deal_intent() -> Response:
    """The same as ``/api/lead``, with ``dealId`` in the role of ``carId``."""
    return _submit_lead("dealId")


class CallbackRequest(ApiModel):
    phone: Annotated[Text, Field(max_length=40)]
    preferred_time: Annotated[Text, Field(max_length=20)] | None = "asap"

    error_messages = {
        "phone": "phone must be a 10-digit US phone number",
        "preferred_time": f"preferred_time must be one of: {', '.join(PREFERRED_TIMES)}",
    }

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _checked(profile.normalise_phone, value)

    @field_validator("preferred_time")
    @classmethod
    def _time(cls, value: str | None) -> str:
        if value in (None, ""):
            return "asap"
        if value not in PREFERRED_TIMES:
            raise ValueError(f"preferred_time must be one of: {', '.join(PREFERRED_TIMES)}")
        return value


@api_route(
    "/callback-request",
    methods=["POST"],
    summary="Request a callback",
    tags=["Forms"],
    auth="bearer",
    params=CallbackRequest,
    response=Created,
    errors={
        401: ["Authentication required", "Invalid or expired token"],
        422: "phone must be a 10-digit US phone number",
        429: "Too many requests. Please try again later.",
    },
    limits=FORM_LIMITS,
)
def request_callback(user: User, params: CallbackRequest) -> Response:
    """A callback task for the finance managers, linked to the signed-in customer."""
    lead = leads.create_callback(user, phone=params.phone, preferred_time=params.preferred_time or "asap")
    return jsonify(ok("Callback requested", id=str(lead.pk)))
