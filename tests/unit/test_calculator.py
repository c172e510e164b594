"""Lease, finance and out-the-door math (business rules §3.1–§3.5, §3.8; consumer API §4.10.3)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.services.calculator import (
    RATE_EQUIVALENT_LABEL,
    LeaseInputs,
    amortized_payment,
    amortized_payment_exact,
    amount_financed,
    apr_for_credit_label,
    apr_to_money_factor,
    balance_after,
    finance_quote,
    lease_quote,
    money_factor_to_apr,
    out_the_door_estimate,
)
from app.services.money import round_cents

D = Decimal

# Property tests must not write a .hypothesis directory into the working tree.
PROPERTY = settings(database=None, deadline=None, max_examples=150)


def worked_example(**overrides) -> LeaseInputs:
    """The §3.4 inputs: MSRP 35,000, price 32,500, acquisition fee 650 capitalized, doc fee 85 upfront,
    residual 58%, MF 0.00200, 36 months, tax 9.5%."""
    values = {
        "msrp": 35000,
        "selling_price": 32500,
        "residual_percent": 58,
        "money_factor": D("0.00200"),
        "term_months": 36,
        "tax_rate_percent": D("9.5"),
        "acquisition_fee": 650,
        "acquisition_fee_capitalized": True,
        "doc_fee": 85,
        "doc_fee_capitalized": False,
    }
    values.update(overrides)
    return LeaseInputs(**values)


def items(quote) -> dict[str, Decimal]:
    return {item.key: item.amount for item in quote.due_at_signing}


# ------------------------------------------------------------------------------------------------------
# §3.2 money factor and APR


class TestMoneyFactorAndApr:
    def test_documented_pair(self):
        assert apr_to_money_factor(D("4.80")) == D("0.002")
        assert money_factor_to_apr(D("0.00200")) == D("4.8")

    def test_conversion_is_exact_for_a_non_terminating_quotient(self):
        mf = apr_to_money_factor(D("5.9"))
        assert mf == D("0.002458333333333333333333333333333333")
        assert abs(money_factor_to_apr(mf) - D("5.9")) < D("1E-30")

    def test_zero_rate(self):
        assert apr_to_money_factor(0) == 0
        assert money_factor_to_apr(0) == 0

    def test_negative_rates_are_refused(self):
        with pytest.raises(ValueError, match="apr_percent"):
            apr_to_money_factor(-1)
        with pytest.raises(ValueError, match="money_factor"):
            money_factor_to_apr("-0.001")

    def test_label_is_not_apr(self):
        assert "APR" not in RATE_EQUIVALENT_LABEL
        assert RATE_EQUIVALENT_LABEL == "approx. rate equivalent"

    @PROPERTY
    @given(st.decimals(min_value=0, max_value=D("0.01"), places=12))
    def test_mf_to_apr_to_mf_is_identity(self, mf):
        assert apr_to_money_factor(money_factor_to_apr(mf)) == mf

    @PROPERTY
    @given(st.decimals(min_value=0, max_value=30, places=4))
    def test_apr_to_mf_to_apr_is_identity_when_the_quotient_terminates(self, apr):
        # APR × 10^4 divisible by 3 makes APR / 2400 a terminating decimal.
        assume((apr * 10_000) % 3 == 0)
        assert money_factor_to_apr(apr_to_money_factor(apr)) == apr


# ------------------------------------------------------------------------------------------------------
# §3.4 worked lease example (golden vectors)


class TestWorkedLeaseExample:
    def test_zero_cap_reduction_column(self):
        quote = lease_quote(worked_example())
        assert quote.gross_cap_cost == D("33150.00")
        assert quote.cap_cost_reduction == D("0.00")
        assert quote.adjusted_cap_cost == D("33150.00")
        assert quote.residual_value == D("20300.00")
        assert quote.depreciation == D("356.94")
        assert quote.rent_charge == D("106.90")
        assert quote.base_payment == D("463.84")
        assert quote.monthly_tax == D("44.07")
        assert quote.total_monthly == D("507.91")
        assert quote.tax_on_cap_cost_reduction == D("0.00")
        assert quote.total_of_payments == D("18284.76")
        assert quote.total_rent_charge == D("3848.40")

    def test_two_thousand_cash_cap_reduction_column(self):
        quote = lease_quote(worked_example(cash_down=2000))
        assert quote.gross_cap_cost == D("33150.00")
        assert quote.cap_cost_reduction == D("2000.00")
        assert quote.adjusted_cap_cost == D("31150.00")
        assert quote.depreciation == D("301.39")
        assert quote.rent_charge == D("102.90")
        assert quote.base_payment == D("404.29")
        assert quote.monthly_tax == D("38.41")
        assert quote.total_monthly == D("442.70")
        assert quote.tax_on_cap_cost_reduction == D("190.00")
        assert quote.total_of_payments == D("15937.20")
        assert quote.total_rent_charge == D("3704.40")

    def test_money_values_are_in_cents(self):
        quote = lease_quote(worked_example())
        assert str(quote.total_monthly) == "507.91"
        assert str(quote.tax_on_cap_cost_reduction) == "0.00"
        assert str(quote.gross_cap_cost) == "33150.00"

    def test_tax_is_taken_on_the_unrounded_base(self):
        quote = lease_quote(worked_example())
        # The alternative policy (tax on the rounded 463.84) would give 44.06 and a 507.90 total.
        assert quote.base_payment_exact == Fraction(12850, 36) + Fraction(10690, 100)
        assert quote.monthly_tax_exact == quote.base_payment_exact * Fraction(95, 1000)
        assert quote.monthly_tax == D("44.07")

    def test_depreciation_and_rent_are_exact_before_rounding(self):
        quote = lease_quote(worked_example())
        assert quote.depreciation_exact == Fraction(33150 - 20300, 36)
        assert quote.rent_charge_exact == Fraction(53450 * 2, 1000)

    def test_sensitivity_to_money_factor(self):
        base = lease_quote(worked_example())
        higher = lease_quote(worked_example(money_factor=D("0.00210")))
        # (33,150 + 20,300) × 0.0001 = 5.345, "≈ +$5.35/mo".
        assert higher.base_payment_exact - base.base_payment_exact == Fraction(5345, 1000)

    def test_sensitivity_to_residual(self):
        base = lease_quote(worked_example())
        higher = lease_quote(worked_example(residual_percent=59))
        assert higher.residual_value == D("20650.00")
        delta = higher.base_payment_exact - base.base_payment_exact
        assert delta == Fraction(-350, 36) + Fraction(350 * 2, 1000)
        assert round(float(delta), 2) == -9.02


class TestDueAtSigning:
    def test_zero_cap_reduction_itemization(self):
        quote = lease_quote(
            worked_example(
                dmv_fees=D("395.25"),
                tire_fee=D("8.75"),
                electronic_filing_fee=D("30"),
            )
        )
        assert [item.key for item in quote.due_at_signing] == [
            "first_payment",
            "doc_fee",
            "doc_fee_tax",
            "dmv_fees",
            "tire_fee",
            "electronic_filing_fee",
        ]
        assert items(quote) == {
            "first_payment": D("507.91"),
            "doc_fee": D("85.00"),
            "doc_fee_tax": D("8.08"),
            "dmv_fees": D("395.25"),
            "tire_fee": D("8.75"),
            "electronic_filing_fee": D("30.00"),
        }
        assert quote.due_at_signing_total == D("1034.99")
        assert quote.due_at_signing_complete is True
        assert quote.cash_due_at_signing == D("1034.99")
        assert all(item.label for item in quote.due_at_signing)

    def test_unknown_government_fees_are_left_out_and_flagged(self):
        quote = lease_quote(worked_example(tire_fee=D("8.75")))
        assert "dmv_fees" not in items(quote)
        assert "electronic_filing_fee" not in items(quote)
        assert quote.due_at_signing_complete is False
        assert quote.due_at_signing_total == D("507.91") + D("85") + D("8.08") + D("8.75")

    def test_cap_reduction_and_its_tax_are_due_at_signing(self):
        quote = lease_quote(worked_example(cash_down=2000))
        assert items(quote)["cap_cost_reduction"] == D("2000.00")
        assert items(quote)["cap_cost_reduction_tax"] == D("190.00")
        assert quote.due_at_signing_total == D("442.70") + D("2000") + D("190") + D("85") + D("8.08")

    def test_rebates_and_trade_in_are_cap_reduction_but_not_cash(self):
        quote = lease_quote(worked_example(cash_down=1000, rebates=500, trade_in_equity=1500))
        assert quote.cap_cost_reduction == D("3000.00")
        # Lease cash and trade-in applied as a reduction are taxed like cash (§3.7).
        assert quote.tax_on_cap_cost_reduction == D("285.00")
        assert quote.paid_by_rebates == D("500.00")
        assert quote.paid_by_trade_in == D("1500.00")
        assert quote.cash_due_at_signing == quote.due_at_signing_total - D("2000")

    def test_upfront_acquisition_fee_is_itemized_with_tax_and_not_capitalized(self):
        quote = lease_quote(worked_example(acquisition_fee_capitalized=False))
        assert quote.gross_cap_cost == D("32500.00")
        assert items(quote)["acquisition_fee"] == D("650.00")
        assert items(quote)["acquisition_fee_tax"] == D("61.75")

    def test_capitalized_doc_fee_moves_into_the_payment(self):
        quote = lease_quote(worked_example(doc_fee_capitalized=True))
        assert quote.gross_cap_cost == D("33235.00")
        assert "doc_fee" not in items(quote)
        assert quote.base_payment > D("463.84")

    def test_security_deposit_is_listed_separately(self):
        quote = lease_quote(worked_example(security_deposit=500))
        assert quote.security_deposit == D("500.00")
        assert quote.due_at_signing_total == D("507.91") + D("85") + D("8.08")

    def test_gross_cap_includes_addons_negative_equity_and_rolled_in_amounts(self):
        quote = lease_quote(worked_example(dealer_addons=1000, negative_equity=2500, other_capitalized=400))
        assert quote.gross_cap_cost == D("33150") + D("1000") + D("2500") + D("400")


class TestLeaseValidation:
    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("term_months", 11, "term_months must be between 12 and 96"),
            ("term_months", 97, "term_months must be between 12 and 96"),
            ("term_months", "36", "term_months must be an integer"),
            ("term_months", True, "term_months must be an integer"),
            ("money_factor", D("-0.0001"), "money_factor must be between 0 and 0.01"),
            ("money_factor", D("0.0101"), "money_factor must be between 0 and 0.01"),
            ("residual_percent", -1, "residual_percent must be between 0 and 100"),
            ("residual_percent", D("100.5"), "residual_percent must be between 0 and 100"),
            ("tax_rate_percent", -1, "tax_rate_percent must be between 0 and 25"),
            ("msrp", 0, "msrp must be greater than 0"),
            ("selling_price", -1, "selling_price must be greater than 0"),
            ("doc_fee", -85, "doc_fee must not be negative"),
            ("cash_down", "-1", "cash_down must not be negative"),
            ("tire_fee", D("-8.75"), "tire_fee must not be negative"),
            ("acquisition_fee", D("650.001"), "acquisition_fee must be a dollar amount with at most 2"),
            ("rebates", "lots", "rebates must be a finite decimal number"),
            ("msrp", "NaN", "msrp must be a finite decimal number"),
            ("acquisition_fee_capitalized", "yes", "acquisition_fee_capitalized must be true or false"),
        ],
    )
    def test_invalid_field_is_named(self, field, value, message):
        with pytest.raises(ValueError, match=message):
            worked_example(**{field: value})

    def test_float_amounts_are_refused(self):
        with pytest.raises(TypeError, match="selling_price"):
            worked_example(selling_price=32500.0)

    def test_boundaries_are_accepted(self):
        assert lease_quote(worked_example(term_months=12)).term_months == 12
        assert lease_quote(worked_example(term_months=96)).term_months == 96
        assert lease_quote(worked_example(money_factor=0)).rent_charge == 0
        assert lease_quote(worked_example(money_factor=D("0.01"))).base_payment > 0
        assert lease_quote(worked_example(residual_percent=0)).residual_value == 0

    def test_cap_reduction_below_residual_is_refused(self):
        with pytest.raises(ValueError, match="cap_cost_reduction"):
            worked_example(cash_down=13000)  # adjusted cap 20,150 < residual 20,300

    def test_inputs_are_frozen_and_normalised(self):
        inputs = worked_example(money_factor="0.00200", tax_rate_percent="9.5")
        assert inputs.money_factor == D("0.002")
        assert isinstance(inputs.msrp, Decimal)
        with pytest.raises(dataclasses.FrozenInstanceError):
            inputs.msrp = D(1)  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------------
# §3.1 properties


money = st.decimals(min_value=0, max_value=5000, places=2)


@st.composite
def lease_inputs(draw) -> LeaseInputs:
    msrp = draw(st.decimals(min_value=15000, max_value=150000, places=0))
    price = draw(st.decimals(min_value=msrp * D("0.8"), max_value=msrp, places=2))
    return LeaseInputs(
        msrp=msrp,
        selling_price=price,
        residual_percent=draw(st.decimals(min_value=30, max_value=75, places=1)),
        money_factor=draw(st.decimals(min_value=0, max_value=D("0.0045"), places=6)),
        term_months=draw(st.integers(min_value=12, max_value=96)),
        tax_rate_percent=draw(st.decimals(min_value=0, max_value=11, places=3)),
        acquisition_fee=draw(st.sampled_from([0, 595, 650, 995])),
        doc_fee=draw(st.sampled_from([0, 70, 85])),
        dealer_addons=draw(money),
    )


class TestLeaseProperties:
    @PROPERTY
    @given(lease_inputs(), st.decimals(min_value=D("0.000001"), max_value=D("0.0055"), places=6))
    def test_payment_rises_with_money_factor(self, inputs, increase):
        higher = dataclasses.replace(inputs, money_factor=inputs.money_factor + increase)
        low, high = lease_quote(inputs), lease_quote(higher)
        assert high.base_payment_exact > low.base_payment_exact
        assert high.base_payment >= low.base_payment
        assert high.total_monthly >= low.total_monthly

    @PROPERTY
    @given(lease_inputs(), st.decimals(min_value=D("0.1"), max_value=20, places=1))
    def test_payment_falls_with_residual(self, inputs, increase):
        try:
            higher = dataclasses.replace(inputs, residual_percent=inputs.residual_percent + increase)
        except ValueError:
            assume(False)  # the residual would exceed the adjusted cap cost
        low, high = lease_quote(inputs), lease_quote(higher)
        assert high.residual_value > low.residual_value
        assert high.base_payment_exact < low.base_payment_exact
        assert high.base_payment <= low.base_payment

    @PROPERTY
    @given(lease_inputs(), st.decimals(min_value=D("0.01"), max_value=8000, places=2))
    def test_cap_reduction_lowers_pretax_payment_by_ccr_over_term_plus_ccr_times_mf(self, inputs, ccr):
        try:
            reduced = dataclasses.replace(inputs, cash_down=ccr)
        except ValueError:
            assume(False)
        before, after = lease_quote(inputs), lease_quote(reduced)
        expected = Fraction(ccr) / inputs.term_months + Fraction(ccr) * Fraction(inputs.money_factor)
        assert before.base_payment_exact - after.base_payment_exact == expected

    @PROPERTY
    @given(lease_inputs())
    def test_totals_follow_from_the_rounded_parts(self, inputs):
        quote = lease_quote(inputs)
        assert abs(Fraction(quote.base_payment) - quote.base_payment_exact) <= Fraction(1, 200)
        assert abs(Fraction(quote.monthly_tax) - quote.monthly_tax_exact) <= Fraction(1, 200)
        assert quote.total_monthly == quote.base_payment + quote.monthly_tax
        assert quote.total_of_payments == quote.total_monthly * inputs.term_months
        assert quote.monthly_tax >= 0
        assert quote.adjusted_cap_cost == quote.gross_cap_cost - quote.cap_cost_reduction


# ------------------------------------------------------------------------------------------------------
# §3.5 finance


class TestFinance:
    def test_golden_vector(self):
        quote = finance_quote(D("32689.33"), D("5.90"), 60)
        assert quote.monthly_payment == D("630.46")
        assert quote.total_of_payments == D("37827.60")
        assert quote.finance_charge == D("5138.27")
        assert quote.amount_financed == D("32689.33")
        assert quote.apr_percent == D("5.90")
        assert quote.term_months == 60

    def test_amount_financed_golden_vector(self):
        result = amount_financed(
            32500, tax_rate_percent=D("9.5"), doc_fee=85, tire_fee=D("8.75"), down_payment=3000
        )
        assert result.taxable_base == D("32585.00")
        assert result.sales_tax == D("3095.58")
        assert result.amount_financed == D("32689.33")

    def test_amount_financed_adds_financed_dmv_fees(self):
        result = amount_financed(20000, tax_rate_percent=0, dmv_fees=D("400.50"))
        assert result.amount_financed == D("20400.50")

    def test_down_payment_above_total_is_refused(self):
        with pytest.raises(ValueError, match="down_payment"):
            amount_financed(1000, tax_rate_percent=0, down_payment=1001)

    def test_zero_apr_is_principal_over_months(self):
        assert amortized_payment_exact(12000, 0, 60) == Fraction(200)
        assert amortized_payment(12000, 0, 60) == D("200.00")
        assert amortized_payment(1000, 0, 12) == D("83.33")

    def test_zero_principal_costs_nothing(self):
        assert amortized_payment(0, D("5.9"), 60) == D("0.00")

    def test_rounding_to_whole_dollars_rounds_the_exact_payment_once(self):
        # 374.4952… at 3.5% over 60 months on 20,586: cents first would give 374.50 and then 375.
        exact = amortized_payment_exact(20586, D("3.5"), 60)
        assert Fraction(374495, 1000) < exact < Fraction(3745, 10)
        assert amortized_payment(20586, D("3.5"), 60) == D("374.50")
        assert amortized_payment(20586, D("3.5"), 60, places=0) == D("374")

    def test_contract_payment_is_589_09_before_dollar_rounding(self):
        exact = amortized_payment_exact(32382, D("3.5"), 60)
        assert Fraction(58908, 100) < exact < Fraction(58909, 100)
        assert amortized_payment(32382, D("3.5"), 60, places=0) == D("589")

    def test_known_textbook_payment(self):
        # 10,000 at 12% for 12 months: 888.49 (standard amortization table value).
        assert amortized_payment(10000, 12, 12) == D("888.49")

    def test_balance_after_endpoints_and_midpoint(self):
        assert balance_after(D("32689.33"), D("5.9"), 60, 0) == D("32689.33")
        assert balance_after(D("32689.33"), D("5.9"), 60, 60) == D("0.00")
        assert balance_after(12000, 0, 60, 30) == D("6000.00")

    def test_balance_matches_the_recurrence(self):
        principal, apr, months = Fraction(25000), Fraction(69, 10), 48
        rate = apr / 1200
        payment = amortized_payment_exact(25000, D("6.9"), months)
        balance = principal
        for paid in range(1, months + 1):
            balance = balance * (1 + rate) - payment
            assert balance_after(25000, D("6.9"), months, paid) == round_cents(balance)

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"principal": -1, "apr_percent": 5, "months": 60}, "principal"),
            ({"principal": 1000, "apr_percent": -1, "months": 60}, "apr_percent"),
            ({"principal": 1000, "apr_percent": 31, "months": 60}, "apr_percent"),
            ({"principal": 1000, "apr_percent": 5, "months": 11}, "months"),
            ({"principal": 1000, "apr_percent": 5, "months": 97}, "months"),
            ({"principal": "1000.005", "apr_percent": 5, "months": 60}, "principal"),
        ],
    )
    def test_invalid_arguments_are_named(self, kwargs, field):
        with pytest.raises(ValueError, match=field):
            amortized_payment(**kwargs)

    @pytest.mark.parametrize("paid", [-1, 61, True])
    def test_payments_made_must_be_within_the_term(self, paid):
        with pytest.raises(ValueError, match="payments_made"):
            balance_after(1000, 5, 60, paid)

    @PROPERTY
    @given(
        st.decimals(min_value=1000, max_value=150000, places=2),
        st.decimals(min_value=0, max_value=30, places=2),
        st.integers(min_value=12, max_value=96),
    )
    def test_payment_repays_principal_with_interest(self, principal, apr, months):
        quote = finance_quote(principal, apr, months)
        # The rounded payment is within half a cent of the exact one, so the total is within n/2 cents.
        exact_total = amortized_payment_exact(principal, apr, months) * months
        assert abs(Fraction(quote.total_of_payments) - exact_total) <= Fraction(months, 200)
        if apr > 0:
            assert exact_total > Fraction(principal)
        assert quote.finance_charge == quote.total_of_payments - principal

    @PROPERTY
    @given(
        st.decimals(min_value=1000, max_value=100000, places=2),
        st.decimals(min_value=0, max_value=D("29.99"), places=2),
        st.integers(min_value=12, max_value=96),
    )
    def test_payment_rises_with_apr(self, principal, apr, months):
        lower = amortized_payment_exact(principal, apr, months)
        higher = amortized_payment_exact(principal, apr + D("0.01"), months)
        assert higher > lower


# ------------------------------------------------------------------------------------------------------
# §3.8 out-the-door estimate


class TestOutTheDoor:
    def test_contract_example(self):
        estimate = out_the_door_estimate(30000, "CA", "good", down_payment=0, term=60)
        assert estimate.as_dict() == {
            "estOtdoor": D("32382"),
            "tax": D("2175"),
            "fees": D("206.75"),
            "apr": D("3.5"),
            "monthlyPayment": D("589"),
        }
        assert list(estimate.as_dict()) == ["estOtdoor", "tax", "fees", "apr", "monthlyPayment"]

    def test_defaults_are_no_down_payment_and_sixty_months(self):
        assert out_the_door_estimate(30000, "ca", "good") == out_the_door_estimate(
            30000, "CA", "good", down_payment=0, term=60
        )

    @pytest.mark.parametrize(
        ("label", "apr"),
        [
            ("excellent", "2.9"),
            ("good", "3.5"),
            ("fair", "5.5"),
            ("poor", "7.5"),
            ("bad", "12.0"),
            ("Excellent", "2.9"),
            (" good ", "3.5"),
            ("unknown", "4.5"),
            ("", "4.5"),
            (None, "4.5"),
        ],
    )
    def test_apr_by_credit_label(self, label, apr):
        assert apr_for_credit_label(label) == D(apr)
        assert out_the_door_estimate(25000, "CA", label).apr == D(apr)

    def test_tax_is_rounded_half_up_to_dollars(self):
        # 10,010 × 7.25% = 725.725 → 726; total 10,010 + 726 + 206.75 = 10,942.75 → 10,943.
        estimate = out_the_door_estimate(10010, "CA", "good")
        assert estimate.tax == D("726")
        assert estimate.est_otdoor == D("10943")

    def test_unknown_two_letter_state_uses_the_fallback_row(self):
        estimate = out_the_door_estimate(20000, "zz", "good")
        assert estimate.tax == D("1400")
        assert estimate.fees == D("300")
        assert estimate.est_otdoor == D("21700")

    def test_state_without_sales_tax(self):
        estimate = out_the_door_estimate(20000, "OR", "good")
        assert estimate.tax == D("0")
        assert estimate.fees == D("339.0")
        assert estimate.est_otdoor == D("20339")

    def test_down_payment_reduces_the_payment(self):
        full = out_the_door_estimate(30000, "CA", "good")
        with_down = out_the_door_estimate(30000, "CA", "good", down_payment=5000)
        assert with_down.est_otdoor == full.est_otdoor
        assert with_down.monthly_payment == amortized_payment(32382 - 5000, D("3.5"), 60, places=0)

    def test_down_payment_covering_everything_means_no_payment(self):
        assert out_the_door_estimate(30000, "CA", "good", down_payment=40000).monthly_payment == 0

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"price": 0}, "price"),
            ({"price": -5}, "price"),
            ({"state": "California"}, "state"),
            ({"state": "C"}, "state"),
            ({"down_payment": -1}, "down_payment"),
            ({"term": 11}, "term"),
            ({"term": 97}, "term"),
        ],
    )
    def test_invalid_input_is_named(self, kwargs, field):
        arguments = {"price": 30000, "state": "CA", "credit_score_label": "good"} | kwargs
        with pytest.raises(ValueError, match=field):
            out_the_door_estimate(**arguments)
