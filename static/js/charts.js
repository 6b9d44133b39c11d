// Draws every chart on the page: each element with data-figure="<id>" gets the plotly
// figure ({data, layout}) held in the json_script element <id>. Runs on first paint and
// again whenever htmx swaps in new content (the overview polls every 30 s), so the
// server renders the figures and this file only hands them to Plotly.
(function () {
  "use strict";

  var CONFIG = { responsive: true, displaylogo: false };

  function figureFor(el) {
    var source = document.getElementById(el.dataset.figure);
    if (!source) return null;
    try {
      return JSON.parse(source.textContent);
    } catch (err) {
      console.error("charts.js: bad figure JSON in #" + el.dataset.figure, err);
      return null;
    }
  }

  function draw(root) {
    if (typeof window.Plotly === "undefined") return; // plotly.js did not load: keep the fallbacks
    var charts = (root || document).querySelectorAll("[data-figure]");
    Array.prototype.forEach.call(charts, function (el) {
      var figure = figureFor(el);
      if (!figure) return;
      // A fresh element (first paint, an htmx swap, a history restore) may hold the
      // server's text fallback or a stale copy of an old plot: start it empty.
      if (!el._fullLayout) el.replaceChildren();
      window.Plotly.react(el, figure.data || [], figure.layout || {}, CONFIG);
    });
  }

  function drawAll() {
    draw(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
  // With hx-swap="outerHTML" the old target is gone after the swap, so redraw the whole
  // page: it holds a handful of charts.
  document.addEventListener("htmx:afterSwap", drawAll);
  document.addEventListener("htmx:historyRestore", drawAll);

  window.SwitchboardCharts = { draw: draw };
})();
