"""The d2l.ai books' own sources, unchanged (issue 9): three chapters of *Dive
into Deep Learning* in ../shared/corpus/d2l-en-excerpt, with their own
config.ini and d2l.bib, used in place (read-only; never copied into the project).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, run_tabbook

EXCERPT = REPO.parent / "shared" / "corpus" / "d2l-en-excerpt"

pytestmark = pytest.mark.skipif(not EXCERPT.is_dir(), reason="the excerpt lives in ../shared, next to the checkout")

_DEFINED = re.compile(r"^:(?:label|eqlabel):`([^`]+)`", re.M)
_USED = re.compile(r":(numref|ref|eqref):`([^`]+)`")


def sources() -> list[Path]:
    return sorted(path for path in EXCERPT.rglob("*.md") if path.name != "README.md")


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """The excerpt rendered with --no-run --keep-going into a temporary build folder."""
    build = tmp_path_factory.mktemp("excerpt") / "_build"
    result = run_tabbook("html", "--no-run", "--keep-going", "--build-dir", build, cwd=EXCERPT, timeout=600)
    return build / "html", result


def test_check_reports_exactly_the_references_to_chapters_outside_the_excerpt():
    defined = {name for path in sources() for name in _DEFINED.findall(path.read_text(encoding="utf-8"))}
    expected = set()
    for path in sources():
        fenced = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced  # references in code are code
            for role, label in [] if fenced else _USED.findall(line):
                if label not in defined:
                    expected.add(f"{path.relative_to(EXCERPT).as_posix()}:{number}: :{role}: refers to the undefined label '{label}'")
    result = run_tabbook("check", cwd=EXCERPT)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if ": warning: " not in line and not line.endswith(" pages")]
    assert len(expected) > 20 and set(errors) == expected
    assert errors == sorted(errors, key=lambda e: (e.split(":")[0], int(e.split(":")[1])))  # sorted by FILE:LINE
    assert f"{len(expected)} error(s) in 32 pages" in result.stderr


def test_notebooks_converts_every_file(tmp_path):
    result = run_tabbook("notebooks", "--out", tmp_path, cwd=EXCERPT)
    assert result.returncode == 0, result.stderr
    made = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.ipynb")}
    names = {path.relative_to(EXCERPT).with_suffix(".ipynb").as_posix() for path in sources()}
    assert len(names) == 32  # 31 sections and chapter pages, and the front page
    assert {name.split("/", 1)[1] for name in made} == names  # every file has its default tab's notebook at least
    assert "jax/chapter_computer-vision/rcnn.ipynb" not in made  # no jax cells: no jax notebook, as d2lbook


def test_html_renders_every_page_with_figures_and_citations(html):
    html_dir, result = html
    assert result.returncode == 1 and "built with --keep-going" in result.stderr + result.stdout
    pages = {path.relative_to(html_dir).as_posix() for path in html_dir.rglob("*.html")}
    assert pages == {path.relative_to(EXCERPT).with_suffix(".html").as_posix() for path in sources()}
    calculus = (html_dir / "chapter_preliminaries" / "calculus.html").read_text(encoding="utf-8")
    assert '<span class="secnum">1.4</span> Calculus' in calculus
    assert '<img src="../img/polygon-circle.svg"' in calculus and (html_dir / "img" / "polygon-circle.svg").is_file()
    assert re.search(r'<span class="eqn" id="eq_derivative"><math display="block">.*?<span class="eqno">\(1\.4\.1\)</span>', calculus, re.S)
    linear = (html_dir / "chapter_linear-regression" / "linear-regression.html").read_text(encoding="utf-8")
    assert 'class="cite" href="#ref-' in linear and '<section class="references" id="references">' in linear
    assert '<a class="reference broken" title="unresolved reference: no label \'sec_batch_norm\' in this book">??</a>' in linear
    front = (html_dir / "index.html").read_text(encoding="utf-8")
    assert '<span class="secnum">3</span> Computer Vision' in front


@pytest.mark.browser
def test_three_pages_in_a_browser_have_tabs_math_and_a_figure(html):
    import playwright.sync_api as playwright_api

    from tabbook.browser import CHROMIUM, CHROMIUM_ARGS, serve_directory

    html_dir, _result = html
    with playwright_api.sync_playwright() as playwright, serve_directory(html_dir) as base:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for url, figure in [
                ("chapter_preliminaries/calculus.html", "polygon-circle.svg"),
                ("chapter_linear-regression/linear-regression.html", "fit-linreg.svg"),
                ("chapter_computer-vision/anchor.html", None),
            ]:
                page.goto(base + url)
                assert page.locator(".tabgroup").count() > 0
                page.locator(".tabbar .tab", has_text="JAX").first.click()
                shown = page.eval_on_selector_all(".tabgroup .tabpane", "ps => ps.filter(p => p.offsetParent !== null).map(p => p.dataset.tab)")
                assert shown and set(shown) == {"jax"}, url
                heights = page.eval_on_selector_all("math[display=block]", "ms => ms.map(m => m.getBoundingClientRect().height)")
                assert heights and min(heights) > 10, url  # typeset as MathML, not raw LaTeX
                assert "$$" not in page.inner_text("main")
                if figure:
                    loaded = page.eval_on_selector(f"img[src$='{figure}']", "img => img.complete && img.naturalWidth > 0")
                    assert loaded, url
        finally:
            browser.close()
