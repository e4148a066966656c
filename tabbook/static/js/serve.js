/* tabbook serve: the live preview's side in the browser (never in `make html`'s site).
   Listens to the server's events: reloads this page when it changed (keeping the
   scroll position; tabbook.js keeps the framework tab), and shows the book's
   problems over the page until they are fixed. */
(function () {
  "use strict";
  var script = document.currentScript;
  var PAGE = script.dataset.url;
  var VERSION = Number(script.dataset.version);
  var SCROLL = "tabbook-serve-scroll:" + PAGE;
  var hidden = null;  // the problems the reader closed the overlay on

  function session(key, value) {
    try {
      if (value === undefined) { var v = sessionStorage.getItem(key); sessionStorage.removeItem(key); return v; }
      sessionStorage.setItem(key, value);
    } catch (e) { /* private mode: the page reloads at its top */ }
    return null;
  }

  var scroll = session(SCROLL);
  if (scroll !== null) {
    var restore = function () { window.scrollTo(0, Number(scroll)); };
    restore();
    window.addEventListener("load", restore);
  }
  if (script.dataset.stale) document.body.classList.add("serve-stale");

  function showProblems(errors) {
    var overlay = document.getElementById("serve-problems");
    var key = JSON.stringify(errors);
    if (!errors.length || key === hidden) {
      if (overlay) overlay.remove();
      return;
    }
    if (overlay && overlay.dataset.key === key) return;
    if (overlay) overlay.remove();
    overlay = document.createElement("section");
    overlay.id = "serve-problems";
    overlay.dataset.key = key;
    overlay.setAttribute("role", "alert");
    var title = document.createElement("h2");
    title.textContent = errors.length === 1 ? "1 problem in the book" : errors.length + " problems in the book";
    overlay.appendChild(title);
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Hide";
    close.addEventListener("click", function () { hidden = key; overlay.remove(); });
    overlay.appendChild(close);
    var list = document.createElement("ul");
    errors.forEach(function (error) {
      var item = document.createElement("li");
      var where = document.createElement("span");
      where.className = "where";
      where.textContent = error.where;
      item.appendChild(where);
      item.appendChild(document.createTextNode(": " + error.message));
      list.appendChild(item);
    });
    overlay.appendChild(list);
    document.body.appendChild(overlay);
  }

  var events = new EventSource(script.dataset.root + "_serve/events");
  events.onmessage = function (event) {
    var state = JSON.parse(event.data);
    showProblems(state.errors);
    var version = state.versions[PAGE];
    if (version !== undefined && version !== VERSION) {
      events.close();
      session(SCROLL, String(window.scrollY));
      window.location.reload();
    }
  };
})();
