"""Editors' lots: list, sectioned create/edit form, status transitions, images, calculator, VIN decode,
preview links, duplicate, price history, import and export. Editors and admins only; moving to the trash
and restoring are admin-only. Every rule lives in ``app.services.lots`` / ``app.services.images``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.form import rules
from flask_admin.helpers import get_form_data
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import BooleanField, MultipleFileField, SelectField, StringField, TextAreaField

from admin.base import (
    BoolFilter,
    EqualsFilter,
    IntEqualsFilter,
    KeepHiddenField,
    SecureModelView,
    badge,
    check_csrf,
    current_actor,
    money_cell,
)
from admin.security import has_role
from app.errors import DomainError
from app.models import Lot
from app.models.base import as_utc
from app.models.lot import LOT_STATUSES
from app.services import images as image_service
from app.services import lots
from app.services.lots import FIELDS, PACIFIC, LotInvalid

EDIT_ROLES = lots.EDIT_ROLES
ADMIN_ROLES = lots.ADMIN_ROLES

SECTIONS = (
    ("vehicle", "Vehicle"),
    ("pricing", "Pricing"),
    ("lease", "Lease"),
    ("finance", "Finance"),
    ("competitors", "Competitor prices"),
    ("media", "Media"),
    ("seo", "SEO and page counters"),
    ("publishing", "Publishing"),
)
STATUS_BADGE = {
    "draft": "secondary",
    "scheduled": "info",
    "published": "success",
    "archived": "warning",
    "sold": "dark",
    "deleted": "danger",
}
TRANSITION_LABELS = {
    "published": "Publish now",
    "scheduled": "Schedule (at 'Publish at')",
    "draft": "Back to draft",
    "archived": "Archive",
    "sold": "Mark sold",
    "deleted": "Move to trash",
    "restore": "Restore",
}
_INPUTMODE = {"dollars": "numeric", "money": "decimal", "decimal": "decimal", "int": "numeric"}


def build_lot_form() -> type:
    """The lot form: one input per field of ``lots.FIELDS`` (the service validates and maps them)."""
    from flask_admin.form import SecureForm

    attrs: dict[str, Any] = {}
    for spec in FIELDS:
        render: dict[str, Any] = {}
        if spec.kind in _INPUTMODE:
            render["inputmode"] = _INPUTMODE[spec.kind]
        if spec.kind == "bool":
            attrs[spec.key] = BooleanField(spec.label)
        elif spec.kind == "choice":
            choices = [("", "—")] + [(str(c), str(c)) for c in spec.choices]
            attrs[spec.key] = SelectField(spec.label, choices=choices, default="")
        elif spec.key == "description":
            attrs[spec.key] = TextAreaField(
                spec.label,
                render_kw={"rows": 6},
                description=f"At least {lots.MIN_DESCRIPTION} characters to publish.",
            )
        elif spec.kind == "datetime":
            attrs[spec.key] = StringField(spec.label, render_kw={"type": "datetime-local"})
        else:
            attrs[spec.key] = StringField(spec.label, render_kw=render)
    attrs["vin"] = StringField(
        "VIN",
        render_kw={"maxlength": 17, "autocomplete": "off"},
        description="17 characters with a valid check digit; required to publish.",
    )
    attrs["slug"] = StringField(
        "Slug",
        description="Leave empty to follow year, make, model and trim. Frozen after the first publication.",
    )
    attrs["new_images"] = MultipleFileField(
        "Add images", render_kw={"accept": "image/jpeg,image/png,image/webp", "multiple": True}
    )
    return type("LotForm", (SecureForm,), attrs)


def form_rules_for_sections() -> list[Any]:
    result: list[Any] = [KeepHiddenField("csrf_token")]
    for section, title in SECTIONS:
        keys = [spec.key for spec in FIELDS if spec.section == section]
        if section == "media":
            keys = ["new_images"]
        result.append(rules.FieldSet(keys, header=title))
    return result


def _form_text(spec: lots.FieldSpec, value: Any) -> Any:
    if value is None:
        return False if spec.kind == "bool" else ""
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "tags":
        return ", ".join(value)
    if spec.kind == "datetime":
        return as_utc(value).astimezone(PACIFIC).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    return str(value)


def hero_thumbnail(lot: Lot) -> str | None:
    ordered = lot.ordered_images
    if not ordered:
        return None
    return image_service.image_url(ordered[0], "thumbnail")


def _thumb(view: Any, context: Any, model: Lot, name: str) -> Markup:
    url = hero_thumbnail(model)
    if not url:
        return Markup('<span class="text-muted small">no image</span>')
    return Markup('<img src="{}" alt="" width="72" loading="lazy">').format(url)


def _title(view: Any, context: Any, model: Lot, name: str) -> Markup:
    url = url_for(".edit_view", id=str(model.pk))
    return Markup('<a href="{}">{}</a><div class="small text-muted">{}</div>').format(
        url, model.title, model.slug
    )


def _status(view: Any, context: Any, model: Lot, name: str) -> Markup:
    return badge(model.status, STATUS_BADGE.get(model.status, "secondary"))


def _pacific(value: datetime | None) -> str:
    return as_utc(value).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M") if value else ""


class LotView(SecureModelView):
    """Lots for editors and admins."""

    allowed_roles = EDIT_ROLES
    create_roles = EDIT_ROLES
    edit_roles = EDIT_ROLES
    export_roles = EDIT_ROLES
    details_roles = ()
    action_roles = {
        "publish": EDIT_ROLES,
        "unpublish": EDIT_ROLES,
        "archive": EDIT_ROLES,
        "delete": ADMIN_ROLES,
    }
    export_types = ["csv", "xlsx", "json"]
    export_max_rows = 20000

    list_template = "admin/lots/list.html"
    create_template = "admin/lots/create.html"
    edit_template = "admin/lots/edit.html"

    column_list = ("thumbnail", "title", "status", "fleet", "savings", "monthly", "updated_at")
    column_labels = {
        "fleet": "Fleet price",
        "savings": "Savings",
        "monthly": "Monthly",
        "updated_at": "Updated",
    }
    column_sortable_list = (
        "status",
        ("savings", "discount"),
        ("monthly", "lease.monthly"),
        "updated_at",
    )
    column_default_sort = ("updated_at", True)
    column_formatters = {
        "thumbnail": _thumb,
        "title": _title,
        "status": _status,
        "fleet": lambda v, c, m, n: money_cell(m.fleet),
        "savings": lambda v, c, m, n: money_cell(m.savings),
        "monthly": lambda v, c, m, n: money_cell(m.lease.monthly if m.lease else None),
        "updated_at": lambda v, c, m, n: _pacific(m.updated_at),
    }
    column_filters = [
        EqualsFilter("status", "Status", options=[(s, s) for s in LOT_STATUSES if s != "deleted"]),
        EqualsFilter("make", "Make"),
        IntEqualsFilter("year", "Year"),
        BoolFilter("is_weekly_drop", "Weekly drop"),
    ]
    column_searchable_list = ("title_search",)

    form = build_lot_form()
    form_create_rules = form_rules_for_sections()
    form_edit_rules = form_rules_for_sections()

    # -- queries -------------------------------------------------------------------------------------------

    def get_query(self) -> Any:
        return Lot.objects(status__in=[s for s in LOT_STATUSES if s != "deleted"])

    def get_one(self, id: Any) -> Lot | None:
        try:
            return lots.get_lot(id)
        except DomainError:
            return None

    def search_placeholder(self) -> str:
        return "Year make model, slug or VIN"

    def _search(self, query: Any, search_term: str) -> Any:
        return search_lots(query, search_term)

    # -- forms ---------------------------------------------------------------------------------------------

    def edit_form(self, obj: Any = None) -> Any:
        form = self._edit_form_class(get_form_data())
        if request.method == "GET" and obj is not None:
            self.fill_form(form, obj)
        return form

    def on_form_prefill(self, form: Any, id: Any) -> None:
        return None  # filled in edit_form, on GET only: a refused POST keeps what the editor typed

    def fill_form(self, form: Any, lot: Lot) -> None:
        values = lots.lot_values(lot)
        for spec in FIELDS:
            form[spec.key].data = _form_text(spec, values.get(spec.key))
        form["slug"].data = "" if lots.slug_is_automatic(lot) and lot.published_at is None else lot.slug

    def form_data(self, form: Any) -> dict[str, Any]:
        return {spec.key: form[spec.key].data for spec in FIELDS}

    def apply_errors(self, form: Any, errors: dict[str, str]) -> None:
        for key, message in errors.items():
            if key in form:
                form[key].errors = [*list(form[key].errors or []), message]
            else:
                flash(message, "error")

    def _upload_new_images(self, lot_id: Any) -> None:
        actor = current_actor()
        for storage in request.files.getlist("new_images"):
            if not storage or not storage.filename:
                continue
            try:
                image_service.upload_image(lot_id, storage.read(), actor=actor)
            except DomainError as exc:
                flash(f"{storage.filename}: {exc.detail}", "error")

    def _save(self, form: Any, save: Callable[[dict[str, Any]], Any]) -> Any:
        """Run a lot service save with the form's data; errors go back onto the form. Returns the lot or None."""
        try:
            lot = save(self.form_data(form))
        except LotInvalid as exc:
            self.apply_errors(form, exc.errors)
            return None
        except DomainError as exc:
            flash(exc.detail, "error")
            return None
        self._upload_new_images(lot.pk)
        return lot

    def create_model(self, form: Any) -> Any:
        lot = self._save(form, lambda data: lots.create_lot(data, actor=current_actor()))
        if lot is None:
            return False
        if "_publish" in request.form:
            # The lot exists now: a refusal to publish is shown on its edit page, where it stays a draft.
            try:
                lots.publish(lot.pk, actor=current_actor())
                flash("The lot is published.", "success")
            except DomainError as exc:
                _flash_problems(exc)
        return lot

    def update_model(self, form: Any, model: Any) -> bool:
        if self._save(form, lambda data: lots.update_lot(model.pk, data, actor=current_actor())) is None:
            return False
        if "_publish" in request.form:
            try:
                lots.publish(model.pk, actor=current_actor())
                flash("The lot is published.", "success")
            except LotInvalid as exc:
                flash("Saved. Publishing needs the fields marked below.", "warning")
                self.apply_errors(form, exc.errors)
                return False
            except DomainError as exc:
                flash(exc.detail, "error")
        return True

    def get_save_return_url(self, model: Any, is_created: bool = False) -> str:
        return self.get_url(".edit_view", id=str(model.pk))

    # -- pages ---------------------------------------------------------------------------------------------

    def render(self, template: str, **kwargs: Any) -> str:
        if template == self.edit_template and "model" in kwargs:
            lot = kwargs["model"]
            kwargs.update(self.edit_page_context(lot))
        if template in (self.edit_template, self.create_template):
            kwargs.setdefault("form_sections", SECTIONS)
        return super().render(template, **kwargs)

    def edit_page_context(self, lot: Lot) -> dict[str, Any]:
        lot.reload()
        role = self._role()
        return {
            "lot": lot,
            "transitions": [(t, TRANSITION_LABELS[t]) for t in lots.allowed_transitions(lot, role)],
            "publish_problems": lots.validate_for_publish(lot)
            if lot.status in ("draft", "archived", "scheduled")
            else [],
            "price_history": lots.price_history(lot.pk, limit=20),
            "images": lot.ordered_images,
            "image_url": image_service.image_url,
            "pacific": _pacific,
            "status_badge": STATUS_BADGE,
            "tax_rate_default": _default_tax_rate(lot.state or "CA"),
        }

    def _role(self) -> str:
        from flask_login import current_user

        return current_user.role

    # -- batch actions ---------------------------------------------------------------------------------------

    def _batch(self, name: str, ids: list[str]) -> None:
        result = lots.batch(name, ids, actor=current_actor())
        if result.done:
            flash(f"{name.capitalize()}: {len(result.done)} lot(s) done.", "success")
        for lot_id, reason in result.failed[:20]:
            flash(f"Lot {lot_id}: {reason}", "error")

    @action("publish", "Publish", "Publish the selected lots?")
    def action_publish(self, ids: list[str]) -> None:
        self._batch("publish", ids)

    @action("unpublish", "Back to draft", "Move the selected lots back to draft?")
    def action_unpublish(self, ids: list[str]) -> None:
        self._batch("unpublish", ids)

    @action("archive", "Archive", "Archive the selected lots?")
    def action_archive(self, ids: list[str]) -> None:
        self._batch("archive", ids)

    @action("delete", "Move to trash", "Move the selected lots to the trash?")
    def action_delete(self, ids: list[str]) -> None:
        self._batch("delete", ids)

    # -- status ----------------------------------------------------------------------------------------------

    @expose("/transition/", methods=("POST",))
    def transition_view(self) -> Response:
        check_csrf()
        lot_id = request.args.get("id", "")
        target = request.form.get("to", "")
        back = redirect(self.get_url(".edit_view", id=lot_id))
        actor = current_actor()
        try:
            if target == "published":
                lots.publish(lot_id, actor=actor)
            elif target == "scheduled":
                lot = lots.get_lot(lot_id)
                if lot.publish_at is None:
                    flash("Set 'Publish at' in the Publishing section and save first.", "error")
                    return back
                lots.schedule(lot_id, lot.publish_at, actor=actor)
            elif target == "draft":
                lots.unpublish(lot_id, actor=actor)
            elif target == "archived":
                lots.archive(lot_id, actor=actor)
            elif target == "sold":
                lots.mark_sold(lot_id, actor=actor)
            elif target == "deleted":
                if not has_role(ADMIN_ROLES):
                    abort(403)
                lots.soft_delete(lot_id, actor=actor)
            elif target == "restore":
                if not has_role(ADMIN_ROLES):
                    abort(403)
                lots.restore(lot_id, actor=actor, reason=request.form.get("reason", ""))
            else:
                abort(400)
        except DomainError as exc:
            if exc.status_code == 403:
                abort(403)
            _flash_problems(exc)
            return back
        flash(f"Done: {TRANSITION_LABELS.get(target, target)}.", "success")
        return back

    # -- images ----------------------------------------------------------------------------------------------

    @expose("/images/upload/", methods=("POST",))
    def image_upload_view(self) -> Response:
        check_csrf()
        lot_id = request.args.get("id", "")
        self._upload_new_images(lot_id)
        return redirect(self.get_url(".edit_view", id=lot_id) + "#images")

    @expose("/images/update/", methods=("POST",))
    def image_update_view(self) -> Response:
        check_csrf()
        lot_id = request.args.get("id", "")
        actor = current_actor()
        try:
            hero = request.form.get("hero")
            if "delete" in request.form:
                image_service.delete_image(lot_id, request.form["delete"], actor=actor)
                flash("Image deleted.", "success")
            else:
                order = sorted(
                    (key[len("position_") :] for key in request.form if key.startswith("position_")),
                    key=lambda image_id: _int(request.form.get(f"position_{image_id}")),
                )
                alts = {
                    key[len("alt_") :]: value for key, value in request.form.items() if key.startswith("alt_")
                }
                image_service.update_images(lot_id, order, alts, actor=actor)
                if hero:
                    image_service.set_hero(lot_id, hero, actor=actor)
                flash("Images updated.", "success")
        except DomainError as exc:
            flash(exc.detail, "error")
        return redirect(self.get_url(".edit_view", id=lot_id) + "#images")

    # -- tools -----------------------------------------------------------------------------------------------

    @expose("/calculator/")
    def calculator_view(self) -> Response:
        """The lease and finance calculator of the form (same module as ``POST /api/calc``), as JSON."""
        from admin.views.calculator import calculate

        return calculate(request.args)

    @expose("/vin-decode/")
    def vin_decode_view(self) -> Response:
        from app.services.vin_decoder import decode_vin

        try:
            decoded = decode_vin(request.args.get("vin", ""))
        except DomainError as exc:
            return jsonify({"detail": exc.detail}), exc.status_code  # type: ignore[return-value]
        return jsonify({"vin": decoded.vin, "fields": decoded.fields, "warnings": decoded.warnings})

    @expose("/preview/", methods=("POST",))
    def preview_view(self) -> Response:
        """A 2-hour preview link: of the saved lot (``id``), or of the unsaved form data."""
        check_csrf()
        from app.services import previews

        actor = current_actor()
        lot_id = request.args.get("id")
        try:
            if lot_id and request.form.get("mode") != "unsaved":
                token = previews.create_preview(lot_id=lots.get_lot(lot_id).pk, actor=actor)
            else:
                token = previews.create_preview(snapshot=preview_snapshot(request.form), actor=actor)
        except DomainError as exc:
            return jsonify({"detail": exc.detail}), exc.status_code  # type: ignore[return-value]
        base = current_app.config["FRONTEND_URL"].rstrip("/")
        return jsonify(
            {"url": f"{base}/preview/{token}", "api_url": f"/api/preview/{token}", "expires_in": 7200}
        )

    @expose("/duplicate/", methods=("POST",))
    def duplicate_view(self) -> Response:
        check_csrf()
        try:
            copy = lots.duplicate(request.args.get("id", ""), actor=current_actor())
        except DomainError as exc:
            flash(exc.detail, "error")
            return redirect(self.get_url(".index_view"))
        flash("Duplicated as a new draft (without VIN). Check the fields before publishing.", "success")
        return redirect(self.get_url(".edit_view", id=str(copy.pk)))

    # -- import / export -------------------------------------------------------------------------------------

    @expose("/import/", methods=("GET", "POST"))
    def import_view(self) -> Response | str:
        from flask_admin.form import SecureForm

        form = SecureForm(request.form)
        report = None
        if request.method == "POST":
            if not form.validate():
                abort(400, description="The form expired; reload and try again.")
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                flash("Choose a CSV or XLSX file.", "error")
            else:
                try:
                    rows = lots.parse_table(upload.filename, upload.read())
                    report = lots.import_lots(rows, actor=current_actor())
                except DomainError as exc:
                    flash(exc.detail, "error")
        return self.render(
            "admin/lots/import.html", form=form, report=report, columns=FIELDS, max_rows=lots.MAX_IMPORT_ROWS
        )

    @expose("/export/<export_type>/")
    def export(self, export_type: str) -> Response:
        if not self.can_export or export_type not in self.export_types:
            abort(403)
        _count, data = self._export_data()
        content, mimetype, filename = lots.export_lots(data, export_type, actor=current_actor())
        return Response(
            content, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"}
        )


class LotTrashView(SecureModelView):
    """Soft-deleted lots (admin only). Slugs stay reserved; a restore needs a reason."""

    allowed_roles = ADMIN_ROLES
    column_list = ("title", "slug", "status_before_terminal", "deleted_at")
    column_labels = {"status_before_terminal": "Status before", "deleted_at": "Deleted"}
    column_formatters = {
        "title": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for("lot.edit_view", id=str(m.pk)), m.title
        ),
        "deleted_at": lambda v, c, m, n: _pacific(m.deleted_at),
    }
    column_default_sort = ("deleted_at", True)
    details_roles = ()

    def get_query(self) -> Any:
        return Lot.objects(status="deleted")


def search_lots(query: Any, term: str) -> Any:
    """Search on indexed fields only: a VIN (exact), or a prefix of "year make model trim" with or without
    the year, or a slug prefix. Anchored patterns let the database walk the ``title_search`` index."""
    from mongoengine import Q

    text = " ".join(term.lower().split())
    if not text:
        return query
    vin = text.upper().replace(" ", "")
    if re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", vin):
        return query.filter(vin=vin)
    escaped = re.escape(text)
    # ``$regex`` strings, not compiled patterns (see the applications search); anchored, so an index helps.
    pattern = f"^{escaped}" if text[:1].isdigit() else rf"^\d{{4}} {escaped}"
    slug_prefix = "^" + re.escape(text.replace(" ", "-"))
    return query.filter(
        Q(__raw__={"$or": [{"title_search": {"$regex": pattern}}, {"slug": {"$regex": slug_prefix}}]})
    )


def preview_snapshot(form_data: Any) -> dict[str, Any]:
    """The unsaved form data as a stored-lot document (``Lot.to_mongo()`` shape), for preview tokens."""
    values, errors, _notes = lots.clean_input({spec.key: form_data.get(spec.key) for spec in FIELDS})
    if errors:
        raise LotInvalid(errors)
    lot = Lot(status="draft")
    for key, value in values.items():
        if key != "slug":
            lots._set_value(lot, lots.FIELDS_BY_KEY[key], value)
    if values.get("year") and values.get("make") and values.get("model"):
        lot.slug = values.get("slug") or lots.auto_slug(lot.year, lot.make, lot.model, lot.trim, None)
    snapshot = lot.to_mongo().to_dict()
    snapshot.pop("_id", None)
    return snapshot


def _default_tax_rate(state: str) -> str:
    from app.services.tax_fees import state_row

    row = state_row(state) or state_row("CA")
    return str(row["sales_tax_rate"]) if row else "7.25"


def _int(value: Any) -> int:
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0


def _flash_problems(exc: DomainError) -> None:
    if isinstance(exc, LotInvalid):
        labels = {spec.key: spec.label for spec in FIELDS}
        labels["images"] = "Images"
        for key, message in exc.errors.items():
            prefix = "" if key == "__all__" else f"{labels.get(key, key)}: "
            flash(f"{prefix}{message}", "error")
    else:
        flash(exc.detail, "error")
