"""Demo data for development (``flask demo load``; ``make run`` loads it into an empty database).

Lots come from ``app/demo_data/lots.json`` (real 2024–2026 makes, models, trims, MSRPs, discounts and lease
program figures); each lease payment is computed with the shared calculator from the lot's own program, so
the numbers are consistent. People are synthetic (``example.com`` addresses, 555-01xx phones, SSNs in the
never-issued 9xx range). One staff account per role gets a generated password, printed once.

Each new demo customer also gets some history, created through the customer services (so snapshots, audit
entries and outbox messages are the real ones): applications that are pending, contacted, approved (ready
for pickup) and rejected, and reservations that are active, expired, cancelled and converted. The
finance-manager steps (contacted, approved, rejected) are written directly, as the back office would
leave them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app
from PIL import Image, ImageDraw

from app.models import Application, Lot, User
from app.models.application import ApprovalDetails, StatusChange
from app.models.base import utcnow
from app.models.lot import FinanceTerms, LeaseProvenance, LeaseTerms, LotImage
from app.services.calculator import LeaseInputs, amortized_payment, lease_quote
from app.services.images import PROCESS_JOB
from app.services.passwords import hash_password
from app.services.slugs import lot_slug_base, resolve_collision
from app.tasks import enqueue

DEMO_LOTS_FILE = Path(__file__).resolve().parent.parent / "demo_data" / "lots.json"
DEMO_DESCRIPTION = (
    "{title} in {color} over {interior}. Offered at a negotiated fleet price with no dealer add-ons: the "
    "price you see is the vehicle price before taxes and government fees. Lease and finance terms follow the "
    "lender's current program and are subject to credit approval."
)
STAFF = (
    ("admin", "admin@cargwin.example"),
    ("editor", "editor@cargwin.example"),
    ("finance_manager", "finance@cargwin.example"),
)
CUSTOMERS = (
    ("Maria Lopez", "maria.lopez@example.com", 742, "W2", "(949) 555-0101"),
    ("James Carter", "james.carter@example.com", 688, "1099", "(714) 555-0102"),
    ("Olga Petrova", "olga.petrova@example.com", 705, "self", "(310) 555-0103"),
    ("Daniel Kim", "daniel.kim@example.com", 655, "W2", "(626) 555-0104"),
)


@dataclass
class DemoResult:
    lots: int = 0
    customers: int = 0
    applications: int = 0
    reservations: int = 0
    staff: list[tuple[str, str, str]] = field(default_factory=list)


def database_is_empty() -> bool:
    return Lot.objects.count() == 0 and User.objects.count() == 0


def load_demo_data(*, only_if_empty: bool = False) -> DemoResult | None:
    if only_if_empty and not database_is_empty():
        return None
    result = DemoResult()
    result.lots = _load_lots()
    for role, email in STAFF:
        if User.objects(email=email).first():
            continue
        password = secrets.token_urlsafe(12)
        User(
            email=email, name=role.replace("_", " ").title(), role=role, password_hash=hash_password(password)
        ).save()
        result.staff.append((email, role, password))
    new_customers: list[User] = []
    for index, (name, email, score, employment, phone) in enumerate(CUSTOMERS):
        if User.objects(email=email).first():
            continue
        user = User(
            email=email,
            name=name,
            role="user",
            password_hash=hash_password("demo-customer-pass"),
            credit_score=score,
            employment_type=employment,
            annual_income=Decimal(60000 + 15000 * index),
            phone=phone,
            address=f"{100 + index} Demo Street, Irvine, CA 92606",
            current_address=f"{100 + index} Demo Street, Irvine, CA 92606",
            residence_duration_months=24 + index,
        )
        user.set_sensitive("ssn", f"900-{10 + index:02d}-{1000 + index:04d}")
        user.profile_completed = user.compute_profile_completed()
        user.save()
        new_customers.append(user)
        result.customers += 1
    _load_customer_activity(new_customers, result)
    return result


# Per demo customer: (application lot index, application status), (reservation lot index, reservation outcome).
ACTIVITY = (
    ((0, "pending"), (1, "active")),
    ((2, "contacted"), (3, "expired")),
    ((4, "approved"), (5, "cancelled")),
    ((6, "rejected"), (7, "converted")),
)


def _load_customer_activity(customers: list[User], result: DemoResult) -> None:
    """Applications and reservations in various states for the new demo customers."""
    from app.services import applications, reservations

    lots = catalog_lots()
    if len(lots) < 8:
        return
    staff = User.objects(role="finance_manager").first()
    for user, ((app_lot, app_status), (res_lot, res_outcome)) in zip(customers, ACTIVITY, strict=False):
        application = applications.create_from_lot(user, lots[app_lot].slug)
        _review(application, app_status, staff)
        result.applications += 1
        reservation = reservations.create(user, lots[res_lot].slug)
        result.reservations += 1
        if res_outcome == "expired":
            reservation.update(set__expires_at=utcnow() - timedelta(hours=1))
            reservations.expire_due()
        elif res_outcome == "cancelled":
            reservations.cancel(reservation.pk, user)
        elif res_outcome == "converted":
            reservations.convert(reservation.pk, user)
            result.applications += 1
    # One more live hold, on a lot someone else already reserved, so the dashboard shows a busy car.
    if customers:
        reservations.create(customers[-1], lots[1].slug)
        result.reservations += 1


def catalog_lots() -> list[Lot]:
    """The public demo lots, newest first (the order the site shows them in)."""
    from app.services import catalog

    return catalog.public_lots()


def _review(application: Application, status: str, staff: User | None) -> None:
    """Leave an application in ``status`` the way the finance manager's actions would (demo only)."""
    if status == "pending":
        return
    now = utcnow()
    history = [
        StatusChange(from_status="pending", to_status="contacted", at=now, by_id=staff.pk if staff else None)
    ]
    fields: dict = {"set__contacted_at": now}
    if status == "approved":
        history.append(
            StatusChange(
                from_status="contacted", to_status="approved", at=now, by_id=staff.pk if staff else None
            )
        )
        fleet = Decimal(application.lot_data.fleet_price)
        fields.update(
            set__pickup_status="ready_for_pickup",
            set__admin_notes="Approved at the advertised terms. Pick a pickup time on your dashboard.",
            set__approval_details=ApprovalDetails(
                apr=Decimal("4.9"),
                loan_term=60,
                down_payment=Decimal(3000),
                monthly_payment=amortized_payment(fleet - 3000, Decimal("4.9"), 60),
                approved_by_id=staff.pk if staff else None,
                approved_by_email=staff.email if staff else None,
            ),
        )
    elif status == "rejected":
        history.append(
            StatusChange(
                from_status="contacted",
                to_status="rejected",
                at=now,
                by_id=staff.pk if staff else None,
                reason_code="debt_to_income",
            )
        )
        fields.update(set__rejection_reason_code="debt_to_income", set__is_open=False)
    application.update(set__status=status, push_all__status_history=history, set__updated_at=now, **fields)


def _load_lots() -> int:
    rows = json.loads(DEMO_LOTS_FILE.read_text())
    now = utcnow()
    created = 0
    for index, row in enumerate(rows):
        base = lot_slug_base(row["year"], row["make"], row["model"], row["trim"])
        if Lot.objects(slug=base).first():
            continue
        msrp, discount = Decimal(row["msrp"]), Decimal(row["discount"])
        quote = lease_quote(
            LeaseInputs(
                msrp=msrp,
                selling_price=msrp - discount,
                residual_percent=Decimal(row["residual_percent"]),
                money_factor=Decimal(row["money_factor"]),
                term_months=36,
                tax_rate_percent=Decimal("7.25"),
                acquisition_fee=Decimal(row["acquisition_fee"]),
            )
        )
        monthly = quote.total_monthly.to_integral_value()
        title = f"{row['year']} {row['make']} {row['model']} {row['trim']}"
        slug = resolve_collision(base, None, lambda s: Lot.objects(slug=s).first() is not None)
        lot = Lot(
            make=row["make"],
            model=row["model"],
            year=row["year"],
            trim=row["trim"],
            exterior_color=row["exterior_color"],
            interior_color=row["interior_color"],
            description=DEMO_DESCRIPTION.format(
                title=title, color=row["exterior_color"], interior=row["interior_color"]
            ),
            msrp=msrp,
            discount=discount,
            dealer_addons=Decimal(1500 + 250 * (index % 8)),
            fees_hint=Decimal(1800 + 200 * (index % 6)),
            lease=LeaseTerms(
                monthly=monthly,
                due_at_signing=monthly + Decimal(2999),
                term_months=36,
                miles_per_year=10000,
                incentives=Decimal(0),
            ),
            finance=FinanceTerms(apr=Decimal("4.9"), term_months=60, down_payment=Decimal(3000)),
            lease_provenance=LeaseProvenance(
                lessor="Demo captive lender",
                program_month=now.strftime("%Y-%m"),
                residual_percent=Decimal(row["residual_percent"]),
                money_factor=Decimal(row["money_factor"]),
                acquisition_fee=Decimal(row["acquisition_fee"]),
            ),
            is_weekly_drop=index % 7 == 0,
            images=[_placeholder_image(slug, title, index)],
            status="published",
            published_at=now - timedelta(hours=index),
            offer_ends_at=now + timedelta(days=25),
            slug=slug,
            announced_fleet=msrp - discount,
            announced_monthly=monthly,
        )
        lot.save()
        created += 1
        # The worker turns the generated picture into its thumbnail/medium/large/hero variants, as it does
        # for every upload; until then the API shows the original.
        for image in lot.images:
            enqueue(PROCESS_JOB, str(lot.pk), image.image_id, job_id=f"lot-image-{image.image_id}")
    return created


def _placeholder_image(slug: str, title: str, index: int) -> LotImage:
    """A generated JPEG with the car's title, so demo lots have a real, publishable image."""
    palette = ((32, 64, 128), (120, 30, 40), (30, 100, 60), (90, 90, 90), (150, 110, 20))
    image = Image.new("RGB", (1600, 900), palette[index % len(palette)])
    ImageDraw.Draw(image).text((60, 420), title, fill=(255, 255, 255), font_size=64)
    image_id = secrets.token_hex(8)
    relative = f"images/original/{image_id}.jpg"
    target = Path(current_app.config["UPLOAD_DIR"]) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, "JPEG", quality=85)
    return LotImage(
        image_id=image_id,
        original=relative,
        alt=title,
        width=1600,
        height=900,
        is_hero=True,
        processing_status="pending",
    )
