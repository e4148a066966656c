"""Nothing overflows (issue 20 item 3): every page of the book, built from the
chapters with `tabbook html --no-run`, at 320, 390, 768 and 1366 px, in the
light theme and, on phones, the dark one, in headless Chromium.

- the page never scrolls sideways;
- every equation number is fully in view, beside its formula, never over it;
- a display formula wider than its box scrolls inside the box, from its left
  edge (nothing cut off at either end), with the shadow cue at its edges;
- inline math wider than the column is inside a box that scrolls (a paragraph,
  a list, a table), never the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, run_tabbook

from tabbook.browser import CHROMIUM, serve_directory

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

WIDTHS = (320, 390, 768, 1366)

# Measured in the page: one dict of findings, empty lists when all is well.
MEASURE = """() => {
  const out = {pageWidth: document.documentElement.scrollWidth, viewport: innerWidth, numbers: [], scrolling: [], inline: [], equations: 0, wide: 0};
  const article = document.querySelector('article');
  for (const eqn of document.querySelectorAll('.eqn')) {
    out.equations++;
    const math = eqn.querySelector(':scope > math');
    const number = eqn.querySelector(':scope > .eqno');
    const m = math.getBoundingClientRect();
    if (number) {
      const n = number.getBoundingClientRect();
      const e = eqn.getBoundingClientRect();
      if (n.left < -0.5 || n.right > innerWidth + 0.5 || n.right > e.right + 0.5 || n.width < 8 || m.right > n.left + 0.5)
        out.numbers.push(`${number.textContent} at ${n.left.toFixed(0)}..${n.right.toFixed(0)} (formula ends at ${m.right.toFixed(0)}, box ${e.left.toFixed(0)}..${e.right.toFixed(0)})`);
    }
    if (math.scrollWidth > math.clientWidth + 1) {
      out.wide++;
      const style = getComputedStyle(math);
      const name = (number ? number.textContent : '') + ' ' + math.textContent.slice(0, 30);
      if (!['auto', 'scroll'].includes(style.overflowX)) out.scrolling.push(`${name}: does not scroll (overflow-x ${style.overflowX})`);
      if (!style.backgroundImage.includes('radial-gradient') || !style.backgroundAttachment.includes('local'))
        out.scrolling.push(`${name}: no shadow cue at its edges`);
      const first = math.firstElementChild.getBoundingClientRect();
      if (first.left < m.left - 1) out.scrolling.push(`${name}: its start is cut off (${(m.left - first.left).toFixed(0)} px)`);
      math.scrollLeft = math.scrollWidth;
      if (math.scrollLeft < math.scrollWidth - math.clientWidth - 1) out.scrolling.push(`${name}: cannot scroll to its end`);
      math.scrollLeft = 0;
    }
  }
  const column = article.getBoundingClientRect();
  for (const math of article.querySelectorAll('math:not([display="block"])')) {
    const r = math.getBoundingClientRect();
    if (r.right <= column.right + 1) continue;
    let box = math.parentElement, scrolls = false;
    while (box && box !== article) {
      const style = getComputedStyle(box);
      if (['auto', 'scroll'].includes(style.overflowX) && box.getBoundingClientRect().right <= column.right + 1) { scrolls = true; break; }
      box = box.parentElement;
    }
    if (!scrolls) out.inline.push(`${math.textContent.slice(0, 40)} in <${math.parentElement.tagName.toLowerCase()}> ends at ${r.right.toFixed(0)}, column at ${column.right.toFixed(0)}`);
  }
  return out;
}"""


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run 'make setup' (it installs Debian's chromium)"


@pytest.fixture(scope="module")
def book_site(tmp_path_factory):
    """This book's chapters built with `tabbook html --no-run` into a temporary folder, served locally."""
    build = tmp_path_factory.mktemp("layout") / "_build"
    result = run_tabbook("html", "--no-run", "--build-dir", build, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    html = build / "html"
    pages = sorted(path.relative_to(html).as_posix() for path in html.rglob("*.html") if "_static" not in path.parts)
    assert len(pages) >= 10
    with serve_directory(html) as base:
        yield base, pages


CASES = [(width, "light") for width in WIDTHS] + [(320, "dark"), (390, "dark")]


@pytest.mark.parametrize(("width", "theme"), CASES, ids=[f"{w}px-{t}" for w, t in CASES])
def test_nothing_overflows(browser, book_site, width, theme):
    base, pages = book_site
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=theme)
    problems, equations, wide = [], 0, 0
    try:
        page = context.new_page()
        for name in pages:
            page.goto(f"{base}/{name}")
            page.wait_for_load_state("load")
            page.evaluate("document.fonts.ready")
            assert page.evaluate("document.documentElement.dataset.theme") == theme
            found = page.evaluate(MEASURE)
            equations += found["equations"]
            wide += found["wide"]
            if found["pageWidth"] > found["viewport"]:
                problems.append(f"{name}: the page scrolls sideways ({found['pageWidth']} px in {found['viewport']} px)")
            problems += [f"{name}: equation number {item}" for item in found["numbers"]]
            problems += [f"{name}: wide equation {item}" for item in found["scrolling"]]
            problems += [f"{name}: inline math {item}" for item in found["inline"]]
    finally:
        context.close()
    assert problems == []
    assert equations >= 36  # the book's display equations were all measured
    if width <= 390:
        assert wide > 5  # on a phone some formulas are wider than the column: their scrolling was checked
