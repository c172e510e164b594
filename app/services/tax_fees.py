"""The fixed tax-and-fee estimate table of the consumer API (consumer-api.md §4.3, business rules §3.8).

The table is a published contract: the values, the keys and their order are reproduced exactly, so the site
(which adds the fee fields together) keeps working. Every row is a flat ``dict`` whose keys come in this
order: ``state_code``, ``state_name``, ``sales_tax_rate``, ``dmv_registration``, ``title_fee``, ``doc_fee``,
the state's extra-fee keys (if any), ``local_tax_note``, ``total_estimate_note``, and ``note`` on the
fallback row only.

Numbers are :class:`~decimal.Decimal`, written exactly as the contract writes them (``Decimal("65")``,
``Decimal("8.75")``, ``Decimal("6.0")``). The JSON layer renders them with
:func:`app.services.money.json_number`, which turns a Decimal written without a fractional part into a JSON
integer (``65``) and one with a fractional part into a JSON number with those digits (``8.75``, ``6.0``), so
the response matches the contract's example for California byte for byte. Never let a JSON encoder render
a Decimal as a string: the site would concatenate instead of adding.

Every function returns fresh dicts, so a caller that edits a row cannot change the table.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

__all__ = [
    "BASE_FEE_KEYS",
    "EXTRA_FEE_KEYS",
    "FALLBACK_NOTE",
    "all_states",
    "state_row",
    "total_fees",
]

BASE_FEE_KEYS: tuple[str, ...] = ("dmv_registration", "title_fee", "doc_fee")
"""Fee keys every row has."""

EXTRA_FEE_KEYS: tuple[str, ...] = (
    "tire_fee",
    "smog_fee",
    "inspection_fee",
    "plate_fee",
    "air_quality_fee",
    "emissions_fee",
)
"""State-specific fee keys; a row carries only those the table gives it."""

FALLBACK_NOTE = "State-specific data not available. Showing estimates."

_D = Decimal

# fmt: off
# One tuple per state, in the published order. The extra-fee pairs sit between doc_fee and the notes, which
# is where they appear in the JSON object.
_TABLE: tuple[tuple[Any, ...], ...] = (
    (
        "CA", "California", _D("7.25"), _D("65"), _D("23"), _D("85"),
        (("tire_fee", _D("8.75")), ("smog_fee", _D("25"))),
        "Local tax rates vary by county (typically 1-2.5%)",
        "Total may vary based on county and city",
    ),
    (
        "TX", "Texas", _D("6.25"), _D("51.75"), _D("33"), _D("150"),
        (("inspection_fee", _D("25.50")),),
        "Local tax up to 2%",
        "County fees may apply",
    ),
    (
        "FL", "Florida", _D("6.0"), _D("225"), _D("75.75"), _D("199"),
        (),
        "County surtax 0.5-1.5%",
        "Initial registration fee is higher",
    ),
    (
        "NY", "New York", _D("4.0"), _D("32.50"), _D("50"), _D("175"),
        (("plate_fee", _D("25")),),
        "Local sales tax 4-4.875%",
        "NYC has additional fees",
    ),
    (
        "AZ", "Arizona", _D("5.6"), _D("8.0"), _D("4.0"), _D("85"),
        (("air_quality_fee", _D("1.50")),),
        "County tax 0.7-5.6%",
        "Vehicle license tax (VLT) varies by vehicle value",
    ),
    (
        "NV", "Nevada", _D("6.85"), _D("33.0"), _D("28.25"), _D("199"),
        (("emissions_fee", _D("11.50")),),
        "County tax 1.15-1.53%",
        "Governmental services tax applies",
    ),
    (
        "WA", "Washington", _D("6.5"), _D("75.0"), _D("15.0"), _D("150"),
        (),
        "Local sales tax up to 3.9%",
        "RTA tax may apply in some areas",
    ),
    (
        "OR", "Oregon", _D("0.0"), _D("122.0"), _D("77.0"), _D("115"),
        (("plate_fee", _D("25.0")),),
        "No sales tax in Oregon",
        "One of few states without sales tax",
    ),
)

_FALLBACK: tuple[Any, ...] = (
    _D("7.0"), _D("100"), _D("50"), _D("150"),
    "Tax rates vary by state and locality",
    "Contact dealer for accurate fees",
)
# fmt: on

_TWO_LETTERS = re.compile(r"[A-Za-z]{2}")


def _build_row(
    code: str,
    name: str,
    rate: Decimal,
    dmv: Decimal,
    title: Decimal,
    doc: Decimal,
    extras: tuple[tuple[str, Decimal], ...],
    local_note: str,
    total_note: str,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "state_code": code,
        "state_name": name,
        "sales_tax_rate": rate,
        "dmv_registration": dmv,
        "title_fee": title,
        "doc_fee": doc,
    }
    row.update(extras)
    row["local_tax_note"] = local_note
    row["total_estimate_note"] = total_note
    return row


def all_states() -> list[dict[str, Any]]:
    """The eight published rows (CA, TX, FL, NY, AZ, NV, WA, OR, in that order); the fallback is not listed."""
    return [_build_row(*entry) for entry in _TABLE]


def state_row(code: str) -> dict[str, Any] | None:
    """The row for a state code, looked up case-insensitively.

    A two-letter code that is not in the table gets the fallback row, whose ``state_code`` and
    ``state_name`` are both the upper-cased code and which ends with ``note``. Anything that is not exactly
    two ASCII letters returns ``None`` (the API answers 404 "State not found").
    """
    if not isinstance(code, str) or not _TWO_LETTERS.fullmatch(code):
        return None
    upper = code.upper()
    for entry in _TABLE:
        if entry[0] == upper:
            return _build_row(*entry)
    rate, dmv, title, doc, local_note, total_note = _FALLBACK
    row = _build_row(upper, upper, rate, dmv, title, doc, (), local_note, total_note)
    row["note"] = FALLBACK_NOTE
    return row


def total_fees(row: dict[str, Any]) -> Decimal:
    """Sum of ``dmv_registration``, ``title_fee``, ``doc_fee`` and every extra fee in ``row`` (CA: 206.75)."""
    return sum(
        (row[key] for key in (*BASE_FEE_KEYS, *EXTRA_FEE_KEYS) if key in row),
        start=Decimal("0"),
    )
