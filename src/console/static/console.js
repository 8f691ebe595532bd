// The console's only script of its own: uPlot charts from /ui/activity.json, refreshed every
// 15 s, and "select all" on the dead-letter list. Loaded from this origin (CSP: no inline script).
(function () {
  "use strict";
  var REFRESH_MS = 15000;
  var charts = {};

  function seriesFor(points) {
    var x = [], processed = [], p50 = [], p99 = [];
    points.forEach(function (p) {
      x.push(p.at / 1000);
      processed.push(p.processed);
      p50.push(p.p50Ms);
      p99.push(p.p99Ms);
    });
    return [x, processed, p50, p99];
  }

  function options(name, width) {
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined;
    return {
      title: name,
      width: width,
      height: 180,
      scales: { x: { time: true }, ms: { auto: true } },
      axes: [
        {},
        { label: "per min", size: 50 },
        { scale: "ms", side: 1, label: "ms", grid: { show: false }, size: 60 },
      ],
      series: [
        {},
        { label: "processed/min", stroke: "#2b6cb0", fill: "rgba(43,108,176,0.25)", paths: bars },
        { label: "p50 ms", scale: "ms", stroke: "#2f855a", width: 2, points: { show: true, size: 5 } },
        { label: "p99 ms", scale: "ms", stroke: "#c53030", width: 2, points: { show: true, size: 5 } },
      ],
    };
  }

  function draw(root, data) {
    var names = Object.keys(data.handlers);
    if (names.length === 0) {
      root.innerHTML = "";
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No outcomes in the last hour yet.";
      root.appendChild(p);
      charts = {};
      return;
    }
    var empty = root.querySelector("p.muted");
    if (empty) empty.remove();
    var width = Math.max(280, Math.min(520, Math.floor(root.clientWidth / 3) - 28));
    names.forEach(function (name) {
      var values = seriesFor(data.handlers[name]);
      if (charts[name]) {
        charts[name].setData(values);
        return;
      }
      var box = document.createElement("div");
      box.className = "chart";
      box.setAttribute("data-handler", name);
      root.appendChild(box);
      charts[name] = new uPlot(options(name, width), values, box);
    });
  }

  function loadCharts() {
    var root = document.getElementById("charts");
    if (!root || typeof uPlot === "undefined") return;
    fetch(root.getAttribute("data-src"), { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (data) {
        draw(root, data);
        root.setAttribute("data-loaded", "true");
      })
      .catch(function (err) {
        root.setAttribute("data-error", String(err));
      });
  }

  document.addEventListener("change", function (e) {
    var box = e.target;
    if (!box.classList || !box.classList.contains("select-all")) return;
    document.querySelectorAll('input[name="ids"]').forEach(function (c) {
      c.checked = box.checked;
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    loadCharts();
    if (document.getElementById("charts")) setInterval(loadCharts, REFRESH_MS);
  });
})();
