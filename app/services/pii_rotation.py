"""Key rotation for sensitive data (``flask pii rotate``).

Put the new key first in ``PII_ENCRYPTION_KEYS`` (keeping the old ones after it), restart, then run the
command: every value or file not yet under the active key is decrypted with its own key and re-encrypted.
Once it reports zero everywhere, the old keys can be removed.
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from app.db import get_db
from app.models.user import SENSITIVE_FIELDS
from app.pii import get_cipher

# (collection, field, purpose bound into the ciphertext)
ENCRYPTED_FIELDS: tuple[tuple[str, str, str], ...] = (
    *(("users", f"{name}_encrypted", name) for name in SENSITIVE_FIELDS),
    ("users", "mfa_secret_encrypted", "mfa_secret"),
    *(("applications", f"{name}_encrypted", name) for name in SENSITIVE_FIELDS),
)
DOCUMENT_PURPOSE = "customer_document"


def rotate_all() -> dict[str, int]:
    cipher = get_cipher()
    db = get_db()
    counts: dict[str, int] = {}
    prefix = f"pii1:{cipher.active_key_id}:"
    for collection, field, purpose in ENCRYPTED_FIELDS:
        rotated = 0
        query = {field: {"$type": "string", "$not": {"$regex": f"^{prefix}"}}}
        for doc in db[collection].find(query, {field: 1}):
            new_value = cipher.rotate(doc[field], purpose)
            # The filter on the old value makes a concurrent edit win instead of being overwritten.
            result = db[collection].update_one(
                {"_id": doc["_id"], field: doc[field]}, {"$set": {field: new_value}}
            )
            rotated += result.modified_count
        counts[f"{collection}.{field}"] = rotated
    counts["customer documents"] = _rotate_documents(cipher)
    return counts


def _rotate_documents(cipher) -> int:  # noqa: ANN001 - PiiCipher
    root = Path(current_app.config["PRIVATE_UPLOAD_DIR"])
    rotated = 0
    for doc in get_db()["customer_documents"].find({}, {"storage_key": 1}):
        path = root / doc["storage_key"]
        if not path.is_file():
            continue
        blob = path.read_bytes()
        if cipher.file_key_id(blob) == cipher.active_key_id:
            continue
        fresh = cipher.encrypt_bytes(cipher.decrypt_bytes(blob, DOCUMENT_PURPOSE), DOCUMENT_PURPOSE)
        tmp = path.with_suffix(".rotating")
        tmp.write_bytes(fresh)
        tmp.replace(path)
        rotated += 1
    return rotated
