"""Customer documents: upload and download of encrypted files in private storage (business rules §5.10).

Files are typed from their first bytes (PDF, JPEG, PNG, WebP), never from the name or declared type, read
in chunks with the size limit enforced while reading, encrypted with the PII key ring (purpose
``customer_document``, which ``flask pii rotate`` also re-encrypts) and written under
``PRIVATE_UPLOAD_DIR`` with a server-generated name. No request value is ever joined to a path. The owner
and finance managers (and admins) may download; every staff download is audited (``document_viewed``).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import current_app

from app.errors import NotFound, PayloadTooLarge, PermissionDenied, UnsupportedMediaType, ValidationFailed
from app.models import Application, CustomerDocument, User
from app.models.base import parse_object_id
from app.models.customer import DOCUMENT_TYPES
from app.pii import get_cipher
from app.services import audit
from app.services.applications import REVIEWER_ROLES, get_application, get_owned, ref_id
from app.services.pii_rotation import DOCUMENT_PURPOSE

CHUNK_SIZE = 64 * 1024
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")


def sniff_content_type(head: bytes) -> str | None:
    """The accepted type a file's first bytes announce, or None."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def max_size() -> int:
    return int(current_app.config["MAX_UPLOAD_SIZE"])


def too_large_message() -> str:
    return f"File too large (max {max_size() // (1024 * 1024)} MB)"


def read_limited(stream: IO[bytes], limit: int) -> bytes:
    """Read a stream in chunks, refusing it as soon as it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(too_large_message())
        chunks.append(chunk)
    return b"".join(chunks)


def _storage_root() -> Path:
    return Path(current_app.config["PRIVATE_UPLOAD_DIR"])


def _write_private(data: bytes) -> str:
    storage_key = f"{secrets.token_hex(16)}.bin"
    root = _storage_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / storage_key
    tmp = root / f".{storage_key}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)
    return storage_key


def upload(
    application_id: Any, user: User, *, doc_type: str, stream: IO[bytes], filename: str | None = None
) -> CustomerDocument:
    """Store one document for the caller's own application."""
    application = get_owned(application_id, user)
    if doc_type not in DOCUMENT_TYPES:
        raise ValidationFailed(f"doc_type must be one of: {', '.join(DOCUMENT_TYPES)}", field="doc_type")
    data = read_limited(stream, max_size())
    content_type = sniff_content_type(data[:16])
    if content_type is None:
        raise UnsupportedMediaType("Unsupported file type")
    storage_key = _write_private(get_cipher().encrypt_bytes(data, DOCUMENT_PURPOSE))
    safe_name = _SAFE_NAME.sub("_", (filename or "").strip())[-200:] or None
    document = CustomerDocument(
        user=user,
        application=application,
        doc_type=doc_type,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=storage_key,
        original_filename=safe_name,
    )
    try:
        document.save(force_insert=True)
    except Exception:
        (_storage_root() / storage_key).unlink(missing_ok=True)
        raise
    audit.record(
        "document_uploaded",
        "application",
        application.pk,
        actor=audit.actor_for(user),
        details={
            "document_id": document.pk,
            "doc_type": doc_type,
            "content_type": content_type,
            "size": len(data),
        },
    )
    return document


@dataclass(frozen=True)
class DocumentFile:
    document: CustomerDocument
    content: bytes

    @property
    def download_name(self) -> str:
        return (
            f"{self.document.doc_type}-{self.document.pk}.{EXTENSIONS.get(self.document.content_type, 'bin')}"
        )


def download(application_id: Any, document_id: Any, user: User) -> DocumentFile:
    """The decrypted file for its owner or a finance manager (or admin); staff views are audited."""
    application: Application = get_application(application_id)
    is_owner = ref_id(application, "user") == user.pk
    if not is_owner and user.role not in REVIEWER_ROLES:
        raise PermissionDenied("Not authorized")
    oid = parse_object_id(document_id)
    document = CustomerDocument.objects(pk=oid, application=application.pk).first() if oid else None
    if document is None:
        raise NotFound("Document not found")
    path = _storage_root() / document.storage_key
    if not path.is_file():
        raise NotFound("Document not found")
    content = get_cipher().decrypt_bytes(path.read_bytes(), DOCUMENT_PURPOSE)
    if not is_owner:
        audit.record(
            "document_viewed",
            "application",
            application.pk,
            actor=audit.actor_for(user),
            details={"document_id": document.pk, "doc_type": document.doc_type},
        )
    return DocumentFile(document=document, content=content)
