/* Lot form helpers: the lease/finance calculator, the VIN decoder and preview links.
 * No third-party code; the server does every calculation (app/services/calculator.py). */
(function () {
  "use strict";

  function field(name) { return document.querySelector('[name="' + name + '"]'); }
  function value(name) { var el = field(name); return el ? el.value.trim() : ""; }
  function byId(id) { return document.getElementById(id); }
  function text(el, content) { el.textContent = content; }
  function money(n) { return "$" + Number(n).toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2}); }
  function csrfToken() { var el = document.querySelector('input[name="csrf_token"]'); return el ? el.value : ""; }

  function row(list, label, amount) {
    var li = document.createElement("li");
    text(li, label + ": " + amount);
    list.appendChild(li);
  }

  var lastAnswer = null;

  function runCalculator() {
    var panel = byId("calculator");
    var out = byId("calc-result");
    var msrp = value("msrp");
    var discount = value("discount") || "0";
    var selling = String(Number(msrp.replace(/[,$]/g, "")) - Number(discount.replace(/[,$]/g, "")));
    var params = new URLSearchParams({
      msrp: msrp, selling_price: selling, state: value("state") || "CA",
      residual_percent: byId("calc-residual").value, money_factor: byId("calc-mf").value,
      lease_apr: byId("calc-lease-apr").value, term: byId("calc-term").value,
      tax_rate: byId("calc-tax").value, acquisition_fee: byId("calc-acq").value,
      doc_fee: byId("calc-doc").value, cash_down: byId("calc-down").value,
      finance_apr: value("finance_apr"), finance_term: value("finance_term_months"),
      finance_down: value("finance_down_payment")
    });
    fetch(panel.dataset.calcUrl + "?" + params.toString(), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        out.innerHTML = "";
        if (!res.ok) { text(out, res.body.detail || "Check the inputs."); byId("calc-use").classList.add("d-none"); return; }
        lastAnswer = res.body;
        var list = document.createElement("ul");
        list.className = "mb-0 pl-3";
        if (res.body.lease) {
          var l = res.body.lease;
          row(list, "Residual value", money(l.residual_value));
          row(list, "Base payment", money(l.base_payment));
          row(list, "Monthly use tax", money(l.monthly_tax));
          row(list, "Lease monthly (with tax)", money(l.total_monthly) + " → $" + l.monthly_whole_dollars);
          row(list, "Due at signing", money(l.due_at_signing_total) + (l.due_at_signing_complete ? "" : " + DMV fees"));
          row(list, l.rate_equivalent_label, l.rate_equivalent + "% — " + l.rate_notice);
        }
        if (res.body.finance) {
          var f = res.body.finance;
          row(list, "Amount financed", money(f.amount_financed));
          row(list, "Finance monthly", money(f.monthly_payment));
          row(list, "Finance charge", money(f.finance_charge));
        }
        out.appendChild(list);
        byId("calc-use").classList.toggle("d-none", !res.body.lease);
      })
      .catch(function () { text(out, "The calculator is not reachable."); });
  }

  function useNumbers() {
    if (!lastAnswer || !lastAnswer.lease) { return; }
    var l = lastAnswer.lease;
    var set = function (name, v) { var el = field(name); if (el) { el.value = v; } };
    set("lease_monthly", l.monthly_whole_dollars);
    set("lease_due_at_signing", l.due_at_signing_whole_dollars);
    set("lease_term_months", byId("calc-term").value);
    set("lease_residual_percent", byId("calc-residual").value);
    set("lease_money_factor", l.money_factor);
    set("lease_acquisition_fee", byId("calc-acq").value);
  }

  function decodeVin() {
    var panel = byId("vin-decoder");
    var out = byId("vin-result");
    text(out, "Decoding…");
    fetch(panel.dataset.vinUrl + "?vin=" + encodeURIComponent(value("vin")), {credentials: "same-origin"})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (!res.ok) { text(out, res.body.detail || "Could not decode the VIN."); return; }
        var filled = [];
        Object.keys(res.body.fields).forEach(function (name) {
          var el = field(name);
          if (el && !el.value) { el.value = res.body.fields[name]; filled.push(name); }
        });
        text(out, (filled.length ? "Filled: " + filled.join(", ") + ". " : "Nothing to fill. ") + res.body.warnings.join(" "));
      })
      .catch(function () { text(out, "The VIN decoder is not reachable."); });
  }

  function preview(mode) {
    var panel = byId("preview-panel");
    var out = byId("preview-result");
    var body = new URLSearchParams({csrf_token: csrfToken(), mode: mode});
    if (mode === "unsaved") {
      document.querySelectorAll("form.admin-form [name]").forEach(function (el) {
        if (el.name === "csrf_token" || el.type === "file") { return; }
        body.append(el.name, el.type === "checkbox" ? (el.checked ? "y" : "") : el.value);
      });
    }
    fetch(panel.dataset.previewUrl, {method: "POST", credentials: "same-origin", body: body})
      .then(function (r) { return r.json().then(function (b) { return {ok: r.ok, body: b}; }); })
      .then(function (res) {
        out.innerHTML = "";
        if (!res.ok) { text(out, res.body.detail || "Could not create a preview."); return; }
        var a = document.createElement("a");
        a.href = res.body.url; a.target = "_blank"; a.rel = "noopener";
        text(a, res.body.url);
        out.appendChild(a);
        out.appendChild(document.createTextNode(" (valid 2 hours)"));
      })
      .catch(function () { text(out, "Could not create a preview."); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var run = byId("calc-run"); if (run) { run.addEventListener("click", runCalculator); }
    var use = byId("calc-use"); if (use) { use.addEventListener("click", useNumbers); }
    var vin = byId("vin-decode"); if (vin) { vin.addEventListener("click", decodeVin); }
    document.querySelectorAll("[data-preview-mode]").forEach(function (btn) {
      btn.addEventListener("click", function () { preview(btn.dataset.previewMode); });
    });
  });
})();
