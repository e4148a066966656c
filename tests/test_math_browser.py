"""tabbook.texmath's MathML against KaTeX's own HTML rendering, in headless Chromium.

Twenty reference equations (tests/fixtures/math/reference.json: primes, unary
minus, \\left...\\right, operator names, \\arg/\\log/\\max, sums and limits, roots,
matrices, cases) are set twice on one page: our MathML in Latin Modern Math
with the site's CSS, as the book serves it, and KaTeX 0.19.1's HTML with its
CSS and fonts (test-only: scripts/js/node_modules/katex, installed by `make
setup`). Their layouts are compared by bounding boxes:

- overall width and height within WIDTH_TOLERANCE (22%) / HEIGHT_TOLERANCE (30%)
  of KaTeX's (45% for the height of brackets stretched around a root of a fraction);
- a prime: beside its base, full size, no higher than the bracket after it (as
  KaTeX draws it), not a small superscript floating above the base;
- a leading minus: the gap to its operand under 0.12 em (no binary spacing);
- \\left(...\\right) around a flat formula: the bracket's gap to its content
  under 0.15 em, as KaTeX's;
- display sums: the limits below the sum (centred under it), not beside it;
- \\log x: a space of at least 0.1 em between log and x.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO

from tabbook import texmath
from tabbook.browser import CHROMIUM

pytestmark = pytest.mark.browser

KATEX = REPO / "scripts" / "js" / "node_modules" / "katex" / "dist"
MATH_FONT = Path("/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf")
REFERENCES = json.loads((FIXTURES / "math" / "reference.json").read_text(encoding="utf-8"))
WIDTH_TOLERANCE = 0.22  # Latin Modern Math against KaTeX's fonts: the same Computer Modern design, other metrics
HEIGHT_TOLERANCE = 0.30
# Brackets stretched around a tall formula: Chromium covers all of it, symmetrically
# about the math axis (MathML Core); TeX, so KaTeX, lets a delimiter fall 10% short.
STRETCHED_HEIGHT_TOLERANCE = {"root in brackets": 0.45}
FONT_PX = 20


def _katex_html(items) -> list[str]:
    import subprocess

    script = (
        "const katex = require(process.argv[1]); const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(items.map(([t, d]) => katex.renderToString(t, {displayMode: d, output: 'html', throwOnError: true}))));"
    )
    out = subprocess.run(["node", "-e", script, str(KATEX / "katex.js")], input=json.dumps(items), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def measured(browser, tmp_path_factory):
    assert Path(CHROMIUM).exists(), "run `make setup` (Debian's chromium)"
    assert (KATEX / "katex.js").is_file(), "run `make setup` (npm ci in scripts/js installs KaTeX for this test)"
    items = [(item["tex"], item["display"]) for item in REFERENCES]
    ours = texmath.to_mathml_many(items)
    theirs = _katex_html(items)
    rows = "\n".join(
        f'<div class="row" id="r{n}"><div class="ours">{mine}</div><div class="katex-side">{katex}</div></div>'
        for n, (mine, katex) in enumerate(zip(ours, theirs, strict=True))
    )
    css = (REPO / "tabbook" / "static" / "css" / "tabbook.css").read_text(encoding="utf-8").replace("fonts/latinmodern-math.woff2", MATH_FONT.as_uri()).replace('format("woff2")', 'format("opentype")')
    page_html = f"""<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{(KATEX / 'katex.min.css').as_uri()}"><style>{css}</style>
<style>body {{ font-size: {FONT_PX}px; }} .row {{ display: flex; gap: 40px; margin: 10px; }} .row > div {{ width: 900px; }}
math {{ font-size: 1.21em; }} .katex {{ font-size: 1.21em; }} .ours math[display=block] {{ display: block math; }}</style>
</head><body><article>{rows}</article></body></html>"""
    path = tmp_path_factory.mktemp("mathref") / "reference.html"
    path.write_text(page_html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 2000, "height": 1000})
    page.goto(path.as_uri())
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(200)
    boxes = page.evaluate(MEASURE)
    page.close()
    return boxes


# For each row: the ink-ish boxes of both renderings and of the parts a check needs
# (found by their text in our MathML, and by KaTeX's classes in its HTML).
MEASURE = """() => [...document.querySelectorAll('.row')].map(row => {
  const rect = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height}; };
  const union = list => { const rs = list.map(e => e.getBoundingClientRect());
    const left = Math.min(...rs.map(r => r.left)), right = Math.max(...rs.map(r => r.right)), top = Math.min(...rs.map(r => r.top)), bottom = Math.max(...rs.map(r => r.bottom));
    return {left, right, top, bottom, width: right - left, height: bottom - top}; };
  const ours = row.querySelector('.ours math');
  const tokens = [...ours.querySelectorAll('mi, mn, mo, mtext')].map(e => ({text: e.textContent, tag: e.tagName, ...rect(e)}));
  const baseline = e => { const probe = document.createElement('mspace'); e.parentNode.insertBefore(probe, e); const y = probe.getBoundingClientRect().bottom; probe.remove(); return y; };
  const fontSize = parseFloat(getComputedStyle(ours).fontSize);
  const under = [...ours.querySelectorAll('munderover, munder')].map(u => ({base: rect(u.children[0]), under: rect(u.children[1])}));
  // what each draws: our formula's children, KaTeX's .katex-base boxes (its display block spans the column)
  return {ours: union([...ours.children]), katex: union([...row.querySelectorAll('.katex-side .katex-html > .katex-base')]), tokens, fontSize, under};
})"""


def _row(measured, name):
    index = next(n for n, item in enumerate(REFERENCES) if item["name"] == name)
    return measured[index]


def _token(row, text, nth=0):
    found = [token for token in row["tokens"] if token["text"] == text]
    assert len(found) > nth, f"no {text!r} in {[t['text'] for t in row['tokens']]}"
    return found[nth]


def test_twenty_reference_equations():
    assert len(REFERENCES) == 20 and len({item["name"] for item in REFERENCES}) == 20


@pytest.mark.parametrize("name", [item["name"] for item in REFERENCES])
def test_size_close_to_katex(measured, name):
    row = _row(measured, name)
    ours, katex = row["ours"], row["katex"]
    assert abs(ours["width"] / katex["width"] - 1) <= WIDTH_TOLERANCE, (name, ours["width"], katex["width"])
    tolerance = STRETCHED_HEIGHT_TOLERANCE.get(name, HEIGHT_TOLERANCE)
    assert abs(ours["height"] / katex["height"] - 1) <= tolerance, (name, ours["height"], katex["height"])


def test_primes_sit_at_superscript_height_next_to_their_base(measured):
    for name in ("prime", "double prime", "prime squared"):
        row = _row(measured, name)
        em = row["fontSize"]
        prime = next(t for t in row["tokens"] if t["text"] in ("′", "″"))
        base = max((t for t in row["tokens"] if t["right"] <= prime["left"] + 1), key=lambda t: t["right"])
        assert prime["left"] - base["right"] < 0.15 * em, name  # beside its base, not detached
        # at the height of a bracket of the formula (the font draws it high), not a superscript above it
        bracket = next(t for t in row["tokens"] if t["text"] in ("(", "["))
        assert prime["top"] >= bracket["top"] - 0.1 * em, name
        assert prime["width"] > 0.25 * em, name  # a full-size prime, not one shrunk to script size


def test_a_leading_minus_hugs_its_operand(measured):
    for name in ("unary minus", "interval"):
        row = _row(measured, name)
        minus = _token(row, "−")
        operand = min((t for t in row["tokens"] if t["left"] >= minus["right"] - 1 and t["text"] != "−"), key=lambda t: t["left"])
        assert operand["left"] - minus["right"] < 0.12 * row["fontSize"], name


def test_left_right_brackets_hug_a_flat_formula(measured):
    row = _row(measured, "left right flat")
    em = row["fontSize"]
    opening = _token(row, "(", 1)  # σ(x)(1 − σ(x)): the second "(" is \left(
    following = min((t for t in row["tokens"] if t["left"] >= opening["right"] - 1 and t is not opening), key=lambda t: t["left"])
    assert following["left"] - opening["right"] < 0.15 * em
    assert opening["width"] < 0.5 * em  # a normal bracket, not Chromium's padded stretchy one


def test_display_sum_limits_are_below_the_sum(measured):
    for name in ("log rmse", "double sum", "product"):
        row = _row(measured, name)
        assert row["under"], name
        for pair in row["under"]:
            base, under = pair["base"], pair["under"]
            assert under["top"] >= base["bottom"] - 2, name  # below, not beside
            centre = (base["left"] + base["right"]) / 2
            assert abs((under["left"] + under["right"]) / 2 - centre) < 0.3 * row["fontSize"], name


def test_log_is_followed_by_a_space(measured):
    row = _row(measured, "log")
    log, x = _token(row, "log"), _token(row, "x")
    assert x["left"] - log["right"] >= 0.1 * row["fontSize"]
