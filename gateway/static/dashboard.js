// The dashboard's charts in business time, from the JSON the server put in #chart-data (no
// inline script: the page's CSP allows scripts from this origin only): points issued and
// redeemed and expired per day, and the outstanding points (net of expiry) and partners' funds at
// each day's end.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  var activity = document.getElementById("activity-chart");
  var balance = document.getElementById("balance-chart");
  if (!source || !activity || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var decimals = balance ? Number(balance.dataset.decimals || 0) : 0;
  var symbol = balance ? balance.dataset.symbol || "" : "";
  var common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { position: "bottom" } }
  };
  new Chart(activity, {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [
        { label: "Issued (points, by purchase date)", data: data.issued, backgroundColor: "rgba(79, 70, 229, 0.85)", borderRadius: 4 },
        { label: "Redeemed (points)", data: data.redeemed, backgroundColor: "rgba(6, 182, 212, 0.85)", borderRadius: 4 },
        { label: "Expired (points, breakage)", data: data.expired || [], backgroundColor: "rgba(217, 119, 6, 0.85)", borderRadius: 4 }
      ]
    },
    options: Object.assign({}, common, {
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } }
    })
  });
  if (balance) {
    // funds are base units as decimal strings (exact on the server); a chart needs only their size
    var funds = data.funds.map(function (v) { return Number(v) / Math.pow(10, decimals); });
    new Chart(balance, {
      type: "line",
      data: {
        labels: data.days,
        datasets: [
          { label: "Outstanding points (net of expiry)", data: data.liability, borderColor: "#4f46e5", backgroundColor: "#4f46e5", yAxisID: "points", pointRadius: 0, tension: 0.2 },
          { label: "Partners' funds (" + symbol + ")", data: funds, borderColor: "#0f9d58", backgroundColor: "#0f9d58", yAxisID: "money", pointRadius: 0, tension: 0.2 }
        ]
      },
      options: Object.assign({}, common, {
        scales: {
          points: { type: "linear", position: "left", beginAtZero: true, ticks: { precision: 0 } },
          money: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
          x: { grid: { display: false } }
        }
      })
    });
    balance.setAttribute("data-rendered", "true");
  }
  activity.setAttribute("data-rendered", "true");
})();
