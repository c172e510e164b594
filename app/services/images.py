"""Lot images (business rules §2.9): upload, verification, variants, hero, order, alt text, deletion.

An upload is trusted only after Pillow has verified it: the type comes from the bytes (JPEG, PNG or WebP),
never from the file name or the browser's content type; the size is capped at ``MAX_UPLOAD_SIZE``;
Pillow's decompression-bomb limit stays on (its warning is treated as a refusal). The EXIF orientation is
applied and every piece of metadata (GPS position, camera serial) is dropped by re-encoding the pixels; the
clean original is stored under a server-generated name, and the worker makes the variants
(:func:`process_variants`, JPEG quality 85, fitted inside the §2.9 boxes, never upscaled).
"""

from __future__ import annotations

import io
import logging
import uuid
import warnings
from pathlib import Path
from typing import Any

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import NotFound, PayloadTooLarge, PermissionDenied, UnsupportedMediaType, ValidationFailed
from app.models import Lot
from app.models.base import parse_object_id
from app.models.lot import IMAGE_VARIANTS, LotImage
from app.services import audit

log = logging.getLogger(__name__)

PROCESS_JOB = "workers.jobs.images.process_lot_image"
EDIT_ROLES = ("editor", "admin")
ACCEPTED_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
VARIANT_QUALITY = 85
MAX_IMAGES_PER_LOT = 40
ORIGINAL_DIR = "images/original"
PROCESSED_DIR = "images/processed"


def _changed() -> None:
    from app.services.lots import catalogue_changed

    catalogue_changed()


def _root() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def _require_editor(actor: audit.Actor) -> None:
    if actor.role not in EDIT_ROLES:
        raise PermissionDenied("Your role may not change lot images")


def _load_lot(lot_id: Any) -> Lot:
    oid = parse_object_id(str(lot_id))
    lot = Lot.objects(pk=oid).first() if oid else None
    if lot is None:
        raise NotFound("Lot not found")
    return lot


def _open_verified(content: bytes) -> Image.Image:
    """Open ``content`` as an image after a full Pillow verification; refuse anything else."""
    with warnings.catch_warnings():
        # Between 1× and 2× the pixel limit Pillow only warns; we refuse those too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(content)) as probe:
                fmt = probe.format
                probe.verify()
            if fmt not in ACCEPTED_FORMATS:
                raise UnsupportedMediaType("Images must be JPEG, PNG or WebP")
            image = Image.open(io.BytesIO(content))
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValidationFailed("The image has too many pixels", field="images") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise UnsupportedMediaType("The file is not a readable JPEG, PNG or WebP image") from None
    image.format = fmt  # load() keeps it, but be explicit: the stored extension depends on it
    return image


def _clean_original(image: Image.Image) -> tuple[bytes, str, int, int]:
    """Apply the EXIF orientation and re-encode without any metadata: ``(bytes, extension, w, h)``."""
    fmt = image.format or "JPEG"
    oriented = ImageOps.exif_transpose(image)
    # A fresh image with only the pixels: no EXIF, XMP, ICC comments or text chunks survive.
    pixels = Image.new(oriented.mode, oriented.size)
    pixels.paste(oriented)
    buffer = io.BytesIO()
    if fmt == "JPEG":
        if pixels.mode not in ("RGB", "L"):
            pixels = pixels.convert("RGB")
        pixels.save(buffer, "JPEG", quality=95)
    elif fmt == "PNG":
        pixels.save(buffer, "PNG", optimize=True)
    else:
        pixels.save(buffer, "WEBP", quality=95)
    return buffer.getvalue(), ACCEPTED_FORMATS[fmt], pixels.width, pixels.height


def upload_image(
    lot_id: Any, content: bytes, *, actor: audit.Actor, alt: str | None = None, enqueue_job: bool = True
) -> LotImage:
    """Verify, clean and store one image for a lot, and enqueue its variants. Returns the new image."""
    _require_editor(actor)
    lot = _load_lot(lot_id)
    limit = int(current_app.config["MAX_UPLOAD_SIZE"])
    if len(content) > limit:
        raise PayloadTooLarge(f"Each image must be at most {limit // (1024 * 1024)} MB")
    if not content:
        raise ValidationFailed("The file is empty", field="images")
    if len(lot.images or []) >= MAX_IMAGES_PER_LOT:
        raise ValidationFailed(f"A lot has at most {MAX_IMAGES_PER_LOT} images", field="images")
    image = _open_verified(content)
    data, extension, width, height = _clean_original(image)
    image_id = uuid.uuid4().hex
    relative = f"{ORIGINAL_DIR}/{image_id}{extension}"
    target = _root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    position = max((img.position for img in lot.images or []), default=-1) + 1
    record = LotImage(
        image_id=image_id,
        original=relative,
        alt=(alt or "").strip()[:200] or lot.short_title,  # §2.9: "{year} {make} {model}" by default
        width=width,
        height=height,
        is_hero=not lot.images,
        position=position,
        processing_status="pending",
    )
    Lot.objects(pk=lot.pk).update_one(push__images=record)
    _changed()
    audit.record(
        "update", "lot", lot.pk, actor=actor, changes={"images": {"old": None, "new": f"added {image_id}"}}
    )
    if enqueue_job:
        _enqueue(lot.pk, image_id)
    return record


def _enqueue(lot_id: Any, image_id: str) -> None:
    from app.tasks import enqueue

    try:
        enqueue(PROCESS_JOB, str(lot_id), image_id, job_id=f"lot-image-{image_id}")
    except Exception:  # noqa: BLE001 - the original is stored and shown until variants exist
        log.exception("could not enqueue image processing for %s", image_id)


def _fit(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """Resize to fit inside ``box`` keeping the aspect ratio; small images are never enlarged."""
    copy = image.copy()
    copy.thumbnail(box, Image.Resampling.LANCZOS)  # thumbnail() only ever shrinks
    return copy


def process_variants(lot_id: Any, image_id: str) -> None:
    """Make the thumbnail, medium, large and hero JPEGs of one image and record them on the lot.

    Idempotent: the file names depend only on the image id, so a retry overwrites the same files; an image
    deleted in the meantime is a no-op.
    """
    oid = parse_object_id(str(lot_id))
    lot = Lot.objects(pk=oid).only("images").first() if oid else None
    record = next((img for img in (lot.images if lot else []) if img.image_id == image_id), None)
    if record is None:
        log.info("image %s of lot %s no longer exists; nothing to do", image_id, lot_id)
        return
    source = _root() / record.original
    try:
        with Image.open(source) as opened:
            opened.load()
            base = opened.convert("RGB")
    except (OSError, UnidentifiedImageError):
        Lot.objects(pk=oid, images__image_id=image_id).update_one(set__images__S__processing_status="failed")
        raise
    variants: dict[str, str] = {}
    out_dir = _root() / PROCESSED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, box in IMAGE_VARIANTS.items():
        relative = f"{PROCESSED_DIR}/{image_id}_{name}.jpg"
        variant = _fit(base, box)
        tmp = _root() / (relative + ".tmp")
        variant.save(tmp, "JPEG", quality=VARIANT_QUALITY, optimize=True)
        tmp.replace(_root() / relative)  # atomic: a reader never sees half a file
        variants[name] = relative
    Lot.objects(pk=oid, images__image_id=image_id).update_one(
        set__images__S__variants=variants,
        set__images__S__processing_status="ready",
        set__images__S__width=base.width,
        set__images__S__height=base.height,
    )
    _changed()


def _files_of(record: LotImage) -> list[Path]:
    root = _root()
    paths = [root / record.original]
    paths += [root / rel for rel in (record.variants or {}).values()]
    # Variants written after the record was read still follow the naming scheme.
    paths += [root / f"{PROCESSED_DIR}/{record.image_id}_{name}.jpg" for name in IMAGE_VARIANTS]
    return paths


def delete_image(lot_id: Any, image_id: str, *, actor: audit.Actor) -> None:
    """Remove an image and its files (§2.9). The hero moves to the first remaining image."""
    _require_editor(actor)
    lot = _load_lot(lot_id)
    record = next((img for img in lot.images or [] if img.image_id == image_id), None)
    if record is None:
        raise NotFound("Image not found")
    if lot.status in ("published",) and len(lot.images) == 1:
        raise ValidationFailed("A published lot needs at least one image; add another first", field="images")
    Lot.objects(pk=lot.pk).update_one(pull__images__image_id=image_id)
    _changed()
    for path in _files_of(record):
        path.unlink(missing_ok=True)
    lot.reload()
    if record.is_hero and lot.images and not any(img.is_hero for img in lot.images):
        set_hero(lot.pk, lot.ordered_images[0].image_id, actor=actor, record_audit=False)
    audit.record(
        "update", "lot", lot.pk, actor=actor, changes={"images": {"old": f"had {image_id}", "new": "removed"}}
    )


def set_hero(lot_id: Any, image_id: str, *, actor: audit.Actor, record_audit: bool = True) -> None:
    """Flag one image as the hero (the public ``image``); the others lose the flag."""
    _require_editor(actor)
    lot = _load_lot(lot_id)
    if not any(img.image_id == image_id for img in lot.images or []):
        raise NotFound("Image not found")
    # One positional update per image, never a rewrite of the whole list: the worker may be recording the
    # variants of one of these images at the same moment.
    for img in lot.images:
        Lot.objects(pk=lot.pk, images__image_id=img.image_id).update_one(
            set__images__S__is_hero=img.image_id == image_id
        )
    _changed()
    if record_audit:
        audit.record(
            "update", "lot", lot.pk, actor=actor, changes={"hero_image": {"old": None, "new": image_id}}
        )


def update_images(lot_id: Any, order: list[str], alts: dict[str, str], *, actor: audit.Actor) -> None:
    """Set the display order (image ids, first shown first) and alt texts in one change."""
    _require_editor(actor)
    lot = _load_lot(lot_id)
    by_id = {img.image_id: img for img in lot.images or []}
    ranked = [i for i in order if i in by_id] + [i for i in by_id if i not in order]
    changes: dict[str, Any] = {}
    for position, image_id in enumerate(ranked):
        img = by_id[image_id]
        updates: dict[str, Any] = {}
        if img.position != position:
            changes[f"position:{image_id}"] = {"old": img.position, "new": position}
            updates["set__images__S__position"] = position
        if image_id in alts:
            alt = (alts[image_id] or "").strip()[:200] or lot.short_title
            if alt != img.alt:
                changes[f"alt:{image_id}"] = {"old": img.alt, "new": alt}
                updates["set__images__S__alt"] = alt
        if updates:
            Lot.objects(pk=lot.pk, images__image_id=image_id).update_one(**updates)
    if changes:
        _changed()
        audit.record("update", "lot", lot.pk, actor=actor, changes=changes)


def image_url(record: LotImage, variant: str | None = None) -> str:
    """The public URL of a variant when it exists, otherwise of the original (under ``/uploads/``)."""
    if variant and record.variants and record.variants.get(variant):
        return f"/uploads/{record.variants[variant]}"
    if record.external_url and not record.original:
        return record.external_url
    return f"/uploads/{record.original}"
