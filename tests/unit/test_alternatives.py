"""Automatic alternatives (business rules §5.8, consumer API §4.6.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.services.alternatives import Candidate, basis_monthly, select_alternatives

D = Decimal
T0 = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)


def lot(
    lot_id: str, make: str, monthly, *, model: str = "Model", year: int = 2025, days: int = 0
) -> Candidate:
    return Candidate(
        lot_id=lot_id,
        slug=f"{year}-{make.lower()}-{model.lower()}-{lot_id}",
        year=year,
        make=make,
        model=model,
        monthly=monthly,
        published_at=T0 + timedelta(days=days),
    )


EXAMPLE = [
    lot("A", "Kia", 350, model="K5"),
    lot("B", "Honda", 480, model="Accord"),
    lot("C", "Lexus", 700, model="ES"),
    lot("D", "BMW", 900, model="X5"),
    lot("E", "Toyota", 0, model="Corolla"),
]


class TestRuleExample:
    def test_example_table(self):
        result = select_alternatives(500, "Toyota", EXAMPLE)
        assert result.cheaper is not None and result.cheaper.lot_id == "A"
        assert result.cheaper.savings_vs_original == 150
        assert result.similar is not None and result.similar.lot_id == "B"
        assert result.similar.price_diff == -20
        assert result.luxury is not None and result.luxury.lot_id == "C"
        assert result.luxury.upgrade_cost == 200
        assert result.count == 3

    def test_api_shape(self):
        data = select_alternatives(500, "Toyota", EXAMPLE).as_dict()
        assert list(data) == ["cheaper", "similar", "luxury", "count"]
        assert data["cheaper"] == {
            "type": "cheaper",
            "lot_id": "A",
            "slug": "2025-kia-k5-A",
            "title": "2025 Kia K5",
            "monthly": D("350"),
            "savings_vs_original": D("150"),
        }
        assert data["similar"] == {
            "type": "similar",
            "lot_id": "B",
            "slug": "2025-honda-accord-B",
            "title": "2025 Honda Accord",
            "monthly": D("480"),
            "price_diff": D("-20"),
        }
        assert data["luxury"] == {
            "type": "luxury",
            "lot_id": "C",
            "slug": "2025-lexus-es-C",
            "title": "2025 Lexus ES",
            "monthly": D("700"),
            "upgrade_cost": D("200"),
        }
        assert data["count"] == 3


class TestSelection:
    def test_cheaper_picks_the_smallest_downgrade(self):
        result = select_alternatives(
            500, "Toyota", [lot("x", "Kia", 300), lot("y", "Kia", 399), lot("z", "Kia", 250)]
        )
        assert result.cheaper.lot_id == "y"

    def test_luxury_picks_the_smallest_upgrade(self):
        result = select_alternatives(
            500, "Toyota", [lot("x", "BMW", 900), lot("y", "BMW", 651), lot("z", "BMW", 800)]
        )
        assert result.luxury.lot_id == "y"

    def test_similar_picks_the_closest_payment(self):
        result = select_alternatives(
            500, "Toyota", [lot("x", "Kia", 460), lot("y", "Kia", 515), lot("z", "Kia", 545)]
        )
        assert result.similar.lot_id == "y"
        assert result.similar.price_diff == 15

    def test_similar_requires_another_make_case_insensitively(self):
        candidates = [lot("x", "TOYOTA", 500), lot("y", " toyota ", 505), lot("z", "Mazda", 540)]
        result = select_alternatives(500, "Toyota", candidates)
        assert result.similar.lot_id == "z"

    def test_same_make_can_still_be_cheaper_or_luxury(self):
        result = select_alternatives(500, "Toyota", [lot("x", "Toyota", 300), lot("y", "Toyota", 900)])
        assert result.cheaper.lot_id == "x"
        assert result.luxury.lot_id == "y"
        assert result.similar is None
        assert result.count == 2

    @pytest.mark.parametrize(
        ("monthly", "slot"),
        [
            (399, "cheaper"),
            (400, None),  # exactly 0.80 b is not cheaper
            (449, None),
            (450, "similar"),  # |m − b| = 0.10 b is similar
            (550, "similar"),
            (551, None),
            (650, None),  # exactly 1.30 b is not luxury
            (651, "luxury"),
        ],
    )
    def test_boundaries(self, monthly, slot):
        data = select_alternatives(500, "Toyota", [lot("x", "Kia", monthly)]).as_dict()
        filled = [key for key in ("cheaper", "similar", "luxury") if data[key] is not None]
        assert filled == ([slot] if slot else [])

    def test_fractional_basis(self):
        result = select_alternatives(D("499.50"), "Toyota", [lot("x", "Kia", D("399.59"))])
        assert result.cheaper.savings_vs_original == D("99.91")


class TestTies:
    def test_most_recently_published_wins(self):
        candidates = [
            lot("old", "Kia", 350, days=0),
            lot("new", "Kia", 350, days=5),
            lot("mid", "Kia", 350, days=2),
        ]
        assert select_alternatives(500, "Toyota", candidates).cheaper.lot_id == "new"

    def test_similar_tie_across_both_sides_goes_to_the_newest(self):
        candidates = [lot("below", "Kia", 480, days=1), lot("above", "Honda", 520, days=3)]
        assert select_alternatives(500, "Toyota", candidates).similar.lot_id == "above"
        candidates = [lot("below", "Kia", 480, days=3), lot("above", "Honda", 520, days=1)]
        assert select_alternatives(500, "Toyota", candidates).similar.lot_id == "below"

    def test_never_published_loses_a_tie(self):
        unpublished = Candidate("u", "u", 2025, "Kia", "K5", 700, None)
        published = lot("p", "Kia", 700, days=-1000)
        assert select_alternatives(500, "Toyota", [unpublished, published]).luxury.lot_id == "p"

    def test_naive_published_at_is_read_as_utc(self):
        naive = Candidate("n", "n", 2025, "Kia", "K5", 700, datetime(2025, 11, 1, 13, 0))
        aware = lot("a", "Kia", 700)  # 12:00 UTC the same day
        assert select_alternatives(500, "Toyota", [aware, naive]).luxury.lot_id == "n"

    def test_full_tie_is_deterministic(self):
        first = select_alternatives(500, "Toyota", [lot("b", "Kia", 700), lot("a", "Kia", 700)])
        second = select_alternatives(500, "Toyota", [lot("a", "Kia", 700), lot("b", "Kia", 700)])
        assert first.luxury.lot_id == second.luxury.lot_id == "a"


class TestMissingData:
    @pytest.mark.parametrize("basis", [None, 0, D("0"), -10])
    def test_no_basis_gives_nothing(self, basis):
        result = select_alternatives(basis, "Toyota", EXAMPLE)
        assert result.as_dict() == {"cheaper": None, "similar": None, "luxury": None, "count": 0}

    def test_zero_and_missing_monthlies_are_never_suggested(self):
        candidates = [lot("zero", "Kia", 0), lot("none", "Kia", None), lot("negative", "Kia", -5)]
        assert select_alternatives(500, "Toyota", candidates).count == 0

    def test_no_candidates(self):
        assert select_alternatives(500, "Toyota", []).count == 0

    def test_original_make_may_be_missing(self):
        assert select_alternatives(500, None, [lot("x", "Kia", 500)]).similar.lot_id == "x"

    def test_the_original_lot_is_excluded(self):
        candidates = [lot("orig", "Kia", 500), lot("other", "Honda", 530)]
        result = select_alternatives(500, "Toyota", candidates, exclude_lot_id="orig")
        assert result.similar.lot_id == "other"


class TestOptionalBands:
    candidates = [
        lot("deep", "Kia", 250),
        lot("mild", "Kia", 320),
        lot("big", "BMW", 700),
        lot("huge", "BMW", 850),
    ]

    def test_off_by_default(self):
        result = select_alternatives(500, "Toyota", [lot("deep", "Kia", 250), lot("huge", "BMW", 850)])
        assert result.cheaper.lot_id == "deep"
        assert result.luxury.lot_id == "huge"

    def test_bands_exclude_too_far_lots(self):
        result = select_alternatives(
            500, "Toyota", [lot("deep", "Kia", 299), lot("huge", "BMW", 801)], optional_bands=True
        )
        assert result.cheaper is None
        assert result.luxury is None

    def test_band_edges_are_inclusive(self):
        result = select_alternatives(
            500, "Toyota", [lot("edge-low", "Kia", 300), lot("edge-high", "BMW", 800)], optional_bands=True
        )
        assert result.cheaper.lot_id == "edge-low"
        assert result.luxury.lot_id == "edge-high"

    def test_bands_do_not_change_the_pick_inside_them(self):
        result = select_alternatives(500, "Toyota", self.candidates, optional_bands=True)
        assert result.cheaper.lot_id == "mild"
        assert result.luxury.lot_id == "big"


class TestBasis:
    @pytest.mark.parametrize(
        ("current", "snapshot", "expected"),
        [
            (500, 450, D("500")),
            (0, 450, D("450")),
            (None, 450, D("450")),
            (None, None, None),
            (0, 0, None),
            (-1, 0, None),
            (D("499.99"), None, D("499.99")),
        ],
    )
    def test_current_then_snapshot(self, current, snapshot, expected):
        assert basis_monthly(current, snapshot) == expected
