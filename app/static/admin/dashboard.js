/* Draws the dashboard charts with the vendored Chart.js from the JSON the server embeds in the page. */
(function () {
  "use strict";
  var palette = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"];
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Chart === "undefined") { return; }
    var data = JSON.parse(document.getElementById("dashboard-data").textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec = data[canvas.dataset.chart];
      var datasets = spec.datasets.map(function (ds, i) {
        var color = spec.type === "doughnut" ? palette : palette[i % palette.length];
        return {label: ds.label, data: ds.data, backgroundColor: color, borderColor: spec.type === "line" ? color : undefined, fill: false};
      });
      var options = {responsive: true, animation: false, plugins: {legend: {display: spec.datasets.length > 1 || spec.type === "doughnut"}}};
      if (spec.stacked) { options.scales = {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}; }
      new Chart(canvas, {type: spec.type, data: {labels: spec.labels, datasets: datasets}, options: options});
    });
  });
})();
