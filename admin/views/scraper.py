"""The competitor scraper in the back office (issue 5 §3), for editors and admins.

* **Runs** (the list): status, trigger, start and end, duration, counts, errors and the sync guard's
  decision, newest first (index ``-created_at``; the status filter uses ``(status, -created_at)``), with a
  "Start a run" button. The service allows one run at a time and says so when one is going.
* **A run**: its log, and its progress while it runs. A few lines of our own JavaScript poll
  ``progress/`` (JSON) and reload the page when the run ends; without JavaScript the page reloads itself
  every few seconds while the run is queued or running.
* **Its offers**: each with the lots it matches, or, when unmatched, a "Create draft lot" button that
  opens the new draft's edit page. A second click opens the same draft.

Every rule (roles included) is in ``app.services.scraper``; the view checks the role too, and every POST
carries the session CSRF token. The services write the audit entries (``scrape_started``,
``draft_from_scrape`` and the lot's ``create``).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, request
from flask_admin import expose
from flask_admin.form import SecureForm
from markupsafe import Markup
from werkzeug.wrappers import Response

from admin.base import EqualsFilter, SecureModelView, badge, check_csrf, current_actor, money_cell
from app.errors import DomainError
from app.models import Lot, ScrapedOffer
from app.models.base import as_utc, parse_object_id
from app.models.scraper import SCRAPE_RUN_STATUSES, SCRAPED_OFFER_STATUSES
from app.services import scraper
from app.services.lots import PACIFIC

EDITORS = ("editor", "admin")
OFFERS_PER_PAGE = 50
# Seconds between reloads of a running run's page when JavaScript is off.
NOSCRIPT_REFRESH_SECONDS = 5
STATUS_BADGE = {
    "queued": "info",
    "running": "primary",
    "succeeded": "success",
    "guarded": "warning",
    "failed": "danger",
}


def pacific(value: Any) -> str:
    return as_utc(value).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(round(seconds))
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{seconds:.1f} s"


def _status(view: Any, context: Any, model: Any, name: str) -> Markup:
    return Markup('<a href="{}" data-testid="run-link">{}</a>').format(
        view.get_url(".run_view", id=str(model.pk)),
        badge(model.status, STATUS_BADGE.get(model.status, "secondary")),
    )


def _trigger(view: Any, context: Any, model: Any, name: str) -> str:
    who = model.triggered_by or ""
    return f"{model.trigger} ({who})" if who and model.trigger == "manual" else model.trigger or ""


def _counts(view: Any, context: Any, model: Any, name: str) -> Markup:
    if not model.is_final:
        done, total = model.progress_done or 0, model.progress_total or 0
        return Markup("{} / {} pages").format(done, total) if total else Markup("")
    pages = (model.counts or {}).get("pages_fetched", 0)
    return Markup("{} offers: {} matched, {} unmatched; {} lots updated; {} pages").format(
        model.offers_found or 0,
        model.offers_matched or 0,
        model.offers_unmatched or 0,
        model.lots_updated or 0,
        pages,
    )


def _guard(view: Any, context: Any, model: Any, name: str) -> Markup:
    if model.guard_ok is None:
        return Markup("{}").format(model.error or "")
    return Markup("{} {}").format(
        badge("applied" if model.guard_ok else "kept data", "success" if model.guard_ok else "warning"),
        model.guard_reason or "",
    )


def _ref_id(raw: Any) -> Any:
    """The id of a reference as loaded (a ``DBRef``, a document or an id), without dereferencing it."""
    return getattr(raw, "id", raw)


def offer_rows(offers: list[ScrapedOffer]) -> list[dict[str, Any]]:
    """Each offer with its matched lots and its draft, the lots loaded in one query (not one per row)."""
    ids: set[Any] = set()
    for offer in offers:
        ids.update(_ref_id(raw) for raw in offer._data.get("matched_lots") or [])
        if offer._data.get("draft_lot") is not None:
            ids.add(_ref_id(offer._data["draft_lot"]))
    found: dict[Any, Lot] = {}
    if ids:
        only = ("id", "year", "make", "model", "trim", "status")
        found = {lot.pk: lot for lot in Lot.objects(pk__in=list(ids)).only(*only)}
    rows = []
    for offer in offers:
        draft_id = _ref_id(offer._data.get("draft_lot"))
        rows.append(
            {
                "offer": offer,
                "matched": [
                    found[_ref_id(raw)]
                    for raw in offer._data.get("matched_lots") or []
                    if _ref_id(raw) in found
                ],
                "draft": found.get(draft_id) if draft_id is not None else None,
                "draft_id": draft_id,
            }
        )
    return rows


class ScrapeRunView(SecureModelView):
    """Scraper runs: the list, a run's page with its progress and offers, start, and drafts from offers."""

    allowed_roles = EDITORS
    details_roles = ()  # the run page below replaces Flask-Admin's details view
    list_template = "admin/scraper/list.html"
    column_display_actions = False  # no edit or delete: the status links to the run's page

    column_list = ("created_at", "status", "trigger", "started_at", "finished_at", "duration", "counts",
                   "errors", "guard")  # fmt: skip
    column_labels = {
        "created_at": "Queued",
        "started_at": "Started",
        "finished_at": "Finished",
        "counts": "Counts",
        "errors": "Errors",
        "guard": "Sync guard",
    }
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at",)
    column_formatters = {
        "created_at": lambda v, c, m, n: pacific(m.created_at),
        "started_at": lambda v, c, m, n: pacific(m.started_at),
        "finished_at": lambda v, c, m, n: pacific(m.finished_at),
        "duration": lambda v, c, m, n: duration(m.duration_seconds),
        "status": _status,
        "trigger": _trigger,
        "counts": _counts,
        "errors": lambda v, c, m, n: len(m.errors or []) if m.is_final else "",
        "guard": _guard,
    }
    column_filters = [EqualsFilter("status", "Status", options=[(s, s) for s in SCRAPE_RUN_STATUSES])]
    form_columns = ("status",)  # never used (no create or edit), but Flask-Admin builds a form at start-up

    def get_query(self) -> Any:
        # The list needs the log, not the errors' details or the warnings' text of every run.
        return super().get_query().exclude("warnings")

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("start_form", SecureForm())
        return super().render(template, **kwargs)

    # -- start ---------------------------------------------------------------------------------------------

    @expose("/start/", methods=("POST",))
    def start_view(self) -> Response:
        check_csrf()
        try:
            run = scraper.start_run(actor=current_actor())
        except DomainError as exc:
            if exc.status_code == 403:
                abort(403)
            flash(exc.detail, "error")
            return redirect(self.get_url(".index_view"))
        flash("The run is queued; a worker picks it up shortly.", "success")
        return redirect(self.get_url(".run_view", id=str(run.pk)))

    # -- one run -------------------------------------------------------------------------------------------

    def _run_or_404(self) -> Any:
        try:
            return scraper.get_run(request.args.get("id", ""))
        except DomainError:
            abort(404)

    @expose("/run/")
    def run_view(self) -> str:
        run = self._run_or_404()
        status = request.args.get("offers", "")
        if status not in SCRAPED_OFFER_STATUSES:
            status = ""
        try:
            page = max(0, int(request.args.get("page", "0")))
        except ValueError:
            page = 0
        # One extra row tells whether there is a next page, without counting (simple pager).
        offers = scraper.offers_of_run(
            run.pk, status=status or None, offset=page * OFFERS_PER_PAGE, limit=OFFERS_PER_PAGE + 1
        )
        has_next = len(offers) > OFFERS_PER_PAGE
        offers = offers[:OFFERS_PER_PAGE]
        return self.render(
            "admin/scraper/run.html",
            run=run,
            state=scraper.progress(run),
            rows=offer_rows(offers),
            offer_filter=status,
            offer_statuses=SCRAPED_OFFER_STATUSES,
            page=page,
            has_next=has_next,
            form=SecureForm(),
            pacific=pacific,
            duration=duration,
            money=money_cell,
            status_badge=STATUS_BADGE,
            refresh_seconds=NOSCRIPT_REFRESH_SECONDS,
        )

    @expose("/progress/")
    def progress_view(self) -> Response:
        response = jsonify(scraper.progress(self._run_or_404()))
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- drafts from offers --------------------------------------------------------------------------------

    @expose("/offer/draft/", methods=("POST",))
    def draft_view(self) -> Response:
        check_csrf()
        offer_id = request.args.get("id", "")
        oid = parse_object_id(offer_id)
        offer = ScrapedOffer.objects(pk=oid).only("id", "draft_lot", "last_run").first() if oid else None
        if offer is None:
            abort(404)
        existed = offer._data.get("draft_lot") is not None
        try:
            lot = scraper.create_draft_lot(offer.pk, actor=current_actor())
        except DomainError as exc:
            if exc.status_code == 403:
                abort(403)
            flash(exc.detail, "error")
            run_id = request.form.get("run") or (str(offer.last_run) if offer.last_run else "")
            return redirect(self.get_url(".run_view", id=run_id) if run_id else self.get_url(".index_view"))
        if existed:
            flash("A draft was already made from this offer: here it is.", "info")
        else:
            flash("Draft lot created from the competitor's offer. Complete it before publishing.", "success")
        return redirect(self.get_url("lot.edit_view", id=str(lot.pk)))
