// The dashboard's chart: points issued and redeemed per bucket, from the JSON the server put in
// #chart-data (no inline script: the page's CSP allows scripts from this origin only).
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  var canvas = document.getElementById("activity-chart");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: "Issued", data: data.issued, backgroundColor: "rgba(79, 70, 229, 0.85)", borderRadius: 4 },
        { label: "Redeemed", data: data.redeemed, backgroundColor: "rgba(6, 182, 212, 0.85)", borderRadius: 4 }
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } }
    }
  });
  canvas.setAttribute("data-rendered", "true");
})();
