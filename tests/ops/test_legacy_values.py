"""The importer's value rules and its streaming reader, without a database."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from bson import ObjectId, json_util

from app.services.legacy_import import reader
from app.services.legacy_import.mapping import Skip, appointment_time, list_slug, lot_status
from app.services.legacy_import.reader import LegacyDumpError, iter_json_array
from app.services.legacy_import.values import (
    derived_object_id,
    integer,
    iso_date,
    moment,
    money,
    object_id_for,
    ssn,
    text,
    us_phone,
)

NOW = datetime(2025, 11, 14, 3, 0, tzinfo=UTC)


def test_money_goes_through_the_shortest_repr_never_binary_floating_point():
    assert money(38067.0) == Decimal("38067.0")
    assert money(329.99) == Decimal("329.99")  # Decimal(329.99) would be 329.990000000000009094947...
    assert money(0.1) + money(0.2) == Decimal("0.3")
    assert money("$1,250") == Decimal(1250) and money(True) is None and money("nan") is None


def test_blank_spellings_are_nothing():
    for blank in (None, "", " nan ", "NaN", "null", "undefined"):
        assert text(blank) is None and integer(blank) is None and money(blank) is None
    assert text("  XLE  Premium ") == "XLE Premium"
    assert integer("2025") == 2025 and integer(2025.0) == 2025 and integer(2025.5) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            datetime(2025, 10, 15, 21, 35, 18),
            datetime(2025, 10, 15, 21, 35, 18, tzinfo=UTC),
        ),  # naive BSON date
        (
            "2025-10-15T21:35:18.943207+00:00",
            datetime(2025, 10, 15, 21, 35, 18, 943207, tzinfo=UTC),
        ),  # Python
        ("2025-09-04T21:49:12.203Z", datetime(2025, 9, 4, 21, 49, 12, 203000, tzinfo=UTC)),  # JavaScript
        ("2025-08-30", datetime(2025, 8, 30, tzinfo=UTC)),  # a bare date
        ("2025-11-01T06:00:00-07:00", datetime(2025, 11, 1, 13, 0, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
    ],
)
def test_moments_are_aware_utc(value, expected):
    assert moment(value) == expected


def test_dates_times_phones_and_ssns():
    assert iso_date("11/18/2025") == "2025-11-18" and iso_date("2025-11-18") == "2025-11-18"
    assert iso_date("02/30/2025") is None
    assert [appointment_time(t) for t in ("14:00", "2:00 PM", "2 pm", "09:00", "12:00", "25:00", "noon")] == [
        "2:00 PM",
        "2:00 PM",
        "2:00 PM",
        "9:00 AM",
        "12:00 PM",
        None,
        None,
    ]
    assert {us_phone(p) for p in ("(424) 555-0145", "424-555-0145", "+14245550145", "4245550145")} == {
        "+14245550145"
    }
    assert us_phone("+44 20 7946 0958") == "+44 20 7946 0958"
    assert {ssn(s) for s in ("912-34-5678", "912345678", "912 34 5678")} == {"912-34-5678"}


def test_ids_keep_object_ids_and_derive_stable_ones_for_strings():
    oid = ObjectId("68b7e6f8ce72cc52eb748bb5")
    assert object_id_for("users", oid) == oid and object_id_for("users", str(oid)) == oid
    created = datetime(2025, 10, 7, 8, 2, 55, tzinfo=UTC)
    derived = object_id_for("users", "52e3d442-dc66-4470-85b0-4b97347bef37", created)
    assert derived == derived_object_id("users", "52e3d442-dc66-4470-85b0-4b97347bef37", created)
    assert derived.generation_time == created  # ordering by _id still follows creation
    assert derived != derived_object_id("lots", "52e3d442-dc66-4470-85b0-4b97347bef37", created)


def test_lot_status_mapping():
    assert lot_status(None, None, NOW) == ("draft", "lot without status → draft")
    assert lot_status("scheduled", datetime(2025, 12, 1, tzinfo=UTC), NOW) == ("scheduled", None)
    assert lot_status("scheduled", datetime(2025, 11, 1, tzinfo=UTC), NOW)[0] == "draft"
    assert lot_status("scheduled", None, NOW)[0] == "draft"
    for same in ("draft", "published", "archived", "sold", "deleted"):
        assert lot_status(same, None, NOW) == (same, None)
    with pytest.raises(Skip, match="unknown lot status"):
        lot_status("pending_review", None, NOW)


def test_list_slug_is_what_the_old_list_computed():
    assert (
        list_slug({"year": 2025, "make": "Hyundai", "model": "Elantra", "trim": ""})
        == "2025-hyundai-elantra-"
    )
    assert (
        list_slug({"year": "2025", "make": "Kia", "model": "K5", "trim": "GT-Line (AWD)"})
        == "2025-kia-k5-gt-line-(awd)"
    )


def test_the_reader_streams_documents_across_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(reader, "READ_CHUNK", 7)
    documents = [
        {"_id": ObjectId(), "name": "x" * 50, "at": datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)},
        {"_id": "string-id", "price": 38067.0, "nested": {"list": [1, 2, {"deep": True}]}},
    ]
    for options in (json_util.RELAXED_JSON_OPTIONS, json_util.CANONICAL_JSON_OPTIONS):
        text_form = " [\n" + ",\n".join(json_util.dumps(d, json_options=options) for d in documents) + "\n]\n"
        parsed = list(iter_json_array(io.StringIO(text_form)))
        assert parsed == documents
        assert parsed[0]["at"].tzinfo is not None
    assert list(iter_json_array(io.StringIO(""))) == [] and list(iter_json_array(io.StringIO("[]"))) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"_id": 1}', "expected a JSON array"),
        ('[{"_id": 1} {"_id": 2}]', "expected ','"),
        ('[{"_id": 1}, 5]', "must be documents"),
        ('[{"_id": 1},', "not closed"),
        ('[{"_id": ', "malformed JSON"),
    ],
)
def test_the_reader_reports_malformed_files(content, message):
    with pytest.raises(LegacyDumpError, match=message):
        list(iter_json_array(io.StringIO(content)))
