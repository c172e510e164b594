"""Mapping one legacy document to one of ours, collection by collection.

Each ``map_*`` function takes the raw legacy document and the run's :class:`ImportContext` and returns a
:class:`Mapped` (a validated MongoEngine document plus side records) or raises :class:`Skip` with the reason
the row cannot be imported. Nothing here writes to the database; the runner does, in batches.

The status and role vocabularies of the old platform, and what becomes of them, are the tables below; the
runbook (``docs/deploy.md``) repeats them for the people doing the cut-over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from email_validator import EmailNotValidError, validate_email
from mongoengine import Document, EmbeddedDocument

from app.models import (
    Application,
    Appointment,
    AuditLog,
    Lot,
    LotSlugRedirect,
    PickupBooking,
    Reservation,
    Subscription,
    User,
)
from app.models.application import (
    ApprovalDetails,
    LotSnapshot,
    ManagerAlternative,
    ManagerComment,
    TradeIn,
    UserSnapshot,
)
from app.models.customer import (
    APPOINTMENT_TIMES,
    APPOINTMENT_TYPES,
    RESERVATION_DEPOSIT,
    RESERVATION_HOLD_HOURS,
)
from app.models.lot import (
    DRIVETRAINS,
    FOMO_MODES,
    MILES_PER_YEAR,
    STATES,
    CompetitorPrice,
    CompetitorPrices,
    FinanceTerms,
    Fomo,
    LeaseTerms,
    LotImage,
    Seo,
    lot_title,
)
from app.models.system import AUDIT_RESOURCE_TYPES
from app.models.user import EMPLOYMENT_TYPES, IMMIGRATION_STATUSES, normalise_email
from app.services.legacy_import import values as v
from app.services.passwords import legacy_hash
from app.services.slugs import is_valid_slug, lot_slug_base, resolve_collision, slugify

PACIFIC = ZoneInfo("America/Los_Angeles")

# --------------------------------------------------------------------------------------------------------
# Vocabularies of the old platform

#: Legacy role → our role. ``viewer`` is retired (business rules §10): those accounts become customers.
ROLE_MAP = {
    "user": "user",
    "viewer": "user",
    "finance_manager": "finance_manager",
    "editor": "editor",
    "admin": "admin",
}

#: Legacy lot status → ours. ``scheduled`` and ``published`` are refined by :func:`lot_status`:
#: a scheduled lot whose publish time is missing or already past was never promoted by the old platform and
#: becomes ``draft``; a published lot that fails the publish checks of §2.6 becomes ``draft`` too.
LOT_STATUS_MAP = {
    None: "draft",  # two lots were created through the API without a status
    "draft": "draft",
    "scheduled": "scheduled",
    "published": "published",
    "archived": "archived",
    "sold": "sold",
    "deleted": "deleted",
}

#: The status an admin correction returns a terminal legacy lot to (the old platform kept no history).
TERMINAL_PREVIOUS = {"sold": "archived", "deleted": "draft"}

APPLICATION_STATUS_MAP = {
    "pending": "pending",
    "contacted": "contacted",
    "approved": "approved",
    "rejected": "rejected",
    "contract_sent": "contract_sent",
    "completed": "completed",
}

#: ``pending`` was the old default-keys placeholder, not a pickup state.
PICKUP_STATUS_MAP = {
    "ready_for_pickup": "ready_for_pickup",
    "scheduled": "scheduled",
    "completed": "completed",
    "pending": None,
}

#: Refined by :func:`map_reservation`: ``deposit_paid: true`` wins, and an ``active`` hold already past its
#: ``expires_at`` (expiry was lazy) becomes ``expired``.
RESERVATION_STATUS_MAP = {
    "active": "active",
    "expired": "expired",
    "cancelled": "cancelled",
    "converted": "converted",
    "deposit_paid": "deposit_paid",
}

APPOINTMENT_STATUS_MAP = {
    "scheduled": "scheduled",
    "completed": "completed",
    "cancelled": "cancelled",
    "no_show": "no_show",
}

#: Collections of the old database that are deliberately not migrated.
NOT_MIGRATED = {
    "user_sessions": "cookie sessions are credentials; customers sign in again",
    "status_checks": "health-probe records, nothing to migrate",
}

PLACEHOLDER_ALT_SUFFIX = "— предпросмотр"  # the old default image's alt ("preview" in Russian)


class Skip(Exception):
    """The row cannot be imported; ``reason`` says why (shown in the report)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SideWrite:
    """A record written after the row's main document: ``$setOnInsert`` of ``doc`` where ``filter`` matches."""

    collection: str
    filter: dict[str, Any]
    doc: dict[str, Any]
    describe: str


@dataclass
class Mapped:
    document: Document
    side: list[SideWrite] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)


@dataclass
class LotRef:
    id: ObjectId
    slug: str


@dataclass
class AppRef:
    id: ObjectId
    user: ObjectId


@dataclass
class ImportContext:
    """What the run knows so far: id maps built while importing, and what the database already holds."""

    now: datetime
    user_ids: dict[str, ObjectId] = field(default_factory=dict)  # legacy id string → our user id
    skipped_users: dict[str, str] = field(default_factory=dict)  # legacy id string → reason
    user_by_email: dict[str, ObjectId] = field(default_factory=dict)  # normalised e-mail → our user id
    lots: dict[str, LotRef] = field(default_factory=dict)  # legacy id string → our lot
    skipped_lots: dict[str, str] = field(default_factory=dict)
    applications: dict[str, AppRef] = field(default_factory=dict)
    skipped_applications: dict[str, str] = field(default_factory=dict)
    reservation_for_app: dict[str, ObjectId] = field(default_factory=dict)  # legacy app id → reservation id
    # Slugs: what the database holds, the valid legacy slugs reserved for their own lots, and those assigned
    # during this run. A string is never both a lot's slug and a redirect.
    db_slug_owner: dict[str, ObjectId] = field(default_factory=dict)
    db_lot_slug: dict[ObjectId, str] = field(default_factory=dict)
    reserved_slugs: dict[str, ObjectId] = field(default_factory=dict)
    assigned_slugs: dict[str, ObjectId] = field(default_factory=dict)
    redirect_owner: dict[str, ObjectId] = field(default_factory=dict)
    validate_for_publish: Callable[[Lot, datetime], list[str]] | None = None
    end_of_month: Callable[[datetime], datetime] | None = None

    # -- references -------------------------------------------------------------------------------------

    def _resolve(self, value: Any, what: str, kind: str, found_by_id: dict, skipped: dict) -> Any:
        """The imported target of a legacy reference, or ``Skip`` saying why there is none."""
        legacy = v.legacy_id(value)
        if legacy is None:
            raise Skip(f"no {what}")
        found = found_by_id.get(legacy)
        if found is not None:
            return found
        reason = skipped.get(legacy)
        if reason:
            raise Skip(f"{what} {legacy} was not imported ({reason})")
        raise Skip(f"{what} {legacy} matches no {kind} in the dump")

    def user(self, value: Any, what: str = "user_id") -> ObjectId:
        # Every reference is str(_id): the ObjectId form and the raw string (the OAuth user) are both keys.
        return self._resolve(value, what, "user", self.user_ids, self.skipped_users)

    def lot(self, value: Any, what: str = "lot_id") -> LotRef:
        return self._resolve(value, what, "lot", self.lots, self.skipped_lots)

    def application(self, value: Any, what: str = "application_id") -> AppRef:
        return self._resolve(value, what, "application", self.applications, self.skipped_applications)

    def staff_id(self, email: Any) -> ObjectId | None:
        raw = v.text(email)
        return self.user_by_email.get(normalise_email(raw)) if raw else None

    # -- slugs ------------------------------------------------------------------------------------------

    def slug_free(self, slug: str, lot_id: ObjectId) -> bool:
        for owners in (self.db_slug_owner, self.reserved_slugs, self.assigned_slugs, self.redirect_owner):
            owner = owners.get(slug)
            if owner is not None and owner != lot_id:
                return False
        return True


# --------------------------------------------------------------------------------------------------------
# Small helpers


def _created(raw: dict[str, Any]) -> datetime | None:
    created = v.moment(raw.get("created_at")) or v.moment(raw.get("createdAt"))
    if created is None and isinstance(raw.get("_id"), ObjectId):
        created = raw["_id"].generation_time
    return created


def _times(raw: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """``created_at``/``updated_at``: the snake_case dates are authoritative (L1), the camelCase strings of
    script lots a fallback, the ObjectId's timestamp the last resort."""
    created = _created(raw) or now
    updated = v.moment(raw.get("updated_at")) or v.moment(raw.get("updatedAt")) or created
    return created, max(updated, created)


def _whole(
    value: Any, label: str, notes: list[tuple[str, str]], *, clamp_negative: bool = False
) -> Decimal | None:
    amount = v.money(value)
    if amount is None:
        return None
    if clamp_negative and amount < 0:
        notes.append(("negative amount clamped to 0", f"{label} {amount}"))
        return Decimal(0)
    rounded = amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if rounded != amount:
        notes.append(("amount rounded to whole dollars", f"{label} {amount} → {rounded}"))
    return rounded


def _in(value: Any, allowed: Iterable[Any], label: str, notes: list[tuple[str, str]]) -> Any:
    if value is None:
        return None
    if value in allowed:
        return value
    notes.append((f"{label} not in our list, dropped", repr(value)))
    return None


def _validated(document: Document | EmbeddedDocument) -> None:
    from mongoengine.errors import ValidationError

    try:
        document.validate()
    except ValidationError as exc:
        raise Skip(f"invalid after mapping: {_validation_message(exc)}") from None


def _validation_message(exc: Exception) -> str:
    errors = getattr(exc, "to_dict", lambda: {})()
    if errors:
        return "; ".join(f"{k}: {val}" for k, val in sorted(_flatten(errors)))
    return str(exc)


def _flatten(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        out: list[tuple[str, str]] = []
        for key, value in errors.items():
            out += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix, str(errors))]


def mongo_doc(document: Document) -> dict[str, Any]:
    """The BSON-ready form of a validated document, without ``_id`` (the write filter carries it)."""
    data = document.to_mongo().to_dict()
    data.pop("_id", None)
    return data


# --------------------------------------------------------------------------------------------------------
# Users


def _legacy_id(raw: dict[str, Any]) -> str:
    """The row's old id as text; a row without one cannot be imported (or found again on a second run)."""
    legacy = v.legacy_id(raw.get("_id"))
    if legacy is None:
        raise Skip("no _id")
    return legacy


def map_user(raw: dict[str, Any], ctx: ImportContext) -> Mapped:
    notes: list[tuple[str, str]] = []
    legacy = _legacy_id(raw)
    created, updated = _times(raw, ctx.now)
    oid = v.object_id_for("users", raw.get("_id"), created)
    assert oid is not None
    if not isinstance(raw.get("_id"), ObjectId) and v.parse_object_id(legacy) is None:
        notes.append(("string _id replaced by a derived ObjectId", f"{legacy} → {oid}"))

    email_raw = v.text(raw.get("email"), 254)
    if not email_raw:
        raise Skip("no e-mail")
    email = normalise_email(email_raw)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise Skip(f"e-mail {email_raw!r} is not a valid address") from None
    owner = ctx.user_by_email.get(email)
    if owner is not None and owner != oid:
        # Uniqueness was case-sensitive on the old platform (U1): the later account folds into the first.
        ctx.user_ids[legacy] = owner
        raise Skip(
            f"e-mail {email_raw!r} already belongs to account {owner} (case-insensitive); merged into it"
        )

    legacy_role = v.text(raw.get("role")) or "user"
    role = ROLE_MAP.get(legacy_role.lower())
    if role is None:
        raise Skip(f"unknown role {legacy_role!r}")
    if legacy_role.lower() == "viewer":
        notes.append(("role viewer → user", ""))

    is_active = v.boolean(raw.get("is_active"))
    string_id = not isinstance(raw.get("_id"), ObjectId) and v.parse_object_id(legacy) is None
    password_hash = legacy_hash(raw.get("password_hash")) if raw.get("password_hash") else None
    if raw.get("password_hash") and password_hash is None:
        notes.append(("password hash is not bcrypt; not migrated (sign in by magic link or reset)", ""))

    user = User(
        id=oid,
        email=email,
        name=v.text(raw.get("name"), 100) or email.split("@", 1)[0],
        role=role,
        is_active=is_active is not False,
        picture=v.text(raw.get("picture"), 500) or "",
        password_hash=password_hash,
        language="en",
        last_login=v.moment(raw.get("last_login")),
        deactivated_at=updated if is_active is False else None,
        # The old platform gave string ids only to accounts created through Google sign-in.
        oauth_provider="google" if string_id else None,
        created_at=created,
        updated_at=updated,
    )
    profile_keys = (
        "credit_score",
        "auto_loan_history",
        "employment_type",
        "employer_name",
        "job_title",
        "time_at_job_months",
        "employment_duration_months",
        "monthly_income_pretax",
        "annual_income",
        "monthly_expenses",
        "down_payment_ready",
        "immigration_status",
        "phone",
        "address",
        "current_address",
        "current_address_duration_months",
        "residence_duration_months",
        "previous_address",
    )
    has_profile = any(key in raw for key in profile_keys + ("ssn", "drivers_license_number", "date_of_birth"))
    user.credit_score = v.integer(raw.get("credit_score"))
    user.auto_loan_history = v.boolean(raw.get("auto_loan_history"))
    user.employment_type = _in(v.text(raw.get("employment_type")), EMPLOYMENT_TYPES, "employment_type", notes)
    user.employer_name = v.text(raw.get("employer_name"), 200)
    user.job_title = v.text(raw.get("job_title"), 200)
    for key in (
        "time_at_job_months",
        "employment_duration_months",
        "current_address_duration_months",
        "residence_duration_months",
    ):
        setattr(user, key, v.integer(raw.get(key)))
    for key in ("monthly_income_pretax", "annual_income", "monthly_expenses", "down_payment_ready"):
        setattr(user, key, v.money(raw.get(key)))
    user.immigration_status = _in(
        v.text(raw.get("immigration_status")), IMMIGRATION_STATUSES, "immigration_status", notes
    )
    user.phone = v.us_phone(raw.get("phone"))
    user.address = v.text(raw.get("address"), 300)
    user.current_address = v.text(raw.get("current_address"), 300)
    user.previous_address = v.text(raw.get("previous_address"), 300)

    # Sensitive values arrive in plain text (U3) and are encrypted before the document exists anywhere.
    user.set_sensitive("ssn", v.ssn(raw.get("ssn")))
    licence = v.text(raw.get("drivers_license_number"))
    user.set_sensitive("drivers_license_number", licence.upper() if licence else None)
    dob_raw = raw.get("date_of_birth")
    dob = v.iso_date(dob_raw)
    if dob_raw not in (None, "") and dob is None:
        notes.append(("date of birth is not a date, dropped", ""))
    user.set_sensitive("date_of_birth", dob)

    user.profile_completed = user.compute_profile_completed()
    user.profile_updated_at = updated if has_profile else None
    _validated(user)
    ctx.user_ids[legacy] = oid
    ctx.user_by_email[email] = oid
    return Mapped(user, notes=notes)


# --------------------------------------------------------------------------------------------------------
# Lots


def list_slug(raw: dict[str, Any]) -> str | None:
    """The slug the old ``GET /api/cars`` computed on the fly (L9); reservations stored it as ``lot_slug``."""
    parts = [raw.get("year"), raw.get("make"), raw.get("model"), raw.get("trim", "")]
    if any(part is None for part in parts[:3]):
        return None
    return f"{parts[0]}-{parts[1]}-{parts[2]}-{parts[3] or ''}".lower().replace(" ", "-")


def _transmission(value: Any, notes: list[tuple[str, str]]) -> str | None:
    raw = v.text(value)
    if raw is None:
        return None
    lowered = raw.lower()
    if "dct" in lowered or "dual-clutch" in lowered or "dual clutch" in lowered:
        return "DCT"
    if "cvt" in lowered or lowered in ("ivt", "e-cvt"):
        return "CVT"
    if lowered in ("mt", "manual") or "manual" in lowered:
        return "MT"
    if lowered == "at" or "automatic" in lowered or "single-speed" in lowered or "single speed" in lowered:
        return "AT"
    notes.append(("transmission not recognised, dropped", raw))
    return None


def _drivetrain(value: Any, notes: list[tuple[str, str]]) -> str | None:
    raw = v.text(value)
    if raw is None:
        return None
    upper = raw.upper().replace("4X4", "4WD")
    return _in(upper, DRIVETRAINS, "drivetrain", notes)


def _competitor(block: Any, notes: list[tuple[str, str]], label: str) -> CompetitorPrice | None:
    if not isinstance(block, dict):
        return None
    monthly = _whole(block.get("monthly"), f"{label}.monthly", notes)
    if not monthly:
        return None  # the form's empty default ({monthly: 0, updatedAt: ""}) means "not entered" (L2)
    term = v.integer(block.get("term"))
    return CompetitorPrice(
        monthly=monthly,
        due_at_signing=_whole(v.pick(block, "dueAtSigning", "due_at_signing"), f"{label}.due", notes),
        term=term if term is not None and 1 <= term <= 96 else None,
        updated_at=v.moment(v.pick(block, "updatedAt", "updated_at")),
    )


def _competitor_prices(raw: dict[str, Any], notes: list[tuple[str, str]]) -> CompetitorPrices:
    """Four spellings (L2). Per comparison, the UI's ``competitorPrices`` (the later write) wins when it
    holds numbers; inner keys may be camel or snake in either block."""
    blocks = [b for b in (raw.get("competitorPrices"), raw.get("competitor_prices")) if isinstance(b, dict)]
    result = CompetitorPrices()
    for name, keys in (
        ("autobandit", ("autobandit",)),
        ("dealer_average", ("dealerAverage", "dealer_average")),
    ):
        for block in blocks:
            inner = next((block[k] for k in keys if isinstance(block.get(k), dict)), None)
            price = _competitor(inner, notes, name)
            if price is not None:
                setattr(result, name, price)
                break
    return result


def _lease(raw: Any, notes: list[tuple[str, str]]) -> LeaseTerms:
    if not isinstance(raw, dict):
        return LeaseTerms()
    monthly = _whole(raw.get("monthly"), "lease.monthly", notes)
    term = v.integer(v.pick(raw, "termMonths", "term_months"))
    if term is not None and not 12 <= term <= 60:
        notes.append(("lease term outside 12–60, dropped", str(term)))
        term = None
    miles = v.integer(v.pick(raw, "milesPerYear", "miles_per_year"))
    return LeaseTerms(
        monthly=monthly or None,  # 0 was the form's "not entered" (L6)
        due_at_signing=_whole(v.pick(raw, "dueAtSigning", "due_at_signing"), "lease.due", notes),
        term_months=term,
        miles_per_year=_in(miles, MILES_PER_YEAR, "lease miles per year", notes),
        incentives=_whole(raw.get("incentives"), "lease.incentives", notes, clamp_negative=True),
    )


def _finance(raw: Any, notes: list[tuple[str, str]]) -> FinanceTerms:
    if not isinstance(raw, dict):
        return FinanceTerms()
    apr = v.money(raw.get("apr"))
    if apr is not None and not Decimal(0) <= apr <= Decimal(30):
        notes.append(("finance APR outside 0–30, dropped", str(apr)))
        apr = None
    term = v.integer(v.pick(raw, "termMonths", "term_months"))
    if term is not None and not 12 <= term <= 96:
        notes.append(("finance term outside 12–96, dropped", str(term)))
        term = None
    return FinanceTerms(
        apr=apr,
        term_months=term,
        down_payment=_whole(
            v.pick(raw, "downPayment", "down_payment"), "finance.down", notes, clamp_negative=True
        ),
    )


def _tags(raw: Any) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    seen: dict[str, None] = {}
    for item in items:
        tag = v.text(item, 40)
        if tag:
            seen.setdefault(tag.lower(), None)
    return list(seen)


def _images(
    lot_id: ObjectId, raw: dict[str, Any], created: datetime, notes: list[tuple[str, str]]
) -> list[LotImage]:
    entries = raw.get("images") if isinstance(raw.get("images"), list) else []
    if not entries and v.text(raw.get("image")):
        entries = [{"url": raw["image"]}]
    images: list[LotImage] = []
    hero_taken = False
    flagged = 0
    for entry in entries:
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict):
            continue
        url = v.text(entry.get("url") or entry.get("src"), 1000)
        if not url:
            notes.append(("image without URL dropped", ""))
            continue
        alt = (entry.get("alt") or "").strip()
        if alt.endswith(PLACEHOLDER_ALT_SUFFIX):
            alt = alt[: -len(PLACEHOLDER_ALT_SUFFIX)].strip()
            notes.append(("Russian 'preview' suffix removed from image alt", alt))
        hero = v.boolean(entry.get("isHero")) is True or entry.get("type") == "hero"
        flagged += hero
        image_id = "lg" + hashlib.sha256(f"{lot_id}:{len(images)}:{url}".encode()).hexdigest()[:24]
        image = LotImage(
            image_id=image_id,
            alt=alt[:200] or None,
            width=v.integer(entry.get("width")),
            height=v.integer(entry.get("height")),
            is_hero=hero and not hero_taken,
            position=len(images),
            uploaded_at=created,
        )
        if url.startswith("/uploads/"):
            # A file of the old server's upload directory: copy that directory to UPLOAD_DIR (runbook).
            image.original = url[len("/uploads/") :][:200]
            image.processing_status = "pending"  # no variants yet; the original is shown meanwhile
        else:
            image.original = ""  # never downloaded (the issue says so); served from its own URL
            image.external_url = url
            image.processing_status = "ready"
        hero_taken = hero_taken or hero
        images.append(image)
    if flagged > 1:
        notes.append(("several hero images; the first one kept as hero", str(flagged)))
    return images


def lot_status(
    legacy_status: str | None, publish_at: datetime | None, now: datetime
) -> tuple[str, str | None]:
    """Our status for a legacy status, and a note when the mapping is not one to one."""
    status = LOT_STATUS_MAP.get(legacy_status)
    if status is None:
        raise Skip(f"unknown lot status {legacy_status!r}")
    if legacy_status is None:
        return "draft", "lot without status → draft"
    if status == "scheduled" and (publish_at is None or publish_at <= now):
        return "draft", "scheduled lot never promoted (publish time missing or past) → draft"
    return status, None


def assign_slug(raw: dict[str, Any], lot_id: ObjectId, lot: Lot, ctx: ImportContext) -> tuple[str, list[str]]:
    """The lot's slug and the old slugs to redirect to it.

    A lot already in the database keeps its slug. Otherwise a valid legacy slug is kept as is (old links keep
    working without a redirect); anything else is normalised with the slug rule (§2.7) and the old slug is
    redirected. The slug the old list computed (L9) is redirected as well when it differs and is free.
    """
    stored = raw.get("slug") if isinstance(raw.get("slug"), str) else None
    slug = ctx.db_lot_slug.get(lot_id)
    if slug is None:
        if stored and is_valid_slug(stored) and ctx.slug_free(stored, lot_id):
            slug = stored
        else:
            base = slugify(stored) if stored else ""
            if not is_valid_slug(base):
                base = lot_slug_base(lot.year, lot.make, lot.model, lot.trim) or "lot"
            slug = resolve_collision(base, lot.vin, lambda s: not ctx.slug_free(s, lot_id))
    redirects: list[str] = []
    for old in (stored, list_slug(raw)):
        if not old or old == slug or old in redirects or len(old) > 200:
            continue
        if not ctx.slug_free(old, lot_id):
            continue  # another lot's slug (or its redirect) always wins
        redirects.append(old)
    return slug, redirects


def lot_object_id(raw: dict[str, Any], now: datetime) -> ObjectId | None:
    """Our ``_id`` for a legacy lot (also used by the slug pre-pass, before the lot is mapped)."""
    return v.object_id_for("lots", raw.get("_id"), _times(raw, now)[0])


def map_lot(raw: dict[str, Any], ctx: ImportContext) -> Mapped:
    notes: list[tuple[str, str]] = []
    legacy = _legacy_id(raw)
    created, updated = _times(raw, ctx.now)
    oid = lot_object_id(raw, ctx.now)
    assert oid is not None
    year = v.integer(raw.get("year"))
    if year is None:
        raise Skip(f"year {raw.get('year')!r} is not a number")
    make, model = v.text(raw.get("make"), 60), v.text(raw.get("model"), 80)
    if not make or not model:
        raise Skip("make or model missing")

    vin = v.text(raw.get("vin"))
    if vin:
        from app.services.vin import is_valid_vin_format, normalise_vin

        vin = normalise_vin(vin)
        if not is_valid_vin_format(vin):
            notes.append(("VIN not valid, dropped", vin))
            vin = None

    discount = _whole(raw.get("discount"), "discount", notes, clamp_negative=True)
    exterior = v.text(raw.get("exteriorColor"), 60) or v.text(raw.get("exterior_color"), 60)
    interior = v.text(raw.get("interiorColor"), 60) or v.text(raw.get("interior_color"), 60)
    camel_weekly, snake_weekly = v.boolean(raw.get("isWeeklyDrop")), v.boolean(raw.get("is_weekly_drop"))
    weekly = camel_weekly if camel_weekly is not None else snake_weekly
    nan_row = any(
        str(raw.get(k, "")).strip().lower() == "nan" for k in ("trim", "vin", "engine", "description")
    )
    if camel_weekly is None and snake_weekly and nan_row:
        # bool(NaN) is True: a spreadsheet row with empty cells claimed to be a weekly drop (L5).
        weekly = False
        notes.append(("weekly-drop flag from an empty spreadsheet cell cleared", legacy))
    seo_raw = raw.get("seo") if isinstance(raw.get("seo"), dict) else {}
    fomo_raw = raw.get("fomo") if isinstance(raw.get("fomo"), dict) else {}
    state = v.text(raw.get("state"))
    description = raw.get("description") if isinstance(raw.get("description"), str) else ""
    if v.is_blank(description):
        description = ""

    lot = Lot(
        id=oid,
        make=make,
        model=model,
        year=year,
        trim=v.text(raw.get("trim"), 120) or "",
        vin=vin,
        drivetrain=_drivetrain(raw.get("drivetrain"), notes),
        transmission=_transmission(raw.get("transmission"), notes),
        engine=v.text(raw.get("engine"), 120),
        exterior_color=exterior,
        interior_color=interior,
        description=description.strip()[:10000],
        tags=_tags(raw.get("tags")),
        state=_in(state.upper() if state else None, STATES, "state", notes) or "CA",
        msrp=_whole(raw.get("msrp"), "msrp", notes) or Decimal(0),
        discount=discount or Decimal(0),
        dealer_addons=_whole(raw.get("dealer_addons"), "dealer_addons", notes, clamp_negative=True)
        or Decimal(0),
        # fees_hint is authoritative; feesHint is a stale create-time copy (L1).
        fees_hint=_whole(v.pick(raw, "fees_hint", "feesHint"), "fees_hint", notes, clamp_negative=True)
        or Decimal(0),
        lease=_lease(raw.get("lease"), notes),
        finance=_finance(raw.get("finance"), notes),
        competitor_prices=_competitor_prices(raw, notes),
        is_weekly_drop=bool(weekly),
        drop_window=v.text(v.pick(raw, "dropWindow", "drop_window"), 200),
        fomo=Fomo(
            mode=fomo_raw.get("mode") if fomo_raw.get("mode") in FOMO_MODES else "inherit",
            viewers=v.integer(fomo_raw.get("viewers")),
            confirms15=v.integer(fomo_raw.get("confirms15")),
        ),
        seo=Seo(
            title=(seo_raw.get("title") or "").strip()[:200] or None,
            description=(seo_raw.get("description") or "").strip()[:500] or None,
            noindex=v.boolean(v.pick(seo_raw, "noindex", "no_index")) is True,
        ),
        images=_images(oid, raw, created, notes),
        created_at=created,
        updated_at=updated,
    )

    # Publication: publish_at (date) and publishAt (string) are separate events; the later one counts (L1).
    publish_times = [t for t in (v.moment(raw.get("publishAt")), v.moment(raw.get("publish_at"))) if t]
    publish_at = max(publish_times) if publish_times else None
    legacy_status = v.text(raw.get("status"))
    status, status_note = lot_status(legacy_status.lower() if legacy_status else None, publish_at, ctx.now)
    if status_note:
        notes.append((status_note, legacy))
    archived_at = v.moment(raw.get("archived_at"))
    lot.status = status
    if status == "scheduled":
        lot.publish_at = publish_at
    elif status == "archived":
        lot.archived_at = archived_at or updated
    elif status == "sold":
        lot.sold_at = archived_at or updated  # the background task stamped archived_at when it sold
        lot.status_before_terminal = TERMINAL_PREVIOUS["sold"]
    elif status == "deleted":
        lot.deleted_at = archived_at or updated
        lot.status_before_terminal = TERMINAL_PREVIOUS["deleted"]
    was_public = status in ("published", "archived", "sold") or (status == "deleted" and bool(publish_times))
    if was_public:
        # First publication: the earliest publish event that happened, else creation. It also freezes the
        # slug and keeps re-publication from counting as a new listing (§2.7, §7.2).
        past = [t for t in publish_times if t <= ctx.now]
        lot.published_at = min(past) if past else created
        lot.announced_fleet = lot.fleet
        if lot.lease and lot.lease.monthly is not None:
            lot.announced_monthly = Decimal(lot.lease.monthly)

    slug, redirects = assign_slug(raw, oid, lot, ctx)
    lot.slug = slug
    _validated(lot)

    if status == "published":
        problems = ctx.validate_for_publish(lot, ctx.now) if ctx.validate_for_publish else []
        if problems:
            # A public lot must pass §2.6 (a missing finance key crashes the site): editors fix and re-publish.
            lot.status = "draft"
            notes.append(
                ("published lot fails the publish checks → draft", f"{slug}: " + "; ".join(problems))
            )
        elif ctx.end_of_month is not None:
            lot.offer_ends_at = ctx.end_of_month(ctx.now)

    side = []
    for old in redirects:
        redirect = LotSlugRedirect(old_slug=old, lot=oid, created_at=created, updated_at=created)
        _validated(redirect)
        side.append(
            SideWrite(
                "lot_slug_redirects",
                {"old_slug": old},
                {"lot": oid, "created_at": created, "updated_at": created},
                f"redirect {old} → {slug}",
            )
        )
    ctx.assigned_slugs[slug] = oid
    for old in redirects:
        ctx.redirect_owner[old] = oid
    ctx.lots[legacy] = LotRef(oid, slug)
    return Mapped(lot, side=side, notes=notes)


# --------------------------------------------------------------------------------------------------------
# Applications


def _embedded_from(cls: type[EmbeddedDocument], raw: Any, keys: Iterable[str]) -> dict[str, Any]:
    """Values for the named fields of an embedded document, each coerced by the field's type."""
    from mongoengine import BooleanField, IntField, StringField

    from app.models.base import MoneyField

    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for key in keys:
        if key not in raw or key not in cls._fields:
            continue
        kind = cls._fields[key]
        value = raw[key]
        if isinstance(kind, MoneyField):
            out[key] = v.money(value)
        elif isinstance(kind, IntField):
            out[key] = v.integer(value)
        elif isinstance(kind, BooleanField):
            out[key] = v.boolean(value)
        elif isinstance(kind, StringField):
            out[key] = v.text(value)
        else:
            out[key] = value
    return out


def _comments(raw: dict[str, Any], updated: datetime, notes: list[tuple[str, str]]) -> list[ManagerComment]:
    comments: list[ManagerComment] = []
    legacy = raw.get("manager_comments")
    items = [legacy] if isinstance(legacy, str) else legacy if isinstance(legacy, list) else []
    for item in items:
        if isinstance(item, dict):
            body = (item.get("text") or item.get("comment") or "").strip()
            when = v.moment(item.get("at") or item.get("created_at")) or updated
            by = v.text(item.get("by") or item.get("by_email"), 254)
        else:
            body, when, by = str(item or "").strip(), updated, None
        if body:
            comments.append(ManagerComment(text=body[:5000], by_email=by, at=when))
    dropped = 0
    for sent in raw.get("notifications_sent") or []:
        if not isinstance(sent, dict):
            continue
        if sent.get("type") == "auto_status_change":
            dropped += 1  # boilerplate of the old status endpoint; the new system sends its own
            continue
        message = (sent.get("message") or "").strip()
        if not message:
            continue
        # Staff-written messages are kept as internal history, with the delivery status the old platform
        # recorded (sent_mock: its providers were never connected).
        kind, status = sent.get("type") or "message", sent.get("status") or "unknown"
        comments.append(
            ManagerComment(
                text=f"Message on the old platform ({kind}, status {status}): {message}"[:5000],
                by_email=v.text(sent.get("sent_by"), 254),
                at=v.moment(sent.get("sent_at")) or updated,
            )
        )
    if dropped:
        notes.append(("automatic status e-mails of the old platform not migrated", str(dropped)))
    return comments


def _trade_in(raw: Any, notes: list[tuple[str, str]]) -> TradeIn | None:
    if not isinstance(raw, dict):
        return None
    condition = v.text(raw.get("condition"))
    condition = condition.lower() if condition else None
    kbb = v.money(raw.get("kbb_value"))
    note = v.text(raw.get("kbb_note") or raw.get("valuation_note"))
    if kbb is not None and kbb < 0:
        notes.append(("negative trade-in estimate clamped to 0 (§5.7)", str(kbb)))
        note = f"{note or 'Legacy estimate'} (old platform value {kbb}, clamped to 0)"
        kbb = Decimal(0)
    photos = [p.strip()[:1000] for p in raw.get("photos") or [] if isinstance(p, str) and p.strip()][:10]
    vin = v.text(raw.get("vin"))
    return TradeIn(
        vin=vin.upper()[:17] if vin else None,
        year=v.integer(raw.get("year")),
        make=v.text(raw.get("make"), 60),
        model=v.text(raw.get("model"), 80),
        mileage=v.integer(raw.get("mileage")),
        condition=_in(condition, ("excellent", "good", "fair", "poor"), "trade-in condition", notes),
        photos=photos,
        kbb_value=kbb,
        valuation_source="legacy",
        valuation_note=note,
        added_at=v.moment(raw.get("added_at")),
    )


def map_application(raw: dict[str, Any], ctx: ImportContext) -> Mapped:
    notes: list[tuple[str, str]] = []
    legacy = _legacy_id(raw)
    created, updated = _times(raw, ctx.now)
    oid = v.object_id_for("applications", raw.get("_id"), created)
    assert oid is not None
    user_id = ctx.user(raw.get("user_id"))
    lot = ctx.lot(raw.get("lot_id"))
    legacy_status = (v.text(raw.get("status")) or "").lower()
    status = APPLICATION_STATUS_MAP.get(legacy_status)
    if status is None:
        raise Skip(f"unknown application status {legacy_status!r}")

    # Snapshots are history (A1): copied as they are, nulls and price drift included.
    lot_data = LotSnapshot(
        **_embedded_from(LotSnapshot, raw.get("lot_data"), ("year", "make", "model", "trim", "vin", "msrp")),
        lot_id=lot.id,
        slug=lot.slug,
    )
    lot_data.fleet_price = v.money((raw.get("lot_data") or {}).get("fleet_price"))
    lot_data.title = lot_title(lot_data.year, lot_data.make, lot_data.model, lot_data.trim) or None
    user_data = UserSnapshot(**_embedded_from(UserSnapshot, raw.get("user_data"), UserSnapshot._fields))

    pickup_raw = v.text(raw.get("pickup_status"))
    pickup_status = PICKUP_STATUS_MAP.get(pickup_raw.lower()) if pickup_raw else None
    if pickup_raw and pickup_raw.lower() not in PICKUP_STATUS_MAP:
        notes.append(("unknown pickup status dropped", pickup_raw))
    if status == "approved" and pickup_status is None:
        pickup_status = "ready_for_pickup"  # approval opens the pickup flow (§5.3)
    pickup_slot = v.moment(raw.get("pickup_slot"))

    approval = None
    details = raw.get("approval_details")
    if isinstance(details, dict):
        approval = ApprovalDetails(
            apr=v.money(details.get("apr")),
            money_factor=v.money(details.get("money_factor")),
            loan_term=v.integer(details.get("loan_term")),
            down_payment=v.money(details.get("down_payment")),
            monthly_payment=v.money(details.get("monthly_payment")),
            approved_at=v.moment(details.get("approved_at")) or updated,
            approved_by_email=v.text(details.get("approved_by"), 254),
            approved_by_id=ctx.staff_id(details.get("approved_by")),
        )

    prescoring = raw.get("prescoring_data") if isinstance(raw.get("prescoring_data"), dict) else {}
    prescoring = dict(prescoring)
    if "checked_at" in prescoring:
        prescoring["checked_at"] = v.moment(prescoring["checked_at"]) or prescoring["checked_at"]

    alternatives: list[ManagerAlternative] = []
    for alt in raw.get("alternatives") or []:
        if not isinstance(alt, dict):
            continue
        target = ctx.lots.get(v.legacy_id(alt.get("lot_id")) or "")
        if target is None:
            notes.append(
                ("alternative pointing to a lot that was not imported dropped", str(alt.get("lot_id")))
            )
            continue
        alternatives.append(
            ManagerAlternative(
                lot_id=target.id,
                lot_slug=target.slug,
                title=v.text(alt.get("title")),
                monthly=v.money(alt.get("monthly")),
                suggested_by=v.text(alt.get("suggested_by"), 254),
                suggested_at=v.moment(alt.get("suggested_at")) or updated,
                reason=v.text(alt.get("reason"), 500),
            )
        )
    if len(alternatives) > 3:
        notes.append(("more than 3 alternatives; the first 3 kept", str(len(alternatives))))
        alternatives = alternatives[:3]

    application = Application(
        id=oid,
        user=user_id,
        lot=lot.id,
        reservation=ctx.reservation_for_app.get(legacy),
        status=status,
        lot_data=lot_data,
        user_data=user_data,
        contacted_at=v.moment(raw.get("contacted_at")),
        approval_details=approval,
        admin_notes=str(raw.get("admin_notes") or "").strip()[:5000] or None,
        manager_comments=_comments(raw, updated, notes),
        verified_income=v.money(raw.get("verified_income")),
        prescoring_data=prescoring,
        prescoring_tier=v.text(prescoring.get("credit_tier")),
        alternatives=alternatives,
        trade_in=_trade_in(raw.get("trade_in"), notes),
        pickup_status=pickup_status,
        pickup_slot=pickup_slot,
        created_at=created,
        updated_at=updated,
    )
    _validated(application)
    side = []
    if pickup_status == "scheduled" and pickup_slot is not None:
        # The booking blocks the slot for everyone else (§5.6); keyed by the application's id.
        booking = PickupBooking(slot_start=pickup_slot, application=oid, user=user_id)
        _validated(booking)
        side.append(
            SideWrite(
                "pickup_bookings",
                {"_id": oid},
                {
                    "slot_start": pickup_slot,
                    "application": oid,
                    "user": user_id,
                    "created_at": updated,
                    "updated_at": updated,
                },
                f"pickup booking {pickup_slot.isoformat()}",
            )
        )
    ctx.applications[legacy] = AppRef(oid, user_id)
    return Mapped(application, side=side, notes=notes)


# --------------------------------------------------------------------------------------------------------
# Reservations, subscriptions, appointments


def map_reservation(raw: dict[str, Any], ctx: ImportContext) -> Mapped:
    notes: list[tuple[str, str]] = []
    legacy = _legacy_id(raw)
    created, updated = _times(raw, ctx.now)
    oid = v.object_id_for("reservations", raw.get("_id"), created)
    user_id = ctx.user(raw.get("user_id"))
    lot = ctx.lot(raw.get("lot_id"))
    legacy_status = (v.text(raw.get("status")) or "").lower()
    status = RESERVATION_STATUS_MAP.get(legacy_status)
    if status is None:
        raise Skip(f"unknown reservation status {legacy_status!r}")
    expires_at = v.moment(raw.get("expires_at")) or created + timedelta(hours=RESERVATION_HOLD_HOURS)
    deposit_paid = v.boolean(raw.get("deposit_paid")) is True
    ended_at = None
    if deposit_paid and status != "deposit_paid":
        notes.append((f"reservation {status} with a paid deposit → deposit_paid", legacy))
        status = "deposit_paid"
    elif status == "active" and expires_at <= ctx.now:
        notes.append(("active reservation past its expiry → expired", legacy))
        status = "expired"
    if status == "expired":
        ended_at = expires_at
    application_id = None
    if raw.get("application_id"):
        try:
            application_id = ctx.application(raw.get("application_id")).id
        except Skip as exc:
            notes.append(("converted reservation without its application", exc.reason))
    reservation = Reservation(
        id=oid,
        user=user_id,
        lot=lot.id,
        lot_slug=lot.slug,  # the old lot_slug was the list-computed one (L9); joins go by lot id
        reserved_price=v.money(raw.get("reserved_price")),
        monthly_payment=v.money(raw.get("monthly_payment")),
        due_at_signing=v.money(raw.get("due_at_signing")),
        deposit_amount=v.money(raw.get("deposit_amount")) or RESERVATION_DEPOSIT,
        deposit_paid=deposit_paid,
        status=status,
        expires_at=expires_at,
        application=application_id,
        ended_at=ended_at,
        # Holds that ended on the old platform are not announced again by the new expiry sweep.
        expiry_notified=status != "active",
        created_at=created,
        updated_at=updated,
    )
    _validated(reservation)
    return Mapped(reservation, notes=notes)


def map_subscription(raw: dict[str, Any], ctx: ImportContext) -> Mapped:
    notes: list[tuple[str, str]] = []
    legacy = _legacy_id(raw)
    created, updated = _times(raw, ctx.now)
    oid = v.object_id_for("subscriptions", raw.get("_id"), created)
    user_id = ctx.user(raw.get("user_id"))
    makes = [m for m in (v.text(x, 60) for x in raw.get("makes") or []) if m]
    models = [m for m in (v.text(x, 80) for x in raw.get("models") or []) if m]
    if not makes and not models:
        # It matched nothing on the old platform; under §7.1 it would match every lot.
        raise Skip("no makes and no models (§7.1 needs at least one)")
    is_active = v.boolean(raw.get("is_active")) is not False
    email = v.text(raw.get("email"), 254)
    subscription = Subscription(
        id=oid,
        user=user_id,
        makes=makes[:10],
        models=models[:10],
        max_price=v.money(raw.get("max_price")),  # 0 and null both mean "no limit" (§7.1); clean() folds 0
        email=normalise_email(email) if email else None,
        phone=v.us_phone(raw.get("phone")),
        telegram_id=v.text(raw.get("telegram_id"), 64),
        notify_email=v.boolean(raw.get("notify_email")) is not False,
        notify_sms=v.boolean(raw.get("notify_sms")) is True,
        notify_telegram=v.boolean(raw.get("notify_telegram")) is True,
        notify_on_new_listing=v.boolean(raw.get("notify_on_new_listing")) is not False,
        notify_on_price_drop=v.boolean(raw.get("notify_on_price_drop")) is not False,
        is_active=is_active,
        unsubscribed_at=None if is_active else updated,
        created_at=created,
        updated_at=updated,
    )
    if subscription.notify_sms:
        notes.append(
            ("SMS alerts without recorded consent (stay pending until the customer confirms)", legacy)
        )
    _validated(subscription)
    return Mapped(subscription, notes=notes)


def appointment_time(value: Any) -> str | None:
    """``"2:00 PM"`` from ``"14:00"``, ``"2:00 PM"``, ``"2 pm"``; None when it is not a time of day."""
    raw = v.text(value)
    if raw is None:
        return None
    upper = raw.upper().replace(".", "")
    suffix = None
    for marker in ("AM", "PM"):
        if upper.endswith(marker):
            suffix, upper = marker, upper[: -len(marker)].strip()
    hour_text, _, minute_text = upper.partition(":")
    if not hour_text.isdigit() or (minute_text and not minute_text.isdigit()):
        return None
    hour, minute = int(hour_text), int(minute_text or 0)
    if suffix:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "PM" else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    label_hour = hour % 12 or 12
    return f"{label_hour}:{minute:02d} {'PM' if hour >= 12 else 'AM'}"


def map_appointment(raw: dict[str, Any], ctx: ImportContext) -> Mapped:
    notes: list[tuple[str, str]] = []
    legacy = _legacy_id(raw)
    created, updated = _times(raw, ctx.now)
    oid = v.object_id_for("appointments", raw.get("_id"), created)
    application = ctx.application(raw.get("application_id"))
    user_id = ctx.user(raw.get("user_id"))
    if user_id != application.user:
        notes.append(("appointment booked by someone other than the applicant (A5)", legacy))
    kind = (v.text(raw.get("type")) or "").lower()
    if kind not in APPOINTMENT_TYPES:
        raise Skip(f"appointment type {raw.get('type')!r} is not one of {', '.join(APPOINTMENT_TYPES)}")
    day = v.iso_date(raw.get("date"))
    if day is None:
        raise Skip(f"appointment date {raw.get('date')!r} is not a date")
    label = appointment_time(raw.get("time"))
    if label not in APPOINTMENT_TIMES:
        raise Skip(f"appointment time {raw.get('time')!r} is not one of the bookable times")
    clock = datetime.strptime(label, "%I:%M %p").time()
    starts_at = datetime.combine(datetime.fromisoformat(day).date(), time(clock.hour, clock.minute), PACIFIC)
    status = APPOINTMENT_STATUS_MAP.get((v.text(raw.get("status")) or "scheduled").lower())
    if status is None:
        raise Skip(f"unknown appointment status {raw.get('status')!r}")
    appointment = Appointment(
        id=oid,
        user=user_id,
        application=application.id,
        appointment_type=kind,
        date=day,
        time=label,
        starts_at=starts_at.astimezone(UTC),
        status=status,
        created_at=created,
        updated_at=updated,
    )
    _validated(appointment)
    return Mapped(appointment, notes=notes)


# --------------------------------------------------------------------------------------------------------
# Audit log


def map_audit_log(raw: dict[str, Any], ctx: ImportContext) -> Mapped:
    """The old entries, as they are (A6): history, not replayed. Only the field names follow ours."""
    notes: list[tuple[str, str]] = []
    _legacy_id(raw)  # rows without an id are skipped like everywhere else
    timestamp = v.moment(raw.get("timestamp")) or _created(raw)
    if timestamp is None:
        raise Skip("no timestamp")
    oid = v.object_id_for("audit_logs", raw.get("_id"), timestamp)
    action = v.text(raw.get("action"), 60)
    if not action:
        raise Skip("no action")
    details: dict[str, Any] = {"source": "legacy_import"}
    resource_type = (v.text(raw.get("resource_type")) or "system").lower()
    if resource_type not in AUDIT_RESOURCE_TYPES:
        details["legacy_resource_type"] = resource_type
        notes.append(("audit resource type not in our list, filed under system", resource_type))
        resource_type = "system"
    changes = raw.get("changes")
    resource_id = raw.get("resource_id")
    entry = AuditLog(
        id=oid,
        timestamp=timestamp,
        actor_email=v.text(raw.get("user_email"), 254),
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id)[:100] if resource_id is not None else None,
        changes=changes if isinstance(changes, dict) else ({"value": changes} if changes is not None else {}),
        details=details,
    )
    _validated(entry)
    return Mapped(entry, notes=notes)


MAPPERS: dict[str, Callable[[dict[str, Any], ImportContext], Mapped]] = {
    "users": map_user,
    "lots": map_lot,
    "applications": map_application,
    "reservations": map_reservation,
    "subscriptions": map_subscription,
    "appointments": map_appointment,
    "audit_logs": map_audit_log,
}

#: Import order: every collection after the ones it references.
ORDER = ("users", "lots", "applications", "reservations", "subscriptions", "appointments", "audit_logs")
