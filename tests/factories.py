"""Factories for test documents. Each builds a valid document with sensible defaults; keyword arguments
override any field."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.models import Lot, User
from app.models.base import utcnow
from app.models.lot import FinanceTerms, LeaseTerms, LotImage
from app.services.passwords import hash_password
from app.services.slugs import lot_slug_base

DEFAULT_PASSWORD = "correct-horse-battery-staple"
_sequence = itertools.count(1)

LONG_DESCRIPTION = (
    "A well-equipped new vehicle offered at a negotiated fleet price with no dealer add-ons. "
    "Lease and finance terms come from the lender's current program; taxes and fees are extra."
)


def make_user(*, role: str = "user", password: str | None = DEFAULT_PASSWORD, **fields: Any) -> User:
    n = next(_sequence)
    values: dict[str, Any] = {
        "email": f"person{n}@example.com",
        "name": f"Person {n}",
        "role": role,
        "password_hash": hash_password(password) if password else None,
    }
    values.update(fields)
    user = User(**values)
    user.save()
    return user


def make_lot(**fields: Any) -> Lot:
    """A published, publishable lot (every field publish validation asks for)."""
    n = next(_sequence)
    now = utcnow()
    values: dict[str, Any] = {
        "make": "Toyota",
        "model": "Camry",
        "year": 2025,
        "trim": f"SE {n}",
        "vin": None,
        "msrp": Decimal(32500),
        "discount": Decimal(3100),
        "dealer_addons": Decimal(2800),
        "fees_hint": Decimal(3200),
        "description": LONG_DESCRIPTION,
        "lease": LeaseTerms(
            monthly=Decimal(329),
            due_at_signing=Decimal(2999),
            term_months=36,
            miles_per_year=10000,
            incentives=Decimal(500),
        ),
        "finance": FinanceTerms(apr=Decimal("3.9"), term_months=60, down_payment=Decimal(3000)),
        "images": [LotImage(image_id=f"img{n}", original=f"images/original/img{n}.jpg", is_hero=True)],
        "status": "published",
        "published_at": now - timedelta(minutes=n),
        "offer_ends_at": now + timedelta(days=20),
    }
    values.update(fields)
    if "slug" not in values:
        values["slug"] = lot_slug_base(values["year"], values["make"], values["model"], values["trim"])
    lot = Lot(**values)
    lot.save()
    return lot


@pytest.fixture
def customer(app: Any) -> User:
    return make_user(role="user", email="customer@example.com", name="Casey Customer")


@pytest.fixture
def admin_user(app: Any) -> User:
    return make_user(role="admin", email="admin@example.com", name="Ada Admin")
