// Live countdowns. Every element with data-expires (an ISO 8601 time) shows the time
// left, updated once a second, in the same form the server writes durations ("1h59m58s").
// The page's clock may differ from the server's: the nearest data-now (the server's time
// when it rendered the element) corrects for that.
// At zero the element fires "countdown-ended" on itself; its hx-get/hx-trigger attributes
// (dashboard/control.html) then refresh the panel from the server, which no longer shows
// the override. Without htmx the page is reloaded instead.
(function () {
  "use strict";

  var RETRY_MS = 2000; // if the server still shows it (clocks differ), ask again after this
  var UNITS = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  var firedAt = {}; // expiry -> when we last asked for a refresh because of it

  function format(seconds) {
    if (seconds <= 0) return "0s";
    var parts = [];
    UNITS.forEach(function (unit) {
      var count = Math.floor(seconds / unit[1]);
      seconds -= count * unit[1];
      if (count) parts.push(count + unit[0]);
    });
    return parts.join("");
  }

  function offset(el) {
    // Server time minus page time, fixed the first time an element is seen.
    if (el.dataset.offsetMs === undefined) {
      var host = el.closest("[data-now]");
      var serverNow = host ? Date.parse(host.dataset.now) : NaN;
      el.dataset.offsetMs = isNaN(serverNow) ? "0" : String(serverNow - Date.now());
    }
    return Number(el.dataset.offsetMs);
  }

  function ended(el) {
    var key = el.dataset.expires;
    var now = Date.now();
    if (firedAt[key] && now - firedAt[key] < RETRY_MS) return;
    firedAt[key] = now;
    el.classList.add("countdown-ended");
    if (window.htmx && el.hasAttribute("hx-trigger")) {
      window.htmx.trigger(el, "countdown-ended");
    } else if (!window.htmx) {
      window.location.reload();
    }
  }

  function tick() {
    var elements = document.querySelectorAll("[data-expires]");
    for (var i = 0; i < elements.length; i++) {
      var el = elements[i];
      var expires = Date.parse(el.dataset.expires);
      if (isNaN(expires)) continue;
      var ms = expires - (Date.now() + offset(el));
      // Whole seconds rounded up, so "0s" means it has ended, not that it nearly has.
      var text = format(Math.ceil(ms / 1000));
      if (el.textContent !== text) el.textContent = text;
      if (ms <= 0) ended(el);
    }
  }

  function start() {
    tick();
    window.setInterval(tick, 1000);
    // New panels (htmx swaps) show the right time at once, not up to a second later.
    document.body.addEventListener("htmx:afterSettle", tick);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
