/* The web view's only script: follow the log while the page is open.
 *
 * Twice a second it asks api/position (relative to the page's <base>, so it works at /
 * and under /ui); when the log has moved on, it fetches the current page again and
 * swaps in its #main and body[data-position]. No library, no inline code. A failed
 * fetch (server stopped, network down) is skipped quietly and tried again at the next tick;
 * while the user types in a form of the page, the page is left alone.
 */
(function () {
  "use strict";
  var INTERVAL_MS = 500;
  var body = document.body;
  if (!body || body.getAttribute("data-live") !== "1" || !window.fetch) {
    return;
  }
  var busy = false;

  function typing() {
    var active = document.activeElement;
    var main = document.getElementById("main");
    return !!(active && active.form && main && main.contains(active));
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("main");
    var main = document.getElementById("main");
    if (!fresh || !main || !doc.body) {
      return;
    }
    main.innerHTML = fresh.innerHTML;
    body.setAttribute("data-position", doc.body.getAttribute("data-position") || "0");
  }

  function reload() {
    return fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          swap(html);
        }
      });
  }

  function tick() {
    if (busy || document.hidden || typing()) {
      return;
    }
    busy = true;
    fetch("api/position", { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data && String(data.position) !== body.getAttribute("data-position")) {
          return reload();
        }
        return null;
      })
      .catch(function () {
        /* the server may be restarting: try again next time */
      })
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(tick, INTERVAL_MS);
})();
