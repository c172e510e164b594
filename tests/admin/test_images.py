"""Lot images (business rules §2.9): type from the bytes, Pillow verification, size and pixel limits, EXIF
orientation applied and metadata stripped, variants made by the worker (JPEG 85, boxes, no upscaling),
idempotent processing, hero, order, alt text and deletion of files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from rq import Queue

from app.db import get_redis
from app.errors import PayloadTooLarge, PermissionDenied, UnsupportedMediaType, ValidationFailed
from app.models import AuditLog, Lot
from app.services import audit, images
from tests.admin.conftest import image_bytes, signed_in, token
from tests.factories import make_lot
from workers.worker import CargwinWorker

EDITOR = audit.Actor(id="000000000000000000000001", email="ed@example.com", role="editor")


@pytest.fixture
def lot(app):
    return make_lot(status="draft", images=[])


def stored(app, relative: str) -> Path:
    return Path(app.config["UPLOAD_DIR"]) / relative


def exif_jpeg() -> bytes:
    """A 400×200 landscape picture whose EXIF says "rotate 90° clockwise", with a GPS position."""
    image = Image.new("RGB", (400, 200), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    exif[0x8825] = {1: "N", 2: (33.0, 41.0, 0.0)}  # GPS IFD
    exif[0x010F] = "CameraMaker"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_upload_applies_orientation_strips_metadata_and_queues_variants(app, lot):
    record = images.upload_image(lot.pk, exif_jpeg(), actor=EDITOR)
    original = stored(app, record.original)
    assert (
        original.is_file()
        and record.original.startswith("images/original/")
        and record.original.endswith(".jpg")
    )
    with Image.open(original) as saved:
        assert saved.size == (200, 400)  # rotated as the camera meant
        assert not saved.getexif()  # no orientation, camera or GPS tags left
        assert "exif" not in saved.info
    assert record.alt == "2025 Toyota Camry" and record.is_hero and record.processing_status == "pending"
    jobs = Queue("images", connection=get_redis()).jobs
    assert [(j.func_name, j.args) for j in jobs] == [
        ("workers.jobs.images.process_lot_image", (str(lot.pk), record.image_id))
    ]
    assert AuditLog.objects(action="update", resource_id=str(lot.pk)).count() == 1


def test_the_type_comes_from_the_content(app, lot):
    with pytest.raises(UnsupportedMediaType):
        images.upload_image(lot.pk, b"GIF89a" + b"\x00" * 100, actor=EDITOR)
    with pytest.raises(UnsupportedMediaType):
        images.upload_image(lot.pk, image_bytes("GIF", (10, 10)), actor=EDITOR)  # a real image, but GIF
    with pytest.raises(UnsupportedMediaType):
        images.upload_image(lot.pk, image_bytes()[:300], actor=EDITOR)  # truncated JPEG fails verification
    record = images.upload_image(lot.pk, image_bytes("WEBP", (50, 40)), actor=EDITOR)
    assert record.original.endswith(".webp")
    assert len(lot.reload().images) == 1


def test_size_and_pixel_limits(app, lot, monkeypatch):
    app.config["MAX_UPLOAD_SIZE"], previous = 1000, app.config["MAX_UPLOAD_SIZE"]
    try:
        with pytest.raises(PayloadTooLarge):
            images.upload_image(lot.pk, image_bytes(), actor=EDITOR)
    finally:
        app.config["MAX_UPLOAD_SIZE"] = previous
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(ValidationFailed, match="too many pixels"):
        images.upload_image(lot.pk, image_bytes("PNG", (150, 100)), actor=EDITOR)  # 1.5× the limit: a warning
    with pytest.raises(ValidationFailed, match="too many pixels"):
        images.upload_image(lot.pk, image_bytes("PNG", (300, 100)), actor=EDITOR)  # 3×: Pillow's error
    with pytest.raises(PermissionDenied):
        images.upload_image(lot.pk, image_bytes(), actor=audit.Actor(id="x", role="finance_manager"))


def test_the_worker_makes_variants_in_the_boxes_without_upscaling(app, lot):
    big = images.upload_image(lot.pk, image_bytes(size=(4000, 3000)), actor=EDITOR)
    small = images.upload_image(lot.pk, image_bytes(size=(640, 480)), actor=EDITOR)
    worker = CargwinWorker([Queue("images", connection=get_redis())], connection=get_redis())
    assert worker.work(burst=True) is True
    lot.reload()
    by_id = {img.image_id: img for img in lot.images}
    expected_big = {"thumbnail": (267, 200), "medium": (800, 600), "large": (1200, 900), "hero": (1440, 1080)}
    for name, size in expected_big.items():
        path = stored(app, by_id[big.image_id].variants[name])
        with Image.open(path) as variant:
            assert variant.format == "JPEG" and variant.size == size, name
    for name in ("medium", "large", "hero"):
        with Image.open(stored(app, by_id[small.image_id].variants[name])) as variant:
            assert variant.size == (640, 480)  # never enlarged
    assert by_id[big.image_id].processing_status == "ready" and by_id[big.image_id].width == 4000

    # Running again changes nothing but the files' content, which is identical.
    before = stored(app, by_id[big.image_id].variants["thumbnail"]).read_bytes()
    images.process_variants(lot.pk, big.image_id)
    assert stored(app, by_id[big.image_id].variants["thumbnail"]).read_bytes() == before
    images.process_variants(lot.pk, "gone")  # a deleted image is a no-op


def test_hero_order_alt_and_delete(app, lot):
    first = images.upload_image(lot.pk, image_bytes(), actor=EDITOR)
    second = images.upload_image(lot.pk, image_bytes(color="green"), actor=EDITOR)
    images.process_variants(lot.pk, first.image_id)
    images.set_hero(lot.pk, second.image_id, actor=EDITOR)
    images.update_images(
        lot.pk, [second.image_id, first.image_id], {first.image_id: "Rear view"}, actor=EDITOR
    )
    lot.reload()
    assert [img.image_id for img in lot.ordered_images] == [second.image_id, first.image_id]
    assert lot.ordered_images[1].alt == "Rear view"
    assert lot.ordered_images[1].variants  # the positional updates kept the worker's variants
    files = [stored(app, first.original)] + [
        stored(app, rel) for rel in lot.ordered_images[1].variants.values()
    ]
    images.delete_image(lot.pk, first.image_id, actor=EDITOR)
    assert all(not path.exists() for path in files)
    images.delete_image(lot.pk, second.image_id, actor=EDITOR)
    assert Lot.objects.get(pk=lot.pk).images == []


def test_a_published_lot_keeps_at_least_one_image(app):
    lot = make_lot(images=[])
    record = images.upload_image(lot.pk, image_bytes(), actor=EDITOR)
    with pytest.raises(ValidationFailed):
        images.delete_image(lot.pk, record.image_id, actor=EDITOR)


def test_the_edit_page_uploads_several_images_and_reports_bad_ones(client, app):
    signed_in(client, "editor")
    lot = make_lot(status="draft", images=[])
    response = client.post(
        f"/admin/lot/images/upload/?id={lot.pk}",
        data={
            "csrf_token": token(client),
            "new_images": [
                (io.BytesIO(image_bytes()), "a.jpg"),
                (io.BytesIO(image_bytes("PNG", (30, 30))), "b.jpg"),  # a PNG named .jpg: the bytes decide
                (io.BytesIO(b"%PDF-1.4 not an image"), "c.jpg"),
            ],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    lot.reload()
    assert sorted(img.original.rsplit(".", 1)[1] for img in lot.images) == ["jpg", "png"]
    page = client.get(f"/admin/lot/edit/?id={lot.pk}").get_data(as_text=True)
    assert "c.jpg: The file is not a readable JPEG, PNG or WebP image" in page
