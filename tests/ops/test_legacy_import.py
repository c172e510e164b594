"""Import of the old platform's dump (issue 6 §3), on the synthetic dump in ``tests/fixtures/legacy_dump``.

The dump is read with ``bson.json_util`` here as well, so each check compares our documents with the legacy
row they came from rather than with numbers copied into the test.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bson
import pytest
from bson import Decimal128, ObjectId, json_util

from app.db import get_db
from app.models import (
    Application,
    Appointment,
    AuditLog,
    Lot,
    LotSlugRedirect,
    PickupBooking,
    Reservation,
    Subscription,
    User,
)
from app.models.customer import APPOINTMENT_TIMES
from app.services.legacy_import import LegacyDumpError, import_legacy
from app.services.legacy_import.values import derived_object_id
from tests.factories import make_user
from tests.ops.conftest import FIXTURE_DUMP, raw_snapshot

DUMP_AT = datetime(2025, 11, 14, 3, 0, tzinfo=UTC)

# Rows the importer skips on purpose, by collection (see docs/deploy.md, "Cut-over").
DOCUMENTED_SKIPS = {
    "users": 2,  # "not-an-email"; "Maria.Lopez@Example.com" merged into maria.lopez@example.com
    "lots": 0,
    "applications": 0,
    "reservations": 0,
    "subscriptions": 2,  # no makes and no models
    "appointments": 3,  # "12:00" is not a bookable time
    "audit_logs": 0,
    "user_sessions": 3,  # not migrated
    "status_checks": 3,  # not migrated
}
TARGETS = {
    "users": User,
    "lots": Lot,
    "applications": Application,
    "reservations": Reservation,
    "subscriptions": Subscription,
    "appointments": Appointment,
    "audit_logs": AuditLog,
}


AWARE = json_util.JSONOptions(tz_aware=True, tzinfo=UTC)


def legacy(name: str) -> list[dict[str, Any]]:
    """The legacy rows, dates as aware UTC (the old platform stored UTC without saying so)."""
    return json_util.loads((FIXTURE_DUMP / f"{name}.json").read_text(), json_options=AWARE)


def manifest_counts() -> dict[str, int]:
    manifest = json.loads((FIXTURE_DUMP / "manifest.json").read_text())
    return {name: info["count"] for name, info in manifest["collections"].items()}


def run(directory: Path = FIXTURE_DUMP, **kwargs: Any):
    return import_legacy(directory, now=DUMP_AT, **kwargs)


def test_counts_match_the_manifest_minus_the_documented_skips(app):
    report = run()

    expected = {name: count - DOCUMENTED_SKIPS[name] for name, count in manifest_counts().items()}
    for name, count in manifest_counts().items():
        stats = report.collections[name]
        assert (stats.expected, stats.read, stats.skipped) == (count, count, DOCUMENTED_SKIPS[name]), name
        assert stats.imported == expected[name], name
    for name, document in TARGETS.items():
        query = (
            document.objects(details__source="legacy_import") if document is AuditLog else document.objects
        )
        assert query.count() == expected[name], name
    assert len(report.skipped) == sum(DOCUMENTED_SKIPS.values())
    reasons = {(s.collection, s.reason) for s in report.skipped}
    assert ("users", "e-mail 'not-an-email' is not a valid address") in reasons
    assert any("merged into" in reason for _c, reason in reasons)
    # One audit entry of our own says who imported what.
    assert AuditLog.objects(action="legacy_import").count() == 1


def test_lot_fields_are_folded_and_typed(app):
    run()
    lots = legacy("lots")

    both_colours = next(
        raw
        for raw in lots
        if raw.get("exteriorColor")
        and raw.get("exterior_color")
        and raw["exteriorColor"] != raw["exterior_color"]
    )
    lot = Lot.objects.get(pk=both_colours["_id"])
    assert lot.exterior_color == both_colours["exteriorColor"]  # the later UI edit wins (L1)

    wiped = next(raw for raw in lots if raw.get("exteriorColor") == "" and not raw.get("exterior_color"))
    assert Lot.objects.get(pk=wiped["_id"]).exterior_color is None  # the edit form's "" means unknown

    stale = next(raw for raw in lots if "feesHint" in raw and raw["feesHint"] != raw["fees_hint"])
    # fees_hint is authoritative; feesHint is a stale create-time copy.
    assert Lot.objects.get(pk=stale["_id"]).fees_hint == Decimal(stale["fees_hint"])

    text_year = next(raw for raw in lots if isinstance(raw["year"], str))
    assert Lot.objects.get(pk=text_year["_id"]).year == int(text_year["year"])

    nan_row = next(raw for raw in lots if raw.get("vin") == "nan" and raw.get("description") == "nan")
    lot = Lot.objects.get(pk=nan_row["_id"])
    assert lot.vin is None and lot.description == ""
    assert "nan" not in lot.tags and all(tag == tag.strip().lower() for tag in lot.tags)

    negative = next(raw for raw in lots if raw["discount"] < 0)
    assert Lot.objects.get(pk=negative["_id"]).discount == Decimal(0)

    odd = next(raw for raw in lots if raw.get("trim") == "XLE  Premium")
    assert Lot.objects.get(pk=odd["_id"]).trim == "XLE Premium"

    transmissions = {
        raw["transmission"]: Lot.objects.get(pk=raw["_id"]).transmission
        for raw in lots
        if raw.get("transmission")
    }
    assert transmissions["9G-TRONIC Automatic"] == "AT" and transmissions["eCVT"] == "CVT"
    assert transmissions["6-Speed DCT"] == "DCT" and transmissions["Single-Speed"] == "AT"

    # Money is Decimal128 in the database, never a double.
    stored = get_db()["lots"].find_one({"_id": both_colours["_id"]})
    assert isinstance(stored["msrp"], Decimal128) and stored["msrp"].to_decimal() == Decimal(
        both_colours["msrp"]
    )
    assert stored["created_at"] == both_colours["created_at"]  # naive UTC in the dump, same instant here

    competitor = next(raw for raw in lots if raw.get("competitor_prices") and not raw.get("competitorPrices"))
    prices = Lot.objects.get(pk=competitor["_id"]).competitor_prices
    assert prices.autobandit.monthly == Decimal(competitor["competitor_prices"]["autobandit"]["monthly"])
    assert prices.dealer_average.monthly == Decimal(
        competitor["competitor_prices"]["dealer_average"]["monthly"]
    )
    empty_default = next(
        raw
        for raw in lots
        if (raw.get("competitorPrices") or {}).get("autobandit", {}).get("monthly") == 0
        and not raw.get("competitor_prices")
    )
    assert Lot.objects.get(pk=empty_default["_id"]).competitor_prices.autobandit is None


def test_lot_statuses_and_images(app):
    run()
    lots = legacy("lots")

    for raw in (r for r in lots if "status" not in r):
        assert Lot.objects.get(pk=raw["_id"]).status == "draft"
    for raw in (r for r in lots if r.get("status") == "scheduled"):
        # Never promoted on the old platform, publish time past or missing at the dump: a draft now.
        lot = Lot.objects.get(pk=raw["_id"])
        assert lot.status == "draft" and lot.published_at is None
    for raw in (r for r in lots if r.get("status") in ("deleted", "sold")):
        lot = Lot.objects.get(pk=raw["_id"])
        assert lot.status == raw["status"]
        assert (lot.deleted_at or lot.sold_at) == (raw.get("archived_at") or raw["updated_at"])
    published = [Lot.objects.get(pk=r["_id"]) for r in lots if r.get("status") == "published"]
    live = [lot for lot in published if lot.status == "published"]
    assert live and all(
        lot.published_at and lot.offer_ends_at and lot.announced_fleet == lot.fleet for lot in live
    )
    # A published lot that fails the publish checks (a missing finance block crashes the site) is a draft
    # again, still marked as published once so that re-publishing it is not a "new listing".
    demoted = [lot for lot in published if lot.status == "draft"]
    assert demoted and all(lot.published_at is not None for lot in demoted)

    with_uploads = next(raw for raw in lots if any(i["url"].startswith("/uploads/") for i in raw["images"]))
    images = Lot.objects.get(pk=with_uploads["_id"]).images
    assert [img.original for img in images] == [
        i["url"].removeprefix("/uploads/") for i in with_uploads["images"]
    ]
    assert sum(img.is_hero for img in images) <= 1

    external = next(raw for raw in lots if raw["images"][0]["url"].startswith("https://autobandit.com"))
    image = Lot.objects.get(pk=external["_id"]).images[0]
    assert image.external_url == external["images"][0]["url"] and image.original == ""


def test_old_slugs_redirect_to_their_lot(app):
    run()
    for raw in legacy("lots"):
        lot = Lot.objects.get(pk=raw["_id"])
        if lot.slug != raw["slug"]:
            redirect = LotSlugRedirect.objects.get(old_slug=raw["slug"])
            assert redirect.lot.pk == lot.pk
    custom = Lot.objects.get(pk=next(r["_id"] for r in legacy("lots") if r["slug"] == "Custom Slug!"))
    assert custom.slug == "custom-slug"
    assert LotSlugRedirect.objects.get(old_slug="Custom Slug!").lot.pk == custom.pk
    # The slug the old list computed for a trimless lot (trailing dash) still finds it.
    assert LotSlugRedirect.objects.get(old_slug="2025-hyundai-elantra-").lot.slug == "2025-hyundai-elantra"
    # Every reservation's lot_slug (the list-computed one, L9) reaches the reserved lot or another lot's
    # current slug; it never dangles.
    for raw in legacy("reservations"):
        by_slug = Lot.objects(slug=raw["lot_slug"]).first()
        redirect = LotSlugRedirect.objects(old_slug=raw["lot_slug"]).first()
        assert by_slug is not None or redirect.lot.pk == ObjectId(raw["lot_id"])
        assert (
            Reservation.objects.get(pk=raw["_id"]).lot_slug
            == Lot.objects.get(pk=ObjectId(raw["lot_id"])).slug
        )


def test_users_roles_ids_and_references(app):
    run()
    users = legacy("users")

    viewers = [raw for raw in users if raw["role"] == "viewer" and User.objects(pk=raw["_id"]).first()]
    assert viewers and all(User.objects.get(pk=raw["_id"]).role == "user" for raw in viewers)
    assert User.objects(role__nin=["user", "finance_manager", "editor", "admin"]).count() == 0

    oauth = next(raw for raw in users if isinstance(raw["_id"], str))
    account = User.objects.get(email=oauth["email"])
    assert account.pk == derived_object_id("users", oauth["_id"], oauth["created_at"])
    assert account.oauth_provider == "google" and account.password_hash is None
    owned = [raw for raw in legacy("applications") if raw["user_id"] == oauth["_id"]]
    assert owned and all(Application.objects.get(pk=raw["_id"]).user.pk == account.pk for raw in owned)

    duplicate = next(raw for raw in users if raw["email"] == "Maria.Lopez@Example.com")
    assert User.objects(pk=duplicate["_id"]).first() is None
    assert User.objects(email="maria.lopez@example.com").count() == 1
    assert User.objects(pk=next(r["_id"] for r in users if r["email"] == "not-an-email")).first() is None
    inactive = next(raw for raw in users if raw["is_active"] is False)
    assert User.objects.get(pk=inactive["_id"]).deactivated_at is not None


def test_sensitive_values_are_encrypted_on_the_way_in(app):
    run()
    plain = [raw for raw in legacy("users") if raw.get("ssn")]
    assert plain
    stored = "\n".join(json_util.dumps(doc) for doc in get_db()["users"].find())
    for raw in plain:
        digits = "".join(ch for ch in raw["ssn"] if ch.isdigit())
        for secret in (
            raw["ssn"],
            digits,
            f"{digits[:3]}-{digits[3:5]}-{digits[5:]}",
            raw["drivers_license_number"],
            raw["date_of_birth"],
        ):
            if secret:
                assert secret not in stored
        user = User.objects.get(pk=raw["_id"])
        assert user.decrypt_sensitive("ssn") == f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
        if raw["drivers_license_number"]:
            assert user.decrypt_sensitive("drivers_license_number") == raw["drivers_license_number"]
            assert user.decrypt_sensitive("date_of_birth") == raw["date_of_birth"]
    raw_doc = get_db()["users"].find_one({"_id": plain[0]["_id"]})
    assert "ssn" not in raw_doc and raw_doc["ssn_encrypted"].startswith("pii1:")


def test_applications_reservations_and_appointments(app):
    run()
    apps = {raw["_id"]: raw for raw in legacy("applications")}

    for raw in apps.values():
        application = Application.objects.get(pk=raw["_id"])
        assert application.status == raw["status"]
        assert application.lot_data.fleet_price == Decimal(str(raw["lot_data"]["fleet_price"]))
        assert application.user_data.email == raw["user_data"]["email"]  # snapshots are history (A1)
        if raw["status"] == "approved":
            assert application.pickup_status in ("ready_for_pickup", "scheduled")
    approval = next(raw for raw in apps.values() if raw.get("approval_details", {}).get("money_factor"))
    details = Application.objects.get(pk=approval["_id"]).approval_details
    assert (
        details.money_factor == Decimal(str(approval["approval_details"]["money_factor"]))
        and details.apr is None
    )
    assert details.approved_by_id is not None  # the approving manager's account
    scheduled = [raw for raw in apps.values() if raw.get("pickup_status") == "scheduled"]
    assert {b.application.pk for b in PickupBooking.objects} == {raw["_id"] for raw in scheduled}
    negative = next(raw for raw in apps.values() if (raw.get("trade_in") or {}).get("kbb_value", 0) < 0)
    assert Application.objects.get(pk=negative["_id"]).trade_in.kbb_value == Decimal(0)
    assert (
        Application.objects.get(pk=negative["_id"]).trade_in.condition
        == negative["trade_in"]["condition"].lower()
    )

    reservations = legacy("reservations")
    converted = next(raw for raw in reservations if raw["status"] == "converted")
    reservation = Reservation.objects.get(pk=converted["_id"])
    assert reservation.application.pk == ObjectId(converted["application_id"])
    assert Application.objects.get(pk=ObjectId(converted["application_id"])).reservation == converted["_id"]
    assert reservation.reserved_price == Decimal(str(converted["reserved_price"]))
    deposit = next(raw for raw in reservations if raw.get("deposit_paid"))
    assert Reservation.objects.get(pk=deposit["_id"]).status == "deposit_paid"
    lapsed = [raw for raw in reservations if raw["status"] == "active" and raw["expires_at"] <= DUMP_AT]
    assert lapsed and all(Reservation.objects.get(pk=raw["_id"]).status == "expired" for raw in lapsed)
    assert Reservation.objects(status="active").count() == sum(
        1 for raw in reservations if raw["status"] == "active" and raw["expires_at"] > DUMP_AT
    )

    us_date = next(raw for raw in legacy("appointments") if "/" in raw["date"])
    appointment = Appointment.objects.get(pk=us_date["_id"])
    month, day, year = us_date["date"].split("/")
    assert appointment.date == f"{year}-{month}-{day}"
    assert appointment.time in APPOINTMENT_TIMES
    # Free-text date and time are Pacific wall-clock; starts_at is the same instant in UTC.
    local = appointment.starts_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert f"{local:%Y-%m-%d} {local:%-I:%M %p}" == f"{appointment.date} {appointment.time}"
    assert appointment.appointment_type == us_date["type"].lower()

    lower_case = next(raw for raw in legacy("subscriptions") if raw["makes"] == ["toyota"])
    assert Subscription.objects.get(pk=lower_case["_id"]).match_makes == ["toyota"]
    no_limit = next(raw for raw in legacy("subscriptions") if raw["max_price"] == 0)
    assert Subscription.objects.get(pk=no_limit["_id"]).max_price is None


def test_audit_entries_are_imported_as_they_are(app):
    run()
    entries = legacy("audit_logs")
    create = next(raw for raw in entries if raw["action"] == "create")
    entry = AuditLog.objects.get(pk=create["_id"])
    assert (entry.actor_email, entry.resource_type, entry.resource_id) == (
        create["user_email"],
        create["resource_type"],
        create["resource_id"],
    )
    assert entry.timestamp == create["timestamp"]
    stored = get_db()["audit_logs"].find_one({"_id": create["_id"]})
    assert stored["changes"]["_id"] == create["changes"]["_id"]  # typed values kept, not stringified
    assert isinstance(stored["changes"]["created_at"], datetime)
    assert AuditLog.objects(details__source="legacy_import").count() == len(entries)


def test_a_second_run_changes_nothing(app):
    run()
    before = raw_snapshot(get_db())
    report = run()
    assert report.total_imported == 0
    assert all(c.existing == c.read - c.skipped for c in report.collections.values())
    assert raw_snapshot(get_db()) == before


def test_a_dry_run_writes_nothing_and_predicts_the_import(app):
    before = raw_snapshot(get_db())
    dry = run(dry_run=True)
    assert raw_snapshot(get_db()) == before
    real = run()
    assert {n: (c.imported, c.skipped) for n, c in dry.collections.items()} == {
        n: (c.imported, c.skipped) for n, c in real.collections.items()
    }
    assert dry.side_records == real.side_records


def test_cli_dry_run_prints_counts_and_every_skip(app):
    result = app.test_cli_runner().invoke(args=["import-legacy", str(FIXTURE_DUMP), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would import" in result.output and "Dry run: nothing was written" in result.output
    for line in (
        "users 6900935fce72cc52eb748bae: e-mail 'not-an-email' is not a valid address",
        "appointment time '12:00' is not one of the bookable times",
        "not migrated: cookie sessions are credentials",
    ):
        assert line in result.output
    assert User.objects.count() == 0


def test_cli_refuses_a_dump_that_does_not_match_its_manifest(app, tmp_path):
    copy = tmp_path / "dump"
    shutil.copytree(FIXTURE_DUMP, copy)
    (copy / "lots.json").write_text(
        (copy / "lots.json").read_text().replace("Mercedes-Benz", "Mercedes-Benx", 1)
    )
    result = app.test_cli_runner().invoke(args=["import-legacy", str(copy)])
    assert result.exit_code != 0 and "does not match the checksum" in result.output
    assert Lot.objects.count() == 0


def test_a_mongodump_directory_imports_the_same(app, tmp_path):
    database = tmp_path / "dump" / "cargwin_production"
    database.mkdir(parents=True)
    for name in manifest_counts():
        with open(database / f"{name}.bson", "wb") as out:
            for document in legacy(name):
                out.write(bson.encode(document))
    report = run(tmp_path / "dump")
    expected = {name: count - DOCUMENTED_SKIPS[name] for name, count in manifest_counts().items()}
    assert {n: c.imported for n, c in report.collections.items()} == expected


def _write_dump(directory: Path, collections: dict[str, list[dict[str, Any]]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, documents in collections.items():
        (directory / f"{name}.json").write_text(
            json_util.dumps(documents, json_options=json_util.CANONICAL_JSON_OPTIONS)
        )
    return directory


def test_a_bad_row_is_skipped_whole_and_rows_referring_to_it_say_why(app, tmp_path):
    users, lots, apps = legacy("users"), legacy("lots"), legacy("applications")
    applicant = next(raw for raw in users if raw.get("credit_score"))
    applicant = {**applicant, "credit_score": 9999}  # outside 300–850: the mapped user does not validate
    own = [raw for raw in apps if raw["user_id"] == str(applicant["_id"])]
    lot_ids = {raw["lot_id"] for raw in own}
    dump = _write_dump(
        tmp_path / "dump",
        {
            "users": [applicant],
            "lots": [raw for raw in lots if str(raw["_id"]) in lot_ids],
            "applications": own,
        },
    )
    report = run(dump)

    assert User.objects.count() == 0 and Application.objects.count() == 0
    assert Lot.objects.count() == len(lot_ids)
    reasons = [s.reason for s in report.skipped]
    assert reasons[0].startswith("invalid after mapping: credit_score")
    assert all(f"user_id {applicant['_id']} was not imported" in reason for reason in reasons[1:])
    assert len(reasons) == 1 + len(own)


def test_a_row_the_database_refuses_is_reported_and_not_half_written(app, tmp_path):
    apps = legacy("applications")
    users = {str(raw["_id"]): raw for raw in legacy("users")}
    lots = {str(raw["_id"]): raw for raw in legacy("lots")}
    first = next(raw for raw in apps if raw.get("pickup_status") == "scheduled")
    # A second open application for the same customer and lot: our unique index refuses it (§5.1).
    twin = {**first, "_id": ObjectId(), "status": "pending", "pickup_status": "scheduled"}
    dump = _write_dump(
        tmp_path / "dump",
        {"users": [users[first["user_id"]]], "lots": [lots[first["lot_id"]]], "applications": [first, twin]},
    )
    report = run(dump)

    assert Application.objects.count() == 1
    refused = next(s for s in report.skipped if s.legacy_id == str(twin["_id"]))
    assert refused.reason.startswith("refused by the database: duplicate")
    assert PickupBooking.objects.count() == 1  # the refused row's booking was never written


def test_existing_accounts_are_matched_by_email(app):
    staff = make_user(email="a.chavez@broker.example", role="admin")
    run()
    assert User.objects(email="a.chavez@broker.example").count() == 1
    legacy_admin = next(raw for raw in legacy("users") if raw["email"] == "a.chavez@broker.example")
    assert User.objects(pk=legacy_admin["_id"]).first() is None
    approved_by_her = [
        raw
        for raw in legacy("applications")
        if (raw.get("approval_details") or {}).get("approved_by") == "a.chavez@broker.example"
    ]
    for raw in approved_by_her:
        assert Application.objects.get(pk=raw["_id"]).approval_details.approved_by_id == staff.pk


def test_an_unreadable_directory_is_reported(app, tmp_path):
    with pytest.raises(LegacyDumpError, match="no <collection>.json"):
        import_legacy(tmp_path)
    (tmp_path / "lots.json").write_text('[{"_id": 1}, {"_id": ')
    with pytest.raises(LegacyDumpError, match="malformed JSON"):
        import_legacy(tmp_path)
