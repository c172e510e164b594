"""Preview links (business rules §2.10, consumer-api §4.2.3).

Editors create a link in the back office for a saved lot (the preview always shows the lot's current data)
or for unsaved form data (a snapshot taken now). The raw token is returned once and never stored: MongoDB
keeps its SHA-256, with a TTL index on ``expires_at``, so links survive restarts and work on every worker.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from mongoengine import ValidationError

from app.errors import NotFound, ValidationFailed
from app.models import Lot, PreviewToken
from app.models.base import as_utc, parse_object_id, utcnow
from app.services import audit

PREVIEW_LIFETIME = timedelta(hours=2)
NOT_FOUND = "Preview not found or expired"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_preview(
    *,
    lot_id: Any = None,
    snapshot: dict[str, Any] | None = None,
    actor: audit.Actor,
    now: datetime | None = None,
) -> str:
    """Create a 2-hour preview link and return its raw token (256 random bits, URL-safe).

    Exactly one of ``lot_id`` (a saved lot: the preview shows its current data) and ``snapshot`` (unsaved
    form data) is given. A snapshot is a mapping of ``Lot`` field names to values, for example
    ``Lot(**form_values).to_mongo().to_dict()``; unknown keys are dropped. Audited as ``preview_created``.
    """
    if (lot_id is None) == (snapshot is None):
        raise ValidationFailed("Give either a saved lot or unsaved lot data to preview")
    lot = None
    if lot_id is not None:
        oid = parse_object_id(str(lot_id))
        lot = Lot.objects(pk=oid, status__ne="deleted").first() if oid else None
        if lot is None:
            raise NotFound("Lot not found")
    clean_snapshot = _clean_snapshot(snapshot) if snapshot is not None else {}
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    PreviewToken(
        token_hash=token_hash(token),
        lot=lot,
        snapshot=clean_snapshot,
        created_by=parse_object_id(actor.id),
        expires_at=now + PREVIEW_LIFETIME,
    ).save(force_insert=True)
    audit.record(
        "preview_created",
        "lot",
        lot.pk if lot else None,
        actor=actor,
        details={"kind": "saved" if lot else "snapshot", "expires_at": now + PREVIEW_LIFETIME},
    )
    return token


def _clean_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    fields = set(Lot._fields) - {"id"}
    clean = {key: value for key, value in dict(snapshot).items() if key in fields}
    try:
        Lot._from_son(clean)
    except (ValidationError, TypeError, ValueError, KeyError) as exc:
        raise ValidationFailed("The lot data cannot be previewed") from exc
    return clean


def resolve_preview(token: str, now: datetime | None = None) -> tuple[Lot | None, dict[str, Any] | None]:
    """``(lot, None)`` for a saved lot's link, ``(None, snapshot)`` for unsaved data.

    Raises ``NotFound("Preview not found or expired")`` for an unknown or expired token (the TTL index
    removes expired rows only eventually, so expiry is checked here too) and for a lot deleted since.
    """
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        raise NotFound(NOT_FOUND)
    now = now or utcnow()
    row = PreviewToken.objects(token_hash=token_hash(token)).as_pymongo().first()
    if row is None or as_utc(row["expires_at"]) <= now:
        raise NotFound(NOT_FOUND)
    if row.get("lot") is not None:
        lot = Lot.objects(pk=row["lot"], status__ne="deleted").first()
        if lot is None:
            raise NotFound(NOT_FOUND)
        return lot, None
    return None, dict(row.get("snapshot") or {})


def snapshot_lot_document(snapshot: dict[str, Any]) -> Lot:
    """An unsaved ``Lot`` built from a stored snapshot, for the detail serialiser."""
    return Lot._from_son(snapshot)
