/* tabbook: framework tabs, copy buttons, drawer, dark mode, "On this page", search.
   No libraries, no network. The framework and colour scheme were chosen before
   the first paint (head.js, inlined in each page's <head>): this script keeps them. */
(function () {
  "use strict";
  var root = document.documentElement;
  var body = document.body;
  var TABS = (body.dataset.tabs || "").split(",").filter(Boolean);
  var ROOT = body.dataset.root || "";
  var STORE = "tabbook-tab", VISIT = "tabbook-visit-tab", THEME = "tabbook-theme";

  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function forget(key, storage) { try { storage.removeItem(key); } catch (e) { /* private mode */ } }
  function toArray(list) { return Array.prototype.slice.call(list); }

  /* ---- framework tabs: one choice for every group, every page, every visit ----
     The WAI-ARIA tabs pattern: each tab controls its panel, the selected tab is
     the group's one Tab-key stop, arrows/Home/End move and select. */
  var buttons = toArray(document.querySelectorAll(".tabbar .tab"));
  toArray(document.querySelectorAll(".tabgroup")).forEach(function (group, g) {
    toArray(group.querySelectorAll(".tabbar .tab")).forEach(function (button) {
      var pane = toArray(group.children).filter(function (p) { return p.classList.contains("tabpane") && p.dataset.tab === button.dataset.tab; })[0];
      if (!pane) return;
      button.id = "tabgroup-" + g + "-" + button.dataset.tab;
      pane.id = button.id + "-panel";
      button.setAttribute("aria-controls", pane.id);
      pane.setAttribute("aria-labelledby", button.id);
    });
  });

  function selectTab(tab) {
    root.dataset.tab = tab;  // the CSS in each page's <head> shows its panes
    buttons.forEach(function (button) {
      var on = button.dataset.tab === tab;
      button.setAttribute("aria-selected", on ? "true" : "false");
      button.tabIndex = on ? 0 : -1;
    });
    markScrollables();
  }

  function chooseTab(button) {
    // Keep the chosen tab bar where it is on screen while the panes above it change height.
    var before = button.getBoundingClientRect().top;
    store(STORE, button.dataset.tab);  // a reader's choice outlasts a ?tab= link's
    forget(VISIT, window.sessionStorage);
    selectTab(button.dataset.tab);
    window.scrollBy(0, button.getBoundingClientRect().top - before);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".tabbar .tab");
    if (button) chooseTab(button);
  });
  document.addEventListener("keydown", function (event) {
    var button = event.target.closest && event.target.closest(".tabbar .tab");
    if (!button) return;
    var row = toArray(button.parentNode.querySelectorAll(".tab"));
    var at = row.indexOf(button), next = null;
    if (event.key === "ArrowRight") next = row[(at + 1) % row.length];
    else if (event.key === "ArrowLeft") next = row[(at + row.length - 1) % row.length];
    else if (event.key === "Home") next = row[0];
    else if (event.key === "End") next = row[row.length - 1];
    if (!next) return;
    event.preventDefault();
    chooseTab(next);
    next.focus();
  });
  // Another open page of the book changed the choice.
  window.addEventListener("storage", function (event) {
    if (event.key === STORE && TABS.indexOf(event.newValue) >= 0) selectTab(event.newValue);
  });

  /* ---- scrolled boxes (wide code, equations, tables, paragraphs with a wide formula) take keyboard focus, so they can be scrolled ---- */
  function markScrollables() {
    toArray(document.querySelectorAll("pre, .eqn, .output.html, article p")).forEach(function (box) {
      var wide = box.scrollWidth > box.clientWidth + 1;
      if (wide && !box.hasAttribute("tabindex")) box.tabIndex = 0;
      else if (!wide && box.tabIndex === 0 && !box.matches("a, button, input")) box.removeAttribute("tabindex");
    });
  }
  selectTab(root.dataset.tab || body.dataset.defaultTab);
  window.addEventListener("resize", markScrollables);
  window.addEventListener("load", markScrollables);

  /* ---- copy buttons on code cells ---- */
  document.querySelectorAll(".cell .input").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code");
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

  /* ---- dark mode: the toggle's choice is saved; without one, the system's ---- */
  var themeToggle = document.querySelector(".theme-toggle");
  function showTheme() { if (themeToggle) themeToggle.setAttribute("aria-pressed", root.dataset.theme === "dark" ? "true" : "false"); }
  if (themeToggle) themeToggle.addEventListener("click", function () {
    root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
    store(THEME, root.dataset.theme);
    showTheme();
  });
  var systemDark = window.matchMedia("(prefers-color-scheme: dark)");
  systemDark.addEventListener("change", function () {
    if (stored(THEME) !== "dark" && stored(THEME) !== "light") { root.dataset.theme = systemDark.matches ? "dark" : "light"; showTheme(); }
  });
  showTheme();

  /* ---- contents drawer on phones: Esc or a tap outside closes it; while open, Tab stays in it ---- */
  var toggle = document.querySelector(".menu-toggle");
  var sidebar = document.getElementById("sidebar");
  function drawerOpen() { return body.classList.contains("show-sidebar"); }
  function setDrawer(open) {
    body.classList.toggle("show-sidebar", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { var first = sidebar.querySelector("li.current > a") || sidebar.querySelector("a"); if (first) first.focus({ preventScroll: true }); }
    else if (sidebar.contains(document.activeElement)) toggle.focus();
  }
  if (toggle && sidebar) {
    toggle.addEventListener("click", function () { setDrawer(!drawerOpen()); });
    document.addEventListener("keydown", function (event) {
      if (!drawerOpen()) return;
      if (event.key === "Escape") { setDrawer(false); toggle.focus(); event.preventDefault(); return; }
      if (event.key !== "Tab") return;
      var stops = [toggle].concat(toArray(sidebar.querySelectorAll("a[href], button")));
      var at = stops.indexOf(document.activeElement);
      var next = event.shiftKey ? (at <= 0 ? stops[stops.length - 1] : stops[at - 1]) : (at < 0 || at === stops.length - 1 ? stops[0] : stops[at + 1]);
      next.focus();
      event.preventDefault();
    });
    // A tap outside closes the drawer and does nothing else.
    document.addEventListener("click", function (event) {
      if (!drawerOpen() || sidebar.contains(event.target) || toggle.contains(event.target)) return;
      event.preventDefault();
      event.stopPropagation();
      setDrawer(false);
    }, true);
  }

  /* ---- "On this page": the section being read is highlighted ---- */
  var tocLinks = toArray(document.querySelectorAll(".localtoc a[href^='#']"));
  var headings = tocLinks.map(function (a) { return document.getElementById(decodeURIComponent(a.getAttribute("href").slice(1))); });
  function markCurrentSection() {
    var line = parseFloat(getComputedStyle(root).scrollPaddingTop) || 0;
    var current = -1;
    headings.forEach(function (h, i) { if (h && h.getBoundingClientRect().top <= line + 8) current = i; });
    // scrolled to the very bottom, the last section is the one being read
    if (window.scrollY > 0 && window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2) current = headings.length - 1;
    tocLinks.forEach(function (a, i) { if (i === current) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current"); });
  }
  if (tocLinks.length && "IntersectionObserver" in window) {
    var observer = new IntersectionObserver(markCurrentSection, { rootMargin: "0px 0px -60% 0px", threshold: [0, 1] });
    headings.forEach(function (h) { if (h) observer.observe(h); });
    window.addEventListener("scroll", function () { if (!markCurrentSection.queued) { markCurrentSection.queued = true; requestAnimationFrame(function () { markCurrentSection.queued = false; markCurrentSection(); }); } }, { passive: true });
    markCurrentSection();
  }

  /* ---- search: the index (built with the book) loads on first use ---- */
  var input = document.getElementById("search-input");
  var results = document.getElementById("search-results");
  var loading = null;
  // The index, once _static/searchindex.js has set it: only an array counts, so an element
  // with id="TABBOOK_SEARCH" (which the browser also names window.TABBOOK_SEARCH) is never read as it.
  function searchIndex() {
    return Array.isArray(window.TABBOOK_SEARCH) ? window.TABBOOK_SEARCH : null;
  }
  function loadIndex(then) {
    if (searchIndex()) { then(); return; }
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
    (searchIndex() || []).forEach(function (doc) {
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
      if (event.key === "ArrowDown") { var top = results.querySelector("a"); if (top) { top.focus(); event.preventDefault(); } }
    });
    // Up and down move through the results; Esc goes back to the query.
    results.addEventListener("keydown", function (event) {
      var links = toArray(results.querySelectorAll("a"));
      var at = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && at < links.length - 1) links[at + 1].focus();
      else if (event.key === "ArrowUp") (at > 0 ? links[at - 1] : input).focus();
      else if (event.key === "Escape") input.focus();
      else return;
      event.preventDefault();
    });
    document.addEventListener("click", function (event) {
      if (!event.target.closest(".search")) results.hidden = true;
    });
  }
})();
