"""Public catalogue endpoints: cars, previews, the tax-and-fee table and the out-the-door calculator
(consumer-api §4.2, §4.3, §4.10.3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from flask import Response, jsonify
from pydantic import Field, field_validator

from app.errors import NotFound
from app.errors_http import error_response
from app.services import catalog, previews, tax_fees
from app.services.calculator import out_the_door_estimate
from app.services.money import json_number
from public_api.parsing import ApiModel, Text, int_field, number_field
from public_api.responses import public_json, public_value
from public_api.routing import api_route
from public_api.schemas import CalcResult, CarDetail, CarListItem, PreviewDetail, TaxFeeRow, TaxFeeTable

CAR_NOT_FOUND = "Car not found"


@api_route("/cars", summary="Public offers", tags=["Catalogue"], response=list[CarListItem])
def list_cars() -> Response:
    """Every public lot, newest publication first, as a bare array. Served from a cache that every lot
    write invalidates; ``ETag`` and ``Cache-Control: public, max-age=60``."""
    return public_json(catalog.cached_list())


@api_route(
    "/cars/<slug_or_id>",
    summary="One offer",
    tags=["Catalogue"],
    response=CarDetail,
    errors={404: CAR_NOT_FOUND},
)
def get_car(slug_or_id: str) -> Response:
    """A public lot by its stored slug (or 24-hex id). Draft, future-scheduled, archived, sold and deleted
    lots are 404, never another status."""
    return public_json(catalog.cached_detail(slug_or_id))


@api_route(
    "/preview/<token>",
    summary="Preview a lot",
    tags=["Catalogue"],
    response=PreviewDetail,
    errors={404: previews.NOT_FOUND},
)
def get_preview(token: str) -> Response:
    """A saved lot's current data, or the unsaved data captured when the link was made. Never cached,
    never indexed."""
    try:
        lot, snapshot = previews.resolve_preview(token)
    except NotFound as exc:
        # The endpoint's headers hold for its 404 too: a dead preview link must not be indexed either.
        response = error_response(404, exc.detail)
    else:
        document = lot if lot is not None else previews.snapshot_lot_document(snapshot or {})
        response = jsonify(catalog.preview_detail(document, token))
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    # Numbers exactly as the contract writes them (65, 8.75, 6.0), never strings.
    return {key: json_number(value) if isinstance(value, Decimal) else value for key, value in row.items()}


@api_route("/tax-fees", summary="Tax and fee table", tags=["Catalogue"], response=TaxFeeTable)
def list_tax_fees() -> Response:
    """The eight published rows (CA, TX, FL, NY, AZ, NV, WA, OR)."""
    rows = [_json_row(row) for row in tax_fees.all_states()]
    return public_value({"states": rows, "total": len(rows)})


@api_route(
    "/tax-fees/<state>",
    summary="Tax and fee row of a state",
    tags=["Catalogue"],
    response=TaxFeeRow,
    errors={404: "State not found"},
)
def get_tax_fees(state: str) -> Response:
    """Case-insensitive two-letter code; codes outside the table get the fallback row with ``note``."""
    row = tax_fees.state_row(state)
    if row is None:
        raise NotFound("State not found")
    return public_value(_json_row(row))


class CalcRequest(ApiModel):
    msrp: number_field(gt=0, le=100_000_000, description="The price (the caller sends the fleet price)")
    state: Annotated[Text, Field(description="Two-letter state code")]
    creditScore: Any = Field(None, description="excellent, good, fair, poor, bad, or anything else")
    downPayment: number_field(ge=0, le=100_000_000) = Decimal(0)
    term: int_field(ge=12, le=96) = 60

    error_messages = {
        "msrp": "msrp must be a number greater than 0",
        "state": "state must be a two-letter state code",
        "downPayment": "downPayment must be a number, 0 or more",
        "term": "term must be an integer between 12 and 96",
    }

    @field_validator("state")
    @classmethod
    def _two_letters(cls, value: str) -> str:
        if tax_fees.state_row(value) is None:
            raise ValueError("state must be a two-letter state code")
        return value

    @field_validator("msrp", "downPayment")
    @classmethod
    def _cents(cls, value: Decimal, info: Any) -> Decimal:
        if value != value.quantize(Decimal("0.01")):
            raise ValueError(f"{info.field_name} must have at most 2 decimal places")
        return value


@api_route(
    "/calc",
    methods=["POST"],
    summary="Out-the-door estimate",
    tags=["Catalogue"],
    params=CalcRequest,
    response=CalcResult,
    errors={422: "Validation message naming the field"},
)
def calculate(params: CalcRequest) -> Response:
    """A purchase estimate from the tax table and the amortisation formula. Stateless: nothing is stored."""
    credit = params.creditScore if isinstance(params.creditScore, str) else None
    estimate = out_the_door_estimate(params.msrp, params.state, credit, params.downPayment, params.term)
    return jsonify({key: json_number(value) for key, value in estimate.as_dict().items()})
