/* Runs in <head>, before the first paint: the reader's framework and colour
   scheme are on <html> (data-tab, data-theme) before any pane or colour is
   drawn, so nothing flashes and nothing moves when tabbook.js starts.
   Framework: ?tab= (for this visit only: kept in sessionStorage, the saved
   choice untouched), else this visit's, else the saved one, else the default.
   Colours: the saved choice of the toggle, else prefers-color-scheme. */
(function (root, tabs, defaultTab) {
  var tab = null, theme = null;
  try {
    tab = new URLSearchParams(location.search).get("tab");
    if (tabs.indexOf(tab) >= 0) sessionStorage.setItem("tabbook-visit-tab", tab);
    else tab = sessionStorage.getItem("tabbook-visit-tab");
    if (tabs.indexOf(tab) < 0) tab = localStorage.getItem("tabbook-tab");
    theme = localStorage.getItem("tabbook-theme");
  } catch (e) { /* storage disabled: defaults */ }
  root.dataset.tab = tabs.indexOf(tab) >= 0 ? tab : defaultTab;
  if (theme !== "dark" && theme !== "light") theme = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  root.dataset.theme = theme;
})(document.documentElement, {{ tabs | tojson }}, {{ default_tab | tojson }});
