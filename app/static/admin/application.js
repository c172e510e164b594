/* Application page: reveal one sensitive value (shown 60 s) and create the fleet submission text.
 * Both are POSTs with the session CSRF token and a reason; the server logs each one. */
(function () {
  "use strict";
  function csrf() { return document.getElementById("page-csrf").value; }
  function post(url, data) {
    data.append("csrf_token", csrf());
    return fetch(url, {method: "POST", credentials: "same-origin", body: data, cache: "no-store"})
      .then(function (r) { return r.json().then(function (b) { return {ok: r.ok, body: b}; }); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("reveal-root");
    document.querySelectorAll("form.reveal-form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var data = new URLSearchParams(new FormData(form));
        data.append("field", form.dataset.field);
        var out = form.parentNode.querySelector("code.revealed");
        post(root.dataset.revealUrl, data).then(function (res) {
          out.classList.remove("d-none");
          if (!res.ok) { out.textContent = res.body.detail || "Not allowed."; return; }
          out.textContent = res.body.value;
          setTimeout(function () { out.textContent = ""; out.classList.add("d-none"); }, res.body.expires_in * 1000);
        });
      });
    });
    var fleet = document.querySelector("form.fleet-form");
    if (fleet) {
      fleet.addEventListener("submit", function (event) {
        event.preventDefault();
        var box = document.getElementById("fleet-text");
        post(root.dataset.fleetUrl, new URLSearchParams(new FormData(fleet))).then(function (res) {
          box.classList.remove("d-none");
          if (!res.ok) { box.value = res.body.detail || "Not allowed."; return; }
          box.value = res.body.text;
          if (navigator.clipboard) { navigator.clipboard.writeText(res.body.text).catch(function () {}); }
          setTimeout(function () { box.value = ""; box.classList.add("d-none"); }, res.body.expires_in * 1000);
        });
      });
    }
  });
})();
