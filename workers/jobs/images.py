"""Image jobs: the variants of an uploaded lot image (business rules §2.9)."""

from __future__ import annotations

from workers.context import with_app_context


@with_app_context
def process_lot_image(lot_id: str, image_id: str) -> None:
    """Produce the thumbnail/medium/large/hero variants of one image. Idempotent (safe to retry)."""
    from app.services.images import process_variants

    process_variants(lot_id, image_id)
