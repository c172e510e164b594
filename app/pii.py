"""Field-level encryption and masking of sensitive personal data (SSN, licence number, date of birth).

AES-256-GCM (authenticated) with a key ring from ``PII_ENCRYPTION_KEYS``: the first key encrypts, every key
decrypts, so a new key can be introduced first and old ciphertexts re-encrypted later (``flask pii rotate``).
The field name is bound as associated data, so a ciphertext copied into another field does not decrypt.

Stored form of a string value: ``pii1:<key id>:<base64url(nonce || ciphertext+tag)>``.
Stored form of a file: ``CGWENC1`` || key-id length || key id || nonce || ciphertext+tag.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import date

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from app.config import parse_pii_keys

TOKEN_PREFIX = "pii1"
FILE_MAGIC = b"CGWENC1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext is malformed, was made with an unknown key, or was tampered with."""


class PiiCipher:
    """Encrypts and decrypts sensitive values with a rotating key ring."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one PII key is required")
        self._active_id, active_key = keys[0]
        self._active = AESGCM(active_key)
        self._by_id = {key_id: AESGCM(key) for key_id, key in keys}

    @classmethod
    def from_setting(cls, raw: str) -> PiiCipher:
        return cls(parse_pii_keys(raw))

    @property
    def active_key_id(self) -> str:
        return self._active_id

    def encrypt(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._active.encrypt(nonce, plaintext.encode("utf-8"), purpose.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{TOKEN_PREFIX}:{self._active_id}:{body}"

    def decrypt(self, token: str, purpose: str) -> str:
        try:
            prefix, key_id, body = token.split(":", 2)
        except (ValueError, AttributeError):
            raise DecryptionError("not an encrypted value") from None
        if prefix != TOKEN_PREFIX or key_id not in self._by_id:
            raise DecryptionError("unknown key or format")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = self._by_id[key_id].decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode())
        except (InvalidTag, ValueError):
            raise DecryptionError("ciphertext does not authenticate") from None
        return plain.decode("utf-8")

    def key_id_of(self, token: str) -> str | None:
        parts = token.split(":", 2) if isinstance(token, str) else []
        return parts[1] if len(parts) == 3 and parts[0] == TOKEN_PREFIX else None

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self._active_id

    def rotate(self, token: str, purpose: str) -> str:
        """Re-encrypt with the active key (a no-op result when it already uses it)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, purpose), purpose)

    def encrypt_bytes(self, data: bytes, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._active_id.encode()
        sealed = self._active.encrypt(nonce, data, purpose.encode())
        return FILE_MAGIC + bytes([len(key_id)]) + key_id + nonce + sealed

    def decrypt_bytes(self, blob: bytes, purpose: str) -> bytes:
        if not blob.startswith(FILE_MAGIC):
            raise DecryptionError("not an encrypted file")
        pos = len(FILE_MAGIC)
        key_len = blob[pos]
        key_id = blob[pos + 1 : pos + 1 + key_len].decode()
        pos += 1 + key_len
        if key_id not in self._by_id:
            raise DecryptionError("unknown key")
        try:
            return self._by_id[key_id].decrypt(
                blob[pos : pos + NONCE_BYTES], blob[pos + NONCE_BYTES :], purpose.encode()
            )
        except InvalidTag:
            raise DecryptionError("file does not authenticate") from None

    def file_key_id(self, blob: bytes) -> str | None:
        if not blob.startswith(FILE_MAGIC):
            return None
        pos = len(FILE_MAGIC)
        return blob[pos + 1 : pos + 1 + blob[pos]].decode()


def get_cipher() -> PiiCipher:
    """The cipher configured for the current application."""
    return current_app.extensions["pii_cipher"]


_NON_DIGITS = re.compile(r"\D")


def mask_ssn(ssn: str | None) -> str:
    """``***-**-6789``; an empty string when nothing is stored."""
    if not ssn:
        return ""
    digits = _NON_DIGITS.sub("", ssn)
    return f"***-**-{digits[-4:]}"


def mask_licence(number: str | None) -> str:
    """``*****1234`` (last four characters kept)."""
    if not number:
        return ""
    return "*****" + number[-4:]


def mask_date_of_birth(value: str | None) -> str:
    """The date itself is hidden entirely; callers show the age next to it."""
    return "****-**-**" if value else ""


def age_on(date_of_birth: str, today: date) -> int:
    """Whole years between an ISO date of birth and ``today``."""
    born = date.fromisoformat(date_of_birth)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
