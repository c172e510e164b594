"""Lots in the back office (business rules §2): editing, status transitions, publish validation, slugs,
price history, duplication, import and export.

Every change goes through this module, whoever makes it (a back-office form, a batch action, an import, the
scheduler), so the rules hold the same way everywhere:

* input is mapped field by field from :data:`FIELDS` (never mass-assigned) and validated as a whole;
  :class:`LotInvalid` carries one message per field so a form can show them next to the inputs;
* status changes follow the transitions table of §2.5 (:data:`TRANSITIONS`) with the roles it names, and
  are applied with a conditional update on the old status, so two editors cannot both publish one lot;
* publishing and scheduling run the nine checks of §2.6 (:func:`validate_for_publish`), again at automatic
  promotion; the VIN is required to publish and its check digit must be valid;
* the slug follows the vehicle while the lot was never published and is frozen from the first publication;
* the first publication stamps ``published_at``, defaults ``offer_ends_at`` to the end of the month
  (Pacific), records the announced prices and enqueues the new-listing alert; a price drop on a public lot
  past the thresholds of §7.2 enqueues the price-drop alert;
* every change writes an audit entry with a diff, and price changes a :class:`LotPriceChange` row.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from mongoengine import NotUniqueError
from mongoengine import ValidationError as MongoValidationError

from app.errors import Conflict, NotFound, PermissionDenied, RuleViolation, ValidationFailed
from app.models import AuditLog, Lot, LotPriceChange
from app.models.base import as_utc, parse_object_id, utcnow
from app.models.lot import (
    DRIVETRAINS,
    FOMO_MODES,
    MILES_PER_YEAR,
    STATES,
    TRANSMISSIONS,
    CompetitorPrice,
    CompetitorPrices,
    FinanceTerms,
    Fomo,
    LeaseProvenance,
    LeaseTerms,
    LotImage,
    Seo,
)
from app.services import audit
from app.services.slugs import is_valid_slug, lot_slug_base, normalise_editor_slug, resolve_collision
from app.services.vin import is_valid_vin_format, normalise_vin, vin_check_digit_ok

log = logging.getLogger(__name__)

PACIFIC = ZoneInfo("America/Los_Angeles")

EDIT_ROLES = ("editor", "admin")
ADMIN_ROLES = ("admin",)
SYSTEM_ROLE = "system"

NEW_LISTING_JOB = "workers.jobs.alerts.fan_out_new_listing"
PRICE_DROP_JOB = "workers.jobs.alerts.fan_out_price_drop"

# §7.2 (CHOICE): a drop of at least this much against the announced values is a price-drop event.
PRICE_DROP_FLEET = Decimal(500)
PRICE_DROP_MONTHLY = Decimal(10)

MIN_DESCRIPTION = 140
MIN_PUBLISH_MSRP = Decimal(1000)
MIN_PUBLISH_YEAR = 2015
MAX_IMPORT_ROWS = 5000
# Dates a lot can carry (publish at, offer ends): anything outside is a typo.
MIN_YEAR, MAX_YEAR = 2000, 2100
# An XLSX file is a zip: its parts may unpack to at most this many bytes (a "zip bomb" of a few kilobytes
# would otherwise fill the memory of the web process).
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_NUMBER = Decimal(10) ** 12
MIN_EXPONENT = -20

# (from, to) → roles allowed. "deleted" can be reached from any status by an admin; leaving "sold" or
# "deleted" is an admin correction back to the stored previous status (see ``restore``).
TRANSITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("draft", "scheduled"): EDIT_ROLES,
    ("draft", "published"): EDIT_ROLES,
    ("archived", "published"): EDIT_ROLES,
    ("scheduled", "published"): (*EDIT_ROLES, SYSTEM_ROLE),
    ("scheduled", "draft"): EDIT_ROLES,
    ("published", "archived"): (*EDIT_ROLES, SYSTEM_ROLE),
    ("published", "draft"): EDIT_ROLES,
    ("published", "sold"): (*EDIT_ROLES, SYSTEM_ROLE),
    ("archived", "sold"): (*EDIT_ROLES, SYSTEM_ROLE),
    ("archived", "draft"): EDIT_ROLES,
    **{
        (status, "deleted"): ADMIN_ROLES for status in ("draft", "scheduled", "published", "archived", "sold")
    },
}


class LotInvalid(ValidationFailed):
    """Input or publish validation failed; ``errors`` maps a field key (or ``"__all__"``) to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in self.errors.items()))


# --------------------------------------------------------------------------------------------------------
# Field mapping


@dataclass(frozen=True)
class FieldSpec:
    """One editable lot field: its flat key (forms, imports, exports), where it lives, and its type."""

    key: str
    path: tuple[str, ...]
    kind: str  # text, int, dollars, money, decimal, bool, datetime, choice, tags, vin, slug
    label: str
    section: str
    max_length: int | None = None
    choices: tuple[Any, ...] = ()
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    required: bool = False


def _f(key: str, path: str, kind: str, label: str, section: str, **kw: Any) -> FieldSpec:
    return FieldSpec(key, tuple(path.split(".")), kind, label, section, **kw)


FIELDS: tuple[FieldSpec, ...] = (
    _f("make", "make", "text", "Make", "vehicle", max_length=60, required=True),
    _f("model", "model", "text", "Model", "vehicle", max_length=80, required=True),
    _f("year", "year", "int", "Year", "vehicle", minimum=1980, maximum=2100, required=True),
    _f("trim", "trim", "text", "Trim", "vehicle", max_length=120),
    _f("vin", "vin", "vin", "VIN", "vehicle"),
    _f("drivetrain", "drivetrain", "choice", "Drivetrain", "vehicle", choices=DRIVETRAINS),
    _f("transmission", "transmission", "choice", "Transmission", "vehicle", choices=TRANSMISSIONS),
    _f("engine", "engine", "text", "Engine", "vehicle", max_length=120),
    _f("exterior_color", "exterior_color", "text", "Exterior colour", "vehicle", max_length=60),
    _f("interior_color", "interior_color", "text", "Interior colour", "vehicle", max_length=60),
    _f("description", "description", "text", "Description", "vehicle", max_length=10000),
    _f("tags", "tags", "tags", "Tags", "vehicle"),
    _f("state", "state", "choice", "Priced for state", "vehicle", choices=STATES),
    _f("msrp", "msrp", "dollars", "MSRP", "pricing"),
    _f("discount", "discount", "dollars", "Discount", "pricing"),
    _f("dealer_addons", "dealer_addons", "dollars", "LA dealers' typical add-ons", "pricing"),
    _f("fees_hint", "fees_hint", "dollars", "Known additional fees (fees hint)", "pricing"),
    _f("is_weekly_drop", "is_weekly_drop", "bool", "Weekly drop", "pricing"),
    _f("drop_window", "drop_window", "text", "Drop window (internal)", "pricing", max_length=200),
    _f("lease_monthly", "lease.monthly", "dollars", "Monthly payment", "lease"),
    _f("lease_due_at_signing", "lease.due_at_signing", "dollars", "Due at signing", "lease"),
    _f("lease_term_months", "lease.term_months", "int", "Term (months)", "lease", minimum=12, maximum=60),
    _f("lease_miles_per_year", "lease.miles_per_year", "choice", "Miles per year", "lease", choices=MILES_PER_YEAR),
    _f("lease_incentives", "lease.incentives", "dollars", "Incentives", "lease"),
    _f("lease_lessor", "lease_provenance.lessor", "text", "Lessor", "lease", max_length=100),
    _f("lease_program_month", "lease_provenance.program_month", "text", "Program month (YYYY-MM)", "lease", max_length=7),
    _f("lease_residual_percent", "lease_provenance.residual_percent", "decimal", "Residual %", "lease", minimum=0, maximum=100),
    _f("lease_money_factor", "lease_provenance.money_factor", "decimal", "Money factor", "lease", minimum=0, maximum=Decimal("0.01")),
    _f("lease_acquisition_fee", "lease_provenance.acquisition_fee", "money", "Acquisition fee", "lease"),
    _f("finance_apr", "finance.apr", "decimal", "APR %", "finance", minimum=0, maximum=30),
    _f("finance_term_months", "finance.term_months", "int", "Term (months)", "finance", minimum=12, maximum=96),
    _f("finance_down_payment", "finance.down_payment", "dollars", "Down payment", "finance"),
    _f("autobandit_monthly", "competitor_prices.autobandit.monthly", "dollars", "AutoBandit monthly", "competitors"),
    _f("autobandit_due_at_signing", "competitor_prices.autobandit.due_at_signing", "dollars", "AutoBandit due at signing", "competitors"),
    _f("autobandit_term", "competitor_prices.autobandit.term", "int", "AutoBandit term", "competitors", minimum=1, maximum=96),
    _f("dealer_average_monthly", "competitor_prices.dealer_average.monthly", "dollars", "Dealer average monthly", "competitors"),
    _f("dealer_average_due_at_signing", "competitor_prices.dealer_average.due_at_signing", "dollars", "Dealer average due at signing", "competitors"),
    _f("dealer_average_term", "competitor_prices.dealer_average.term", "int", "Dealer average term", "competitors", minimum=1, maximum=96),
    _f("seo_title", "seo.title", "text", "SEO title", "seo", max_length=200),
    _f("seo_description", "seo.description", "text", "SEO description", "seo", max_length=500),
    _f("seo_noindex", "seo.noindex", "bool", "Hide from search engines", "seo"),
    _f("fomo_mode", "fomo.mode", "choice", "Counters mode", "seo", choices=FOMO_MODES),
    _f("fomo_viewers", "fomo.viewers", "int", "Viewers", "seo", minimum=0, maximum=100000),
    _f("fomo_confirms15", "fomo.confirms15", "int", "Confirmations (15 min)", "seo", minimum=0, maximum=100000),
    _f("slug", "slug", "slug", "Slug", "publishing"),
    _f("publish_at", "publish_at", "datetime", "Publish at (Pacific)", "publishing"),
    _f("offer_ends_at", "offer_ends_at", "datetime", "Offer ends (Pacific)", "publishing"),
)  # fmt: skip
FIELDS_BY_KEY = {spec.key: spec for spec in FIELDS}
IMPORT_COLUMNS = tuple(spec.key for spec in FIELDS)
EXPORT_COLUMNS = ("id", "status", *IMPORT_COLUMNS, "published_at", "updated_at")

_EMBEDDED = {
    "lease": LeaseTerms,
    "finance": FinanceTerms,
    "lease_provenance": LeaseProvenance,
    "competitor_prices": CompetitorPrices,
    "seo": Seo,
    "fomo": Fomo,
}
_COMPETITOR_KEYS = {"autobandit", "dealer_average"}
_FORMULA_START = ("=", "+", "-", "@")


def get_value(lot: Lot, spec: FieldSpec) -> Any:
    """The stored value of one field (``None`` when an embedded block is missing)."""
    target: Any = lot
    for part in spec.path:
        if target is None:
            return None
        target = getattr(target, part, None)
    return target


def _set_value(lot: Lot, spec: FieldSpec, value: Any) -> None:
    target: Any = lot
    parents = spec.path[:-1]
    for depth, part in enumerate(parents):
        child = getattr(target, part, None)
        if child is None:
            if depth == 0:
                child = _EMBEDDED[part]()
            else:  # competitor_prices.<name>
                child = CompetitorPrice()
            setattr(target, part, child)
        target = child
    setattr(target, spec.path[-1], value)


def lot_values(lot: Lot) -> dict[str, Any]:
    """Every editable field of ``lot`` under its flat key (for forms, diffs and exports)."""
    return {spec.key: get_value(lot, spec) for spec in FIELDS}


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _to_decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    if isinstance(raw, float):
        raw = repr(raw)  # spreadsheets hand over floats; their shortest repr is what the user typed
    if isinstance(raw, str):
        raw = raw.strip().replace(",", "").replace("$", "")
    try:
        number = Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a number")
    # Far beyond any price, rate or count of a lot, and within what the decimal context (28 digits) can
    # round and Decimal128 can store: "1e99999" or "1e-99999" is a form error, not an error page.
    if abs(number) >= MAX_NUMBER:
        raise ValueError("is too large")
    if number and number.adjusted() < MIN_EXPONENT:
        raise ValueError("is too small")
    return number


def parse_datetime(raw: Any) -> datetime:
    """An aware UTC datetime. Naive values (the form's ``datetime-local``, spreadsheets) are Pacific time,
    the company's business time zone; ISO strings with an offset keep it."""
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime.combine(raw, time(0, 0))
    elif isinstance(raw, str):
        text = raw.strip().replace("Z", "+00:00")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("must be a date and time (YYYY-MM-DD HH:MM)") from None
    else:
        raise ValueError("must be a date and time")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        # Year 9999 (a typo, or a spreadsheet's "never") cannot even be moved to UTC.
        raise ValueError(f"must be a date between {MIN_YEAR} and {MAX_YEAR}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=PACIFIC)
    return value.astimezone(UTC)


def _clean_one(spec: FieldSpec, raw: Any, importing: bool, notes: list[str]) -> Any:
    """Coerce and check one value; raises ``ValueError`` with a message for the field."""
    if isinstance(raw, str):
        raw = raw.strip()
        if importing and raw[:2] in {"'" + c for c in _FORMULA_START}:
            raw = raw[1:]  # undo the formula guard of our own exports
    if _is_blank(raw):
        if spec.kind == "bool":
            return False
        if spec.kind == "tags":
            return []
        if spec.kind == "text" and spec.key not in ("make", "model"):
            return ""
        return None
    kind = spec.kind
    if kind == "text":
        value = str(raw)
        if spec.max_length and len(value) > spec.max_length:
            raise ValueError(f"must be at most {spec.max_length} characters")
        return value
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "y", "on", "x"):
            return True
        if text in ("0", "false", "no", "n", "off"):
            return False
        raise ValueError("must be yes or no")
    if kind == "tags":
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        tags = [str(t).strip() for t in items if str(t).strip()]
        if len(tags) > 20 or any(len(t) > 40 for t in tags):
            raise ValueError("at most 20 tags of at most 40 characters")
        return tags
    if kind == "vin":
        vin = normalise_vin(str(raw))
        if not is_valid_vin_format(vin):
            raise ValueError("must be 17 characters from A–Z and 0–9, without I, O and Q")
        if not vin_check_digit_ok(vin):
            raise ValueError("check digit (9th character) does not match: please re-check the VIN")
        return vin
    if kind == "slug":
        try:
            return normalise_editor_slug(str(raw))
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    if kind == "datetime":
        return parse_datetime(raw)
    if kind == "choice":
        if spec.choices and isinstance(spec.choices[0], int):
            try:
                number = int(_to_decimal(raw))
            except ValueError:
                raise ValueError(f"must be one of {', '.join(map(str, spec.choices))}") from None
            if number not in spec.choices:
                raise ValueError(f"must be one of {', '.join(map(str, spec.choices))}")
            return number
        text = str(raw).strip()
        match = next((c for c in spec.choices if c.lower() == text.lower()), None)
        if match is None:
            raise ValueError(f"must be one of {', '.join(spec.choices)}")
        return match
    number = _to_decimal(raw)
    if kind in ("dollars", "money") and number < 0:
        if not importing:
            raise ValueError("must not be negative")
        notes.append(f"{spec.key}: negative value {number} set to 0")
        number = Decimal(0)
    if kind == "dollars" and number != number.to_integral_value():
        raise ValueError("must be whole dollars")
    if kind == "money" and number != number.quantize(Decimal("0.01")):
        raise ValueError("must have at most 2 decimal places")
    if kind == "int":
        if number != number.to_integral_value():
            raise ValueError("must be a whole number")
        number_int = int(number)
        if spec.minimum is not None and number_int < spec.minimum:
            raise ValueError(f"must be at least {spec.minimum}")
        if spec.maximum is not None and number_int > spec.maximum:
            raise ValueError(f"must be at most {spec.maximum}")
        return number_int
    if spec.minimum is not None and number < Decimal(spec.minimum):
        raise ValueError(f"must be at least {spec.minimum}")
    if spec.maximum is not None and number > Decimal(spec.maximum):
        raise ValueError(f"must be at most {spec.maximum}")
    if kind == "dollars":
        return Decimal(int(number))
    return number


def clean_input(
    data: Mapping[str, Any], *, clamp_negative: bool = False
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Map raw input onto the known fields: ``(values, errors, notes)``.

    Only keys of :data:`FIELDS` are read (anything else is ignored, never stored). ``clamp_negative`` is the
    import's rule for negative amounts (set to 0 and reported in ``notes``); forms refuse them.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    notes: list[str] = []
    for key, raw in data.items():
        spec = FIELDS_BY_KEY.get(key)
        if spec is None:
            continue
        try:
            values[key] = _clean_one(spec, raw, clamp_negative, notes)
        except ValueError as exc:
            errors[key] = str(exc)
    return values, errors, notes


def _check_combined(merged: Mapping[str, Any], errors: dict[str, str]) -> None:
    """Rules across fields that hold on every save, whatever the status."""
    for key in ("make", "model", "year"):
        if key not in errors and _is_blank(merged.get(key)):
            errors[key] = "is required"
    msrp, discount = merged.get("msrp"), merged.get("discount")
    if "discount" not in errors and "msrp" not in errors and discount is not None:
        if discount > (msrp or 0):
            errors["discount"] = "must not be above the MSRP"
    month = merged.get("lease_program_month")
    if month and "lease_program_month" not in errors:
        try:
            datetime.strptime(month, "%Y-%m")
        except ValueError:
            errors["lease_program_month"] = "must look like YYYY-MM"


# --------------------------------------------------------------------------------------------------------
# Loading, roles and small helpers


def get_lot(lot_id: Any) -> Lot:
    oid = parse_object_id(str(lot_id)) if lot_id is not None else None
    lot = Lot.objects(pk=oid).first() if oid else None
    if lot is None:
        raise NotFound("Lot not found")
    return lot


def _require(actor: audit.Actor, roles: Iterable[str], what: str) -> None:
    if actor.role not in tuple(roles):
        raise PermissionDenied(f"Your role may not {what}")


def end_of_month_pacific(now: datetime) -> datetime:
    """23:59:59 Pacific on the last day of ``now``'s month (Pacific), as UTC (§2.8 default)."""
    local = now.astimezone(PACIFIC)
    first_next = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
    last = first_next - timedelta(days=1)
    return datetime.combine(last.date(), time(23, 59, 59), tzinfo=PACIFIC).astimezone(UTC)


def is_public(lot: Lot, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if lot.status == "published":
        return True
    return lot.status == "scheduled" and lot.publish_at is not None and as_utc(lot.publish_at) <= now


def catalogue_changed() -> None:
    """Tell the public catalogue cache that lots changed. ``Lot.save()`` does it through a signal; the
    conditional updates used for transitions and images bypass signals, so they call this."""
    from app.services import catalog

    catalog.invalidate()


def _enqueue(job: str, lot_id: Any, job_id: str) -> None:
    from app.tasks import enqueue

    try:
        enqueue(job, str(lot_id), job_id=job_id)
    except Exception:  # noqa: BLE001 - the change itself is saved; losing Redis must not undo it
        log.exception("could not enqueue %s for lot %s", job, lot_id)


def _slug_taken(slug: str, exclude_id: Any) -> bool:
    query = Lot.objects(slug=slug)
    if exclude_id is not None:
        query = query.filter(pk__ne=exclude_id)
    return query.only("id").first() is not None


def auto_slug(year: Any, make: Any, model: Any, trim: Any, vin: Any, exclude_id: Any = None) -> str:
    """The rule's slug for these vehicle fields, with the collision suffixes of §2.7."""
    base = lot_slug_base(int(year), str(make), str(model), trim or "")
    if not base:
        base = "lot"
    return resolve_collision(base, vin, lambda s: _slug_taken(s, exclude_id))


def slug_is_automatic(lot: Lot) -> bool:
    """Whether the lot's slug is what the rule makes of its vehicle fields (possibly with a suffix); such a
    slug follows edits until the first publication."""
    if not lot.slug or lot.year is None:
        return True
    base = lot_slug_base(int(lot.year), lot.make or "", lot.model or "", lot.trim or "")
    if lot.slug == base:
        return True
    suffix = lot.slug[len(base) :] if lot.slug.startswith(base) else None
    return bool(suffix) and suffix[0] == "-" and suffix[1:].isalnum()


# --------------------------------------------------------------------------------------------------------
# Publish validation (§2.6)


def publish_problems(lot: Lot, now: datetime | None = None) -> list[tuple[str, str]]:
    """``(field key, message)`` for each failed check of §2.6; empty when the lot may be published."""
    now = now or utcnow()
    problems: list[tuple[str, str]] = []
    for key in ("make", "model", "trim"):
        if not (getattr(lot, key) or "").strip():
            problems.append((key, f"{key.capitalize()} is required to publish"))
    next_year = now.astimezone(PACIFIC).year + 1
    if lot.year is None or not MIN_PUBLISH_YEAR <= int(lot.year) <= next_year:
        problems.append(("year", f"Year must be between {MIN_PUBLISH_YEAR} and {next_year}"))
    msrp = Decimal(lot.msrp or 0)
    discount = Decimal(lot.discount or 0)
    if msrp < MIN_PUBLISH_MSRP:
        problems.append(("msrp", "MSRP must be at least 1,000 to publish"))
    if not Decimal(0) <= discount <= msrp:
        problems.append(("discount", "Discount must be between 0 and the MSRP"))
    if len((lot.description or "").strip()) < MIN_DESCRIPTION:
        problems.append(("description", f"Description must have at least {MIN_DESCRIPTION} characters"))
    if not lot.images:
        problems.append(("images", "At least one image is required"))
    vin = lot.vin or ""
    if not vin:
        problems.append(("vin", "VIN is required to publish (California specific-vehicle ads)"))
    elif not is_valid_vin_format(vin):
        problems.append(("vin", "VIN must be 17 characters from A–Z and 0–9, without I, O and Q"))
    elif not vin_check_digit_ok(vin):
        problems.append(("vin", "VIN check digit (9th character) does not match"))
    lease = lot.lease or LeaseTerms()
    finance = lot.finance or FinanceTerms()
    if not lease.monthly or Decimal(lease.monthly) <= 0:
        problems.append(("lease_monthly", "A monthly payment greater than 0 is required to publish"))
    if not lot.dealer_addons or Decimal(lot.dealer_addons) <= 0:
        problems.append(("dealer_addons", "Dealer add-ons greater than 0 are required to publish"))
    for key, value in (
        ("lease_due_at_signing", lease.due_at_signing),
        ("lease_term_months", lease.term_months),
        ("lease_miles_per_year", lease.miles_per_year),
        ("finance_apr", finance.apr),
        ("finance_term_months", finance.term_months),
        ("finance_down_payment", finance.down_payment),
    ):
        if value is None:
            problems.append((key, f"{FIELDS_BY_KEY[key].label} ({key.split('_')[0]}) is required to publish"))
    if not lot.slug or not is_valid_slug(lot.slug):
        problems.append(("slug", "The slug is not valid"))
    elif _slug_taken(lot.slug, lot.pk):
        problems.append(("slug", "The slug is used by another lot"))
    return problems


def validate_for_publish(lot: Lot, now: datetime | None = None) -> list[str]:
    """The messages of every failed publish check (§2.6); an empty list means publishable."""
    return [message for _key, message in publish_problems(lot, now)]


# --------------------------------------------------------------------------------------------------------
# Create and update


def _price_tuple(lot: Lot) -> tuple[Decimal, Decimal, Decimal | None]:
    monthly = lot.lease.monthly if lot.lease and lot.lease.monthly is not None else None
    return (
        Decimal(lot.msrp or 0),
        Decimal(lot.discount or 0),
        Decimal(monthly) if monthly is not None else None,
    )


def _record_price_change(
    lot: Lot, before: tuple[Decimal, Decimal, Decimal | None] | None, actor: audit.Actor, source: str
) -> None:
    msrp, discount, monthly = _price_tuple(lot)
    if before is not None and before == (msrp, discount, monthly):
        return
    entry = LotPriceChange(
        lot=lot.pk,
        actor_id=actor.id,
        actor_email=actor.email,
        source=source,
        msrp=msrp,
        discount=discount,
        fleet=msrp - discount,
        monthly=monthly,
    )
    if before is not None:
        entry.old_msrp, entry.old_discount, entry.old_monthly = before
        entry.old_fleet = before[0] - before[1]
    entry.save()


def price_history(lot_id: Any, limit: int = 100) -> list[LotPriceChange]:
    """The lot's price changes, newest first."""
    oid = parse_object_id(str(lot_id))
    return list(LotPriceChange.objects(lot=oid).order_by("-at").limit(limit))


def _maybe_price_drop(lot: Lot, now: datetime) -> bool:
    """Enqueue the price-drop alert when a public lot fell past the thresholds against the announced
    values (§7.2). The alert job compares and updates ``announced_*`` when it announces."""
    if not is_public(lot, now) or lot.announced_fleet is None:
        return False
    fleet = lot.fleet
    monthly = Decimal(lot.lease.monthly) if lot.lease and lot.lease.monthly else None
    fleet_drop = Decimal(lot.announced_fleet) - fleet >= PRICE_DROP_FLEET
    monthly_drop = (
        monthly is not None
        and lot.announced_monthly is not None
        and Decimal(lot.announced_monthly) - monthly >= PRICE_DROP_MONTHLY
    )
    if not (fleet_drop or monthly_drop):
        return False
    _enqueue(PRICE_DROP_JOB, lot.pk, f"price-drop-{lot.pk}-{int(fleet)}-{int(monthly or 0)}")
    return True


def _apply(lot: Lot, values: Mapping[str, Any], now: datetime) -> None:
    before_competitors = {name: _competitor_numbers(lot, name) for name in _COMPETITOR_KEYS}
    for key, value in values.items():
        if key == "slug":
            continue
        _set_value(lot, FIELDS_BY_KEY[key], value)
    for name in _COMPETITOR_KEYS:
        if _competitor_numbers(lot, name) != before_competitors[name]:
            block = getattr(lot.competitor_prices, name, None)
            if block is not None:
                block.updated_at = now  # §2.4: stamped whenever the numbers change


def _competitor_numbers(lot: Lot, name: str) -> tuple[Any, ...]:
    block = getattr(lot.competitor_prices, name, None) if lot.competitor_prices else None
    if block is None:
        return (None, None, None)
    return (block.monthly, block.due_at_signing, block.term)


def _resolve_slug(lot: Lot, values: Mapping[str, Any], was_automatic: bool, errors: dict[str, str]) -> None:
    requested = values.get("slug") if "slug" in values else lot.slug
    if lot.published_at is not None:
        if "slug" in values and requested and requested != lot.slug:
            errors["slug"] = "The slug is frozen since the first publication (shared links must keep working)"
        return
    if requested and not ("slug" not in values and was_automatic):
        if _slug_taken(requested, lot.pk):
            errors["slug"] = "This slug is used by another lot"
            return
        lot.slug = requested
        return
    if lot.year is None or not lot.make or not lot.model:
        return
    lot.slug = auto_slug(lot.year, lot.make, lot.model, lot.trim, lot.vin, lot.pk)


def _save_with_slug_retry(lot: Lot, automatic: bool) -> None:
    for _attempt in range(3):
        try:
            lot.save()
            return
        except NotUniqueError:
            # Another lot took the slug between the check and the insert (the unique index decides).
            if not automatic:
                raise LotInvalid({"slug": "This slug is used by another lot"}) from None
            lot.slug = auto_slug(lot.year, lot.make, lot.model, lot.trim, lot.vin, lot.pk)
        except MongoValidationError as exc:
            raise LotInvalid({"__all__": f"Invalid value: {exc}"}) from None
    raise Conflict("Could not find a free slug; please try again")


def create_lot(
    data: Mapping[str, Any], *, actor: audit.Actor, source: str = "create", clamp_negative: bool = False
) -> Lot:
    """Create a draft lot from explicitly mapped input. Raises :class:`LotInvalid` with per-field errors."""
    _require(actor, EDIT_ROLES, "create lots")
    values, errors, _notes = clean_input(data, clamp_negative=clamp_negative)
    merged = {spec.key: None for spec in FIELDS}
    merged.update(values)
    _check_combined(merged, errors)
    if errors:
        raise LotInvalid(errors)
    now = utcnow()
    lot = Lot(status="draft", created_by=parse_object_id(actor.id), updated_by=parse_object_id(actor.id))
    _apply(lot, values, now)
    _resolve_slug(lot, values, True, errors)
    if errors:
        raise LotInvalid(errors)
    _save_with_slug_retry(lot, automatic=not values.get("slug"))
    _record_price_change(lot, None, actor, source)
    audit.record(
        "import" if source == "import" else "create",
        "lot",
        lot.pk,
        actor=actor,
        changes=audit.diff({}, _audit_values(lot)),
    )
    return lot


def _audit_values(lot: Lot) -> dict[str, Any]:
    values = lot_values(lot)
    values["slug"] = lot.slug
    return values


def update_lot(
    lot_id: Any,
    data: Mapping[str, Any],
    *,
    actor: audit.Actor,
    source: str = "edit",
    clamp_negative: bool = False,
    now: datetime | None = None,
) -> Lot:
    """Apply explicitly mapped changes to a lot. Keys absent from ``data`` keep their value.

    A public lot stays publishable: an edit that would break a publish check is refused, since the site
    would otherwise advertise an incomplete offer.
    """
    _require(actor, EDIT_ROLES, "edit lots")
    now = now or utcnow()
    lot = get_lot(lot_id)
    if lot.status in ("sold", "deleted"):
        raise RuleViolation(f"A {lot.status} lot cannot be edited; an admin can restore it first")
    values, errors, _notes = clean_input(data, clamp_negative=clamp_negative)
    before = _audit_values(lot)
    merged = dict(before)
    merged.update(values)
    _check_combined(merged, errors)
    if errors:
        raise LotInvalid(errors)
    was_automatic = slug_is_automatic(lot)
    prices_before = _price_tuple(lot)
    _apply(lot, values, now)
    _resolve_slug(lot, values, was_automatic, errors)
    if errors:
        raise LotInvalid(errors)
    if lot.status == "scheduled" and lot.publish_at is None:
        raise LotInvalid({"publish_at": "A scheduled lot needs a publication time (or unschedule it)"})
    if is_public(lot, now):
        problems = publish_problems(lot, now)
        if problems:
            raise LotInvalid(dict(problems))
    lot.updated_by = parse_object_id(actor.id)
    _save_with_slug_retry(lot, automatic=was_automatic and not values.get("slug"))
    changes = audit.diff(before, _audit_values(lot))
    if changes:
        audit.record(
            "import" if source == "import" else "update", "lot", lot.pk, actor=actor, changes=changes
        )
    _record_price_change(lot, prices_before, actor, source)
    if _price_tuple(lot) != prices_before:
        _maybe_price_drop(lot, now)
    return lot


# --------------------------------------------------------------------------------------------------------
# Status transitions (§2.5)


def allowed_transitions(lot: Lot, role: str) -> list[str]:
    """The statuses ``role`` may move ``lot`` to (restore of sold/deleted included for admins)."""
    targets = [to for (frm, to), roles in TRANSITIONS.items() if frm == lot.status and role in roles]
    if lot.status in ("sold", "deleted") and role in ADMIN_ROLES and lot.status_before_terminal:
        targets.append("restore")
    return targets


def mongo_values(document: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` converted by their fields for a raw ``$set`` (money becomes Decimal128). MongoEngine's
    ``set__`` path re-validates the converted value, which the money fields refuse, hence raw updates."""
    converted = {}
    for name, value in values.items():
        field_ = document._fields[name]
        converted[field_.db_field] = field_.to_mongo(value) if value is not None else None
    return converted


def _transition(
    lot: Lot,
    to: str,
    *,
    actor: audit.Actor,
    action: str,
    updates: Mapping[str, Any] | None = None,
    unset: Iterable[str] = (),
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    roles: tuple[str, ...] | None = None,
) -> Lot:
    frm = lot.status
    allowed = roles if roles is not None else TRANSITIONS.get((frm, to))
    if allowed is None:
        raise RuleViolation(f"A {frm} lot cannot become {to}")
    _require(actor, allowed, f"move a {frm} lot to {to}")
    now = utcnow()
    values: dict[str, Any] = {"status": to, "updated_at": now, **(updates or {})}
    if actor.id and parse_object_id(actor.id):
        values["updated_by"] = parse_object_id(actor.id)
    raw: dict[str, Any] = {"$set": mongo_values(Lot, values)}
    if unset:
        raw["$unset"] = {name: "" for name in unset}
    # Conditional on the status we read: a concurrent change makes this a no-op instead of a double move.
    changed = Lot.objects(pk=lot.pk, status=frm).update_one(__raw__=raw)
    if not changed:
        raise Conflict("The lot was changed by someone else a moment ago; reload and try again")
    catalogue_changed()
    lot.reload()
    change_map = {"status": {"old": frm, "new": to}}
    for name, value in (updates or {}).items():
        change_map[name] = {"old": None, "new": value}
    audit.record(action, "lot", lot.pk, actor=actor, changes=change_map, reason=reason, details=details)
    return lot


def _publish_updates(lot: Lot, now: datetime, first_at: datetime) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    if lot.published_at is None:
        updates["published_at"] = first_at
        updates["announced_fleet"] = lot.fleet
        if lot.lease and lot.lease.monthly is not None:
            updates["announced_monthly"] = Decimal(lot.lease.monthly)
    if lot.offer_ends_at is None:
        updates["offer_ends_at"] = end_of_month_pacific(now)
    return updates


def _check_publishable(lot: Lot, now: datetime) -> None:
    problems = publish_problems(lot, now)
    if lot.offer_ends_at is not None and as_utc(lot.offer_ends_at) <= now:
        problems.append(("offer_ends_at", "The offer end date has passed; set a later one first"))
    if problems:
        raise LotInvalid(dict(problems))


def publish(lot_id: Any, *, actor: audit.Actor, now: datetime | None = None) -> Lot:
    """Publish a draft, archived or scheduled lot now. The first publication announces it (§7.2)."""
    now = now or utcnow()
    lot = get_lot(lot_id)
    if lot.status == "published":
        raise RuleViolation("The lot is already published")
    if (lot.status, "published") not in TRANSITIONS:
        raise RuleViolation(f"A {lot.status} lot cannot be published")
    _require(actor, TRANSITIONS[(lot.status, "published")], "publish lots")
    _check_publishable(lot, now)
    first = lot.published_at is None
    lot = _transition(
        lot,
        "published",
        actor=actor,
        action="publish",
        updates=_publish_updates(lot, now, now),
        unset=["publish_at"],
    )
    if first:
        _enqueue(NEW_LISTING_JOB, lot.pk, f"new-listing-{lot.pk}")
    return lot


def schedule(lot_id: Any, publish_at: datetime, *, actor: audit.Actor, now: datetime | None = None) -> Lot:
    """Schedule a draft to go live at ``publish_at`` (which must be in the future); it must pass the publish
    checks now, and passes them again at promotion."""
    now = now or utcnow()
    lot = get_lot(lot_id)
    when = as_utc(publish_at)
    if when is None or when <= now:
        raise LotInvalid({"publish_at": "The publication time must be in the future"})
    if lot.status != "draft":
        raise RuleViolation(f"A {lot.status} lot cannot be scheduled; only drafts can")
    _require(actor, TRANSITIONS[("draft", "scheduled")], "schedule lots")
    _check_publishable(lot, now)
    return _transition(lot, "scheduled", actor=actor, action="schedule", updates={"publish_at": when})


def unpublish(lot_id: Any, *, actor: audit.Actor, now: datetime | None = None) -> Lot:
    """Back to draft: unschedule, unpublish (only without active reservations, §2.5 CHOICE), or reopen an
    archived lot for editing."""
    now = now or utcnow()
    lot = get_lot(lot_id)
    if lot.status not in ("scheduled", "published", "archived"):
        raise RuleViolation(f"A {lot.status} lot cannot go back to draft")
    if lot.status == "published":
        from app.models import Reservation

        if Reservation.objects(lot=lot.pk, status="active", expires_at__gt=now).only("id").first():
            raise RuleViolation("The lot has an active reservation; archive it instead of unpublishing")
    return _transition(
        lot,
        "draft",
        actor=actor,
        action="unpublish",
        unset=["publish_at"] if lot.status == "scheduled" else (),
        details={"from": lot.status},
    )


def archive(lot_id: Any, *, actor: audit.Actor, auto: bool = False) -> Lot:
    """Withdraw a published lot (reservations already granted stay honoured, §2.5)."""
    lot = get_lot(lot_id)
    if lot.status != "published":
        raise RuleViolation(f"A {lot.status} lot cannot be archived; only published lots can")
    return _transition(
        lot,
        "archived",
        actor=actor,
        action="auto_archive" if auto else "archive",
        updates={"archived_at": utcnow()},
    )


def mark_sold(lot_id: Any, *, actor: audit.Actor, keep_reservation_id: Any = None) -> Lot:
    """Mark a published or archived lot sold; other customers' active reservations are cancelled (§2.5)."""
    lot = get_lot(lot_id)
    if lot.status not in ("published", "archived"):
        raise RuleViolation(f"A {lot.status} lot cannot be marked sold")
    lot = _transition(
        lot,
        "sold",
        actor=actor,
        action="mark_sold",
        updates={"sold_at": utcnow(), "status_before_terminal": lot.status},
    )
    from app.services import reservations

    reservations.cancel_others_on_sold(lot.pk, keep_reservation_id=keep_reservation_id)
    return lot


def soft_delete(lot_id: Any, *, actor: audit.Actor) -> Lot:
    """Move a lot to the trash (admin only). The slug stays reserved."""
    lot = get_lot(lot_id)
    if lot.status == "deleted":
        raise RuleViolation("The lot is already deleted")
    return _transition(
        lot,
        "deleted",
        actor=actor,
        action="delete",
        updates={"deleted_at": utcnow(), "status_before_terminal": lot.status},
    )


def restore(lot_id: Any, *, actor: audit.Actor, reason: str) -> Lot:
    """Admin correction: a sold or deleted lot goes back to the status it had, with a reason (§2.5)."""
    lot = get_lot(lot_id)
    if lot.status not in ("sold", "deleted"):
        raise RuleViolation("Only sold or deleted lots can be restored")
    if not (reason or "").strip():
        raise ValidationFailed("A reason is required to restore a lot", field="reason")
    previous = lot.status_before_terminal or "draft"
    if previous in ("sold", "deleted"):
        previous = "draft"
    unset = ["deleted_at"] if lot.status == "deleted" else ["sold_at"]
    return _transition(
        lot,
        previous,
        actor=actor,
        action="restore",
        unset=[*unset, "status_before_terminal"],
        reason=reason.strip()[:1000],
        roles=ADMIN_ROLES,
    )


BATCH_ACTIONS = {"publish": publish, "unpublish": unpublish, "archive": archive, "delete": soft_delete}


@dataclass
class BatchResult:
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (lot id, reason)


def batch(action: str, lot_ids: Iterable[Any], *, actor: audit.Actor) -> BatchResult:
    """Apply one transition to several lots, each under the same rules and with its own audit entry."""
    func = BATCH_ACTIONS.get(action)
    if func is None:
        raise ValidationFailed(f"Unknown batch action {action!r}")
    result = BatchResult()
    for lot_id in lot_ids:
        try:
            func(lot_id, actor=actor)
        except PermissionDenied:
            raise
        except (RuleViolation, ValidationFailed, NotFound, Conflict) as exc:
            result.failed.append((str(lot_id), exc.detail))
        else:
            result.done.append(str(lot_id))
    return result


# --------------------------------------------------------------------------------------------------------
# System jobs


def promote_due_scheduled(now: datetime | None = None) -> int:
    """Publish every scheduled lot whose ``publish_at`` has passed (system actor, audit ``auto_publish``).

    A lot that no longer passes publish validation stays scheduled and editors are told once per
    scheduled time. Returns the number of lots published.
    """
    now = now or utcnow()
    promoted = 0
    for lot in Lot.objects(status="scheduled", publish_at__lte=now).order_by("publish_at"):
        problems = publish_problems(lot, now)
        if problems:
            _report_blocked_promotion(lot, [m for _k, m in problems])
            continue
        first = lot.published_at is None
        first_at = as_utc(lot.publish_at) or now
        try:
            _transition(
                lot,
                "published",
                actor=audit.SYSTEM,
                action="auto_publish",
                updates=_publish_updates(lot, now, first_at),
            )
        except Conflict:
            continue  # an editor moved it in the meantime
        if first:
            _enqueue(NEW_LISTING_JOB, lot.pk, f"new-listing-{lot.pk}")
        promoted += 1
    return promoted


def _report_blocked_promotion(lot: Lot, messages: list[str]) -> None:
    stamp = as_utc(lot.publish_at).isoformat() if lot.publish_at else ""
    if AuditLog.objects(
        resource_type="lot", resource_id=str(lot.pk), action="auto_publish_blocked", details__publish_at=stamp
    ).first():
        return
    audit.record(
        "auto_publish_blocked",
        "lot",
        lot.pk,
        actor=audit.SYSTEM,
        details={"publish_at": stamp, "problems": messages},
    )
    try:
        from app.services import messages as staff_messages

        staff_messages.staff_alert(
            f"Scheduled lot not published: {lot.title}",
            "The lot stays scheduled until it passes the publish checks:\n- " + "\n- ".join(messages),
            event_key=f"auto_publish_blocked:{lot.pk}:{stamp}",
            roles=("editor", "admin"),
        )
    except Exception:  # noqa: BLE001 - the audit entry above is the durable record
        log.warning("could not alert editors about blocked lot %s", lot.pk)


def archive_expired_offers(now: datetime | None = None) -> int:
    """Archive every published lot whose ``offer_ends_at`` has passed (§2.8; audit ``auto_archive``)."""
    now = now or utcnow()
    archived = 0
    for lot in Lot.objects(status="published", offer_ends_at__lte=now):
        try:
            _transition(
                lot, "archived", actor=audit.SYSTEM, action="auto_archive", updates={"archived_at": now}
            )
        except Conflict:
            continue
        archived += 1
    return archived


# --------------------------------------------------------------------------------------------------------
# Duplicate


def duplicate(lot_id: Any, *, actor: audit.Actor) -> Lot:
    """A new draft with the same vehicle, prices and terms. The VIN is left empty (another car has another
    VIN) and image files are copied, so deleting one lot's pictures never touches the other's."""
    _require(actor, EDIT_ROLES, "duplicate lots")
    source = get_lot(lot_id)
    data = lot_values(source)
    data.pop("vin", None)
    data.pop("slug", None)
    data.pop("publish_at", None)
    data.pop("offer_ends_at", None)
    data = {k: v for k, v in data.items() if v is not None}
    lot = create_lot(data, actor=actor)
    images = [_copy_image(img) for img in source.images or []]
    images = [img for img in images if img is not None]
    if images:
        Lot.objects(pk=lot.pk).update_one(set__images=images)
        catalogue_changed()
        lot.reload()
    audit.record("duplicate", "lot", lot.pk, actor=actor, details={"duplicated_from": str(source.pk)})
    return lot


def _copy_image(image: LotImage) -> LotImage | None:
    root = Path(current_app.config["UPLOAD_DIR"])
    new_id = uuid.uuid4().hex
    src = root / image.original
    if not src.is_file():
        return None
    dest_rel = f"images/original/{new_id}{src.suffix}"
    (root / dest_rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, root / dest_rel)
    variants: dict[str, str] = {}
    for name, rel in (image.variants or {}).items():
        vsrc = root / rel
        if vsrc.is_file():
            vrel = f"images/processed/{new_id}_{name}.jpg"
            (root / vrel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(vsrc, root / vrel)
            variants[name] = vrel
    return LotImage(
        image_id=new_id,
        original=dest_rel,
        variants=variants,
        alt=image.alt,
        width=image.width,
        height=image.height,
        is_hero=image.is_hero,
        position=image.position,
        processing_status=image.processing_status if variants else "pending",
    )


# --------------------------------------------------------------------------------------------------------
# Import and export


@dataclass
class ImportReport:
    """What an import did: rows created or updated, rows refused with their reasons, and notes."""

    created: list[tuple[int, str]] = field(default_factory=list)  # (row number, lot id)
    updated: list[tuple[int, str]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    notes: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return len(self.created) + len(self.updated)


def _header_key(name: Any) -> str:
    return str(name or "").strip().lower().replace(" ", "_").replace("-", "_")


def parse_table(filename: str, content: bytes) -> list[dict[str, Any]]:
    """Rows of a CSV or XLSX file as dicts keyed by normalised header names. Raises ``ValidationFailed``
    for an unknown type or an unreadable file."""
    name = (filename or "").lower()
    # The header and at most one row more than allowed are read: import_lots refuses the file then, and a
    # file of millions of rows is never held in memory.
    limit = MAX_IMPORT_ROWS + 2
    if name.endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed("The CSV file must be UTF-8 encoded") from None
        try:
            rows = list(itertools.islice(csv.reader(io.StringIO(text)), limit))
        except csv.Error as exc:
            raise ValidationFailed(f"The CSV file cannot be read: {exc}") from None
    elif name.endswith(".xlsx"):
        rows = _xlsx_rows(content, limit)
    else:
        raise ValidationFailed("Upload a .csv or .xlsx file")
    if not rows:
        return []
    headers = [_header_key(h) for h in rows[0]]
    result = []
    for row in rows[1:]:
        if all(_is_blank(cell) for cell in row):
            result.append({})  # keep numbering aligned with the sheet; blank rows are skipped later
            continue
        result.append({h: cell for h, cell in zip(headers, row, strict=False) if h})
    return result


def _xlsx_rows(content: bytes, limit: int) -> list[list[Any]]:
    """The first ``limit`` rows of the first sheet. Any damage to the file (not a zip, a missing part,
    broken XML, a zip bomb) is the uploader's mistake and answered with ``ValidationFailed``."""
    import zipfile

    from openpyxl import load_workbook

    unreadable = ValidationFailed("The file is not a readable XLSX workbook")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_XLSX_UNPACKED_BYTES:
                raise ValidationFailed("The XLSX workbook is too large once unpacked")
    except zipfile.BadZipFile:
        raise unreadable from None
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                raise unreadable
            sheet = workbook.worksheets[0]
            return [list(row) for row in itertools.islice(sheet.iter_rows(values_only=True), limit)]
        finally:
            workbook.close()
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - openpyxl and its XML parsers raise many types for a damaged file
        raise unreadable from None


def import_lots(rows: list[dict[str, Any]], *, actor: audit.Actor) -> ImportReport:
    """Import rows (from :func:`parse_table`): each valid row becomes a draft lot, or updates the lot named
    in its ``id`` column; each invalid row is listed with the reason and nothing of it is written.

    Row numbers are spreadsheet line numbers (the header is line 1). Negative amounts are set to 0 and the
    row is reported (§2.2). One ``import`` audit entry is written per imported row.
    """
    _require(actor, EDIT_ROLES, "import lots")
    report = ImportReport()
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(f"At most {MAX_IMPORT_ROWS} rows per file")
    known = set(IMPORT_COLUMNS) | {"id", "status", "published_at", "updated_at"}
    seen_columns = {key for row in rows for key in row}
    report.ignored_columns = sorted(seen_columns - known)
    for index, row in enumerate(rows, start=2):
        if not row or all(_is_blank(v) for v in row.values()):
            continue
        lot_id = row.get("id")
        data = {k: v for k, v in row.items() if k in FIELDS_BY_KEY}
        _values, errors, notes = clean_input(data, clamp_negative=True)
        if errors:
            report.errors.append((index, "; ".join(f"{k}: {v}" for k, v in errors.items())))
            continue
        try:
            if not _is_blank(lot_id):
                # Export → edit → import round trip: blank cells leave the stored value alone.
                data = {k: v for k, v in data.items() if not _is_blank(v)}
                lot = update_lot(str(lot_id).strip(), data, actor=actor, source="import", clamp_negative=True)
                report.updated.append((index, str(lot.pk)))
            else:
                lot = create_lot(data, actor=actor, source="import", clamp_negative=True)
                report.created.append((index, str(lot.pk)))
        except LotInvalid as exc:
            report.errors.append((index, exc.detail))
            continue
        except (NotFound, RuleViolation, Conflict, ValidationFailed) as exc:
            report.errors.append((index, exc.detail))
            continue
        for note in notes:
            report.notes.append((index, note))
    return report


def _export_cell(key: str, value: Any, *, guard_formulas: bool) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = ", ".join(value)
    if isinstance(value, str) and guard_formulas and value.startswith(_FORMULA_START):
        return "'" + value  # keeps spreadsheet programs from evaluating user text as a formula
    return value


def export_rows(lots: Iterable[Lot], *, guard_formulas: bool = True) -> list[dict[str, Any]]:
    rows = []
    for lot in lots:
        values = lot_values(lot)
        values.update(
            id=str(lot.pk),
            status=lot.status,
            slug=lot.slug,
            published_at=lot.published_at,
            updated_at=lot.updated_at,
        )
        rows.append(
            {key: _export_cell(key, values.get(key), guard_formulas=guard_formulas) for key in EXPORT_COLUMNS}
        )
    return rows


def export_lots(lots: Iterable[Lot], fmt: str, *, actor: audit.Actor) -> tuple[bytes, str, str]:
    """``(content, mimetype, filename)`` of the lots as CSV, XLSX or JSON, in the import's column format."""
    _require(actor, EDIT_ROLES, "export lots")
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    if fmt == "json":
        rows = export_rows(lots, guard_formulas=False)
        content = json.dumps(rows, ensure_ascii=False, indent=2).encode()
        mimetype = "application/json"
    elif fmt == "csv":
        rows = export_rows(lots)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
        content = buffer.getvalue().encode("utf-8-sig")
        mimetype = "text/csv"
    elif fmt == "xlsx":
        from openpyxl import Workbook

        rows = export_rows(lots)
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("lots")
        sheet.append(list(EXPORT_COLUMNS))
        for row in rows:
            sheet.append([row[key] for key in EXPORT_COLUMNS])
        buffer_b = io.BytesIO()
        workbook.save(buffer_b)
        content = buffer_b.getvalue()
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        raise ValidationFailed("Export format must be csv, xlsx or json")
    audit.record("export", "lot", None, actor=actor, details={"format": fmt, "rows": len(rows)})
    return content, mimetype, f"lots-{stamp}.{fmt}"
