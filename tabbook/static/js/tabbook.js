/* tabbook: framework tabs, copy buttons, search. No libraries, no network. */
(function () {
  "use strict";
  var body = document.body;
  var TABS = (body.dataset.tabs || "").split(",").filter(Boolean);
  var DEFAULT_TAB = body.dataset.defaultTab;
  var ROOT = body.dataset.root || "";
  var STORE = "tabbook-tab";

  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }

  /* ---- framework tabs: one choice for every group, every page, every visit ---- */
  function chosenTab() {
    var fromUrl = new URLSearchParams(window.location.search).get("tab");
    if (fromUrl && TABS.indexOf(fromUrl) >= 0) { store(STORE, fromUrl); return fromUrl; }
    var saved = stored(STORE);
    return saved && TABS.indexOf(saved) >= 0 ? saved : DEFAULT_TAB;
  }

  function selectTab(tab) {
    document.querySelectorAll(".tabpane").forEach(function (pane) {
      pane.classList.toggle("tb-hidden", pane.dataset.tab !== tab);
    });
    document.querySelectorAll(".tabbar .tab").forEach(function (button) {
      var on = button.dataset.tab === tab;
      button.classList.toggle("selected", on);
      button.setAttribute("aria-selected", on ? "true" : "false");
    });
    body.dataset.tab = tab;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".tabbar .tab");
    if (!button) return;
    // Keep the clicked tab bar where it is on screen while the panes above it change height.
    var before = button.getBoundingClientRect().top;
    store(STORE, button.dataset.tab);
    selectTab(button.dataset.tab);
    window.scrollBy(0, button.getBoundingClientRect().top - before);
  });
  // Arrow keys move along a tab bar, as in any tab list.
  document.addEventListener("keydown", function (event) {
    var button = event.target.closest && event.target.closest(".tabbar .tab");
    if (!button || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    var buttons = Array.prototype.slice.call(button.parentNode.querySelectorAll(".tab"));
    var next = buttons[(buttons.indexOf(button) + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
    next.focus();
    next.click();
    event.preventDefault();
  });
  // Another open page of the book changed the choice.
  window.addEventListener("storage", function (event) {
    if (event.key === STORE && TABS.indexOf(event.newValue) >= 0) selectTab(event.newValue);
  });
  selectTab(chosenTab());

  /* ---- copy buttons on code cells ---- */
  document.querySelectorAll(".cell .input").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      var code = input.querySelector("pre").innerText.replace(/\n$/, "");
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code).then(done, function () { copyBySelection(code); done(); });
      } else { copyBySelection(code); done(); }
    });
    input.appendChild(button);
  });
  function copyBySelection(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    document.body.removeChild(area);
  }

  /* ---- print: long outputs printed in full ---- */
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details.long-output:not([open])").forEach(function (d) { d.open = true; d.dataset.printOpened = "1"; });
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details[data-print-opened]").forEach(function (d) { d.open = false; delete d.dataset.printOpened; });
  });

  /* ---- contents drawer on phones ---- */
  var toggle = document.querySelector(".menu-toggle");
  if (toggle) toggle.addEventListener("click", function () {
    var open = body.classList.toggle("show-sidebar");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  /* ---- search: the index (built with the book) loads on first use ---- */
  var input = document.getElementById("search-input");
  var results = document.getElementById("search-results");
  var loading = null;
  function loadIndex(then) {
    if (window.TABBOOK_SEARCH) { then(); return; }
    if (!loading) {
      loading = [];
      var script = document.createElement("script");
      script.src = ROOT + "_static/searchindex.js";
      script.onload = function () { loading.forEach(function (f) { f(); }); };
      document.head.appendChild(script);
    }
    loading.push(then);
  }

  function search(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return [];
    var phrase = words.join(" ");
    var hits = [];
    window.TABBOOK_SEARCH.forEach(function (doc) {
      var title = doc.t.toLowerCase(), text = doc.x.toLowerCase();
      var score = 0;
      for (var i = 0; i < words.length; i++) {
        var inTitle = title.indexOf(words[i]) >= 0, inText = text.indexOf(words[i]) >= 0;
        if (!inTitle && !inText) return;
        score += (inTitle ? 10 : 0) + (inText ? 1 : 0);
      }
      if (text.indexOf(phrase) >= 0) score += 5;
      hits.push({ doc: doc, score: score, at: Math.max(text.indexOf(phrase), text.indexOf(words[0])) });
    });
    hits.sort(function (a, b) { return b.score - a.score; });
    return hits.slice(0, 20).map(function (hit) { hit.words = words; return hit; });
  }

  function highlighted(text, words) {
    // Text nodes and <mark>s built one by one: nothing from the index is parsed as HTML.
    var span = document.createElement("span");
    var lower = text.toLowerCase(), i = 0;
    while (i < text.length) {
      var next = -1, length = 0;
      words.forEach(function (w) { var j = lower.indexOf(w, i); if (j >= 0 && (next < 0 || j < next)) { next = j; length = w.length; } });
      if (next < 0) { span.appendChild(document.createTextNode(text.slice(i))); break; }
      span.appendChild(document.createTextNode(text.slice(i, next)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(next, next + length);
      span.appendChild(mark);
      i = next + length;
    }
    return span;
  }

  function show(query) {
    results.textContent = "";
    if (!query.trim()) { results.hidden = true; return; }
    var hits = search(query);
    if (!hits.length) {
      var empty = document.createElement("div");
      empty.className = "empty";
      empty.textContent = "No results for \u201c" + query + "\u201d";
      results.appendChild(empty);
    }
    hits.forEach(function (hit) {
      var link = document.createElement("a");
      link.href = ROOT + hit.doc.u;
      var title = document.createElement("div");
      title.className = "result-title";
      title.textContent = hit.doc.t;
      var start = Math.max(0, hit.at - 60);
      var snippet = (start > 0 ? "\u2026" : "") + hit.doc.x.slice(start, start + 180) + (start + 180 < hit.doc.x.length ? "\u2026" : "");
      var text = document.createElement("div");
      text.className = "result-text";
      text.appendChild(highlighted(snippet, hit.words));
      link.appendChild(title);
      link.appendChild(text);
      results.appendChild(link);
    });
    results.hidden = false;
  }

  if (input) {
    input.addEventListener("focus", function () { loadIndex(function () {}); });
    input.addEventListener("input", function () { loadIndex(function () { show(input.value); }); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { input.value = ""; show(""); }
      if (event.key === "Enter") { var first = results.querySelector("a"); if (first) window.location.href = first.href; }
    });
    document.addEventListener("click", function (event) {
      if (!event.target.closest(".search")) results.hidden = true;
    });
  }
})();
