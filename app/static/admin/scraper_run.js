/* Scraper run page: follow a queued or running run. Polls the run's progress (JSON, GET only) every two
 * seconds, updates the bar and the counts, and reloads the page once the run has ended so the offers show.
 * Without JavaScript the page reloads itself (a <noscript> refresh); this script only makes it smoother. */
(function () {
  "use strict";
  var POLL_MS = 2000;

  function set(root, field, text) {
    var node = root.querySelector('[data-field="' + field + '"]');
    if (node) { node.textContent = text; }
  }

  function show(root, state) {
    var pct = state.progress.percent === null ? 0 : state.progress.percent;
    var bar = root.querySelector('[data-field="bar"]');
    if (bar) {
      bar.style.width = pct + "%";
      bar.setAttribute("aria-valuenow", String(pct));
      bar.textContent = pct + "%";
    }
    set(root, "status", state.status);
    set(root, "pages", state.progress.done + " / " + state.progress.total);
    set(root, "message", state.progress.message);
    ["offers_found", "offers_matched", "offers_unmatched", "lots_updated", "errors", "warnings"].forEach(
      function (key) { set(root, key, String(state[key])); }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("scrape-run");
    if (!root || root.dataset.final === "true") { return; }
    var url = root.dataset.progressUrl;

    function poll() {
      fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (state) {
          show(root, state);
          if (state.final) { window.location.reload(); } else { window.setTimeout(poll, POLL_MS); }
        })
        .catch(function () { window.setTimeout(poll, POLL_MS * 3); });
    }
    window.setTimeout(poll, POLL_MS);
  });
})();
