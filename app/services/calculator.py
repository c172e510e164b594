"""Lease and finance payment math (business rules §3.1–§3.5) and the out-the-door estimate (§3.8).

Exactness: quantities such as ``(adjusted cap − residual) ÷ 36`` have no finite decimal expansion, so the
unrounded values are computed as exact :class:`fractions.Fraction` values and rounded half-up to cents only
where the rounding policy of §3.3 says so. Every money value handed back is a :class:`~decimal.Decimal`;
the ``*_exact`` fields expose the unrounded Fractions for cross-checks and property tests.

Lease rounding policy (§3.3, pending VERIFY against a lessor worksheet):

* depreciation and rent charge are not rounded before they are added;
* base payment = round(depreciation + rent charge);
* monthly tax = round(unrounded base × rate);
* total monthly = base payment + monthly tax; total of payments = total monthly × term.

A money factor is not an APR (Regulation M): wherever :func:`money_factor_to_apr` is shown to a person it
must carry :data:`RATE_EQUIVALENT_LABEL` and the notice that it may not measure the overall cost of
financing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from app.services.money import CENT, ZERO, round_cents, round_dollars, round_half_up, to_decimal
from app.services.tax_fees import state_row, total_fees

__all__ = [
    "CREDIT_LABEL_APRS",
    "DEFAULT_CREDIT_APR",
    "RATE_EQUIVALENT_LABEL",
    "AmountFinanced",
    "DueItem",
    "FinanceQuote",
    "LeaseInputs",
    "LeaseQuote",
    "OutTheDoorEstimate",
    "amortized_payment",
    "amortized_payment_exact",
    "amount_financed",
    "apr_for_credit_label",
    "apr_to_money_factor",
    "balance_after",
    "finance_quote",
    "lease_quote",
    "money_factor_to_apr",
    "out_the_door_estimate",
]

MF_TO_APR = Decimal(2400)
"""APR (percent) = MF × 2400: the rent charge is the average balance (cap + RV) / 2 at APR / 1200 a month."""

RATE_EQUIVALENT_LABEL = "approx. rate equivalent"

MIN_TERM_MONTHS = 12
MAX_TERM_MONTHS = 96
MAX_MONEY_FACTOR = Decimal("0.01")
MAX_APR_PERCENT = Decimal(30)
MAX_TAX_RATE_PERCENT = Decimal(25)
MAX_AMOUNT = Decimal(100_000_000)
"""Sanity ceiling for any dollar input (keeps cent arithmetic well inside Decimal precision)."""

CREDIT_LABEL_APRS: MappingProxyType[str, Decimal] = MappingProxyType(
    {
        "excellent": Decimal("2.9"),
        "good": Decimal("3.5"),
        "fair": Decimal("5.5"),
        "poor": Decimal("7.5"),
        "bad": Decimal("12.0"),
    }
)
"""Illustrative APRs of the out-the-door estimate (§3.8); not credit offers."""

DEFAULT_CREDIT_APR = Decimal("4.5")

_HUNDRED = Fraction(100)


# --------------------------------------------------------------------------------------------------------
# Validation helpers


def _money(name: str, value: Any) -> Decimal:
    """``value`` as a Decimal, with errors naming the field."""
    try:
        return to_decimal(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, str or Decimal amount, not {type(value).__name__}") from None
    except ValueError:
        raise ValueError(f"{name} must be a finite decimal number") from None


def _non_negative(name: str, value: Any) -> Decimal:
    amount = _money(name, value)
    if amount < 0:
        raise ValueError(f"{name} must not be negative")
    return amount


def _positive(name: str, value: Any) -> Decimal:
    amount = _money(name, value)
    if amount <= 0:
        raise ValueError(f"{name} must be greater than 0")
    return amount


def _amount(name: str, value: Any, *, positive: bool = False) -> Decimal:
    """A dollar amount: not negative (or > 0 with ``positive``), whole cents, returned with two decimals."""
    amount = _positive(name, value) if positive else _non_negative(name, value)
    if amount > MAX_AMOUNT:
        raise ValueError(f"{name} must not exceed {MAX_AMOUNT}")
    if amount != amount.quantize(CENT, rounding=ROUND_DOWN):
        raise ValueError(f"{name} must be a dollar amount with at most 2 decimal places")
    return amount.quantize(CENT)


def _in_range(name: str, value: Any, low: Decimal, high: Decimal) -> Decimal:
    amount = _money(name, value)
    if not low <= amount <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return amount


def _term(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of months")
    if not MIN_TERM_MONTHS <= value <= MAX_TERM_MONTHS:
        raise ValueError(f"{name} must be between {MIN_TERM_MONTHS} and {MAX_TERM_MONTHS} months")
    return value


# --------------------------------------------------------------------------------------------------------
# Money factor and APR (§3.2)


def apr_to_money_factor(apr_percent: Decimal | int | str) -> Decimal:
    """``MF = APR ÷ 2400`` with APR in percent: 4.80 → 0.002.

    The quotient is exact when it terminates; otherwise it carries 34 significant digits.
    """
    apr = _non_negative("apr_percent", apr_percent)
    with localcontext() as ctx:
        ctx.prec = 34
        return apr / MF_TO_APR


def money_factor_to_apr(money_factor: Decimal | int | str) -> Decimal:
    """``APR = MF × 2400`` (percent), exact: 0.00200 → 4.80. Label it :data:`RATE_EQUIVALENT_LABEL`.

    ``apr_to_money_factor(money_factor_to_apr(mf)) == mf`` holds exactly for every money factor of up to
    30 significant digits.
    """
    mf = _non_negative("money_factor", money_factor)
    with localcontext() as ctx:
        ctx.prec = 34
        return mf * MF_TO_APR


# --------------------------------------------------------------------------------------------------------
# Lease (§3.1, §3.3, §3.4)

_LEASE_MONEY_FIELDS = (
    "acquisition_fee",
    "doc_fee",
    "cash_down",
    "rebates",
    "trade_in_equity",
    "dealer_addons",
    "negative_equity",
    "other_capitalized",
    "security_deposit",
)
_LEASE_OPTIONAL_FEES = ("dmv_fees", "tire_fee", "electronic_filing_fee")


@dataclass(frozen=True, slots=True)
class LeaseInputs:
    """Everything a lease quote depends on. Amounts accept ``int``, ``str`` or ``Decimal`` (never float)
    and are stored as Decimal; construction validates them and raises ``ValueError`` naming the field.

    * ``selling_price``: the negotiated price (the lot's fleet price).
    * ``residual_percent``: percent of MSRP, 0–100; ``money_factor``: 0–0.01; ``term_months``: 12–96.
    * ``tax_rate_percent``: the rate of the lessee's registration address (CA: base 7.25 plus district).
    * Capitalized-cost additions: ``dealer_addons``, ``negative_equity``, the acquisition fee when
      ``acquisition_fee_capitalized``, the doc fee when ``doc_fee_capitalized``, and ``other_capitalized``
      (taxes or DMV fees rolled into the lease).
    * Cap-cost reduction (CCR) = ``cash_down`` + ``rebates`` (lease cash applied) + ``trade_in_equity``
      (net positive equity; negative equity goes in ``negative_equity``).
    * Drive-off items that are only itemized when known: ``dmv_fees`` (registration, VLF and fees),
      ``tire_fee`` (CA: 8.75 on a new car) and ``electronic_filing_fee``. ``None`` means "not known yet".
    * ``security_deposit``: refundable, listed separately from the amount due at signing.
    """

    msrp: Decimal
    selling_price: Decimal
    residual_percent: Decimal
    money_factor: Decimal
    term_months: int
    tax_rate_percent: Decimal
    acquisition_fee: Decimal = ZERO
    acquisition_fee_capitalized: bool = True
    doc_fee: Decimal = ZERO
    doc_fee_capitalized: bool = False
    cash_down: Decimal = ZERO
    rebates: Decimal = ZERO
    trade_in_equity: Decimal = ZERO
    dealer_addons: Decimal = ZERO
    negative_equity: Decimal = ZERO
    other_capitalized: Decimal = ZERO
    dmv_fees: Decimal | None = None
    tire_fee: Decimal | None = None
    electronic_filing_fee: Decimal | None = None
    security_deposit: Decimal = ZERO

    def __post_init__(self) -> None:
        # Frozen: normalised values are written with object.__setattr__, once, here.
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("msrp", _amount("msrp", self.msrp, positive=True))
        put("selling_price", _amount("selling_price", self.selling_price, positive=True))
        put("residual_percent", _in_range("residual_percent", self.residual_percent, ZERO, Decimal(100)))
        put("money_factor", _in_range("money_factor", self.money_factor, ZERO, MAX_MONEY_FACTOR))
        put("term_months", _term("term_months", self.term_months))
        put(
            "tax_rate_percent",
            _in_range("tax_rate_percent", self.tax_rate_percent, ZERO, MAX_TAX_RATE_PERCENT),
        )
        for name in _LEASE_MONEY_FIELDS:
            put(name, _amount(name, getattr(self, name)))
        for name in _LEASE_OPTIONAL_FEES:
            value = getattr(self, name)
            if value is not None:
                put(name, _amount(name, value))
        for name in ("acquisition_fee_capitalized", "doc_fee_capitalized"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false")
        adjusted = self.gross_cap_cost - self.cap_cost_reduction
        if adjusted < self.residual_value:
            raise ValueError(
                f"cap_cost_reduction is too large: the adjusted cap cost ({adjusted}) is below "
                f"the residual value ({self.residual_value})"
            )

    @property
    def gross_cap_cost(self) -> Decimal:
        """Selling price + dealer add-ons + capitalized fees + other capitalized amounts + negative equity."""
        total = self.selling_price + self.dealer_addons + self.negative_equity + self.other_capitalized
        if self.acquisition_fee_capitalized:
            total += self.acquisition_fee
        if self.doc_fee_capitalized:
            total += self.doc_fee
        return total

    @property
    def cap_cost_reduction(self) -> Decimal:
        """Cash down + rebates or lease cash applied + net trade-in equity."""
        return self.cash_down + self.rebates + self.trade_in_equity

    @property
    def residual_value(self) -> Decimal:
        """MSRP × residual %, rounded half-up to cents (the amount a lease contract discloses)."""
        return round_cents(Fraction(self.msrp) * Fraction(self.residual_percent) / _HUNDRED)


@dataclass(frozen=True, slots=True)
class DueItem:
    """One line of the amount due at signing. ``key`` is stable for code; ``label`` is for people."""

    key: str
    label: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LeaseQuote:
    """The result of :func:`lease_quote`. Money values are Decimals in cents unless named ``*_exact``.

    ``depreciation`` and ``rent_charge`` are shown rounded to cents, but the base payment is rounded from
    their exact sum (``base_payment_exact``), so the two displayed parts may differ from the base by a cent.

    ``due_at_signing`` itemizes the amount due at signing per §3.4 as far as the inputs allow;
    ``due_at_signing_complete`` is False while the DMV fees, tire fee or e-filing charge are unknown.
    ``paid_by_trade_in``, ``paid_by_rebates`` and ``cash_due_at_signing`` say how it is paid (Regulation
    M). The refundable ``security_deposit`` is not part of ``due_at_signing_total``.
    """

    inputs: LeaseInputs
    gross_cap_cost: Decimal
    cap_cost_reduction: Decimal
    adjusted_cap_cost: Decimal
    residual_value: Decimal
    depreciation: Decimal
    rent_charge: Decimal
    base_payment: Decimal
    monthly_tax: Decimal
    total_monthly: Decimal
    total_of_payments: Decimal
    total_rent_charge: Decimal
    tax_on_cap_cost_reduction: Decimal
    due_at_signing: tuple[DueItem, ...]
    due_at_signing_total: Decimal
    due_at_signing_complete: bool
    paid_by_trade_in: Decimal
    paid_by_rebates: Decimal
    cash_due_at_signing: Decimal
    security_deposit: Decimal
    depreciation_exact: Fraction
    rent_charge_exact: Fraction
    base_payment_exact: Fraction
    monthly_tax_exact: Fraction

    @property
    def term_months(self) -> int:
        """The lease term."""
        return self.inputs.term_months


def _tax(amount: Decimal, rate_percent: Decimal) -> Decimal:
    return round_cents(Fraction(amount) * Fraction(rate_percent) / _HUNDRED)


def lease_quote(inputs: LeaseInputs) -> LeaseQuote:
    """Compute a closed-end lease quote by §3.1 with the rounding policy of §3.3 (California method:
    use tax on each payment and on the cap-cost reduction).

    The §3.4 worked example gives base 463.84, tax 44.07, total 507.91 with no cap reduction, and 404.29,
    38.41, 442.70 (plus 190.00 tax on the reduction) with $2,000 cash down.
    """
    term = inputs.term_months
    rate = inputs.tax_rate_percent
    gross = inputs.gross_cap_cost
    ccr = inputs.cap_cost_reduction
    adjusted = gross - ccr
    rv = inputs.residual_value

    depreciation = Fraction(adjusted - rv) / term
    rent = Fraction(adjusted + rv) * Fraction(inputs.money_factor)
    base_exact = depreciation + rent
    tax_exact = base_exact * Fraction(rate) / _HUNDRED

    base = round_cents(base_exact)
    monthly_tax = round_cents(tax_exact)
    total_monthly = base + monthly_tax
    tax_on_ccr = _tax(ccr, rate)

    items: list[DueItem] = [DueItem("first_payment", "First month's payment", total_monthly)]
    if ccr > 0:
        items.append(DueItem("cap_cost_reduction", "Capitalized cost reduction", ccr))
        items.append(DueItem("cap_cost_reduction_tax", "Tax on capitalized cost reduction", tax_on_ccr))
    if not inputs.doc_fee_capitalized and inputs.doc_fee > 0:
        # An upfront doc fee is part of the taxable selling price (§3.7, VERIFY per lessor).
        items.append(DueItem("doc_fee", "Document processing fee", inputs.doc_fee))
        items.append(DueItem("doc_fee_tax", "Tax on document fee", _tax(inputs.doc_fee, rate)))
    if not inputs.acquisition_fee_capitalized and inputs.acquisition_fee > 0:
        # Paid upfront, it joins the drive-off taxable base (§3.7, VERIFY per lessor).
        items.append(DueItem("acquisition_fee", "Acquisition fee", inputs.acquisition_fee))
        items.append(
            DueItem("acquisition_fee_tax", "Tax on acquisition fee", _tax(inputs.acquisition_fee, rate))
        )
    for key, label, amount in (
        ("dmv_fees", "DMV registration, VLF and fees", inputs.dmv_fees),
        ("tire_fee", "California tire fee", inputs.tire_fee),
        ("electronic_filing_fee", "Electronic filing charge", inputs.electronic_filing_fee),
    ):
        if amount is not None and amount > 0:
            items.append(DueItem(key, label, amount))
    due_total = sum((item.amount for item in items), start=ZERO)
    complete = all(getattr(inputs, name) is not None for name in _LEASE_OPTIONAL_FEES)

    return LeaseQuote(
        inputs=inputs,
        gross_cap_cost=gross,
        cap_cost_reduction=ccr,
        adjusted_cap_cost=adjusted,
        residual_value=rv,
        depreciation=round_cents(depreciation),
        rent_charge=round_cents(rent),
        base_payment=base,
        monthly_tax=monthly_tax,
        total_monthly=total_monthly,
        total_of_payments=total_monthly * term,
        total_rent_charge=round_cents(rent * term),
        tax_on_cap_cost_reduction=tax_on_ccr,
        due_at_signing=tuple(items),
        due_at_signing_total=due_total,
        due_at_signing_complete=complete,
        paid_by_trade_in=inputs.trade_in_equity,
        paid_by_rebates=inputs.rebates,
        cash_due_at_signing=due_total - inputs.trade_in_equity - inputs.rebates,
        security_deposit=inputs.security_deposit,
        depreciation_exact=depreciation,
        rent_charge_exact=rent,
        base_payment_exact=base_exact,
        monthly_tax_exact=tax_exact,
    )


# --------------------------------------------------------------------------------------------------------
# Finance (§3.5)


def _finance_args(principal: Any, apr_percent: Any, months: Any) -> tuple[Decimal, Decimal, int]:
    return (
        _amount("principal", principal),
        _in_range("apr_percent", apr_percent, ZERO, MAX_APR_PERCENT),
        _term("months", months),
    )


def _growth(apr: Decimal, periods: int) -> Fraction:
    """``(1 + r)^periods`` with ``r = APR ÷ 100 ÷ 12``, exact."""
    return (1 + Fraction(apr) / 1200) ** periods


def amortized_payment_exact(
    principal: Decimal | int | str, apr_percent: Decimal | int | str, months: int
) -> Fraction:
    """The unrounded level payment ``P × r × (1 + r)^n ÷ ((1 + r)^n − 1)``; ``P ÷ n`` when the APR is 0."""
    p, apr, n = _finance_args(principal, apr_percent, months)
    if apr == 0:
        return Fraction(p) / n
    rate = Fraction(apr) / 1200
    growth = _growth(apr, n)
    return Fraction(p) * rate * growth / (growth - 1)


def amortized_payment(
    principal: Decimal | int | str,
    apr_percent: Decimal | int | str,
    months: int,
    places: int = 2,
) -> Decimal:
    """The level monthly payment rounded half-up to ``places`` decimals (2: cents; 0: whole dollars).

    Rounds the exact payment once, so a whole-dollar estimate is not skewed by an intermediate cent
    rounding. Raises ``ValueError`` naming the argument for a negative principal, an APR outside 0–30 or a
    term outside 12–96 months.
    """
    return round_half_up(amortized_payment_exact(principal, apr_percent, months), places)


def balance_after(
    principal: Decimal | int | str,
    apr_percent: Decimal | int | str,
    months: int,
    payments_made: int,
) -> Decimal:
    """Balance after ``payments_made`` level payments, ``P × ((1+r)^n − (1+r)^t) ÷ ((1+r)^n − 1)``, in cents.

    Uses the exact (unrounded) payment, as the formula does; a schedule of cent-rounded payments drifts
    from it by at most a few cents.
    """
    p, apr, n = _finance_args(principal, apr_percent, months)
    if isinstance(payments_made, bool) or not isinstance(payments_made, int) or not 0 <= payments_made <= n:
        raise ValueError(f"payments_made must be an integer between 0 and {n}")
    if apr == 0:
        return round_cents(Fraction(p) * (n - payments_made) / n)
    growth_n = _growth(apr, n)
    return round_cents(Fraction(p) * (growth_n - _growth(apr, payments_made)) / (growth_n - 1))


@dataclass(frozen=True, slots=True)
class FinanceQuote:
    """The TILA "box" figures: amount financed, APR, term, payment (cents), total of payments, finance charge."""

    amount_financed: Decimal
    apr_percent: Decimal
    term_months: int
    monthly_payment: Decimal
    total_of_payments: Decimal
    finance_charge: Decimal


def finance_quote(
    principal: Decimal | int | str, apr_percent: Decimal | int | str, months: int
) -> FinanceQuote:
    """Payment rounded half-up to cents; the totals use the rounded payment (§3.5).

    $32,689.33 at 5.90% over 60 months gives 630.46 a month, 37,827.60 in total and 5,138.27 of finance
    charge.
    """
    p, apr, n = _finance_args(principal, apr_percent, months)
    payment = amortized_payment(p, apr, n)
    total = payment * n
    return FinanceQuote(
        amount_financed=p,
        apr_percent=apr,
        term_months=n,
        monthly_payment=payment,
        total_of_payments=total,
        finance_charge=total - p,
    )


@dataclass(frozen=True, slots=True)
class AmountFinanced:
    """The §3.5 build-up of a retail installment's amount financed."""

    taxable_base: Decimal
    sales_tax: Decimal
    tire_fee: Decimal
    dmv_fees: Decimal
    down_payment: Decimal
    amount_financed: Decimal


def amount_financed(
    price: Decimal | int | str,
    *,
    tax_rate_percent: Decimal | int | str,
    doc_fee: Decimal | int | str = 0,
    tire_fee: Decimal | int | str = 0,
    dmv_fees: Decimal | int | str = 0,
    down_payment: Decimal | int | str = 0,
) -> AmountFinanced:
    """Price + doc fee is the taxable base; add the sales tax (cents, half-up), tire fee and any financed
    DMV fees, and subtract the down payment.

    $32,500 + $85 at 9.5%, tire fee 8.75 and $3,000 down give 32,689.33. Raises ``ValueError`` when the
    down payment exceeds the total.
    """
    base = _amount("price", price, positive=True) + _amount("doc_fee", doc_fee)
    rate = _in_range("tax_rate_percent", tax_rate_percent, ZERO, MAX_TAX_RATE_PERCENT)
    tire = _amount("tire_fee", tire_fee)
    dmv = _amount("dmv_fees", dmv_fees)
    down = _amount("down_payment", down_payment)
    tax = _tax(base, rate)
    financed = base + tax + tire + dmv - down
    if financed < 0:
        raise ValueError("down_payment must not exceed the price plus taxes and fees")
    return AmountFinanced(
        taxable_base=base,
        sales_tax=tax,
        tire_fee=tire,
        dmv_fees=dmv,
        down_payment=down,
        amount_financed=financed,
    )


# --------------------------------------------------------------------------------------------------------
# Out-the-door estimate (§3.8, consumer API §4.10.3)


@dataclass(frozen=True, slots=True)
class OutTheDoorEstimate:
    """A purchase estimate for ``POST /api/calc``. Tax, total and payment are whole dollars."""

    est_otdoor: Decimal
    tax: Decimal
    fees: Decimal
    apr: Decimal
    monthly_payment: Decimal

    def as_dict(self) -> dict[str, Decimal]:
        """The contract's keys, in its order: ``estOtdoor``, ``tax``, ``fees``, ``apr``, ``monthlyPayment``."""
        return {
            "estOtdoor": self.est_otdoor,
            "tax": self.tax,
            "fees": self.fees,
            "apr": self.apr,
            "monthlyPayment": self.monthly_payment,
        }


def apr_for_credit_label(credit_score_label: str | None) -> Decimal:
    """The illustrative APR for a credit label (case and surrounding spaces ignored); otherwise 4.5."""
    if not isinstance(credit_score_label, str):
        return DEFAULT_CREDIT_APR
    return CREDIT_LABEL_APRS.get(credit_score_label.strip().lower(), DEFAULT_CREDIT_APR)


def out_the_door_estimate(
    price: Decimal | int | str,
    state: str,
    credit_score_label: str | None,
    down_payment: Decimal | int | str = 0,
    term: int = 60,
) -> OutTheDoorEstimate:
    """Tax, fees, out-the-door total and an illustrative monthly payment for a purchase at ``price``.

    * tax = price × the state's ``sales_tax_rate`` ÷ 100, rounded half-up to whole dollars;
    * fees = every fee of the state's row (unknown two-letter codes use the fallback row);
    * est_otdoor = price + tax + fees, rounded half-up to whole dollars;
    * monthly_payment = the amortized payment on ``est_otdoor − down_payment`` at the label's APR over
      ``term`` months, rounded half-up to whole dollars; 0 when the down payment covers everything.

    $30,000 in CA, "good", no down payment, 60 months → 32,382 / 2,175 / 206.75 / 3.5 / 589.
    """
    amount = _amount("price", price, positive=True)
    row = state_row(state) if isinstance(state, str) else None
    if row is None:
        raise ValueError("state must be a two-letter state code")
    down = _amount("down_payment", down_payment)
    months = _term("term", term)
    apr = apr_for_credit_label(credit_score_label)

    tax = round_dollars(Fraction(amount) * Fraction(row["sales_tax_rate"]) / _HUNDRED)
    fees = total_fees(row)
    est = round_dollars(amount + tax + fees)
    financed = max(ZERO, est - down)
    monthly = round_dollars(amortized_payment_exact(financed, apr, months))
    return OutTheDoorEstimate(est_otdoor=est, tax=tax, fees=fees, apr=apr, monthly_payment=monthly)
