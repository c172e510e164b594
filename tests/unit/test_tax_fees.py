"""The fixed tax-and-fee table (consumer API §4.3): values, key order, lookup and fee totals."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.services.money import json_number
from app.services.tax_fees import all_states, state_row, total_fees

D = Decimal

BASE_KEYS = ["state_code", "state_name", "sales_tax_rate", "dmv_registration", "title_fee", "doc_fee"]
NOTE_KEYS = ["local_tax_note", "total_estimate_note"]

# The contract table, transcribed independently of the module.
EXPECTED = {
    "CA": ("California", "7.25", "65", "23", "85", [("tire_fee", "8.75"), ("smog_fee", "25")],
           "Local tax rates vary by county (typically 1-2.5%)", "Total may vary based on county and city"),
    "TX": ("Texas", "6.25", "51.75", "33", "150", [("inspection_fee", "25.50")],
           "Local tax up to 2%", "County fees may apply"),
    "FL": ("Florida", "6.0", "225", "75.75", "199", [],
           "County surtax 0.5-1.5%", "Initial registration fee is higher"),
    "NY": ("New York", "4.0", "32.50", "50", "175", [("plate_fee", "25")],
           "Local sales tax 4-4.875%", "NYC has additional fees"),
    "AZ": ("Arizona", "5.6", "8.0", "4.0", "85", [("air_quality_fee", "1.50")],
           "County tax 0.7-5.6%", "Vehicle license tax (VLT) varies by vehicle value"),
    "NV": ("Nevada", "6.85", "33.0", "28.25", "199", [("emissions_fee", "11.50")],
           "County tax 1.15-1.53%", "Governmental services tax applies"),
    "WA": ("Washington", "6.5", "75.0", "15.0", "150", [],
           "Local sales tax up to 3.9%", "RTA tax may apply in some areas"),
    "OR": ("Oregon", "0.0", "122.0", "77.0", "115", [("plate_fee", "25.0")],
           "No sales tax in Oregon", "One of few states without sales tax"),
}  # fmt: skip


def as_json(row: dict) -> str:
    return json.dumps({key: json_number(v) if isinstance(v, Decimal) else v for key, v in row.items()})


class TestAllStates:
    def test_eight_rows_in_published_order(self):
        assert [row["state_code"] for row in all_states()] == ["CA", "TX", "FL", "NY", "AZ", "NV", "WA", "OR"]

    @pytest.mark.parametrize("code", list(EXPECTED))
    def test_row_values_and_key_order(self, code):
        name, rate, dmv, title, doc, extras, local_note, total_note = EXPECTED[code]
        row = state_row(code)
        assert row is not None
        assert list(row) == BASE_KEYS + [key for key, _ in extras] + NOTE_KEYS
        assert row["state_code"] == code
        assert row["state_name"] == name
        assert row["sales_tax_rate"] == D(rate)
        assert row["dmv_registration"] == D(dmv)
        assert row["title_fee"] == D(title)
        assert row["doc_fee"] == D(doc)
        for key, value in extras:
            assert row[key] == D(value)
        assert row["local_tax_note"] == local_note
        assert row["total_estimate_note"] == total_note
        assert "note" not in row
        assert row in all_states()

    def test_numbers_are_decimals(self):
        for row in all_states():
            for key, value in row.items():
                if not key.endswith("_note") and key not in ("state_code", "state_name"):
                    assert isinstance(value, Decimal), key

    def test_rows_are_copies(self):
        first = all_states()
        first[0]["sales_tax_rate"] = D("99")
        first[0]["extra"] = 1
        assert all_states()[0]["sales_tax_rate"] == D("7.25")
        assert "extra" not in state_row("CA")


class TestStateRow:
    def test_lookup_is_case_insensitive(self):
        assert state_row("ca") == state_row("CA") == state_row("Ca")

    def test_california_renders_as_the_contract_example(self):
        assert as_json(state_row("CA")) == json.dumps(
            {
                "state_code": "CA",
                "state_name": "California",
                "sales_tax_rate": 7.25,
                "dmv_registration": 65,
                "title_fee": 23,
                "doc_fee": 85,
                "tire_fee": 8.75,
                "smog_fee": 25,
                "local_tax_note": "Local tax rates vary by county (typically 1-2.5%)",
                "total_estimate_note": "Total may vary based on county and city",
            }
        )

    @pytest.mark.parametrize("code", ["ZZ", "ma", "Tn"])
    def test_unknown_two_letter_code_gets_the_fallback_row(self, code):
        row = state_row(code)
        upper = code.upper()
        assert row == {
            "state_code": upper,
            "state_name": upper,
            "sales_tax_rate": D("7.0"),
            "dmv_registration": D("100"),
            "title_fee": D("50"),
            "doc_fee": D("150"),
            "local_tax_note": "Tax rates vary by state and locality",
            "total_estimate_note": "Contact dealer for accurate fees",
            "note": "State-specific data not available. Showing estimates.",
        }
        assert list(row)[-1] == "note"

    @pytest.mark.parametrize("code", ["", "C", "CAL", "C1", "12", " CA", "CA ", "É1", "ÇA", None, 12])
    def test_anything_but_two_letters_is_none(self, code):
        assert state_row(code) is None


class TestTotalFees:
    @pytest.mark.parametrize(
        ("code", "expected"),
        [
            ("CA", "206.75"),  # 65 + 23 + 85 + 8.75 + 25
            ("TX", "260.25"),  # 51.75 + 33 + 150 + 25.50
            ("FL", "499.75"),
            ("NY", "282.50"),
            ("AZ", "98.50"),
            ("NV", "271.75"),
            ("WA", "240.0"),
            ("OR", "339.0"),
            ("QQ", "300"),
        ],
    )
    def test_sum_of_every_fee_in_the_row(self, code, expected):
        assert total_fees(state_row(code)) == D(expected)

    def test_result_is_a_decimal(self):
        assert isinstance(total_fees(state_row("CA")), Decimal)
