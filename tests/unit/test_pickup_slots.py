"""Pickup slot generation and slot instants (business rules §5.6, consumer API §4.6.5–4.6.6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.services.pickup_slots import (
    PACIFIC,
    Slot,
    SlotConfig,
    format_display,
    generate_slots,
    parse_slot_instant,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pacific(*args: int) -> datetime:
    return datetime(*args, tzinfo=PACIFIC)


# Sunday 2025-11-16, noon in Irvine.
SUNDAY_NOON = pacific(2025, 11, 16, 12, 0)


class TestTimeZones:
    def test_winter_slot_is_pst(self):
        slots = generate_slots(SUNDAY_NOON)
        assert slots[0] == Slot(start_utc=utc(2025, 11, 17, 17, 0), display="Monday, November 17 at 09:00 AM")
        assert slots[0].iso == "2025-11-17T17:00:00Z"

    def test_summer_slot_is_pdt(self):
        slots = generate_slots(pacific(2026, 6, 14, 12, 0))
        assert slots[0].start_utc == utc(2026, 6, 15, 16, 0)
        assert slots[0].display == "Monday, June 15 at 09:00 AM"

    def test_window_across_the_autumn_change(self):
        # DST ends on Sunday 2025-11-02.
        slots = generate_slots(utc(2025, 10, 27, 0, 0), start_date=date(2025, 10, 27))
        by_display = {slot.display: slot.start_utc for slot in slots}
        assert by_display["Saturday, November 01 at 09:00 AM"] == utc(2025, 11, 1, 16, 0)
        assert by_display["Monday, November 03 at 09:00 AM"] == utc(2025, 11, 3, 17, 0)
        assert by_display["Monday, November 03 at 04:00 PM"] == utc(2025, 11, 4, 0, 0)

    def test_window_across_the_spring_change(self):
        # DST starts on Sunday 2026-03-08.
        slots = generate_slots(utc(2026, 3, 2, 0, 0), start_date=date(2026, 3, 2))
        by_display = {slot.display: slot.start_utc for slot in slots}
        assert by_display["Saturday, March 07 at 09:00 AM"] == utc(2026, 3, 7, 17, 0)
        assert by_display["Monday, March 09 at 09:00 AM"] == utc(2026, 3, 9, 16, 0)
        assert len(slots) == 96

    def test_every_slot_is_aware_utc_and_labelled_in_pacific(self):
        for slot in generate_slots(SUNDAY_NOON):
            assert slot.start_utc.tzinfo is UTC
            local = slot.start_utc.astimezone(PACIFIC)
            assert 9 <= local.hour <= 16 and local.minute == 0
            assert slot.display == format_display(slot.start_utc)


class TestWindow:
    def test_fourteen_days_without_sundays_gives_96(self):
        slots = generate_slots(SUNDAY_NOON)
        assert len(slots) == 96
        days = {slot.start_utc.astimezone(PACIFIC).date() for slot in slots}
        assert len(days) == 12
        assert min(days) == date(2025, 11, 17)
        assert max(days) == date(2025, 11, 29)  # the window is 16..29 November
        assert all(day.weekday() != 6 for day in days)

    def test_hourly_from_nine_to_four_inclusive(self):
        slots = generate_slots(SUNDAY_NOON)
        monday = [s.display for s in slots if s.display.startswith("Monday, November 17")]
        assert monday == [
            "Monday, November 17 at 09:00 AM",
            "Monday, November 17 at 10:00 AM",
            "Monday, November 17 at 11:00 AM",
            "Monday, November 17 at 12:00 PM",
            "Monday, November 17 at 01:00 PM",
            "Monday, November 17 at 02:00 PM",
            "Monday, November 17 at 03:00 PM",
            "Monday, November 17 at 04:00 PM",
        ]

    def test_slots_are_in_time_order(self):
        starts = [slot.start_utc for slot in generate_slots(SUNDAY_NOON)]
        assert starts == sorted(starts)
        assert len(set(starts)) == len(starts)

    def test_started_slots_are_not_offered(self):
        slots = generate_slots(pacific(2025, 11, 17, 10, 30))
        assert slots[0].display == "Monday, November 17 at 11:00 AM"
        # The window is now 17..30 November (Sundays 23 and 30 closed): 96 slots, two of them past.
        assert len(slots) == 94

    def test_a_slot_starting_right_now_has_started(self):
        slots = generate_slots(pacific(2025, 11, 17, 11, 0))
        assert slots[0].display == "Monday, November 17 at 12:00 PM"

    def test_after_closing_today_is_empty(self):
        slots = generate_slots(pacific(2025, 11, 17, 16, 0, 1))
        assert slots[0].display == "Tuesday, November 18 at 09:00 AM"

    def test_today_is_the_pacific_date(self):
        # 2025-11-18T05:00Z is still Monday evening in California: the window starts on Monday.
        slots = generate_slots(utc(2025, 11, 18, 5, 0))
        assert slots[0].display == "Tuesday, November 18 at 09:00 AM"
        assert slots[-1].start_utc.astimezone(PACIFIC).date() == date(2025, 11, 29)

    def test_start_date_parameter(self):
        slots = generate_slots(SUNDAY_NOON, start_date=date(2025, 12, 1))
        assert slots[0].display == "Monday, December 01 at 09:00 AM"
        assert slots[-1].start_utc.astimezone(PACIFIC).date() == date(2025, 12, 13)

    def test_start_date_in_the_past_still_hides_past_slots(self):
        slots = generate_slots(SUNDAY_NOON, start_date=date(2025, 11, 10))
        assert slots[0].display == "Monday, November 17 at 09:00 AM"
        assert slots[-1].start_utc.astimezone(PACIFIC).date() == date(2025, 11, 22)


class TestBooked:
    def test_booked_slots_are_removed(self):
        booked = {utc(2025, 11, 17, 17, 0), utc(2025, 11, 17, 19, 0)}
        slots = generate_slots(SUNDAY_NOON, booked)
        starts = {slot.start_utc for slot in slots}
        assert not booked & starts
        assert len(slots) == 94
        assert slots[0].display == "Monday, November 17 at 10:00 AM"

    def test_booked_instants_match_in_any_time_zone(self):
        eastern_2pm = datetime(2025, 11, 17, 14, 0, tzinfo=timezone(timedelta(hours=-5)))  # 11:00 Pacific
        booked = {pacific(2025, 11, 17, 9, 0), eastern_2pm}
        slots = generate_slots(SUNDAY_NOON, booked)
        assert [s.display for s in slots[:2]] == [
            "Monday, November 17 at 10:00 AM",
            "Monday, November 17 at 12:00 PM",
        ]
        assert len(slots) == 94

    def test_naive_booked_values_are_utc(self):
        slots = generate_slots(SUNDAY_NOON, {datetime(2025, 11, 17, 17, 0)})
        assert slots[0].display == "Monday, November 17 at 10:00 AM"

    def test_bookings_outside_the_window_change_nothing(self):
        assert len(generate_slots(SUNDAY_NOON, {utc(2026, 1, 5, 17, 0)})) == 96


class TestConfig:
    def test_holidays_are_closed(self):
        config = SlotConfig(holidays=frozenset({date(2025, 11, 27)}))
        slots = generate_slots(SUNDAY_NOON, config=config)
        assert len(slots) == 88
        assert not any(s.display.startswith("Thursday, November 27") for s in slots)

    def test_other_hours_window_and_closed_days(self):
        config = SlotConfig(window_days=7, closed_weekdays=frozenset({5, 6}), first_hour=10, last_hour=11)
        slots = generate_slots(SUNDAY_NOON, config=config)
        assert len(slots) == 5 * 2
        assert slots[0].display == "Monday, November 17 at 10:00 AM"

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"window_days": 0},
            {"first_hour": 17, "last_hour": 16},
            {"last_hour": 24},
            {"first_hour": -1},
            {"closed_weekdays": frozenset({7})},
        ],
    )
    def test_invalid_config(self, kwargs):
        with pytest.raises(ValueError):
            SlotConfig(**kwargs)

    def test_naive_now_is_refused(self):
        with pytest.raises(ValueError, match="now_utc"):
            generate_slots(datetime(2025, 11, 16, 20, 0))


class TestDisplay:
    @pytest.mark.parametrize(
        ("instant", "expected"),
        [
            (utc(2025, 11, 17, 17, 0), "Monday, November 17 at 09:00 AM"),
            (utc(2025, 11, 17, 20, 0), "Monday, November 17 at 12:00 PM"),
            (utc(2025, 11, 18, 0, 0), "Monday, November 17 at 04:00 PM"),
            (utc(2026, 1, 3, 8, 30), "Saturday, January 03 at 12:30 AM"),
        ],
    )
    def test_english_pacific_label(self, instant, expected):
        assert format_display(instant) == expected


class TestParseSlotInstant:
    @pytest.mark.parametrize(
        "text",
        [
            "2025-11-17T17:00:00Z",
            "2025-11-17T17:00:00z",
            "2025-11-17T17:00:00+00:00",
            "2025-11-17T17:00:00.000Z",
            "2025-11-17T09:00:00-08:00",
            "2025-11-18T01:00:00+08:00",
            "2025-11-17T17:00:00",  # naive: UTC
            "2025-11-17 17:00:00Z",
            "2025-11-17T17:00:00 00:00",  # "+" decoded as a space in a query string
            "2025-11-18T01:00:00 08:00",
            "  2025-11-17T17:00:00Z  ",
        ],
    )
    def test_accepted_forms_give_the_same_instant(self, text):
        parsed = parse_slot_instant(text)
        assert parsed == utc(2025, 11, 17, 17, 0)
        assert parsed.tzinfo is UTC

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "   ",
            "tomorrow",
            "17:00",
            "2025-13-01T00:00:00Z",
            "2025-11-17T25:00:00Z",
            "Z",
            None,
            1763398800,
        ],
    )
    def test_unparseable_values(self, value):
        with pytest.raises(ValueError):
            parse_slot_instant(value)

    def test_round_trip_with_generated_slots(self):
        for slot in generate_slots(SUNDAY_NOON)[:20]:
            assert parse_slot_instant(slot.iso) == slot.start_utc
