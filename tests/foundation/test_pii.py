"""Sensitive data: authenticated encryption at rest, key rotation, masks."""

from __future__ import annotations

import pytest

from app.config import new_pii_key_entry
from app.db import get_db
from app.pii import DecryptionError, PiiCipher, age_on, mask_date_of_birth, mask_licence, mask_ssn
from tests.factories import make_user


def cipher_with(*entries: str) -> PiiCipher:
    return PiiCipher.from_setting(",".join(entries))


def test_round_trip_and_ciphertext_hides_the_value():
    cipher = cipher_with(new_pii_key_entry("k1"))
    token = cipher.encrypt("123-45-6789", "ssn")
    assert "6789" not in token
    assert cipher.decrypt(token, "ssn") == "123-45-6789"
    assert cipher.encrypt("123-45-6789", "ssn") != token  # random nonce


def test_tampered_or_misplaced_ciphertext_does_not_decrypt():
    cipher = cipher_with(new_pii_key_entry("k1"))
    token = cipher.encrypt("123-45-6789", "ssn")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, "date_of_birth")  # copied into another field
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptionError):
        cipher.decrypt(flipped, "ssn")


def test_old_keys_still_decrypt_after_a_new_key_is_added():
    old_entry, new_entry = new_pii_key_entry("k1"), new_pii_key_entry("k2")
    token = cipher_with(old_entry).encrypt("D1234567", "drivers_license_number")
    rotated_ring = cipher_with(new_entry, old_entry)
    assert rotated_ring.decrypt(token, "drivers_license_number") == "D1234567"
    assert rotated_ring.needs_rotation(token)
    fresh = rotated_ring.rotate(token, "drivers_license_number")
    assert rotated_ring.key_id_of(fresh) == "k2"
    with pytest.raises(DecryptionError):
        cipher_with(new_entry).decrypt(token, "drivers_license_number")
    assert cipher_with(new_entry).decrypt(fresh, "drivers_license_number") == "D1234567"


def test_files_are_encrypted_and_authenticated():
    cipher = cipher_with(new_pii_key_entry("k1"))
    blob = cipher.encrypt_bytes(b"%PDF-1.7 pay stub", "customer_document")
    assert b"pay stub" not in blob
    assert cipher.decrypt_bytes(blob, "customer_document") == b"%PDF-1.7 pay stub"
    with pytest.raises(DecryptionError):
        cipher.decrypt_bytes(blob[:-1] + bytes([blob[-1] ^ 1]), "customer_document")


def test_masks():
    assert mask_ssn("123-45-6789") == "***-**-6789"
    assert mask_ssn("123456789") == "***-**-6789"
    assert mask_licence("D1234567") == "*****4567"
    assert mask_date_of_birth("1990-05-17") == "****-**-**"
    assert mask_ssn(None) == "" and mask_licence("") == ""
    from datetime import date

    assert age_on("1990-05-17", date(2026, 5, 16)) == 35
    assert age_on("1990-05-17", date(2026, 5, 17)) == 36


def test_user_values_are_stored_encrypted(app):
    user = make_user()
    user.set_sensitive("ssn", "123-45-6789")
    user.set_sensitive("date_of_birth", "1990-05-17")
    user.save()
    raw = get_db().users.find_one({"_id": user.pk})
    assert "ssn" not in raw and raw["ssn_encrypted"].startswith("pii1:")
    assert "6789" not in str(raw) and "1990" not in str(raw)
    assert user.decrypt_sensitive("ssn") == "123-45-6789"
    assert user.has_sensitive("date_of_birth") and not user.has_sensitive("drivers_license_number")


def test_pii_rotate_command_reencrypts_with_the_new_key(app):
    old_entry = app.config["PII_ENCRYPTION_KEYS"]
    user = make_user()
    user.set_sensitive("ssn", "123-45-6789")
    user.save()
    new_entry = new_pii_key_entry("next")
    original = app.extensions["pii_cipher"]
    app.extensions["pii_cipher"] = PiiCipher.from_setting(f"{new_entry},{old_entry}")
    try:
        result = app.test_cli_runner().invoke(args=["pii", "rotate"], catch_exceptions=False)
        assert "users.ssn_encrypted: 1 re-encrypted" in result.output
        stored = get_db().users.find_one({"_id": user.pk})["ssn_encrypted"]
        assert stored.startswith("pii1:next:")
        assert PiiCipher.from_setting(new_entry).decrypt(stored, "ssn") == "123-45-6789"
        again = app.test_cli_runner().invoke(args=["pii", "rotate"], catch_exceptions=False)
        assert "users.ssn_encrypted: 0 re-encrypted" in again.output
    finally:
        app.extensions["pii_cipher"] = original
