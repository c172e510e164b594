"""Trade-in estimate by the local model (business rules §5.7)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.services.trade_in import (
    PACIFIC,
    LocalTradeInModel,
    TradeInValuation,
    TradeInValuator,
    pacific_today,
)


def model_at(year: int) -> LocalTradeInModel:
    return LocalTradeInModel(today=lambda: date(year, 6, 1))


def estimate(valuator: TradeInValuator, year: int, mileage: int, condition: str) -> TradeInValuation:
    return valuator.estimate(
        vin="", year=year, make="Honda", model="Accord", mileage=mileage, condition=condition
    )


class TestRuleTable:
    @pytest.mark.parametrize(
        ("model_year", "mileage", "condition", "valuation_year", "value"),
        [
            (2020, 50_000, "good", 2025, 4_050),
            (2020, 50_000, "good", 2026, 0),
            (2012, 150_000, "poor", 2026, 0),  # the old system returned -25,200
            (2024, 20_000, "excellent", 2026, 19_800),
            (2027, 10, "excellent", 2026, 29_999),  # future model year: age 0
        ],
    )
    def test_examples(self, model_year, mileage, condition, valuation_year, value):
        result = estimate(model_at(valuation_year), model_year, mileage, condition)
        assert result == TradeInValuation(
            value=value,
            source="local_model",
            note="Estimate only – not a Kelley Blue Book valuation",
        )


class TestLocalModel:
    @pytest.mark.parametrize(
        ("condition", "value"),
        [("excellent", 30_000), ("good", 27_000), ("fair", 22_500), ("poor", 18_000)],
    )
    def test_condition_multipliers(self, condition, value):
        assert estimate(model_at(2026), 2026, 0, condition).value == value

    def test_value_is_floored(self):
        # 30,000 × (1 − 0.20 × 1/100,000) = 29,999.94
        assert estimate(model_at(2026), 2026, 1, "excellent").value == 29_999

    def test_value_is_an_int(self):
        assert type(estimate(model_at(2026), 2022, 12_345, "fair").value) is int

    @pytest.mark.parametrize("condition", ["Good", "excellent ", "mint", "", "like new"])
    def test_unknown_condition_is_refused(self, condition):
        with pytest.raises(ValueError, match="condition must be one of: excellent, good, fair, poor"):
            estimate(model_at(2026), 2020, 10_000, condition)

    @pytest.mark.parametrize("mileage", [-1, True, "1000"])
    def test_invalid_mileage_is_refused(self, mileage):
        with pytest.raises(ValueError, match="mileage"):
            estimate(model_at(2026), 2020, mileage, "good")

    def test_invalid_year_is_refused(self):
        with pytest.raises(ValueError, match="year"):
            estimate(model_at(2026), "2020", 1_000, "good")

    def test_valuation_year_comes_from_the_injected_pacific_date(self):
        calls: list[int] = []

        def today() -> date:
            calls.append(1)
            return date(2025, 12, 31)

        assert estimate(LocalTradeInModel(today=today), 2020, 50_000, "good").value == 4_050
        assert calls == [1]

    def test_pacific_calendar_year_not_utc(self):
        # New Year in UTC is still December 31 in California: a 2020 car is valued at age 5, not 6.
        new_year_utc = datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
        assert pacific_today(new_year_utc) == date(2025, 12, 31)
        valuator = LocalTradeInModel(today=lambda: pacific_today(new_year_utc))
        assert estimate(valuator, 2020, 50_000, "good").value == 4_050

    def test_default_clock_is_pacific_today(self):
        before = datetime.now(PACIFIC).date()
        today = pacific_today()
        after = datetime.now(PACIFIC).date()
        assert before <= today <= after

    def test_naive_now_is_refused(self):
        with pytest.raises(ValueError):
            pacific_today(datetime(2026, 1, 1, 5, 0))

    def test_satisfies_the_protocol(self):
        valuator: TradeInValuator = LocalTradeInModel()
        assert estimate(valuator, 2100, 0, "excellent").value == 30_000
