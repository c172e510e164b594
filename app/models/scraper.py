"""Competitor scraper records: one ``ScrapeRun`` per run (its log and live progress) and one
``ScrapedOffer`` per competitor deal, matched to our lots (issue 5 §3)."""

from __future__ import annotations

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    FloatField,
    IntField,
    ListField,
    ObjectIdField,
    QuerySet,
    ReferenceField,
    StringField,
)

from app.models.base import MoneyField, TimestampedDocument
from app.models.lot import Lot

SCRAPE_RUN_STATUSES = ("queued", "running", "succeeded", "guarded", "failed")
SCRAPE_RUN_FINAL = ("succeeded", "guarded", "failed")
SCRAPED_OFFER_STATUSES = ("matched", "unmatched", "draft_created")


class ScrapeRunQuerySet(QuerySet):
    def last_good(self) -> ScrapeRun | None:
        """The latest run whose results were applied: the sync guard's reference."""
        return self.filter(status="succeeded").order_by("-created_at").first()


class ScrapeRun(TimestampedDocument):
    """One scraper run: what it found, what it changed, why it changed nothing, and its progress."""

    meta = {
        "collection": "scrape_runs",
        "queryset_class": ScrapeRunQuerySet,
        "auto_create_index": False,
        "indexes": [
            "-created_at",
            ("status", "-created_at"),
            # At most one run queued or running at a time, enforced by the database.
            {
                "fields": ["active"],
                "unique": True,
                "partialFilterExpression": {"active": True},
                "name": "one_active_scrape_run",
            },
        ],
        "ordering": ["-created_at"],
    }

    status = StringField(required=True, choices=SCRAPE_RUN_STATUSES, default="queued")
    active = BooleanField()  # True while queued or running; unset when the run ends
    trigger = StringField(choices=("manual", "schedule"), default="manual")
    triggered_by = StringField(max_length=254)  # staff e-mail, or "system"
    start_url = StringField(max_length=1000)
    job_id = StringField(max_length=100)
    started_at = DateTimeField()
    finished_at = DateTimeField()
    duration_seconds = FloatField()
    progress_done = IntField(default=0)
    progress_total = IntField(default=0)
    progress_message = StringField(max_length=500)
    progress_at = DateTimeField()
    counts = DictField()  # pages fetched/failed/skipped, cards, requests, retries... (CrawlResult.counts)
    offers_found = IntField(default=0)
    offers_matched = IntField(default=0)
    offers_unmatched = IntField(default=0)
    lots_updated = IntField(default=0)
    errors = ListField(DictField())  # {"url", "kind", "message", "status"}, at most 200
    warnings = ListField(StringField(max_length=500))
    guard_ok = BooleanField()
    guard_reason = StringField(max_length=500)
    error = StringField(max_length=1000)  # why the run failed, when it did

    @property
    def is_final(self) -> bool:
        return self.status in SCRAPE_RUN_FINAL


class ScrapedOffer(TimestampedDocument):
    """One competitor deal as last seen, and the lots it matches (or the draft made from it)."""

    meta = {
        "collection": "scraped_offers",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["external_id"], "unique": True},
            ("status", "-last_seen_at"),
            "match_key",
            "last_run",
        ],
        "ordering": ["-last_seen_at"],
    }

    external_id = StringField(required=True, max_length=200)
    title = StringField(max_length=300)
    year = IntField()
    make = StringField(max_length=60)
    model = StringField(max_length=80)
    trim = StringField(max_length=120)
    msrp = MoneyField()
    monthly = MoneyField()
    due_at_signing = MoneyField()
    term_months = IntField()
    miles_per_year = IntField()
    incentives = MoneyField()
    image_urls = ListField(StringField(max_length=2000))
    source_url = StringField(max_length=1000)
    detail_url = StringField(max_length=1000)
    badges = ListField(StringField(max_length=100))
    trim_count = IntField()
    warnings = ListField(StringField(max_length=300))
    fingerprint = StringField(max_length=40)
    match_key = StringField(max_length=300)
    matched_lots = ListField(ReferenceField(Lot))
    status = StringField(required=True, choices=SCRAPED_OFFER_STATUSES, default="unmatched")
    draft_lot = ReferenceField(Lot)
    first_seen_at = DateTimeField()
    last_seen_at = DateTimeField()
    last_run = ObjectIdField()
