"""The editors' lot pages: the sectioned form with errors shown on the form, list search and filters,
import with a per-row report, export, the calculator, VIN decoding against a stub vPIC server, previews."""

from __future__ import annotations

import csv
import io
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from openpyxl import Workbook, load_workbook

from app.models import AuditLog, Lot, PreviewToken
from tests.admin.conftest import VALID_VIN, image_bytes, token
from tests.admin.test_lots_service import DRAFT
from tests.factories import make_lot


def post_form(client, path, data, files=None):
    body = {**data, "csrf_token": token(client, path)}
    if files:
        body["new_images"] = files
    return client.post(path, data=body, content_type="multipart/form-data")


def test_the_form_has_the_sections_and_the_tools(editor_client):
    page = editor_client.get("/admin/lot/new/").get_data(as_text=True)
    for title in (
        "Vehicle",
        "Pricing",
        "Lease",
        "Finance",
        "Competitor prices",
        "Media",
        "SEO and page counters",
        "Publishing",
    ):
        assert f"<h3>{title}</h3>" in page
    assert 'id="calculator"' in page and 'id="vin-decoder"' in page
    assert "cdn" not in page.lower() and "https://" not in page


def test_validation_errors_show_on_the_form_never_a_500(editor_client):
    data = {
        **DRAFT,
        "vin": "1HGCM82623A004352",
        "discount": "99999",
        "lease_term_months": "abc",
        "msrp": "32500",
    }
    response = post_form(editor_client, "/admin/lot/new/", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "check digit" in page and "must not be above the MSRP" in page and "must be a number" in page
    assert Lot.objects.count() == 0
    assert 'value="99999"' in page  # what the editor typed is kept


def test_create_with_images_then_save_and_publish(editor_client):
    response = post_form(
        editor_client,
        "/admin/lot/new/",
        {**DRAFT, "description": "Short"},
        files=[
            (io.BytesIO(image_bytes()), "front.jpg"),
            (io.BytesIO(image_bytes("PNG", (640, 480))), "side.png"),
        ],
    )
    lot = Lot.objects.get()
    assert response.status_code == 302 and response.headers["Location"].startswith(
        f"/admin/lot/edit/?id={lot.pk}"
    )
    assert len(lot.images) == 2 and lot.images[0].is_hero
    # Publishing from the form shows what is missing next to the field, and keeps the saved draft.
    response = post_form(
        editor_client, f"/admin/lot/edit/?id={lot.pk}", {**DRAFT, "description": "Short", "_publish": "1"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "at least 140 characters" in page
    assert lot.reload().status == "draft"
    response = post_form(editor_client, f"/admin/lot/edit/?id={lot.pk}", {**DRAFT, "_publish": "1"})
    assert response.status_code == 302 and lot.reload().status == "published"
    edit_page = editor_client.get(f"/admin/lot/edit/?id={lot.pk}").get_data(as_text=True)
    assert 'data-testid="price-history"' in edit_page and "$29,400" in edit_page


def test_edit_page_prefills_and_keeps_the_automatic_slug_empty(editor_client):
    lot = make_lot(status="draft", published_at=None, vin=VALID_VIN, trim="SE")
    page = editor_client.get(f"/admin/lot/edit/?id={lot.pk}").get_data(as_text=True)
    assert 'name="make" type="text" value="Toyota"' in page
    assert 'name="lease_monthly"' in page and 'value="329"' in page
    assert 'id="slug" name="slug" type="text" value=""' in page


def test_list_search_filters_and_sorting(editor_client):
    make_lot(make="Toyota", model="Camry", year=2025, trim="SE")
    make_lot(make="Kia", model="Niro", year=2024, trim="EX", vin=VALID_VIN, is_weekly_drop=True)
    make_lot(make="Kia", model="EV6", year=2025, trim="Wind", status="draft")

    def titles(query):
        page = editor_client.get("/admin/lot/" + query).get_data(as_text=True)
        return [t for t in ("Camry", "Niro", "EV6") if f" {t} " in page]

    assert titles("?search=kia") == ["Niro", "EV6"]
    assert titles("?search=2025+toyota") == ["Camry"]
    assert titles(f"?search={VALID_VIN.lower()}") == ["Niro"]
    assert titles("?flt0_status_is=draft") == ["EV6"]
    assert titles("?flt0_make_is=Kia") == ["Niro", "EV6"]
    assert titles("?flt0_year_is=2024") == ["Niro"]
    assert titles("?flt0_weekly_drop_is=1") == ["Niro"]
    assert editor_client.get("/admin/lot/?sort=5&desc=1").status_code == 200  # by monthly


def test_the_list_uses_a_simple_pager_and_escapes_user_text(editor_client):
    make_lot(trim='<script>alert("x")</script>')
    page = editor_client.get("/admin/lot/").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def csv_bytes(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def test_import_reports_each_row_and_writes_only_valid_rows(editor_client):
    rows = [
        {**DRAFT, "trim": "Row2", "vin": VALID_VIN, "comment": "ignored"},
        {**DRAFT, "trim": "Row3", "vin": "1HGCM82623A004352", "comment": ""},  # bad check digit
        {**DRAFT, "trim": "Row4", "vin": "", "discount": "-50", "comment": ""},  # clamped and reported
        {**DRAFT, "trim": "Row5", "vin": "", "msrp": "1000", "discount": "5000", "comment": ""},  # above MSRP
        {**{k: "" for k in DRAFT}, "comment": ""},  # blank row: skipped
    ]
    response = editor_client.post(
        "/admin/lot/import/",
        data={
            "csrf_token": token(editor_client, "/admin/lot/import/"),
            "file": (io.BytesIO(csv_bytes(rows)), "lots.csv"),
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="import-report"' in page
    assert sorted(lot.trim for lot in Lot.objects) == ["Row2", "Row4"]
    assert all(lot.status == "draft" for lot in Lot.objects)
    assert Lot.objects.get(trim="Row4").discount == Decimal(0)
    assert (
        "<td>3</td><td>vin: check digit" in page
        and "<td>5</td><td>discount: must not be above the MSRP" in page
    )
    assert "discount: negative value -50 set to 0" in page and "Ignored columns: comment" in page
    assert AuditLog.objects(action="import").count() == 2


def test_export_then_import_updates_the_same_lots(editor_client):
    lot = make_lot(vin=VALID_VIN)
    response = editor_client.get("/admin/lot/export/xlsx/")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in sheet[1]]
    row = {h: c.value for h, c in zip(header, sheet[2], strict=True)}
    assert row["id"] == str(lot.pk) and row["lease_monthly"] == 329 and row["vin"] == VALID_VIN

    book = Workbook()
    out = book.active
    out.append(["id", "lease_monthly", "description"])
    out.append([str(lot.pk), 319, None])  # empty cells keep stored values
    buffer = io.BytesIO()
    book.save(buffer)
    response = editor_client.post(
        "/admin/lot/import/",
        data={
            "csrf_token": token(editor_client, "/admin/lot/import/"),
            "file": (io.BytesIO(buffer.getvalue()), "lots.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert "1</strong> updated" in response.get_data(as_text=True)
    lot.reload()
    assert lot.lease.monthly == Decimal(319) and len(lot.description) > 140 and Lot.objects.count() == 1


def test_exports_in_three_formats_guard_formulas_and_are_audited(editor_client):
    make_lot(description='=HYPERLINK("http://evil")' + "x" * 150, vin=VALID_VIN)
    csv_text = editor_client.get("/admin/lot/export/csv/").data.decode("utf-8-sig")
    record = next(csv.DictReader(io.StringIO(csv_text)))
    assert record["description"].startswith("'=HYPERLINK")
    data = json.loads(editor_client.get("/admin/lot/export/json/").data)
    assert data[0]["description"].startswith("=HYPERLINK") and data[0]["msrp"] == 32500
    assert AuditLog.objects(action="export", resource_type="lot").count() == 2
    assert editor_client.get("/admin/lot/export/pdf/").status_code == 403


def test_calculator_reproduces_the_worked_example(editor_client):
    # Business rules §3.4: $35,000 MSRP, $32,500 price, $650 capitalized acquisition fee, 58 %, MF 0.002,
    # 36 months, 9.5 %: base 463.84, tax 44.07, total 507.91.
    response = editor_client.get(
        "/admin/lot/calculator/?msrp=35000&selling_price=32500&residual_percent=58&money_factor=0.00200"
        "&term=36&tax_rate=9.5&acquisition_fee=650&doc_fee=85&cash_down=0"
        "&finance_apr=5.90&finance_term=60&finance_down=3000"
    )
    body = response.get_json()
    assert body["lease"]["base_payment"] == 463.84 and body["lease"]["monthly_tax"] == 44.07
    assert body["lease"]["total_monthly"] == 507.91 and body["lease"]["monthly_whole_dollars"] == 508
    assert (
        body["lease"]["rate_equivalent"] == 4.8
        and body["lease"]["rate_equivalent_label"] == "approx. rate equivalent"
    )
    # §3.5 finance example: 32,689.33 financed at 5.90 % over 60 months → 630.46.
    assert body["finance"]["amount_financed"] == 32689.33 and body["finance"]["monthly_payment"] == 630.46
    assert editor_client.get("/admin/lot/calculator/?msrp=x&selling_price=1").status_code == 422


class VpicStub(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        self.server.paths.append(self.path)
        if VALID_VIN in self.path:
            body = {
                "Count": 1,
                "Results": [
                    {
                        "Make": "HONDA",
                        "Model": "Accord",
                        "ModelYear": "2003",
                        "Trim": "EX-V6",
                        "DisplacementL": "3.0",
                        "EngineCylinders": "6",
                        "FuelTypePrimary": "Gasoline",
                        "DriveType": "FWD/Front-Wheel Drive",
                        "TransmissionStyle": "Automatic",
                        "ErrorCode": "0",
                    }
                ],
            }
            status = 200
        else:
            body, status = {"error": "boom"}, 500
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def vpic(app):
    server = HTTPServer(("127.0.0.1", 0), VpicStub)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    previous = app.config["VIN_DECODER_URL"]
    app.config["VIN_DECODER_URL"] = f"http://127.0.0.1:{server.server_port}/api"
    yield server
    app.config["VIN_DECODER_URL"] = previous
    server.shutdown()
    server.server_close()


def test_vin_decode_against_a_local_vpic_stub(editor_client, vpic):
    body = editor_client.get(f"/admin/lot/vin-decode/?vin={VALID_VIN.lower()}").get_json()
    assert body["fields"] == {
        "make": "Honda",
        "model": "Accord",
        "year": 2003,
        "trim": "EX-V6",
        "engine": "3.0L 6-cyl",
        "drivetrain": "FWD",
        "transmission": "AT",
    }
    assert vpic.paths == [f"/api/vehicles/DecodeVinValues/{VALID_VIN}?format=json"]
    response = editor_client.get("/admin/lot/vin-decode/?vin=1HGCM82633A004353")  # the stub fails for it
    assert response.status_code == 502 and "not available" in response.get_json()["detail"]
    assert editor_client.get("/admin/lot/vin-decode/?vin=short").status_code == 422


def test_preview_links_for_saved_and_unsaved_lots(editor_client, app):
    lot = make_lot(status="draft", vin=VALID_VIN)
    csrf = token(editor_client, f"/admin/lot/edit/?id={lot.pk}")
    body = editor_client.post(
        f"/admin/lot/preview/?id={lot.pk}", data={"csrf_token": csrf, "mode": "saved"}
    ).get_json()
    assert body["url"].startswith(app.config["FRONTEND_URL"] + "/preview/") and body["expires_in"] == 7200
    api = editor_client.get(body["api_url"])
    assert api.status_code == 200 and api.get_json()["isPreview"] is True
    body = editor_client.post(
        f"/admin/lot/preview/?id={lot.pk}",
        data={**DRAFT, "trim": "Unsaved Trim", "csrf_token": csrf, "mode": "unsaved"},
    ).get_json()
    preview = editor_client.get(body["api_url"]).get_json()
    assert preview["trim"] == "Unsaved Trim" and preview["lease"]["monthly"] == 329
    assert PreviewToken.objects.count() == 2 and AuditLog.objects(action="preview_created").count() == 2


def test_duplicate_from_the_edit_page(editor_client):
    lot = make_lot(vin=VALID_VIN)
    response = editor_client.post(
        f"/admin/lot/duplicate/?id={lot.pk}", data={"csrf_token": token(editor_client)}
    )
    copy = Lot.objects(pk__ne=lot.pk).get()
    assert response.headers["Location"].startswith(f"/admin/lot/edit/?id={copy.pk}")
    assert copy.status == "draft" and copy.vin is None


def test_restore_from_the_trash_needs_a_reason(admin_client):
    lot = make_lot(vin=VALID_VIN)
    csrf = token(admin_client)
    admin_client.post(f"/admin/lot/transition/?id={lot.pk}", data={"to": "deleted", "csrf_token": csrf})
    assert lot.reload().status == "deleted"
    assert lot.title in admin_client.get("/admin/lot_trash/").get_data(as_text=True)
    assert lot.title not in admin_client.get("/admin/lot/").get_data(as_text=True).split("<tbody>")[-1]
    admin_client.post(
        f"/admin/lot/transition/?id={lot.pk}", data={"to": "restore", "reason": "", "csrf_token": csrf}
    )
    assert lot.reload().status == "deleted"
    admin_client.post(
        f"/admin/lot/transition/?id={lot.pk}",
        data={"to": "restore", "reason": "Wrong lot", "csrf_token": csrf},
    )
    assert lot.reload().status == "published"
