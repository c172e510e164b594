"""Decimal money helpers: conversion, half-up rounding, dollar formatting and JSON rendering."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest

from app.services.money import format_usd, json_number, round_cents, round_dollars, round_half_up, to_decimal


class TestToDecimal:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (29400, Decimal("29400")),
            ("8.75", Decimal("8.75")),
            (" 12.50 ", Decimal("12.50")),
            (Decimal("0.002"), Decimal("0.002")),
            (-5, Decimal("-5")),
        ],
    )
    def test_accepts_int_str_and_decimal(self, value, expected):
        result = to_decimal(value)
        assert isinstance(result, Decimal)
        assert result == expected

    def test_float_is_refused_but_its_str_is_accepted(self):
        with pytest.raises(TypeError, match="str"):
            to_decimal(0.1)
        assert to_decimal(str(0.1)) == Decimal("0.1")

    def test_bool_is_refused(self):
        with pytest.raises(TypeError):
            to_decimal(True)

    @pytest.mark.parametrize(
        "value", ["NaN", "nan", "Infinity", "-Infinity", "sNaN", Decimal("NaN"), Decimal("Inf")]
    )
    def test_non_finite_values_are_refused(self, value):
        with pytest.raises(ValueError):
            to_decimal(value)

    @pytest.mark.parametrize("value", ["", "abc", "1,000", "$5", "1.2.3"])
    def test_garbage_strings_are_refused(self, value):
        with pytest.raises(ValueError):
            to_decimal(value)

    def test_other_types_are_refused(self):
        with pytest.raises(TypeError):
            to_decimal(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            to_decimal([1])  # type: ignore[arg-type]


class TestRounding:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("44.065", "44.07"),  # half-up, where banker's rounding would give 44.06
            ("44.075", "44.08"),
            ("8.075", "8.08"),
            ("3095.575", "3095.58"),
            ("0.004", "0.00"),
            ("-0.005", "-0.01"),  # ties away from zero
            (7, "7.00"),
        ],
    )
    def test_round_cents_is_half_up(self, value, expected):
        result = round_cents(value)
        assert result == Decimal(expected)
        assert str(result) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("32381.75", "32382"), ("0.5", "1"), ("2.5", "3"), ("1.49", "1"), ("-2.5", "-3"), ("589.09", "589")],
    )
    def test_round_dollars_is_half_up(self, value, expected):
        assert str(round_dollars(value)) == expected

    def test_fractions_are_rounded_exactly(self):
        # 12,850 / 36 = 356.9444…; 1/8 = 0.125 is an exact tie.
        assert round_cents(Fraction(12850, 36)) == Decimal("356.94")
        assert round_cents(Fraction(1, 8)) == Decimal("0.13")
        assert round_cents(Fraction(-1, 8)) == Decimal("-0.13")
        assert round_dollars(Fraction(5, 2)) == Decimal("3")
        assert str(round_half_up(Fraction(1, 3), 4)) == "0.3333"

    def test_a_tie_just_below_half_rounds_down(self):
        assert round_cents(Fraction(1249999, 100_000_000)) == Decimal("0.01")
        assert round_cents(Fraction(1250000, 100_000_000) - Fraction(1, 10**30)) == Decimal("0.01")
        assert round_cents(Fraction(1250000, 100_000_000)) == Decimal("0.01")  # 0.0125 -> 0.01
        assert round_cents(Fraction(1500000, 100_000_000)) == Decimal("0.02")  # 0.015 -> 0.02


class TestFormatUsd:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (29400, "$29,400"),
            (Decimal("1234567.5"), "$1,234,568"),
            ("999.49", "$999"),
            (0, "$0"),
            (-1250, "-$1,250"),
            ("-0.4", "$0"),
        ],
    )
    def test_whole_dollars_with_separators(self, value, expected):
        assert format_usd(value) == expected


class TestJsonNumber:
    def test_integral_written_decimal_becomes_int(self):
        assert json_number(Decimal("65")) == 65
        assert type(json_number(Decimal("65"))) is int
        assert json.dumps(json_number(Decimal("2175"))) == "2175"

    def test_fractional_written_decimal_keeps_its_digits(self):
        assert json.dumps(json_number(Decimal("8.75"))) == "8.75"
        assert json.dumps(json_number(Decimal("206.75"))) == "206.75"
        assert json.dumps(json_number(Decimal("6.0"))) == "6.0"
        assert json.dumps(json_number(Decimal("3095.58"))) == "3095.58"

    def test_too_many_digits_for_a_json_number_are_refused(self):
        with pytest.raises(ValueError):
            json_number(Decimal("0.1234567890123456789"))
