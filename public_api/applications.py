"""Applications, trade-ins, alternatives, pickup, documents and appointments (consumer-api §4.6, §4.9)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from flask import Response, jsonify, request
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from app.errors import RuleViolation, ValidationFailed
from app.models import User
from app.models.application import TRADE_IN_CONDITIONS
from app.models.customer import APPOINTMENT_TIMES, APPOINTMENT_TYPES, DOCUMENT_TYPES
from app.services import applications, appointments, documents, pickup
from app.services.catalog import iso
from app.services.trade_in import pacific_today
from app.services.vin import is_valid_vin_format, normalise_vin
from public_api.parsing import ApiModel, Int, Text, as_int
from public_api.responses import ok
from public_api.routing import api_route
from public_api.schemas import (
    Alternatives,
    ApplicationCreated,
    ApplicationList,
    AppointmentCreated,
    DocumentUploaded,
    PickupScheduled,
    PickupSlots,
    TradeInResult,
)

APP_NOT_FOUND = "Application not found"
NOT_AUTHORIZED = "Not authorized"
AUTH_ERRORS = ["Authentication required", "Invalid or expired token"]


# --------------------------------------------------------------------------------------------------------
# Create and list


class ApplicationCreate(ApiModel):
    lot_id: Annotated[Text, Field(max_length=200)] | None = None


@api_route(
    "/applications",
    methods=["POST"],
    summary="Apply for financing",
    tags=["Applications"],
    auth="bearer",
    params=ApplicationCreate,
    source="both",
    response=ApplicationCreated,
    errors={
        422: "lot_id is required",
        400: [
            "Please complete your profile before applying",
            "You already have an open application for this vehicle",
        ],
        404: "Car not found",
        401: AUTH_ERRORS,
    },
)
def create_application(user: User, params: ApplicationCreate) -> Response:
    """``lot_id`` (a slug or a 24-hex id) comes as a query parameter with a ``null`` body, as the site sends
    it, or in a JSON body."""
    if not params.lot_id or not params.lot_id.strip():
        raise ValidationFailed("lot_id is required")
    application = applications.create_from_lot(user, params.lot_id.strip())
    return jsonify(ok("Application submitted successfully", application_id=str(application.pk)))


@api_route(
    "/applications",
    summary="My applications",
    tags=["Applications"],
    auth="bearer",
    response=ApplicationList,
    errors={401: AUTH_ERRORS},
)
def list_applications(user: User) -> Response:
    """The caller's own applications, newest first."""
    items = [applications.customer_view(application) for application in applications.list_for_user(user)]
    return jsonify({"applications": items, "total": len(items)})


# --------------------------------------------------------------------------------------------------------
# Trade-in

_URL = re.compile(r"https?://[^\s]{1,990}")


class TradeInRequest(ApiModel):
    vin: Annotated[Text, Field(max_length=17)] | None = ""
    year: Int
    make: Annotated[Text, Field(max_length=60)]
    model: Annotated[Text, Field(max_length=80)]
    mileage: Any = Field(None, validate_default=True)
    condition: Literal[TRADE_IN_CONDITIONS]  # type: ignore[valid-type]
    photos: list[Text] | None = Field(default_factory=list)

    error_messages = {
        "vin": "vin must be 17 characters from A-Z and 0-9, excluding I, O and Q",
        "condition": f"condition must be one of: {', '.join(TRADE_IN_CONDITIONS)}",
        "photos": "photos must be a list of at most 10 URLs",
        "make": "make is required",
        "model": "model is required",
    }

    @field_validator("vin")
    @classmethod
    def _vin(cls, value: str | None) -> str:
        if not value or not value.strip():
            return ""
        vin = normalise_vin(value)
        if not is_valid_vin_format(vin):
            raise ValueError("vin must be 17 characters from A-Z and 0-9, excluding I, O and Q")
        return vin

    @field_validator("year")
    @classmethod
    def _year(cls, value: int) -> int:
        latest = pacific_today().year + 1
        if not 1980 <= value <= latest:
            raise ValueError(f"year must be an integer between 1980 and {latest}")
        return value

    @field_validator("make", "model")
    @classmethod
    def _not_empty(cls, value: str, info: Any) -> str:
        if not value.strip():
            raise ValueError(f"{info.field_name} is required")
        return value.strip()

    @field_validator("mileage", mode="before")
    @classmethod
    def _mileage(cls, value: Any) -> int:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError("mileage is required")
        message = "mileage must be an integer between 0 and 1000000"
        try:
            number = as_int(value)
        except PydanticCustomError:
            raise ValueError(message) from None
        if not 0 <= number <= 1_000_000:
            raise ValueError(message)
        return number

    @field_validator("photos")
    @classmethod
    def _photos(cls, value: list[str] | None) -> list[str]:
        photos = [photo.strip() for photo in value or []]
        if len(photos) > 10 or not all(_URL.fullmatch(photo) for photo in photos):
            raise ValueError("photos must be a list of at most 10 URLs")
        return photos


@api_route(
    "/applications/<application_id>/trade-in",
    methods=["POST"],
    summary="Add a trade-in",
    tags=["Applications"],
    auth="bearer",
    params=TradeInRequest,
    response=TradeInResult,
    errors={
        404: APP_NOT_FOUND,
        403: NOT_AUTHORIZED,
        400: "Trade-in cannot be added to this application",
        422: ["mileage is required", "condition must be one of: excellent, good, fair, poor"],
        401: AUTH_ERRORS,
    },
)
def add_trade_in(user: User, application_id: str, params: TradeInRequest) -> Response:
    """Value the customer's trade-in (a local estimate, never below 0) and store it on their application,
    replacing an earlier one."""
    value = applications.add_trade_in(
        application_id,
        user,
        vin=params.vin or "",
        year=params.year,
        make=params.make,
        model=params.model,
        mileage=params.mileage,
        condition=params.condition,
        photos=params.photos or [],
    )
    return jsonify(ok("Trade-in added successfully", trade_in_value=value))


@api_route(
    "/applications/<application_id>/auto-alternatives",
    summary="Automatic alternatives",
    tags=["Applications"],
    auth="bearer",
    response=Alternatives,
    errors={404: APP_NOT_FOUND, 403: NOT_AUTHORIZED, 401: AUTH_ERRORS},
)
def auto_alternatives(user: User, application_id: str) -> Response:
    """Up to three public lots (cheaper, similar, luxury) relative to the applied-for monthly payment.
    For the application's owner or a finance manager. ``count`` is inside and outside ``alternatives``."""
    result = applications.auto_alternatives(application_id, user).as_dict()
    return jsonify({"ok": True, "alternatives": result, "count": result["count"]})


# --------------------------------------------------------------------------------------------------------
# Pickup


class PickupSlotsQuery(ApiModel):
    date: Any = None
    application_id: Any = None


@api_route(
    "/admin/pickup-slots",
    summary="Free pickup slots",
    tags=["Pickup"],
    auth="bearer",
    params=PickupSlotsQuery,
    source="query",
    response=PickupSlots,
    errors={400: "Invalid date format", 401: AUTH_ERRORS},
)
def pickup_slots(user: User, params: PickupSlotsQuery) -> Response:
    """A customer endpoint despite its path: any signed-in user. Free slots of the 14-day window from
    ``date`` (Pacific; default today), Sundays, past and booked slots removed. ``application_id`` is
    accepted and ignored."""
    start: date | None = None
    if params.date not in (None, ""):
        if not isinstance(params.date, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", params.date):
            raise RuleViolation("Invalid date format")
        try:
            start = date.fromisoformat(params.date)
        except ValueError:
            raise RuleViolation("Invalid date format") from None
    slots = pickup.list_free_slots(start_date=start)
    return jsonify(
        {"slots": [{"datetime": slot.iso, "display": slot.display, "available": True} for slot in slots]}
    )


class SchedulePickupRequest(ApiModel):
    pickup_slot: Any = None


@api_route(
    "/applications/<application_id>/schedule-pickup",
    methods=["POST"],
    summary="Schedule the pickup",
    tags=["Pickup"],
    auth="bearer",
    params=SchedulePickupRequest,
    source="both",
    response=PickupScheduled,
    errors={
        400: [
            "Invalid datetime format",
            "Application must be approved first",
            "Pickup already scheduled",
            "Selected time is not available",
        ],
        404: APP_NOT_FOUND,
        403: NOT_AUTHORIZED,
        409: "This time slot is no longer available",
        401: AUTH_ERRORS,
    },
)
def schedule_pickup(user: User, application_id: str, params: SchedulePickupRequest) -> Response:
    """Book one of the offered slots (JSON ``pickup_slot``, or the query string) for an approved
    application. The booking is atomic: of two customers racing for one slot, one gets 409."""
    application = applications.schedule_pickup(application_id, user, params.pickup_slot)
    slot = iso(application.pickup_slot)
    return jsonify({"ok": True, "message": "Pickup time scheduled successfully", "pickup_slot": slot})


# --------------------------------------------------------------------------------------------------------
# Documents


@api_route(
    "/applications/<application_id>/upload-document",
    methods=["POST"],
    summary="Upload a document",
    tags=["Documents"],
    auth="bearer",
    response=DocumentUploaded,
    request_content="multipart/form-data",
    errors={
        404: APP_NOT_FOUND,
        403: NOT_AUTHORIZED,
        413: "File too large (max 10 MB)",
        415: "Unsupported file type",
        422: ["doc_type is required", "file is required"],
        401: AUTH_ERRORS,
    },
)
def upload_document(user: User, application_id: str) -> Response:
    """Multipart parts ``file`` and ``doc_type`` (or ``?doc_type=``), optional ``application_id`` equal to
    the path id. PDF, JPEG, PNG or WebP detected from the content; stored encrypted in private storage."""
    applications.get_owned(application_id, user)
    doc_type = request.form.get("doc_type") or request.args.get("doc_type")
    if not doc_type:
        raise ValidationFailed("doc_type is required")
    if doc_type not in DOCUMENT_TYPES:
        raise ValidationFailed(f"doc_type must be one of: {', '.join(DOCUMENT_TYPES)}")
    form_application = request.form.get("application_id")
    if form_application and form_application != application_id:
        raise ValidationFailed("application_id must match the application in the URL")
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("file is required")
    document = documents.upload(
        application_id, user, doc_type=doc_type, stream=upload.stream, filename=upload.filename
    )
    url = f"/api/applications/{application_id}/documents/{document.pk}"
    return jsonify(ok("Document uploaded", id=str(document.pk), url=url))


@api_route(
    "/applications/<application_id>/documents/<document_id>",
    summary="Download a document",
    tags=["Documents"],
    auth="bearer",
    response_content="application/octet-stream",
    errors={404: [APP_NOT_FOUND, "Document not found"], 403: NOT_AUTHORIZED, 401: AUTH_ERRORS},
)
def download_document(user: User, application_id: str, document_id: str) -> Response:
    """The file, for the application's owner or a finance manager (staff downloads are audited)."""
    file = documents.download(application_id, document_id, user)
    response = Response(file.content, mimetype=file.document.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{file.download_name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------------------------------------
# Appointments


class AppointmentRequest(ApiModel):
    application_id: Annotated[Text, Field(max_length=64)]
    appointment_type: Literal[APPOINTMENT_TYPES]  # type: ignore[valid-type]
    date: Annotated[Text, Field(max_length=10)]
    time: Literal[APPOINTMENT_TIMES]  # type: ignore[valid-type]

    error_messages = {
        "appointment_type": f"appointment_type must be one of: {', '.join(APPOINTMENT_TYPES)}",
        "date": "date must be a date in YYYY-MM-DD format, today or later",
        "time": f"time must be one of: {', '.join(APPOINTMENT_TIMES)}",
    }

    @field_validator("date")
    @classmethod
    def _date(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("date must be a date in YYYY-MM-DD format, today or later")
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError("date must be a date in YYYY-MM-DD format, today or later") from None
        return value


@api_route(
    "/appointments",
    methods=["POST"],
    summary="Book an appointment",
    tags=["Appointments"],
    auth="bearer",
    params=AppointmentRequest,
    source="both",
    response=AppointmentCreated,
    errors={
        404: APP_NOT_FOUND,
        403: NOT_AUTHORIZED,
        422: "appointment_type must be one of: pickup, video, test_drive",
        401: AUTH_ERRORS,
    },
)
def book_appointment(user: User, params: AppointmentRequest) -> Response:
    """A pickup, video call or test drive on one of the fixed times, today or later (Pacific). A
    ``pickup`` appointment does not book a pickup slot."""
    appointment = appointments.book(
        user,
        application_id=params.application_id,
        appointment_type=params.appointment_type,
        day=params.date,
        clock=params.time,
    )
    return jsonify(ok(appointments.confirmation(appointment), appointment_id=str(appointment.pk)))
