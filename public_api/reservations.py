"""48-hour price reservations (consumer-api §4.7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from flask import Response, jsonify
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from app.errors import ValidationFailed
from app.models import User
from app.services import reservations
from app.services.catalog import iso
from public_api.limits import PER_USER_LIMIT
from public_api.parsing import ApiModel, Text, as_decimal
from public_api.responses import ok
from public_api.routing import api_route
from public_api.schemas import ApplicationCreated, OkMessage, ReservationCreated, ReservationList

AUTH_ERRORS = ["Authentication required", "Invalid or expired token"]
HINT_LIMIT = Decimal(100_000_000)


def _price_hint(value: Any) -> Decimal | None:
    """A client price hint, or None when it is not a usable amount.

    The server sets every price (business rules §4.2) and the contract refuses a reservation only for the
    reasons of its check table, so a hint that is not a number, negative or absurd is dropped, never a 422.
    """
    if value is None:
        return None
    try:
        amount: Decimal = as_decimal(value)
    except PydanticCustomError:
        return None
    return amount if 0 <= amount <= HINT_LIMIT else None


PriceHint = Annotated[Decimal | None, BeforeValidator(_price_hint)]


class ReservationRequest(ApiModel):
    """What the site sends. Prices are hints only: the server sets them from the lot; ``deposit_paid`` and
    other keys are ignored."""

    lot_slug: Annotated[Text, Field(max_length=200)] | None = None
    reserved_price: PriceHint = None
    monthly_payment: PriceHint = None
    due_at_signing: PriceHint = None


@api_route(
    "/reservations",
    methods=["POST"],
    summary="Reserve a price for 48 hours",
    tags=["Reservations"],
    auth="bearer",
    params=ReservationRequest,
    source="both",
    response=ReservationCreated,
    errors={
        422: "lot_slug is required",
        404: "Car not found",
        400: [reservations.DUPLICATE, "This vehicle cannot be reserved right now"],
        401: AUTH_ERRORS,
        429: "Too many requests. Please try again later.",
    },
    limits=[PER_USER_LIMIT],
)
def create_reservation(user: User, params: ReservationRequest) -> Response:
    """Hold a public lot's fleet price for 48 hours (deposit 97.49, recorded unpaid). ``lot_slug`` may be a
    slug or a 24-hex lot id; one active reservation per customer and lot, enforced by the database."""
    if not params.lot_slug or not params.lot_slug.strip():
        raise ValidationFailed("lot_slug is required")
    reservation = reservations.create(user, params.lot_slug.strip(), monthly_hint=params.monthly_payment)
    return jsonify(
        {
            "ok": True,
            "reservation_id": str(reservation.pk),
            "message": "Price reserved for 48 hours",
            "expires_at": iso(reservation.expires_at),
        }
    )


@api_route(
    "/reservations",
    summary="My reservations",
    tags=["Reservations"],
    auth="bearer",
    response=ReservationList,
    errors={401: AUTH_ERRORS},
)
def list_reservations(user: User) -> Response:
    """Every reservation of the caller, all statuses, newest first; holds that ran out are expired first."""
    items = [reservations.customer_view(reservation) for reservation in reservations.list_for_user(user)]
    return jsonify({"reservations": items, "total": len(items)})


@api_route(
    "/reservations/<reservation_id>",
    methods=["DELETE"],
    summary="Cancel a reservation",
    tags=["Reservations"],
    auth="bearer",
    response=OkMessage,
    errors={
        404: "Reservation not found",
        403: "Not authorized",
        400: reservations.NOT_ACTIVE,
        401: AUTH_ERRORS,
    },
)
def cancel_reservation(user: User, reservation_id: str) -> Response:
    """The owner cancels an active reservation."""
    reservations.cancel(reservation_id, user)
    return jsonify(ok("Reservation cancelled"))


@api_route(
    "/reservations/<reservation_id>/convert",
    methods=["POST"],
    summary="Apply with a reservation",
    tags=["Reservations"],
    auth="bearer",
    response=ApplicationCreated,
    errors={
        404: ["Reservation not found", "Car not found"],
        403: "Not authorized",
        400: [
            reservations.NOT_ACTIVE,
            "Reservation has expired",
            "You already have an open application for this vehicle",
        ],
        401: AUTH_ERRORS,
    },
)
def convert_reservation(user: User, reservation_id: str) -> Response:
    """Turn an active reservation into an application at the reserved price (no body; no completed
    profile needed)."""
    application = reservations.convert(reservation_id, user)
    return jsonify(ok("Application submitted successfully", application_id=str(application.pk)))
