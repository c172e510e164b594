"""Lot slugs (business rules §2.7): normalisation, validity, length and collisions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.slugs import (
    MAX_SLUG_LENGTH,
    is_valid_slug,
    lot_slug_base,
    normalise_editor_slug,
    resolve_collision,
    slugify,
    truncate_slug,
)

PROPERTY = settings(database=None, deadline=None, max_examples=200)


class TestRuleTable:
    @pytest.mark.parametrize(
        ("year", "make", "model", "trim", "expected"),
        [
            (2025, "Toyota", "Camry", "SE", "2025-toyota-camry-se"),
            (2024, "Kia", "Niro", "", "2024-kia-niro"),
            (2024, "Kia", "Niro", None, "2024-kia-niro"),
            (2024, "Kia", "Niro", "   ", "2024-kia-niro"),
            (2024, "Lexus", "RX", "350 Premium", "2024-lexus-rx-350-premium"),
            (
                2025,
                "Land Rover",
                "Range Rover Sport",
                "P400 SE/HSE+",
                "2025-land-rover-range-rover-sport-p400-se-hse",
            ),
            (2025, "Mercedes-Benz", "GLC", "300 4MATIC", "2025-mercedes-benz-glc-300-4matic"),
        ],
    )
    def test_examples(self, year, make, model, trim, expected):
        assert lot_slug_base(year, make, model, trim) == expected

    def test_second_lot_with_vin_gets_vin_suffix(self):
        taken = {"2025-toyota-camry-se"}
        base = lot_slug_base(2025, "Toyota", "Camry", "SE")
        assert (
            resolve_collision(base, "4T1G11AK5SU012345", taken.__contains__) == "2025-toyota-camry-se-12345"
        )


class TestSlugify:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Citroën Ë-C4", "citroen-e-c4"),
            ("Škoda Octavia", "skoda-octavia"),
            ("ŠKODA", "skoda"),
            ("Straße", "strasse"),
            ("Ølby Æro Œuvre", "olby-aero-oeuvre"),
            ("Łódź", "lodz"),
            ("ＡＢＣ １２３", "abc-123"),  # full-width forms fold too
            ("  --Hello,   World!!--  ", "hello-world"),
            ("a__b..c", "a-b-c"),
            ("UPPER lower 123", "upper-lower-123"),
            ("Лада Веста", ""),  # no Latin letters or digits left
            ("!!!", ""),
            ("", ""),
        ],
    )
    def test_normalisation(self, text, expected):
        assert slugify(text) == expected

    def test_long_text_is_cut_at_the_last_dash_before_the_limit(self):
        words = " ".join(["word"] * 30)  # "word-word-…" is 149 characters
        slug = slugify(words)
        assert len(slug) <= MAX_SLUG_LENGTH
        assert slug == "-".join(["word"] * 20)  # 99 characters; a 21st word would need 104
        assert is_valid_slug(slug)

    def test_cut_exactly_at_the_limit_keeps_the_whole_last_word(self):
        text = "a" * 95 + " bcde fgh"  # "aaa…a-bcde" is exactly 100 characters
        assert slugify(text) == "a" * 95 + "-bcde"

    def test_single_overlong_word_is_cut_hard(self):
        assert slugify("x" * 150) == "x" * 100

    @PROPERTY
    @given(st.text(max_size=300))
    def test_result_is_valid_or_empty(self, text):
        slug = slugify(text)
        assert slug == "" or is_valid_slug(slug)
        assert slugify(slug) == slug  # idempotent


class TestTruncate:
    def test_short_slug_is_unchanged(self):
        assert truncate_slug("2025-toyota-camry-se") == "2025-toyota-camry-se"

    def test_custom_limit(self):
        assert truncate_slug("2025-toyota-camry-se", 12) == "2025-toyota"
        assert truncate_slug("2025-toyota-camry-se", 11) == "2025-toyota"
        assert truncate_slug("2025-toyota-camry-se", 10) == "2025"

    def test_limit_must_be_positive(self):
        with pytest.raises(ValueError):
            truncate_slug("abc", 0)


class TestValidity:
    @pytest.mark.parametrize("slug", ["a", "2025-toyota-camry-se", "a-1-b", "x" * 100])
    def test_valid(self, slug):
        assert is_valid_slug(slug)

    @pytest.mark.parametrize(
        "slug",
        ["", "-a", "a-", "a--b", "A-b", "a b", "a_b", "é", "a\n", "x" * 101, "2024-kia-niro-", None],
    )
    def test_invalid(self, slug):
        assert not is_valid_slug(slug)


class TestEditorSlug:
    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("My Special Camry!", "my-special-camry"),
            ("2025-toyota-camry-se", "2025-toyota-camry-se"),
            ("--Mercedes--Benz--", "mercedes-benz"),
            ("Crème Brûlée", "creme-brulee"),
        ],
    )
    def test_normalised(self, typed, expected):
        assert normalise_editor_slug(typed) == expected

    @pytest.mark.parametrize("typed", ["", "---", "!!!", "Ж"])
    def test_nothing_left_is_an_error(self, typed):
        with pytest.raises(ValueError, match="slug"):
            normalise_editor_slug(typed)

    def test_long_editor_slug_is_shortened(self):
        assert len(normalise_editor_slug("abc " * 40)) <= MAX_SLUG_LENGTH


class TestCollisions:
    base = "2025-toyota-camry-se"

    def test_free_base_is_kept(self):
        assert resolve_collision(self.base, "4T1G11AK5SU012345", lambda slug: False) == self.base

    def test_vin_suffix_is_lower_cased(self):
        taken = {self.base}
        assert resolve_collision(self.base, "JTDBBRBE9LJ0ABCDE", taken.__contains__) == self.base + "-abcde"

    def test_numbers_when_there_is_no_vin(self):
        for vin in (None, "", "  "):
            assert resolve_collision(self.base, vin, {self.base}.__contains__) == self.base + "-2"

    def test_numbers_when_the_vin_slug_is_taken(self):
        taken = {self.base, self.base + "-12345", self.base + "-2", self.base + "-3"}
        assert resolve_collision(self.base, "4T1G11AK5SU012345", taken.__contains__) == self.base + "-4"

    def test_vin_too_short_for_a_suffix_is_skipped(self):
        assert resolve_collision(self.base, "1234", {self.base}.__contains__) == self.base + "-2"

    def test_suffixes_respect_the_length_limit(self):
        base = "-".join(["abcdefghi"] * 10)  # exactly 99 characters
        assert len(base) == 99
        taken = {base}
        with_vin = resolve_collision(base, "4T1G11AK5SU012345", taken.__contains__)
        assert len(with_vin) <= MAX_SLUG_LENGTH
        assert with_vin == "-".join(["abcdefghi"] * 9) + "-12345"
        taken.add(with_vin)
        numbered = resolve_collision(base, "4T1G11AK5SU012345", taken.__contains__)
        assert numbered == "-".join(["abcdefghi"] * 9) + "-2"
        assert is_valid_slug(numbered)

    def test_invalid_base_is_refused(self):
        with pytest.raises(ValueError):
            resolve_collision("Not A Slug", None, lambda slug: False)

    def test_checks_are_asked_in_order(self):
        asked: list[str] = []

        def is_taken(slug: str) -> bool:
            asked.append(slug)
            return len(asked) < 4

        assert resolve_collision(self.base, "4T1G11AK5SU012345", is_taken) == self.base + "-3"
        assert asked == [self.base, self.base + "-12345", self.base + "-2", self.base + "-3"]
