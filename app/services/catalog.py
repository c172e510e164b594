"""The public catalogue: lot JSON for the consumer site (consumer-api §2.2–2.3) and its cache.

Serialisers turn a ``Lot`` into the list item and the detail object the React site reads. They return plain
JSON values (ints, floats, strings), so the same dicts can be cached as bytes and served without touching
the database.

Caching (``GET /api/cars`` and ``GET /api/cars/{slug}``): the serialised body is kept in Redis, and an
entry records which body (by ETag) was built from which *catalogue version*. Every lot write bumps the
version: a MongoEngine ``post_save`` / ``post_delete`` handler on ``Lot`` (connected when this module is
imported), plus :func:`invalidate` for writes that bypass document signals (``QuerySet.update``,
``modify``, raw pymongo). A reader takes the version and the entry in one round trip and rebuilds only when
they disagree; each worker also keeps recent bodies in memory by ETag, so the body itself (half a megabyte
for a thousand lots) crosses the network only once per worker and change. Visibility also changes
with time alone (a scheduled lot whose ``publish_at`` passes, a competitor price turning 30 days old), so
each cached body also expires: after at most :data:`CACHE_TTL_SECONDS`, and sooner when a scheduled lot is
due to appear.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from flask import current_app, has_app_context
from mongoengine import signals

from app.db import get_redis
from app.errors import NotFound
from app.models import Lot, LotSlugRedirect
from app.models.base import parse_object_id, utcnow
from app.models.lot import CompetitorPrice, LotImage
from app.services.slugs import lot_slug_base

log = logging.getLogger(__name__)

LIST_IMAGE_VARIANT = "medium"
"""Offer cards (``image``, in the list and the detail alike): 800×600 is sharp on a card, even on HiDPI."""
GALLERY_IMAGE_VARIANT = "large"
"""The car page gallery: 1200×900."""

CACHE_TTL_SECONDS = 60
COMPETITOR_MAX_AGE = timedelta(days=30)

# Safety-net defaults per key (consumer-api §2.2); publish validation should make them unnecessary.
LEASE_DEFAULTS = {"monthly": 0, "dueAtSigning": 3000, "termMonths": 36, "milesPerYear": 7500}
FINANCE_DEFAULTS = {"apr": 9.75, "termMonths": 60, "downPayment": 3000}

DEALER_NAME = "Fleet Dealer"
PREVIEW_DEALER_NAME = "Fleet Preview"

_KEY_PREFIX = "cargwin:catalog"
VERSION_KEY = f"{_KEY_PREFIX}:version"
LIST_KEY = f"{_KEY_PREFIX}:list"
DETAIL_KEY = f"{_KEY_PREFIX}:detail:"
BODY_KEY = f"{_KEY_PREFIX}:body:"


# --------------------------------------------------------------------------------------------------------
# JSON values


def iso(value: datetime | None) -> str | None:
    """An aware UTC ISO 8601 string with ``Z`` (naive values are read as UTC), or None."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def number(value: Any) -> int | float | None:
    """A JSON number: an int when the amount is whole (``329``), a float otherwise (``3.9``, ``97.49``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)


def _whole(value: Any, default: int = 0) -> int:
    return default if value is None else int(Decimal(value))


# --------------------------------------------------------------------------------------------------------
# Images


def image_url(image: LotImage, variant: str | None = None) -> str:
    """The public URL of one image: its ``variant`` once the worker has made it, otherwise the original.

    Relative (``/uploads/...``), so it works on the site's own origin; an image imported by URL and never
    downloaded keeps its external address.
    """
    variants = image.variants or {}
    stored = variants.get(variant) if variant else None
    if stored:
        return f"/uploads/{stored}"
    if image.original:
        return f"/uploads/{image.original}"
    return image.external_url or ""


def hero_image(lot: Lot) -> LotImage | None:
    """The image flagged hero, otherwise the first one (business rules §2.9)."""
    images = lot.ordered_images
    return images[0] if images else None


def placeholder_url() -> str:
    return current_app.config["PLACEHOLDER_IMAGE_URL"]


# --------------------------------------------------------------------------------------------------------
# Serialisers


def _lease(lot: Lot) -> dict[str, Any]:
    lease = lot.lease
    values = {
        "monthly": getattr(lease, "monthly", None),
        "dueAtSigning": getattr(lease, "due_at_signing", None),
        "termMonths": getattr(lease, "term_months", None),
        "milesPerYear": getattr(lease, "miles_per_year", None),
    }
    block = {
        key: number(value) if value is not None else LEASE_DEFAULTS[key] for key, value in values.items()
    }
    incentives = getattr(lease, "incentives", None)
    if incentives is not None:
        block["incentives"] = number(incentives)
    return block


def _finance(lot: Lot) -> dict[str, Any]:
    finance = lot.finance
    values = {
        "apr": getattr(finance, "apr", None),
        "termMonths": getattr(finance, "term_months", None),
        "downPayment": getattr(finance, "down_payment", None),
    }
    return {
        key: number(value) if value is not None else FINANCE_DEFAULTS[key] for key, value in values.items()
    }


def list_item(lot: Lot) -> dict[str, Any]:
    """One offer card (consumer-api §2.2). The key order follows the contract's table."""
    msrp = _whole(lot.msrp)
    discount = _whole(lot.discount)
    hero = hero_image(lot)
    return {
        "id": lot.slug,
        "slug": lot.slug,
        "title": lot.title,
        "make": lot.make or "",
        "model": lot.model or "",
        "year": lot.year,
        "trim": lot.trim or "",
        "msrp": msrp,
        "discount": discount,
        "fleet": msrp - discount,
        "savings": discount,
        "dealer_addons": _whole(lot.dealer_addons),
        "fees_hint": _whole(lot.fees_hint),
        "stockLeft": 1,
        "image": image_url(hero, LIST_IMAGE_VARIANT) if hero else "",
        "dealer": DEALER_NAME,
        "endsAt": iso(lot.offer_ends_at),
        "isDrop": bool(lot.is_weekly_drop),
        "lease": _lease(lot),
        "finance": _finance(lot),
    }


def _competitor(price: CompetitorPrice | None, now: datetime) -> dict[str, Any] | None:
    # Shown only with a positive monthly, and not once the figure is more than 30 days old (business rules §2.4).
    if price is None or not price.monthly or Decimal(price.monthly) <= 0:
        return None
    if price.updated_at is not None:
        updated = price.updated_at if price.updated_at.tzinfo else price.updated_at.replace(tzinfo=UTC)
        if now - updated > COMPETITOR_MAX_AGE:
            return None
    return {
        "monthly": number(price.monthly),
        "dueAtSigning": number(price.due_at_signing) if price.due_at_signing is not None else 0,
        "term": price.term or 0,
        "updatedAt": iso(price.updated_at),
    }


def detail(lot: Lot, now: datetime | None = None) -> dict[str, Any]:
    """The car page object (consumer-api §2.3): every list key with the same values, plus the rest."""
    now = now or utcnow()
    item = list_item(lot)
    images = lot.ordered_images
    gallery = [image_url(image, GALLERY_IMAGE_VARIANT) for image in images] or [placeholder_url()]
    competitors: dict[str, Any] = {}
    prices = lot.competitor_prices
    for public_key, attribute in (("autobandit", "autobandit"), ("dealerAverage", "dealer_average")):
        shown = _competitor(getattr(prices, attribute, None) if prices else None, now)
        if shown is not None:
            competitors[public_key] = shown
    lease_incentives = getattr(lot.lease, "incentives", None) if lot.lease else None
    item.update(
        {
            "gallery": gallery,
            "specs": {
                "year": str(lot.year) if lot.year is not None else "",
                "make": lot.make or "",
                "model": lot.model or "",
                "trim": lot.trim or "",
                "engine": lot.engine or "",
                "transmission": lot.transmission or "",
                "drivetrain": lot.drivetrain or "",
                "exteriorColor": lot.exterior_color or "",
                "interiorColor": lot.interior_color or "",
                "vin": lot.vin or "",
            },
            "description": lot.description or "",
            "addonsAvg": item["fees_hint"],
            "competitor_prices": competitors,
            "state": lot.state or "CA",
            "cash": {"incentives": number(lease_incentives) or 0, "total": item["fleet"]},
        }
    )
    return item


def preview_detail(lot: Lot, token: str) -> dict[str, Any]:
    """The preview page object (consumer-api §4.2.3): the detail with preview markers."""
    item = detail(lot)
    slug = lot.slug or f"{lot_slug_base(lot.year or 0, lot.make or '', lot.model or '', lot.trim)}-preview"
    item.update(
        {
            "id": f"preview-{token}",
            "slug": slug,
            "dealer": PREVIEW_DEALER_NAME,
            "isPreview": True,
            "previewToken": token,
        }
    )
    return item


# --------------------------------------------------------------------------------------------------------
# Queries


def _public_order_key(lot: Lot) -> tuple[datetime, datetime]:
    oldest = datetime.min.replace(tzinfo=UTC)

    def aware(value: datetime | None) -> datetime:
        if value is None:
            return oldest
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    # A scheduled lot already due but not yet promoted has no published_at; its publish_at stands in.
    return aware(lot.published_at or lot.publish_at), aware(lot.created_at)


def public_lots(now: datetime | None = None) -> list[Lot]:
    """Every lot public at ``now``, newest publication first (consumer-api §4.2.1)."""
    lots = list(
        Lot.objects.public(now).exclude(
            "fomo", "seo", "lease_provenance", "tags", "title_search", "drop_window"
        )
    )
    lots.sort(key=_public_order_key, reverse=True)
    return lots


def public_list(now: datetime | None = None) -> list[dict[str, Any]]:
    """The ``GET /api/cars`` array, built from the database (no cache)."""
    return [list_item(lot) for lot in public_lots(now)]


def find_public_lot(slug_or_id: str, now: datetime | None = None) -> Lot | None:
    """A public lot by stored slug, then by 24-hex id, then by an imported old slug; None otherwise."""
    if not isinstance(slug_or_id, str) or not slug_or_id or len(slug_or_id) > 200:
        return None
    public = Lot.objects.public(now)
    lot = public.filter(slug=slug_or_id).first()
    if lot is None:
        oid = parse_object_id(slug_or_id)
        if oid is not None:
            lot = public.filter(pk=oid).first()
    if lot is None:
        redirect = LotSlugRedirect.objects(old_slug=slug_or_id).only("lot").as_pymongo().first()
        if redirect is not None and redirect.get("lot") is not None:
            lot = public.filter(pk=redirect["lot"]).first()
    return lot


def get_public_lot(slug_or_id: str, now: datetime | None = None) -> Lot:
    """Like :func:`find_public_lot`, raising ``NotFound("Car not found")`` (never another status)."""
    lot = find_public_lot(slug_or_id, now)
    if lot is None:
        raise NotFound("Car not found")
    return lot


# --------------------------------------------------------------------------------------------------------
# Cache


@dataclass(frozen=True)
class CachedBody:
    """A serialised JSON response body and its strong ETag."""

    body: bytes
    etag: str


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON of plain values."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


# Bodies are kept by content (their ETag), so a copy can never be outdated: each worker keeps the last few in
# memory and only asks Redis which body is current (a few bytes) instead of transferring it on every request.
_LOCAL_BODIES: OrderedDict[str, bytes] = OrderedDict()
_LOCAL_BODIES_MAX = 256
_local_lock = threading.Lock()


def _remember(etag: str, body: bytes) -> None:
    with _local_lock:
        _LOCAL_BODIES[etag] = body
        _LOCAL_BODIES.move_to_end(etag)
        while len(_LOCAL_BODIES) > _LOCAL_BODIES_MAX:
            _LOCAL_BODIES.popitem(last=False)


def _body_key(etag: str) -> str:
    return BODY_KEY + etag.strip('"')


def _read(key: str) -> tuple[bytes, CachedBody | None]:
    """``(current version, cached body)``: one round trip for the version and the entry's ETag, and a
    second one only when this process does not hold that body yet. The version is ``b""`` when Redis is
    unavailable (then nothing is cached)."""
    try:
        client = get_redis()
        version, entry = client.mget(VERSION_KEY, key)
        version = version or b"0"
        if not entry:
            return version, None
        stored_version, _, etag_bytes = entry.partition(b"\n")
        if stored_version != version:
            return version, None
        etag = etag_bytes.decode("ascii")
        body = _LOCAL_BODIES.get(etag)
        if body is None:
            body = client.get(_body_key(etag))
            if body is None:
                return version, None
            _remember(etag, body)
        return version, CachedBody(body=body, etag=etag)
    except redis.RedisError:
        log.warning("catalogue cache unavailable; serving from the database")
        return b"", None


def _write(key: str, version: bytes, cached: CachedBody, ttl: int) -> None:
    if not version:
        return
    ttl = max(1, ttl)
    _remember(cached.etag, cached.body)
    try:
        pipe = get_redis().pipeline(transaction=False)
        # The body outlives its entry a little, so a reader that saw the entry still finds the body.
        pipe.set(_body_key(cached.etag), cached.body, ex=ttl + CACHE_TTL_SECONDS)
        pipe.set(key, version + b"\n" + cached.etag.encode("ascii"), ex=ttl)
        pipe.execute()
    except redis.RedisError:
        log.warning("catalogue cache unavailable; could not store %s", key)


def _list_ttl(now: datetime) -> int:
    """Seconds the list stays valid: the bound, or less when a scheduled lot goes public sooner."""
    upcoming = (
        Lot.objects(status="scheduled", publish_at__gt=now).order_by("publish_at").only("publish_at").first()
    )
    ttl = CACHE_TTL_SECONDS
    if upcoming is not None and upcoming.publish_at is not None:
        due = upcoming.publish_at if upcoming.publish_at.tzinfo else upcoming.publish_at.replace(tzinfo=UTC)
        ttl = min(ttl, int((due - now).total_seconds()) + 1)
    return max(1, ttl)


def cached_list() -> CachedBody:
    """The ``GET /api/cars`` body, from the cache when it matches the current catalogue version.

    The version is read *before* the database, so a lot written while the list is being built leaves a
    stale entry that the next reader already recognises as outdated.
    """
    version, cached = _read(LIST_KEY)
    if cached is not None:
        return cached
    now = utcnow()
    body = encode(public_list(now))
    fresh = CachedBody(body=body, etag=make_etag(body))
    _write(LIST_KEY, version, fresh, _list_ttl(now))
    return fresh


def cached_detail(slug_or_id: str) -> CachedBody:
    """The ``GET /api/cars/{slug_or_id}`` body (cached per identifier); ``NotFound`` for a non-public lot."""
    if not isinstance(slug_or_id, str) or not slug_or_id or len(slug_or_id) > 200:
        raise NotFound("Car not found")
    key = DETAIL_KEY + hashlib.sha1(slug_or_id.encode("utf-8"), usedforsecurity=False).hexdigest()
    version, cached = _read(key)
    if cached is not None:
        return cached
    now = utcnow()
    lot = get_public_lot(slug_or_id, now)  # misses are not cached: a lot may appear at any moment
    body = encode(detail(lot, now))
    fresh = CachedBody(body=body, etag=make_etag(body))
    _write(key, version, fresh, CACHE_TTL_SECONDS)
    return fresh


def catalogue_version() -> int:
    """The current catalogue version (0 before the first write)."""
    raw = get_redis().get(VERSION_KEY)
    return int(raw) if raw else 0


def invalidate() -> None:
    """Mark every cached catalogue body as outdated. Call after lot writes that bypass document signals
    (``Lot.objects(...).update(...)``, ``modify``, raw pymongo); ``Lot.save()`` and ``delete()`` call it
    themselves through the signal handlers below. A Redis outage is logged, never raised: the bounded TTL
    limits the staleness."""
    if not has_app_context():
        return
    try:
        get_redis().incr(VERSION_KEY)
    except redis.RedisError:
        log.warning(
            "could not bump the catalogue version; cached bodies expire within %ss", CACHE_TTL_SECONDS
        )


def _lot_changed(sender: type, document: Lot, **kwargs: Any) -> None:
    invalidate()


signals.post_save.connect(_lot_changed, sender=Lot)
signals.post_delete.connect(_lot_changed, sender=Lot)
