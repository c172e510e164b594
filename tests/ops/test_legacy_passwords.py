"""Customers keep their old passwords: imported bcrypt hashes verify, then are upgraded at sign-in."""

from __future__ import annotations

import json
import shutil

import bcrypt

from app.models import User
from app.services.legacy_import import import_legacy
from app.services.passwords import LEGACY_BCRYPT_PREFIX, verify_password
from tests.ops.conftest import FIXTURE_DUMP

OLD_PASSWORD = "Legacy-Demo-2025!"


def test_an_imported_customer_signs_in_with_the_old_password_and_gets_a_current_hash(app, client, tmp_path):
    dump = tmp_path / "dump"
    shutil.copytree(FIXTURE_DUMP, dump)
    users = json.loads((dump / "users.json").read_text())
    target = next(
        u for u in users if u.get("password_hash") and u.get("is_active", True) and u.get("role") == "user"
    )
    # What the old platform stored: plain bcrypt over the password.
    target["password_hash"] = bcrypt.hashpw(OLD_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (dump / "users.json").write_text(json.dumps(users))
    manifest_path = dump / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["collections"]["users"].pop("sha256", None)  # the edited file no longer matches its checksum
    manifest_path.write_text(json.dumps(manifest))

    import_legacy(dump)
    email = target["email"].strip().lower()
    stored = User.objects.get(email=email).password_hash
    assert stored.startswith(LEGACY_BCRYPT_PREFIX)

    wrong = client.post("/api/auth/login", json={"email": email, "password": "not-the-old-one"})
    assert wrong.status_code == 401
    response = client.post("/api/auth/login", json={"email": email, "password": OLD_PASSWORD})
    assert response.status_code == 200, response.get_json()

    upgraded = User.objects.get(email=email).password_hash
    assert not upgraded.startswith(LEGACY_BCRYPT_PREFIX)
    assert verify_password(OLD_PASSWORD, upgraded)


def test_placeholder_hashes_import_but_verify_against_nothing(app):
    import_legacy(FIXTURE_DUMP)
    migrated = User.objects(password_hash__startswith=LEGACY_BCRYPT_PREFIX)
    assert migrated.count() > 0
    assert not any(verify_password(OLD_PASSWORD, u.password_hash) for u in migrated)
