"""Back-office test helpers: staff of each role, signed-in clients, applications with snapshots, images."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image

from app.models import Application, User
from app.services.applications import snapshot_lot, snapshot_user
from tests.factories import make_lot, make_user
from tests.foundation.test_admin_auth import csrf_from, sign_in
from tests.workers.conftest import competitor  # noqa: F401 - the local competitor site, for scraper pages

ROLES = ("finance_manager", "editor", "admin")
VALID_VIN = "1HGCM82633A004352"  # check digit 3 is correct


def staff(role: str, **fields: Any) -> User:
    return make_user(role=role, **fields)


def signed_in(client: Any, role: str, **fields: Any) -> User:
    user = staff(role, **fields)
    response = sign_in(client, user.email)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return user


def token(client: Any, path: str = "/admin/") -> str:
    """A CSRF token for the client's session (any back-office page carries one)."""
    page = client.get(path)
    return csrf_from(page.get_data(as_text=True))


def make_customer(**fields: Any) -> User:
    values: dict[str, Any] = {
        "credit_score": 735,
        "employment_type": "W2",
        "monthly_income_pretax": Decimal(8000),
        "phone": "(949) 555-0123",
        "address": "1 Main St, Irvine, CA 92606",
        "profile_completed": True,
    }
    values.update(fields)
    user = make_user(role="user", **values)
    return user


def make_application(
    customer: User | None = None, lot: Any = None, *, ssn: str | None = "900-12-3456", **fields: Any
) -> Application:
    customer = customer or make_customer()
    if ssn:
        customer.set_sensitive("ssn", ssn)
        customer.set_sensitive("drivers_license_number", "D1234567")
        customer.set_sensitive("date_of_birth", "1985-06-15")
        customer.save()
    lot = lot or make_lot(vin=VALID_VIN)
    application = Application(
        user=customer,
        lot=lot,
        lot_data=snapshot_lot(lot),
        user_data=snapshot_user(customer),
        status="pending",
        profile_completed_at_submission=True,
    )
    for name in ("ssn", "drivers_license_number", "date_of_birth"):
        setattr(application, f"{name}_encrypted", getattr(customer, f"{name}_encrypted"))
    for key, value in fields.items():
        setattr(application, key, value)
    application.save()
    return application


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (1600, 1000), color: str = "red", **save: Any
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def editor_client(app: Any, client: Any) -> Any:
    signed_in(client, "editor")
    return client


@pytest.fixture
def finance_client(app: Any, client: Any) -> Any:
    signed_in(client, "finance_manager")
    return client


@pytest.fixture
def admin_client(app: Any, client: Any) -> Any:
    signed_in(client, "admin")
    return client
