// The dashboard's analytics charts, from the JSON the server put in #analytics-data (no inline
// script: the page's CSP allows scripts from this origin only): points issued, redeemed, reversed
// and expired per day or week; the outstanding points and their value at each day's end; the
// members per RFM segment and per tier. Each canvas gets data-rendered=true once drawn.
(function () {
  "use strict";
  var source = document.getElementById("analytics-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { position: "bottom" } }
  };
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    new Chart(canvas, config);
    canvas.setAttribute("data-rendered", "true");
  }
  function bars(label, color) {
    return function (values) {
      return { label: label, data: values, backgroundColor: color, borderRadius: 3 };
    };
  }
  var points = [
    bars("Issued", "rgba(79, 70, 229, 0.85)")(data.issued),
    bars("Redeemed", "rgba(6, 182, 212, 0.85)")(data.redeemed),
    bars("Reversed", "rgba(220, 38, 38, 0.75)")(data.reversed)
  ];
  if (data.expired) { points.push(bars("Expired", "rgba(217, 119, 6, 0.85)")(data.expired)); }
  draw("points-chart", {
    type: "bar",
    data: { labels: data.labels, datasets: points },
    options: Object.assign({}, common, {
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } }
    })
  });
  var owed = [
    { label: "Outstanding points", data: data.outstanding, borderColor: "#4f46e5", backgroundColor: "#4f46e5", yAxisID: "points", pointRadius: 0, tension: 0.2 }
  ];
  if (data.value_high.some(function (v) { return v !== null; })) {
    owed.push({ label: "Value at the highest rate", data: data.value_high, borderColor: "#0f9d58", backgroundColor: "#0f9d58", yAxisID: "money", pointRadius: 0, tension: 0.2 });
    owed.push({ label: "Value at the lowest rate", data: data.value_low, borderColor: "#86c5a4", backgroundColor: "#86c5a4", yAxisID: "money", pointRadius: 0, tension: 0.2, borderDash: [4, 3] });
  }
  draw("liability-chart", {
    type: "line",
    data: { labels: data.days, datasets: owed },
    options: Object.assign({}, common, {
      scales: {
        points: { type: "linear", position: "left", beginAtZero: true, ticks: { precision: 0 } },
        money: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
        x: { grid: { display: false } }
      }
    })
  });
  var horizontal = Object.assign({}, common, {
    indexAxis: "y",
    interaction: { mode: "nearest", intersect: true },
    plugins: { legend: { display: false } },
    scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } }
  });
  draw("segments-chart", {
    type: "bar",
    data: { labels: Object.keys(data.segments), datasets: [bars("Members", "rgba(79, 70, 229, 0.85)")(Object.values(data.segments))] },
    options: horizontal
  });
  draw("tiers-chart", {
    type: "bar",
    data: { labels: Object.keys(data.tiers), datasets: [bars("Members", "rgba(15, 157, 88, 0.8)")(Object.values(data.tiers))] },
    options: horizontal
  });
})();
