"""Local prescoring (business rules §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.services.prescoring import LocalPrescorer, Prescorer, PrescoreResult, monthly_income

PRESCORER: Prescorer = LocalPrescorer()


class TestRuleExamples:
    @pytest.mark.parametrize(
        ("profile", "score", "tier", "history", "probability", "down", "max_amount"),
        [
            ({"annual_income": 90_000, "credit_score": 690}, 690, "Tier 2", "Fair", "Medium", 5_000, 40_500),
            ({"monthly_income_pretax": 5_000}, 650, "Tier 3", "Fair", "Medium", 5_000, 27_000),
            (
                {"monthly_income_pretax": 8_000, "credit_score": 735},
                735,
                "Tier 1",
                "Good",
                "High",
                3_000,
                43_200,
            ),
        ],
    )
    def test_examples(self, profile, score, tier, history, probability, down, max_amount):
        result = PRESCORER.prescore(profile)
        assert result.credit_score == score
        assert result.credit_tier == tier
        assert result.payment_history == history
        assert result.approval_probability == probability
        assert result.recommended_down_payment == down
        assert result.max_approved_amount == max_amount

    def test_null_credit_score_counts_as_650(self):
        result = PRESCORER.prescore({"credit_score": None, "monthly_income_pretax": 5_000})
        assert result.credit_score == 650
        assert result.credit_tier == "Tier 3"
        assert result.approval_probability == "Medium"


class TestThresholds:
    @pytest.mark.parametrize(
        ("score", "tier", "history", "probability", "down"),
        [
            (850, "Tier 1", "Good", "High", 3_000),
            (720, "Tier 1", "Good", "High", 3_000),
            (719, "Tier 2", "Good", "High", 3_000),
            (700, "Tier 2", "Good", "High", 3_000),
            (699, "Tier 2", "Fair", "Medium", 5_000),
            (680, "Tier 2", "Fair", "Medium", 5_000),
            (679, "Tier 3", "Fair", "Medium", 5_000),
            (650, "Tier 3", "Fair", "Medium", 5_000),
            (649, "Tier 3", "Fair", "Low", 5_000),
            (300, "Tier 3", "Fair", "Low", 5_000),
        ],
    )
    def test_boundaries(self, score, tier, history, probability, down):
        result = PRESCORER.prescore({"credit_score": score})
        assert (result.credit_tier, result.payment_history, result.approval_probability) == (
            tier,
            history,
            probability,
        )
        assert result.recommended_down_payment == down


class TestIncome:
    def test_monthly_income_wins_when_positive(self):
        assert monthly_income({"monthly_income_pretax": 6_000, "annual_income": 120_000}) == 6_000

    @pytest.mark.parametrize("monthly", [0, None, -100])
    def test_annual_income_is_the_fallback(self, monthly):
        assert monthly_income({"monthly_income_pretax": monthly, "annual_income": 60_000}) == 5_000

    def test_no_income_gives_30000_max(self):
        assert PRESCORER.prescore({}).max_approved_amount == 30_000
        assert (
            PRESCORER.prescore({"monthly_income_pretax": 0, "annual_income": 0}).max_approved_amount == 30_000
        )

    def test_max_amount_is_exact_for_annual_income(self):
        # 100,000 / 12 × 36 × 0.15 = 45,000 exactly; decimal division would land a hair below it.
        assert PRESCORER.prescore({"annual_income": 100_000}).max_approved_amount == 45_000

    def test_max_amount_is_floored(self):
        # 3,333.33 × 5.4 = 17,999.982
        assert PRESCORER.prescore({"monthly_income_pretax": Decimal("3333.33")}).max_approved_amount == 17_999

    def test_numeric_strings_decimals_and_legacy_floats_are_read(self):
        assert (
            PRESCORER.prescore({"monthly_income_pretax": "5000", "credit_score": "735"}).credit_score == 735
        )
        assert PRESCORER.prescore({"monthly_income_pretax": 5000.5}).max_approved_amount == 27_002
        assert PRESCORER.prescore({"annual_income": Decimal("90000")}).max_approved_amount == 40_500

    @pytest.mark.parametrize(
        ("profile", "field"),
        [
            ({"credit_score": "excellent"}, "credit_score"),
            ({"credit_score": 700.5}, "credit_score"),
            ({"credit_score": True}, "credit_score"),
            ({"monthly_income_pretax": "a lot"}, "monthly_income_pretax"),
            ({"annual_income": [1]}, "annual_income"),
            ({"annual_income": "NaN"}, "annual_income"),
        ],
    )
    def test_unusable_values_name_the_field(self, profile, field):
        with pytest.raises(ValueError, match=field):
            PRESCORER.prescore(profile)


class TestResultShape:
    def test_provenance_and_placeholders(self):
        result = PRESCORER.prescore({"credit_score": 700})
        assert result.provider == "local_model"
        assert result.pull_type == "none"
        assert result.consent_id is None
        assert result.notes == "Estimate from self-reported data – no credit report was pulled"
        assert result.debt_to_income_ratio == Decimal("0.35")
        assert result.open_accounts == 5
        assert result.recent_inquiries == 2
        assert result.unavailable_fields == ("debt_to_income_ratio", "open_accounts", "recent_inquiries")

    def test_checked_at_and_by_are_passed_through(self):
        now = datetime(2025, 11, 17, 17, 0, tzinfo=UTC)
        result = PRESCORER.prescore({}, checked_at=now, checked_by="fm@cargwin.com")
        assert result.checked_at == now
        assert result.checked_by == "fm@cargwin.com"
        unset = PRESCORER.prescore({})
        assert unset.checked_at is None
        assert unset.checked_by is None

    def test_naive_checked_at_is_refused(self):
        with pytest.raises(ValueError, match="checked_at"):
            PRESCORER.prescore({}, checked_at=datetime(2025, 11, 17, 17, 0))

    def test_as_dict_has_every_field(self):
        now = datetime(2025, 11, 17, 17, 0, tzinfo=UTC)
        data = PRESCORER.prescore(
            {"credit_score": 735, "monthly_income_pretax": 8_000}, checked_at=now, checked_by="fm-1"
        ).as_dict()
        assert data == {
            "credit_score": 735,
            "credit_tier": "Tier 1",
            "payment_history": "Good",
            "approval_probability": "High",
            "recommended_down_payment": 3_000,
            "max_approved_amount": 43_200,
            "debt_to_income_ratio": Decimal("0.35"),
            "open_accounts": 5,
            "recent_inquiries": 2,
            "notes": "Estimate from self-reported data – no credit report was pulled",
            "provider": "local_model",
            "pull_type": "none",
            "consent_id": None,
            "checked_at": now,
            "checked_by": "fm-1",
            "unavailable_fields": ["debt_to_income_ratio", "open_accounts", "recent_inquiries"],
        }

    def test_result_is_immutable(self):
        result = PRESCORER.prescore({})
        assert isinstance(result, PrescoreResult)
        with pytest.raises(AttributeError):
            result.credit_score = 800  # type: ignore[misc]
