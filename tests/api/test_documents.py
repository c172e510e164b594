"""Document upload and download (consumer-api §4.6.7, business rules §5.10)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.models import AuditLog, CustomerDocument
from app.pii import get_cipher

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture
def application_id(alice, lot):
    return alice.post(f"/api/applications?lot_id={lot.slug}").get_json()["application_id"]


def upload(session, target, content=PDF, filename="paystub.pdf", doc_type="paystub", **extra):
    data = {"file": (io.BytesIO(content), filename), **extra}
    if doc_type is not None:
        data["doc_type"] = doc_type
    return session.post(
        f"/api/applications/{target}/upload-document", data=data, content_type="multipart/form-data"
    )


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
)
def test_accepted_types_are_detected_from_the_content(alice, application_id, content, content_type):
    response = upload(alice, application_id, content, filename="scan.bin")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["message"] == "Document uploaded"
    assert body["url"] == f"/api/applications/{application_id}/documents/{body['id']}"
    document = CustomerDocument.objects.get(pk=body["id"])
    assert document.content_type == content_type and document.size == len(content)


def test_files_are_encrypted_in_private_storage_under_a_generated_name(app, alice, application_id):
    body = upload(alice, application_id, filename="../../etc/passwd.pdf").get_json()
    document = CustomerDocument.objects.get(pk=body["id"])
    stored = Path(app.config["PRIVATE_UPLOAD_DIR"]) / document.storage_key
    assert stored.is_file() and "passwd" not in document.storage_key
    assert not str(stored).startswith(app.config["UPLOAD_DIR"] + "/")
    blob = stored.read_bytes()
    assert b"%PDF" not in blob
    assert get_cipher().decrypt_bytes(blob, "customer_document") == PDF
    assert AuditLog.objects(action="document_uploaded", resource_id=application_id).count() == 1


def test_the_owner_downloads_the_original_bytes(alice, application_id):
    url = upload(alice, application_id).get_json()["url"]
    response = alice.get(url)
    assert response.status_code == 200
    assert response.get_data() == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="paystub-')
    assert response.headers["Cache-Control"] == "no-store"
    assert AuditLog.objects(action="document_viewed").count() == 0  # owners are not audited


def test_finance_managers_download_and_are_audited_others_are_refused(
    alice, bob, finance, editor, application_id
):
    url = upload(alice, application_id).get_json()["url"]
    assert finance.get(url).get_data() == PDF
    entry = AuditLog.objects(action="document_viewed").get()
    assert entry.actor_id == str(finance.user.pk) and entry.resource_id == application_id
    for outsider in (bob, editor):
        response = outsider.get(url)
        assert response.status_code == 403 and response.get_json() == {"detail": "Not authorized"}
    assert alice.get(url.rsplit("/", 1)[0] + "/0123456789abcdef01234567").get_json() == {
        "detail": "Document not found"
    }


def test_an_unsupported_type_is_415(alice, application_id):
    response = upload(alice, application_id, b"MZ\x90\x00 this is an executable", filename="paystub.pdf")
    assert response.status_code == 415
    assert response.get_json() == {"detail": "Unsupported file type"}
    assert CustomerDocument.objects.count() == 0


def test_a_file_over_the_limit_is_413(app, alice, application_id, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_SIZE", 1024 * 1024)
    response = upload(alice, application_id, PDF + b"0" * (1024 * 1024))
    assert response.status_code == 413
    assert response.get_json() == {"detail": "File too large (max 1 MB)"}
    assert not list(Path(app.config["PRIVATE_UPLOAD_DIR"]).iterdir())


def test_a_request_over_the_content_length_limit_is_413(app, alice, application_id):
    response = upload(alice, application_id, PDF + b"0" * (12 * 1024 * 1024))
    assert response.status_code == 413
    assert response.get_json() == {"detail": "File too large (max 10 MB)"}


def test_doc_type_may_come_from_the_query_string(alice, application_id):
    response = alice.post(
        f"/api/applications/{application_id}/upload-document?doc_type=insurance",
        data={"file": (io.BytesIO(PDF), "i.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert CustomerDocument.objects.get().doc_type == "insurance"


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"doc_type": None}, "doc_type is required"),
        (
            {"doc_type": "passport"},
            "doc_type must be one of: drivers_license, paystub, proof_of_address, insurance, other",
        ),
        (
            {"application_id": "0123456789abcdef01234567"},
            "application_id must match the application in the URL",
        ),
    ],
)
def test_upload_validation(alice, application_id, kwargs, detail):
    response = upload(alice, application_id, **kwargs)
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}


def test_a_missing_file_is_422(alice, application_id):
    response = alice.post(
        f"/api/applications/{application_id}/upload-document",
        data={"doc_type": "other"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and response.get_json() == {"detail": "file is required"}


def test_only_the_owner_uploads(bob, finance, application_id):
    for outsider in (bob, finance):
        response = upload(outsider, application_id)
        assert response.status_code == 403 and response.get_json() == {"detail": "Not authorized"}
    assert upload(bob, "0123456789abcdef01234567").get_json() == {"detail": "Application not found"}


def test_pii_rotation_re_encrypts_documents(app, alice, application_id, monkeypatch):
    from app.config import new_pii_key_entry
    from app.pii import PiiCipher
    from app.services.pii_rotation import rotate_all

    url = upload(alice, application_id).get_json()["url"]
    rotated = PiiCipher.from_setting(new_pii_key_entry("next1") + "," + app.config["PII_ENCRYPTION_KEYS"])
    monkeypatch.setitem(app.extensions, "pii_cipher", rotated)
    assert rotate_all()["customer documents"] == 1
    assert alice.get(url).get_data() == PDF
