"""The lease and finance calculator behind the lot form (business rules §3), as a small JSON endpoint.

It calls ``app.services.calculator``, the same module that answers ``POST /api/calc``: the lease quote of
§3.1/§3.3 (California method: use tax on each payment) and the retail-installment figures of §3.5. Nothing is
stored; the form's script fills the monthly payment and due-at-signing fields from the answer, and the
editor saves. A money factor is never called an APR: its equivalent is labelled as §3.2 requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, jsonify

from app.services.calculator import (
    RATE_EQUIVALENT_LABEL,
    LeaseInputs,
    amount_financed,
    apr_to_money_factor,
    finance_quote,
    lease_quote,
    money_factor_to_apr,
)
from app.services.money import round_dollars

CA_TIRE_FEE = Decimal("8.75")
DEFAULT_DOC_FEE = Decimal(85)


# The largest value each input may take: far above any real deal, far below what makes the decimal
# arithmetic overflow (a typo such as "1e30" is answered with a message, not an error page).
LIMITS = {
    "msrp": Decimal(10_000_000),
    "selling_price": Decimal(10_000_000),
    "residual_percent": Decimal(100),
    "money_factor": Decimal("0.1"),
    "lease_apr": Decimal(100),
    "term": Decimal(120),
    "tax_rate": Decimal(100),
    "doc_fee": Decimal(1_000_000),
    "acquisition_fee": Decimal(1_000_000),
    "cash_down": Decimal(10_000_000),
    "rebates": Decimal(10_000_000),
    "finance_apr": Decimal(100),
    "finance_term": Decimal(120),
    "finance_down": Decimal(10_000_000),
}


class BadInput(ValueError):
    pass


def _num(args: Mapping[str, Any], name: str, default: Decimal | None = None) -> Decimal | None:
    raw = (args.get(name) or "").strip().replace(",", "").replace("$", "")
    if not raw:
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadInput(f"{name} must be a number") from None
    if not value.is_finite():
        raise BadInput(f"{name} must be a number")
    if value < 0:
        raise BadInput(f"{name} must not be negative")
    limit = LIMITS.get(name)
    if limit is not None and value > limit:
        raise BadInput(f"{name} must be at most {limit}")
    return value


def _money(value: Decimal | None) -> Decimal | None:
    return value.quantize(Decimal("0.01")) if value is not None else None


def calculate(args: Mapping[str, Any]) -> Response:
    try:
        result = _calculate(args)
    except (BadInput, ValueError) as exc:
        response = jsonify({"detail": str(exc)})
        response.status_code = 422
        return response
    except ArithmeticError:
        # Decimal overflow or an impossible division on numbers within the limits: still the input's fault.
        response = jsonify({"detail": "These numbers give no payment; check the term, rate and prices"})
        response.status_code = 422
        return response
    return jsonify(result)


def _calculate(args: Mapping[str, Any]) -> dict[str, Any]:
    msrp = _num(args, "msrp")
    selling = _num(args, "selling_price")
    if msrp is None or selling is None:
        raise BadInput("MSRP and selling price are required")
    tax_rate = _num(args, "tax_rate", Decimal("7.25"))
    doc_fee = _num(args, "doc_fee", DEFAULT_DOC_FEE)
    answer: dict[str, Any] = {}

    residual = _num(args, "residual_percent")
    money_factor = _num(args, "money_factor")
    apr_for_lease = _num(args, "lease_apr")
    term = _num(args, "term")
    if residual is not None and term is not None and (money_factor is not None or apr_for_lease is not None):
        if money_factor is None:
            money_factor = apr_to_money_factor(apr_for_lease)  # type: ignore[arg-type]
        inputs = LeaseInputs(
            msrp=_money(msrp),  # type: ignore[arg-type]
            selling_price=_money(selling),  # type: ignore[arg-type]
            residual_percent=residual,
            money_factor=money_factor.quantize(Decimal("0.0000001")),
            term_months=int(term),
            tax_rate_percent=tax_rate,  # type: ignore[arg-type]
            acquisition_fee=_money(_num(args, "acquisition_fee", Decimal(0))),  # type: ignore[arg-type]
            doc_fee=_money(doc_fee),  # type: ignore[arg-type]
            cash_down=_money(_num(args, "cash_down", Decimal(0))),  # type: ignore[arg-type]
            rebates=_money(_num(args, "rebates", Decimal(0))),  # type: ignore[arg-type]
            tire_fee=CA_TIRE_FEE if args.get("state", "CA") == "CA" else None,
        )
        quote = lease_quote(inputs)
        answer["lease"] = {
            "residual_value": quote.residual_value,
            "gross_cap_cost": quote.gross_cap_cost,
            "adjusted_cap_cost": quote.adjusted_cap_cost,
            "depreciation": quote.depreciation,
            "rent_charge": quote.rent_charge,
            "base_payment": quote.base_payment,
            "monthly_tax": quote.monthly_tax,
            "total_monthly": quote.total_monthly,
            "monthly_whole_dollars": round_dollars(quote.total_monthly),
            "due_at_signing": [{"label": i.label, "amount": i.amount} for i in quote.due_at_signing],
            "due_at_signing_total": quote.due_at_signing_total,
            "due_at_signing_whole_dollars": round_dollars(quote.due_at_signing_total),
            "due_at_signing_complete": quote.due_at_signing_complete,
            "money_factor": money_factor,
            "rate_equivalent": money_factor_to_apr(money_factor).quantize(Decimal("0.01")),
            "rate_equivalent_label": RATE_EQUIVALENT_LABEL,
            "rate_notice": "This rate may not measure the overall cost of financing this lease.",
        }

    fin_apr = _num(args, "finance_apr")
    fin_term = _num(args, "finance_term")
    if fin_apr is not None and fin_term is not None:
        financed = amount_financed(
            _money(selling),  # type: ignore[arg-type]
            tax_rate_percent=tax_rate,  # type: ignore[arg-type]
            doc_fee=_money(doc_fee),  # type: ignore[arg-type]
            tire_fee=CA_TIRE_FEE if args.get("state", "CA") == "CA" else Decimal(0),
            down_payment=_money(_num(args, "finance_down", Decimal(0))),  # type: ignore[arg-type]
        )
        fq = finance_quote(financed.amount_financed, fin_apr, int(fin_term))
        answer["finance"] = {
            "taxable_base": financed.taxable_base,
            "sales_tax": financed.sales_tax,
            "amount_financed": fq.amount_financed,
            "monthly_payment": fq.monthly_payment,
            "monthly_whole_dollars": round_dollars(fq.monthly_payment),
            "total_of_payments": fq.total_of_payments,
            "finance_charge": fq.finance_charge,
        }
    if not answer:
        raise BadInput(
            "Give residual %, money factor (or rate) and term for a lease, or APR and term for financing"
        )
    return answer
