"""Bad input in the back office gets a form error, a flash message or a 4xx, never a 500, and nothing is
half-written: hand-edited list URLs (huge or negative pages, odd filter values, endless searches), malformed
ids, unknown actions, numbers too large for the decimal context or MongoDB, dates at the edge of the
calendar, and damaged CSV or XLSX files."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time

import pytest
from openpyxl import Workbook

from app.models import Application, Lot
from tests.admin.conftest import VALID_VIN, make_application, signed_in, token
from tests.admin.test_lots_service import DRAFT
from tests.factories import make_lot

HUGE = "99999999999999999999999"

LIST_URLS = [
    f"/admin/lot/?flt0_year_is={HUGE}",
    "/admin/lot/?flt0_year_is=%C2%B2",  # "²": a digit for str.isdigit, not for int()
    f"/admin/lot/?page={HUGE}",
    "/admin/lot/?page=-5",
    "/admin/lot/?page=abc&sort=-1&desc=abc",
    "/admin/lot/?search=" + "a" * 5000,
    f"/admin/lot/export/xlsx/?flt0_year_is={HUGE}",
    f"/admin/application/?page={HUGE}",
    "/admin/application/?search=%40" + "a" * 5000,
    "/admin/user/?search=" + "a" * 5000,
    "/admin/audit_log/?flt0_date_on_or_before=9999-12-31",
    "/admin/audit_log/?flt0_date_on_or_after=0000-01-01",
    "/admin/audit_log/?flt0_date_on_or_after=2024-13-45",
    f"/admin/audit_log/?page={HUGE}",
    "/admin/scraper/run/?id=000000000000000000000000&page=-1",
]


@pytest.mark.parametrize("url", LIST_URLS)
def test_hand_edited_list_urls_give_a_list_page(app, client, url):
    make_lot(vin=VALID_VIN)
    signed_in(client, "admin")
    response = client.get(url)
    assert response.status_code in (200, 404), response.status_code


def test_an_impossible_filter_value_is_refused_with_a_message(app, client):
    make_lot(vin=VALID_VIN, year=2025)
    signed_in(client, "editor")
    page = client.get(f"/admin/lot/?flt0_year_is={HUGE}").get_data(as_text=True)
    assert "Invalid Filter Value" in page or "invalid" in page.lower()


CALCULATOR = "/admin/lot/calculator/?msrp={msrp}&selling_price=32500&{rest}"


@pytest.mark.parametrize(
    ("msrp", "rest"),
    [
        ("1e999999", "residual_percent=58&money_factor=0.002&term=36"),
        ("35000", "residual_percent=58&lease_apr=1e30&term=36"),
        ("35000", "residual_percent=58&money_factor=1e-99999&term=36"),
        ("35000", "residual_percent=58&money_factor=0.002&term=0"),
        ("35000", "residual_percent=58&money_factor=0.002&term=-36"),
        ("35000", "residual_percent=1e400&money_factor=0.002&term=36"),
        ("35000", "finance_apr=5&finance_term=1e9"),
        ("35000", "finance_apr=1e30&finance_term=60"),
        ("-35000", "finance_apr=5&finance_term=60"),
    ],
)
def test_the_calculator_answers_nonsense_with_a_422(app, client, msrp, rest):
    signed_in(client, "editor")
    response = client.get(CALCULATOR.format(msrp=msrp, rest=rest))
    assert response.status_code in (200, 422)
    if response.status_code == 422:
        assert response.get_json()["detail"]


@pytest.mark.parametrize("value", ["1e99999", "99999999999999999999999999999999999", "-5", "NaN", "1e-99999"])
def test_verified_income_out_of_range_is_a_message_and_changes_nothing(app, client, value):
    application = make_application(ssn=None)
    signed_in(client, "finance_manager")
    response = client.post(
        f"/admin/application/review/income/?id={application.pk}",
        data={"verified_income": value, "csrf_token": token(client)},
    )
    assert response.status_code == 302
    assert Application.objects.get(pk=application.pk).verified_income is None
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "verified_income" in page or "Verified income" in page


@pytest.mark.parametrize(
    "terms",
    [
        {
            "rate_kind": "apr",
            "rate": "5",
            "loan_term": "60",
            "down_payment": "1e99999",
            "monthly_payment": "500",
        },
        {"rate_kind": "apr", "rate": "5", "loan_term": "60", "down_payment": "0", "monthly_payment": "1e40"},
        {
            "rate_kind": "apr",
            "rate": "1e99999",
            "loan_term": HUGE,
            "down_payment": "-5",
            "monthly_payment": "NaN",
        },
        {
            "rate_kind": "money_factor",
            "rate": "Infinity",
            "loan_term": "60",
            "down_payment": "0",
            "monthly_payment": "1",
        },
    ],
)
def test_approval_terms_out_of_range_are_a_message_and_change_nothing(app, client, terms):
    application = make_application(ssn=None)
    signed_in(client, "finance_manager")
    response = client.post(
        f"/admin/application/review/approve/?id={application.pk}", data={**terms, "csrf_token": token(client)}
    )
    assert response.status_code == 302
    assert Application.objects.get(pk=application.pk).status == "pending"


@pytest.mark.parametrize("field", ["publish_at", "offer_ends_at"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59", "0001-01-01T00:00", "2025-99-99T99:99"])
def test_dates_at_the_edge_of_the_calendar_are_form_errors(app, client, field, value):
    signed_in(client, "editor")
    response = client.post(
        "/admin/lot/new/", data={**DRAFT, field: value, "csrf_token": token(client, "/admin/lot/new/")}
    )
    assert response.status_code == 200
    assert "must be a date" in response.get_data(as_text=True)
    assert Lot.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/admin/lot/transition/?id=zzz", {"to": "archived"}),
        ("/admin/lot/action/", {"action": "no-such-action", "rowid": "x"}),
        ("/admin/lot/action/", {"action": "archive", "rowid": ["zzz", "%00"]}),
        ("/admin/lot/images/update/?id=zzz", {"hero": "zzz"}),
        ("/admin/lot/duplicate/?id=zzz", {}),
        ("/admin/lot/preview/?id=zzz", {}),
        ("/admin/lot/preview/", {"mode": "unsaved", "year": "abc", "msrp": "1e9999"}),
        ("/admin/application/review/status/?id=zzz", {"status": "contacted"}),
        ("/admin/application/review/reveal/?id=zzz", {"field": "ssn", "reason": "identity_verification"}),
        ("/admin/application/review/alternatives/?id=zzz", {"alt_lot_1": "zzz"}),
        ("/admin/user/action/", {"action": "reset_mfa", "rowid": "zzz"}),
        ("/admin/user/manage/?id=zzz", {"op": "role", "role": "admin"}),
        ("/admin/lead/status/?id=zzz", {"status": "zzz"}),
        ("/admin/notification/resend/?id=zzz", {}),
        ("/admin/jobs/retry/", {"queue": "zzz", "job_id": "../../x"}),
        ("/admin/scraper/offer/draft/?id=zzz", {}),
        ("/admin/appointment/edit/?id=zzz", {"status": "zzz"}),
    ],
)
def test_malformed_ids_and_unknown_actions_get_a_4xx_or_a_message(app, client, path, form):
    lots_before = Lot.objects.count()
    signed_in(client, "admin")
    response = client.post(path, data={**form, "csrf_token": token(client)})
    assert response.status_code in (302, 400, 404, 422), response.status_code
    assert Lot.objects.count() == lots_before


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def damaged_xlsx() -> bytes:
    """A real workbook whose sheet XML is cut in half."""
    original = zipfile.ZipFile(io.BytesIO(xlsx([["make", "model", "year"], ["Kia", "K5", 2025]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in original.infolist():
            data = original.read(item.filename)
            target.writestr(item, data[: len(data) // 2] if item.filename.endswith("sheet1.xml") else data)
    return out.getvalue()


def zip_bomb_xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        target.writestr("xl/sharedStrings.xml", b" " * (80 * 1024 * 1024))
    return out.getvalue()


def broken_content_types() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr("[Content_Types].xml", "<bad")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("lots.csv", b"make,model,year\n" + b"a" * 200_000 + b",K5,2025\n"),  # a field over csv's limit
        ("lots.csv", b"\xff\xfe\x00not utf-8"),
        ("lots.xlsx", b"PK\x03\x04garbage"),
        ("lots.xlsx", b""),
        ("lots.xlsx", damaged_xlsx()),
        ("lots.xlsx", broken_content_types()),
        ("lots.xlsx", zip_bomb_xlsx()),
        ("lots.exe", b"MZ"),
    ],
    ids=["huge-field", "not-utf8", "not-zip", "empty", "cut-sheet", "bad-xml", "zip-bomb", "exe"],
)
def test_a_damaged_import_file_is_refused_with_a_message_and_writes_nothing(app, client, name, content):
    signed_in(client, "editor")
    response = client.post(
        "/admin/lot/import/",
        data={"csrf_token": token(client, "/admin/lot/import/"), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert any(
        text in page for text in ("cannot be read", "UTF-8", "readable XLSX", "too large", ".csv or .xlsx")
    ), page[-2000:]
    assert Lot.objects.count() == 0


def test_an_import_with_odd_cells_reports_rows_and_imports_the_good_ones(app, client):
    content = xlsx(
        [
            ["make", "model", "year", "msrp", "publish_at", None, 5],
            ["Kia", "K5", 2025, 30000, datetime(2030, 1, 1, 9, 0), True, "x"],
            ["Kia", "K5", 2025.5, datetime(2025, 1, 1), time(1, 2), None, None],
            [date(2025, 1, 1), 1e308, "=1+1", -1e308, "9999-12-31 23:59", None, None],
            ["Kia", "EV9", 2025, "1e99999", None, None, None],
        ]
    )
    signed_in(client, "editor")
    response = client.post(
        "/admin/lot/import/",
        data={"csrf_token": token(client, "/admin/lot/import/"), "file": (io.BytesIO(content), "lots.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert Lot.objects.count() == 1 and Lot.objects.first().model == "K5"


def test_a_file_with_too_many_rows_is_refused_whole(app, client, monkeypatch):
    from app.services import lots

    monkeypatch.setattr(lots, "MAX_IMPORT_ROWS", 3)
    content = b"make,model,year\n" + b"Kia,K5,2025\n" * 10
    signed_in(client, "editor")
    response = client.post(
        "/admin/lot/import/",
        data={"csrf_token": token(client, "/admin/lot/import/"), "file": (io.BytesIO(content), "lots.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "At most 3 rows" in response.get_data(as_text=True)
    assert Lot.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.jpg", b"not an image"),
        ("a.svg", b"<svg onload=alert(1)>"),
        ("a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
    ],
)
def test_wrong_image_files_are_refused_with_a_message(app, client, name, content):
    lot = make_lot(vin=VALID_VIN)
    images_before = len(lot.images)
    signed_in(client, "editor")
    response = client.post(
        f"/admin/lot/images/upload/?id={lot.pk}",
        data={"csrf_token": token(client), "new_images": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert len(lot.reload().images) == images_before
    assert "not a readable" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("field", ["msrp", "lease_monthly", "lease_acquisition_fee", "lease_money_factor"])
@pytest.mark.parametrize("value", ["1e99999", "1e40", "1e-99999", HUGE])
def test_numbers_no_lot_can_hold_are_form_errors(app, client, field, value):
    signed_in(client, "editor")
    response = client.post(
        "/admin/lot/new/", data={**DRAFT, field: value, "csrf_token": token(client, "/admin/lot/new/")}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert any(text in page for text in ("too large", "too small", "at most", "decimal places")), field
    assert Lot.objects.count() == 0
