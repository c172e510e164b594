"""Lots: one vehicle offered on the site (business rules §2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from mongoengine import (
    BooleanField,
    DateTimeField,
    EmbeddedDocument,
    EmbeddedDocumentField,
    EmbeddedDocumentListField,
    IntField,
    ListField,
    MapField,
    ObjectIdField,
    Q,
    QuerySet,
    ReferenceField,
    StringField,
)

from app.models.base import ExactDecimalField, MoneyField, TimestampedDocument, WholeDollarsField, utcnow

LOT_STATUSES = ("draft", "scheduled", "published", "archived", "sold", "deleted")
STATES = ("CA", "NY", "TX", "FL")
DRIVETRAINS = ("FWD", "RWD", "AWD", "4WD")
TRANSMISSIONS = ("AT", "CVT", "MT", "DCT")
MILES_PER_YEAR = (7500, 10000, 12000, 15000)
FOMO_MODES = ("inherit", "deterministic", "random", "static")
IMAGE_VARIANTS = {"thumbnail": (300, 200), "medium": (800, 600), "large": (1200, 900), "hero": (1920, 1080)}


class LeaseTerms(EmbeddedDocument):
    """The advertised lease block (business rules §2.3). Whole dollars."""

    monthly = WholeDollarsField()
    due_at_signing = WholeDollarsField()
    term_months = IntField(min_value=12, max_value=60)
    miles_per_year = IntField(choices=MILES_PER_YEAR)
    incentives = WholeDollarsField()


class FinanceTerms(EmbeddedDocument):
    """The advertised finance block (business rules §2.3)."""

    apr = ExactDecimalField(min_value=Decimal(0), max_value=Decimal(30))
    term_months = IntField(min_value=12, max_value=96)
    down_payment = WholeDollarsField()


class LeaseProvenance(EmbeddedDocument):
    """Inputs an editor used to derive the lease block (business rules §2.3, CHOICE)."""

    lessor = StringField(max_length=100)
    program_month = StringField(max_length=7)  # YYYY-MM
    residual_percent = ExactDecimalField(min_value=Decimal(0), max_value=Decimal(100))
    money_factor = ExactDecimalField(min_value=Decimal(0), max_value=Decimal("0.01"))
    acquisition_fee = MoneyField()
    valid_through = DateTimeField()


class CompetitorPrice(EmbeddedDocument):
    """A hand-entered or scraped comparison (business rules §2.4)."""

    monthly = WholeDollarsField()
    due_at_signing = WholeDollarsField()
    term = IntField(min_value=1, max_value=96)
    updated_at = DateTimeField()
    source_url = StringField(max_length=1000)


class CompetitorPrices(EmbeddedDocument):
    autobandit = EmbeddedDocumentField(CompetitorPrice)
    dealer_average = EmbeddedDocumentField(CompetitorPrice)


class Fomo(EmbeddedDocument):
    """Stored for the site's counters; never exposed by the API (business rules §2.1)."""

    mode = StringField(choices=FOMO_MODES, default="inherit")
    viewers = IntField(min_value=0)
    confirms15 = IntField(min_value=0)


class Seo(EmbeddedDocument):
    title = StringField(max_length=200)
    description = StringField(max_length=500)
    noindex = BooleanField(default=False)


class LotImage(EmbeddedDocument):
    """One picture of a lot (business rules §2.9).

    ``original`` is the stored upload (server-generated name under ``UPLOAD_DIR``); ``variants`` maps variant
    name to its stored file name once the worker has produced it. Until then the original is shown.
    """

    image_id = StringField(required=True, max_length=32)
    original = StringField(required=True, max_length=200)
    external_url = StringField(max_length=1000)  # images imported by URL that were never downloaded
    variants = MapField(StringField(max_length=200))
    alt = StringField(max_length=200)
    width = IntField(min_value=0)
    height = IntField(min_value=0)
    is_hero = BooleanField(default=False)
    position = IntField(default=0)
    processing_status = StringField(choices=("pending", "ready", "failed"), default="pending")
    uploaded_at = DateTimeField(default=utcnow)


class LotQuerySet(QuerySet):
    def public(self, now: datetime | None = None) -> QuerySet:
        """Lots on the public site: published, or scheduled with ``publish_at`` already passed (§2.5)."""
        now = now or utcnow()
        return self.filter(Q(status="published") | Q(status="scheduled", publish_at__lte=now))

    def not_deleted(self) -> QuerySet:
        return self.filter(status__ne="deleted")


class Lot(TimestampedDocument):
    meta = {
        "collection": "lots",
        "queryset_class": LotQuerySet,
        "auto_create_index": False,
        "indexes": [
            {"fields": ["slug"], "unique": True},
            "status",
            ("status", "-published_at", "-created_at"),
            ("status", "-updated_at"),
            ("make", "model", "year"),
            "year",
            "-updated_at",
            {"fields": ["vin"], "sparse": True},
            {"fields": ["publish_at"], "sparse": True},
            {"fields": ["offer_ends_at"], "sparse": True},
            ("is_weekly_drop", "status"),
            "title_search",
        ],
        "ordering": ["-published_at", "-created_at"],
    }

    make = StringField(required=True, max_length=60)
    model = StringField(required=True, max_length=80)
    year = IntField(required=True, min_value=1980, max_value=2100)
    trim = StringField(max_length=120, default="")
    vin = StringField(max_length=17)
    drivetrain = StringField(choices=DRIVETRAINS)
    transmission = StringField(choices=TRANSMISSIONS)
    engine = StringField(max_length=120)
    exterior_color = StringField(max_length=60)
    interior_color = StringField(max_length=60)
    description = StringField(max_length=10000, default="")
    tags = ListField(StringField(max_length=40))
    state = StringField(choices=STATES, default="CA")

    msrp = WholeDollarsField(required=True, default=0)
    discount = WholeDollarsField(required=True, default=0)
    dealer_addons = WholeDollarsField(default=0)
    fees_hint = WholeDollarsField(default=0)

    lease = EmbeddedDocumentField(LeaseTerms, default=LeaseTerms)
    finance = EmbeddedDocumentField(FinanceTerms, default=FinanceTerms)
    lease_provenance = EmbeddedDocumentField(LeaseProvenance)
    competitor_prices = EmbeddedDocumentField(CompetitorPrices, default=CompetitorPrices)
    is_weekly_drop = BooleanField(default=False)
    drop_window = StringField(max_length=200)
    fomo = EmbeddedDocumentField(Fomo, default=Fomo)
    seo = EmbeddedDocumentField(Seo, default=Seo)
    images = EmbeddedDocumentListField(LotImage)

    status = StringField(required=True, choices=LOT_STATUSES, default="draft")
    status_before_terminal = StringField(choices=LOT_STATUSES)  # for the admin correction of sold/deleted
    publish_at = DateTimeField()
    published_at = DateTimeField()
    offer_ends_at = DateTimeField()
    archived_at = DateTimeField()
    sold_at = DateTimeField()
    deleted_at = DateTimeField()
    slug = StringField(required=True, max_length=100)
    # Lower-cased "year make model trim vin slug", for prefix/regex search without a text index.
    title_search = StringField(max_length=400)

    # Values last announced to subscribers, the baseline of the price-drop rule (§7.2).
    announced_fleet = MoneyField()
    announced_monthly = MoneyField()

    created_by = ObjectIdField()
    updated_by = ObjectIdField()

    @property
    def fleet(self) -> Decimal:
        """``msrp − discount``: always derived, never stored (business rules §2.2)."""
        return Decimal(self.msrp or 0) - Decimal(self.discount or 0)

    @property
    def savings(self) -> Decimal:
        return Decimal(self.discount or 0)

    @property
    def title(self) -> str:
        return lot_title(self.year, self.make, self.model, self.trim)

    @property
    def short_title(self) -> str:
        return " ".join(str(part) for part in (self.year, self.make, self.model) if part)

    @property
    def ordered_images(self) -> list[LotImage]:
        """Hero first (or the first image when none is flagged), then by position."""
        images = sorted(self.images or [], key=lambda img: img.position)
        hero = next((img for img in images if img.is_hero), None)
        if hero is None:
            return images
        return [hero] + [img for img in images if img is not hero]

    def clean(self) -> None:
        self.trim = (self.trim or "").strip()
        self.make = (self.make or "").strip()
        self.model = (self.model or "").strip()
        if self.vin:
            self.vin = self.vin.strip().upper()
        self.title_search = " ".join(
            part for part in (self.title.lower(), (self.vin or "").lower(), self.slug or "") if part
        )


def lot_title(year: int | None, make: str | None, model: str | None, trim: str | None) -> str:
    """``"{year} {make} {model} {trim}"`` with single spaces and no trailing space (consumer-api §2.2)."""
    return " ".join(str(part).strip() for part in (year, make, model, trim) if part and str(part).strip())


class LotSlugRedirect(TimestampedDocument):
    """An old slug that keeps working after import (old links → the lot's current slug)."""

    meta = {
        "collection": "lot_slug_redirects",
        "auto_create_index": False,
        "indexes": [{"fields": ["old_slug"], "unique": True}, "lot"],
    }

    old_slug = StringField(required=True, max_length=200)
    lot = ReferenceField(Lot, required=True)
