"""Model alerts (consumer-api §4.8)."""

from __future__ import annotations

from typing import Annotated

from flask import Response, jsonify
from pydantic import Field

from app.models import User
from app.services import subscriptions
from public_api.auth import preferred_language
from public_api.limits import PER_USER_LIMIT
from public_api.parsing import ApiModel, Text, int_field
from public_api.responses import ok
from public_api.routing import api_route
from public_api.schemas import OkMessage, SubscriptionCreated, SubscriptionList

AUTH_ERRORS = ["Authentication required", "Invalid or expired token"]


class SubscriptionRequest(ApiModel):
    # A null entry (a car with no make or model) counts as empty, like "" and blanks: the rule is "at least
    # one non-empty entry across the two lists", and the service drops empty entries.
    makes: Annotated[list[Annotated[Text, Field(max_length=60)] | None], Field(max_length=10)] | None = None
    models: Annotated[list[Annotated[Text, Field(max_length=80)] | None], Field(max_length=10)] | None = None
    max_price: int_field(ge=0, le=100_000_000) | None = None
    phone: Annotated[Text, Field(max_length=40)] | None = None
    telegram_id: Annotated[Text, Field(max_length=64)] | None = None
    email: Annotated[Text, Field(max_length=254)] | None = None
    notify_email: bool | None = True
    notify_sms: bool | None = False
    notify_telegram: bool | None = False
    notify_on_new_listing: bool | None = True
    notify_on_price_drop: bool | None = True

    error_messages = {
        "makes": "makes must be a list of at most 10 names",
        "models": "models must be a list of at most 10 names",
        "max_price": "max_price must be a whole number of dollars, 0 or more",
    }


@api_route(
    "/subscriptions",
    methods=["POST"],
    summary="Subscribe to model alerts",
    tags=["Alerts"],
    auth="bearer",
    params=SubscriptionRequest,
    source="both",
    response=SubscriptionCreated,
    errors={
        422: ["Choose at least one make or model", "A phone number is required for SMS alerts"],
        401: AUTH_ERRORS,
        429: "Too many requests. Please try again later.",
    },
    limits=[PER_USER_LIMIT],
)
def create_subscription(user: User, params: SubscriptionRequest) -> Response:
    """JSON body as the site sends it; the query form repeats ``makes=`` and ``models=``. An identical
    active subscription is updated instead of duplicated. SMS alerts start after the customer replies YES
    to one confirmation text."""
    subscription, _created = subscriptions.subscribe(
        user,
        makes=params.makes,
        models=params.models,
        max_price=params.max_price,
        email=params.email,
        phone=params.phone,
        telegram_id=params.telegram_id,
        notify_email=params.notify_email is not False,
        notify_sms=bool(params.notify_sms),
        notify_telegram=bool(params.notify_telegram),
        notify_on_new_listing=params.notify_on_new_listing is not False,
        notify_on_price_drop=params.notify_on_price_drop is not False,
        language=preferred_language(),
    )
    return jsonify(ok(subscriptions.subscribed_message(subscription), subscription_id=str(subscription.pk)))


@api_route(
    "/subscriptions",
    summary="My model alerts",
    tags=["Alerts"],
    auth="bearer",
    response=SubscriptionList,
    errors={401: AUTH_ERRORS},
)
def list_subscriptions(user: User) -> Response:
    """The caller's active subscriptions, newest first."""
    items = [subscriptions.customer_view(subscription) for subscription in subscriptions.list_active(user)]
    return jsonify({"subscriptions": items, "total": len(items)})


@api_route(
    "/subscriptions/<subscription_id>",
    methods=["DELETE"],
    summary="Unsubscribe",
    tags=["Alerts"],
    auth="bearer",
    response=OkMessage,
    errors={404: "Subscription not found", 403: "Not authorized", 401: AUTH_ERRORS},
)
def delete_subscription(user: User, subscription_id: str) -> Response:
    """Only the owner. The subscription is deactivated, not erased, so the consent evidence stays."""
    subscriptions.unsubscribe(subscription_id, user)
    return jsonify(ok("Unsubscribed successfully"))
