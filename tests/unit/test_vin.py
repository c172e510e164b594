"""VIN normalisation, format and the North American check digit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.vin import check_digit, is_valid_vin_format, normalise_vin, validate_vin, vin_check_digit_ok

PROPERTY = settings(database=None, deadline=None, max_examples=200)

# Published VINs with a correct check digit (the first is the textbook example with an "X" check digit).
VALID_CHECKED = ["1M8GDM9AXKP042788", "1HGCM82633A004352", "JH4KA7561PC008269", "11111111111111111"]

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


class TestNormalise:
    def test_strips_and_upper_cases(self):
        assert normalise_vin("  1hgcm82633a004352\n") == "1HGCM82633A004352"


class TestFormat:
    @pytest.mark.parametrize("vin", [*VALID_CHECKED, "WP0ZZZ99ZTS392124", "5YJ3E1EA7KF317000"])
    def test_valid(self, vin):
        assert is_valid_vin_format(vin)

    @pytest.mark.parametrize(
        "vin",
        [
            "",
            "1HGCM82633A00435",  # 16
            "1HGCM82633A0043521",  # 18
            "1HGCM82633A00435I",  # I
            "1HGCM82633A00435O",  # O
            "1HGCM82633A00435Q",  # Q
            "1hgcm82633a004352",  # strict: normalise first
            " 1HGCM82633A004352",
            "1HGCM82633A-04352",
            "1HGCM82633A00435É",
            None,
        ],
    )
    def test_invalid(self, vin):
        assert not is_valid_vin_format(vin)


class TestCheckDigit:
    @pytest.mark.parametrize("vin", VALID_CHECKED)
    def test_published_vins_pass(self, vin):
        assert vin_check_digit_ok(vin)

    def test_x_check_digit(self):
        assert check_digit("1M8GDM9AXKP042788") == "X"

    def test_a_changed_character_fails(self):
        assert not vin_check_digit_ok("1HGCM82633A004353")
        assert not vin_check_digit_ok("1HGCM82643A004352")

    def test_non_north_american_vin_without_check_digit_fails(self):
        assert not vin_check_digit_ok("WP0ZZZ99ZTS392124")

    def test_bad_format_is_not_ok(self):
        assert not vin_check_digit_ok("1HGCM82633A00435")
        with pytest.raises(ValueError):
            check_digit("short")

    @PROPERTY
    @given(st.text(alphabet=VIN_ALPHABET, min_size=17, max_size=17))
    def test_exactly_one_check_digit_fits(self, vin):
        expected = check_digit(vin)
        fits = [c for c in "0123456789X" if vin_check_digit_ok(vin[:8] + c + vin[9:])]
        assert fits == [expected]


class TestValidate:
    def test_returns_the_normalised_vin(self):
        assert validate_vin(" 1hgcm82633a004352 ") == "1HGCM82633A004352"

    def test_check_digit_is_optional(self):
        assert validate_vin("WP0ZZZ99ZTS392124") == "WP0ZZZ99ZTS392124"
        with pytest.raises(ValueError, match="check digit"):
            validate_vin("WP0ZZZ99ZTS392124", require_check_digit=True)
        assert validate_vin("1m8gdm9axkp042788", require_check_digit=True) == "1M8GDM9AXKP042788"

    @pytest.mark.parametrize("vin", ["", "1HGCM82633A00435", "1HGCM82633A00435O", None, 12345])
    def test_bad_format_names_the_field(self, vin):
        with pytest.raises(ValueError, match="vin"):
            validate_vin(vin)
