"""GET /api/tax-fees, GET /api/tax-fees/{state} and POST /api/calc."""

from __future__ import annotations

import json

import pytest

CA_ROW_TEXT = (
    '{"state_code":"CA","state_name":"California","sales_tax_rate":7.25,"dmv_registration":65,"title_fee":23,'
    '"doc_fee":85,"tire_fee":8.75,"smog_fee":25,"local_tax_note":"Local tax rates vary by county (typically 1-2.5%)",'
    '"total_estimate_note":"Total may vary based on county and city"}'
)


@pytest.mark.parametrize("code", ["CA", "ca", "Ca"])
def test_a_state_row_is_exactly_the_contract_row(client, code):
    response = client.get(f"/api/tax-fees/{code}")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == CA_ROW_TEXT  # keys in the column order, numbers as numbers


def test_an_unknown_two_letter_code_gets_the_fallback_row(client):
    body = client.get("/api/tax-fees/zz").get_json()
    assert body == {
        "state_code": "ZZ",
        "state_name": "ZZ",
        "sales_tax_rate": 7.0,
        "dmv_registration": 100,
        "title_fee": 50,
        "doc_fee": 150,
        "local_tax_note": "Tax rates vary by state and locality",
        "total_estimate_note": "Contact dealer for accurate fees",
        "note": "State-specific data not available. Showing estimates.",
    }


@pytest.mark.parametrize("code", ["C", "CAL", "C1", "12"])
def test_a_value_that_is_not_two_letters_is_404(client, code):
    response = client.get(f"/api/tax-fees/{code}")
    assert response.status_code == 404
    assert response.get_json() == {"detail": "State not found"}


def test_the_table_lists_eight_rows_in_order(client):
    body = client.get("/api/tax-fees").get_json()
    assert body["total"] == 8
    assert [row["state_code"] for row in body["states"]] == ["CA", "TX", "FL", "NY", "AZ", "NV", "WA", "OR"]
    tx = body["states"][1]
    assert tx["inspection_fee"] == 25.5 and "tire_fee" not in tx and "note" not in tx
    assert all(isinstance(row["sales_tax_rate"], (int, float)) for row in body["states"])


def test_calc_returns_the_contract_example(client):
    response = client.post(
        "/api/calc", json={"msrp": 30000, "state": "CA", "creditScore": "good", "downPayment": 0, "term": 60}
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "estOtdoor": 32382,
        "tax": 2175,
        "fees": 206.75,
        "apr": 3.5,
        "monthlyPayment": 589,
    }


def test_calc_defaults_and_the_fallback_row(client):
    body = client.post("/api/calc", json={"msrp": 20000, "state": "ZZ", "creditScore": 700}).get_json()
    assert body["apr"] == 4.5  # anything else than the five labels
    assert body["tax"] == 1400 and body["fees"] == 300 and body["estOtdoor"] == 21700
    assert body["monthlyPayment"] == 405  # 60 months at 4.5%


def test_calc_stores_nothing(client, app):
    from app.db import get_db

    before = {name: get_db()[name].count_documents({}) for name in get_db().list_collection_names()}
    client.post("/api/calc", json={"msrp": 30000, "state": "CA"})
    after = {name: get_db()[name].count_documents({}) for name in get_db().list_collection_names()}
    assert {k: v for k, v in after.items() if k != "audit_logs"} == {
        k: v for k, v in before.items() if k != "audit_logs"
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"state": "CA"}, "msrp is required"),
        ({"msrp": 0, "state": "CA"}, "msrp must be a number greater than 0"),
        ({"msrp": "abc", "state": "CA"}, "msrp must be a number greater than 0"),
        ({"msrp": True, "state": "CA"}, "msrp must be a number greater than 0"),
        ({"msrp": 30000}, "state is required"),
        ({"msrp": 30000, "state": "California"}, "state must be a two-letter state code"),
        ({"msrp": 30000, "state": {"$ne": None}}, "state must be a two-letter state code"),
        ({"msrp": 30000, "state": "CA", "term": 120}, "term must be an integer between 12 and 96"),
        ({"msrp": 30000, "state": "CA", "term": 36.5}, "term must be an integer between 12 and 96"),
        ({"msrp": 30000, "state": "CA", "downPayment": -1}, "downPayment must be a number, 0 or more"),
        ({"msrp": 30000.123, "state": "CA"}, "msrp must have at most 2 decimal places"),
    ],
)
def test_calc_validation_names_the_field(client, body, detail):
    response = client.post("/api/calc", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}
