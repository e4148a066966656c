"""tabbook.texmath: TeX -> MathML with Temml in one Node process, and the math font subset.

Coverage (every formula of this book, of the d2l.ai excerpt and of the d2l-en
corpus in tests/fixtures/math converts), bad TeX (a MathError with the reason,
never a traceback, never the formula's contents shown as if fine), the shape
of the MathML that fixes what the old converter got wrong, one process and one
round trip per book, the caches, the pinned engine, and the font subset.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO

from tabbook import texmath
from tabbook.errors import SourceError

sys.path.insert(0, str(FIXTURES / "math"))
import corpus  # noqa: E402  (tests/fixtures/math/corpus.py)

EXCERPT = REPO.parent / "shared" / "corpus" / "d2l-en-excerpt"


def tree(mathml: str):
    return ET.fromstring(mathml)


# -- coverage -----------------------------------------------------------------------


def _failures(items):
    results = texmath.to_mathml_many([(tex, display) for tex, display, _ in items])
    return [f"{where}: {result}" for (_, _, where), result in zip(items, results, strict=True) if isinstance(result, texmath.MathError)]


def test_every_formula_of_this_book_converts():
    items = corpus.math_of_book(REPO)
    assert len(items) > 300
    assert _failures(items) == []


@pytest.mark.skipif(not EXCERPT.is_dir(), reason="the excerpt lives in ../shared, next to the checkout")
def test_every_formula_of_the_d2l_excerpt_converts():
    items = corpus.math_of_book(EXCERPT, patterns=("*.md", "chapter_*/*.md"))
    assert len(items) > 1000
    assert _failures(items) == []


def test_every_formula_of_the_d2l_corpus_converts():
    data = json.loads(corpus.D2L_MATH.read_text(encoding="utf-8"))
    items = corpus.d2l_math()
    assert len(items) == sum(entry["expressions"] for entry in data["files"]) > 400
    assert _failures(items) == []


def test_every_construct_of_the_dialect_converts():
    items = [(tex, display, f"constructs.json #{n}") for n, (tex, display) in enumerate(corpus.constructs())]
    assert len(items) == 40
    assert _failures(items) == []


# -- bad TeX ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tex", "reason"),
    [
        (r"\foo x", r"Unsupported function name: \foo"),
        (r"\left( x", r"Expected '\right'"),
        (r"x \right)", r"Expected 'EOF', got '\right'"),
        (r"\begin{foo} x \end{foo}", "No such environment: foo"),
        (r"\begin{aligned} a &= b \end{split}", r"Mismatch: \begin{aligned} matched by \end{split}"),
        (r"\frac{1}", "Unexpected end of input"),
        ("x^", "malformed TeX"),
        (r"\eqref{eq_x}", "use the :eqref: role"),
        (r"\href{https://example.com}{x}", r"Unsupported function name: \href"),
    ],
)
def test_bad_tex_is_a_math_error_with_the_reason(tex, reason):
    with pytest.raises(texmath.MathError) as info:
        texmath.to_mathml(tex, display=False)
    message = str(info.value)
    assert message.startswith(f"cannot typeset the math ${tex}$ (")
    assert reason in message
    assert "Traceback" not in message and "\u0332" not in message  # no stack, no combining underlines


def test_many_returns_errors_in_place():
    results = texmath.to_mathml_many([("x", False), (r"\nope", True), ("y", False)])
    assert results[0].startswith("<math>") and results[2].startswith("<math>")
    assert isinstance(results[1], texmath.MathError) and r"\nope" in str(results[1])


# -- what the MathML looks like -----------------------------------------------------


def test_a_leading_minus_is_a_prefix_operator():
    for tex in (r"\exp(-x)", "[-5, 5]", r"U\left(-\sqrt{2}, 1\right)"):
        minus = [mo for mo in tree(texmath.to_mathml(tex, False)).iter("mo") if mo.text == "\u2212"]
        assert [mo.get("form") for mo in minus] == ["prefix"], tex
    binary = [mo for mo in tree(texmath.to_mathml("a - b", False)).iter("mo") if mo.text == "\u2212"]
    assert binary[0].get("form") is None  # infix: binary spacing


def test_primes_stand_beside_their_base():
    for tex, primes in ((r"\sigma'(x)", "′"), (r"f''(x)", "″"), (r"E[h'^2]", "′"), ("x_i'", "′")):
        mathml = texmath.to_mathml(tex, False)
        root = tree(mathml)
        for scripted in root.iter():
            if scripted.tag in ("msup", "msubsup"):
                assert "′" not in "".join(scripted[-1].itertext()), (tex, mathml)
        assert primes in mathml and "tml-prime" not in mathml
    root = tree(texmath.to_mathml(r"E[h'^2]", False))
    (sup,) = root.iter("msup")
    assert [node.tag for node in sup[0]] == ["mi", "mo"] and sup[1].text == "2"  # (h′)²


def test_left_right_stretch_only_around_tall_content():
    def stretchy(tex, display=True):
        return [mo.get("stretchy") for mo in tree(texmath.to_mathml(tex, display)).iter("mo") if mo.get("fence") == "true"]

    assert stretchy(r"\sigma(x)\left(1 - \sigma(x)\right)") == ["false"] * 6
    assert stretchy(r"\left(\log \hat{y}_i - \log y_i\right)^2") == ["false", "false"]
    assert stretchy(r"\left(\frac{1}{2}\right)") == ["true", "true"]
    assert stretchy(r"\left[\sum_{i=1}^n x_i\right]") == ["true", "true"]
    assert stretchy(r"\begin{bmatrix} a \\ b \end{bmatrix}")[:1] == ["true"]
    assert stretchy(r"\left\{ x \middle| x > 0 \right\}") == ["false", "false"]


def test_operator_names_and_functions():
    relu = tree(texmath.to_mathml(r"\operatorname{ReLU}(x)", False))
    assert relu[0][0].tag == "mi" and relu[0][0].text == "ReLU" and relu[0][1].text == "\u2061"
    log = texmath.to_mathml(r"\log x", False)
    assert re.search(r"<mi>log</mi><mo>\u2061</mo><mspace width=\"0.1667em\"></mspace></mrow><mi>x</mi>", log)  # a thin space
    arg = texmath.to_mathml(r"\arg\max_x f(x)", True)
    assert "<mi>arg</mi>" in arg and re.search(r"<munder><mi>max</mi><mi>x</mi></munder>", arg)  # limits below in display
    assert re.search(r"<msub><mpadded depth=\"0\"><mi>max</mi></mpadded><mi>x</mi></msub>", texmath.to_mathml(r"\max_x f", False))


def test_sum_limits_below_even_inside_a_root():
    root = tree(texmath.to_mathml(r"\sqrt{\frac{1}{n} \sum_{i=1}^n \left(\log \hat{y}_i - \log y_i\right)^2}", True))
    (over,) = root.iter("munderover")
    assert over[0].text == "∑"
    # no space around "=" in the limit, as in TeX's script style
    assert [(mo.get("lspace"), mo.get("rspace")) for mo in over[1].iter("mo")] == [("0em", "0em")]
    inline = tree(texmath.to_mathml(r"\sum_{i=1}^n x_i", False))
    assert not list(inline.iter("munderover")) and next(inline.iter("msubsup"))[0].text == "∑"  # beside the sum in text


def test_display_math_is_marked_for_the_css():
    assert texmath.to_mathml("x", True) == '<math display="block"><mi>x</mi></math>'
    assert texmath.to_mathml("x", False) == "<math><mi>x</mi></math>"


def test_subscripts_of_letters_hang_from_the_baseline():
    root = tree(texmath.to_mathml(r"y_i + \hat{y}_i + \mathbf{W}_{hx} + (A)_i", False))
    bases = [sub[0] for sub in root.iter("msub")]
    assert [base.tag for base in bases] == ["mpadded", "mpadded", "mpadded", "mrow"]
    assert all(base.get("depth") == "0" for base in bases[:3])


# -- one process, one round trip, caches ---------------------------------------------


def test_one_node_process_serves_every_call():
    texmath.to_mathml("a_1", False)
    process = texmath._ENGINE.process
    assert process is not None and process.poll() is None
    texmath.to_mathml_many([(f"a_{{{n}}}", False) for n in range(50)])
    assert texmath._ENGINE.process is process


def test_a_whole_book_is_one_round_trip_and_repeats_are_cached(monkeypatch):
    calls = []
    convert = texmath._ENGINE.convert
    monkeypatch.setattr(texmath._ENGINE, "convert", lambda pairs: calls.append(len(pairs)) or convert(pairs))
    items = [(f"z^{{{n}}} + \\alpha_{n}", n % 2 == 0) for n in range(200)]
    first = texmath.to_mathml_many(items + items)
    assert calls == [200]
    assert texmath.to_mathml_many(items) == first[:200] and calls == [200]


def test_a_dead_engine_is_started_again():
    texmath.to_mathml("q_1", False)
    texmath._ENGINE.process.kill()
    texmath._ENGINE.process.wait()
    assert texmath.to_mathml("q_2", False).startswith("<math>")


def test_disk_cache_needs_no_engine_the_second_time(tmp_path, monkeypatch):
    texmath.use_disk_cache(tmp_path)
    try:
        items = [(r"\kappa_{disk}", False), (r"\undefinedmacro", False)]
        made = texmath.to_mathml_many(items)
        texmath.save_disk_cache()
        (saved,) = tmp_path.glob("*.json")
        assert saved.name == f"{texmath.cache_key()}.json"
        for item in items:
            del texmath._MEMORY[item]
        texmath.use_disk_cache(tmp_path)  # as a new run: read from disk
        monkeypatch.setattr(texmath._ENGINE, "convert", lambda pairs: pytest.fail(f"engine called for {pairs}"))
        again = texmath.to_mathml_many(items)
        assert again[0] == made[0] and str(again[1]) == str(made[1]) and isinstance(again[1], texmath.MathError)
    finally:
        texmath.use_disk_cache(None)


def test_missing_node_says_run_make_setup(monkeypatch):
    engine = texmath._Engine()
    monkeypatch.setattr(texmath.shutil, "which", lambda name: None)
    with pytest.raises(SourceError) as info:
        engine.convert([("x", False)])
    assert isinstance(info.value, texmath.MathEngineMissing)
    assert "Node.js is missing" in str(info.value) and "make setup" in str(info.value)


def test_missing_or_altered_engine_says_run_make_setup(monkeypatch, tmp_path):
    engine = texmath._Engine()
    monkeypatch.setattr(texmath, "ENGINE_JS", tmp_path / "temml.min.js")
    with pytest.raises(texmath.MathEngineMissing, match="missing from the installed tabbook: run `make setup`"):
        engine.convert([("x", False)])
    (tmp_path / "temml.min.js").write_text("var temml = {};")
    with pytest.raises(texmath.MathEngineMissing, match="not the pinned Temml 0.13.5 .*run `make setup`"):
        engine.convert([("x", False)])


def test_bad_tex_from_the_command_line_is_a_message_not_a_traceback(tmp_path):
    script = "import sys; from tabbook import texmath\ntry:\n    texmath.to_mathml(sys.argv[1], True)\nexcept texmath.MathError as e:\n    print(e, file=sys.stderr); sys.exit(1)\n"
    result = subprocess.run([sys.executable, "-c", script, r"\left( x"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == r"cannot typeset the math $\left( x$ (Expected '\right', got 'EOF', at end of input)"


# -- the pinned engine ----------------------------------------------------------------


def test_the_shipped_engine_is_the_npm_pin():
    assert hashlib.sha256(texmath.ENGINE_JS.read_bytes()).hexdigest() == texmath.ENGINE_SHA256
    package = json.loads((REPO / "scripts" / "js" / "package.json").read_text())
    lock = json.loads((REPO / "scripts" / "js" / "package-lock.json").read_text())
    assert package["dependencies"]["temml"] == texmath.ENGINE_VERSION == lock["packages"]["node_modules/temml"]["version"]
    installed = REPO / "scripts" / "js" / "node_modules" / "temml" / "dist" / "temml.min.js"
    assert installed.is_file(), "run `make setup` (npm ci in scripts/js)"
    assert installed.read_bytes() == texmath.ENGINE_JS.read_bytes()
    assert "MIT License" in (texmath.ENGINE_DIR / "LICENSE-temml.txt").read_text()


def test_the_package_ships_the_engine():
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tabbook"]
    shipped = {path.relative_to(REPO / "tabbook").as_posix() for path in texmath.ENGINE_DIR.iterdir()}
    assert shipped == {"static/texmath/temml.min.js", "static/texmath/server.cjs", "static/texmath/LICENSE-temml.txt"}
    assert "static/texmath/*" in data


# -- the math font ------------------------------------------------------------------

MATH_FONT = Path("/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf")


@pytest.fixture(scope="module")
def subset_font():
    from fontTools.ttLib import TTFont

    fragments = texmath.to_mathml_many(
        [(r"\left(\frac{a}{b}\right) + \sqrt{\frac{1}{n}\sum_{i=1}^n x_i^2} + \int_0^1 f", True), (r"\alpha'", False)]
    )
    data = texmath.subset_math_font(MATH_FONT, fragments)
    return data, TTFont(io.BytesIO(data))


def test_the_font_subset_is_small_woff2(subset_font):
    data, font = subset_font
    assert data[:4] == b"wOF2"
    assert len(data) < 0.1 * MATH_FONT.stat().st_size
    cmap = font.getBestCmap()
    assert {ord(c) for c in "(∑√∫αab′0123456789"} <= set(cmap)
    assert ord("ω") not in cmap and ord("Z") not in cmap  # what no formula uses is gone


def test_the_font_subset_is_the_same_bytes_whenever_it_is_made(monkeypatch):
    """Shards merged into one site and an unchanged rebuild need the same file: fontTools stamps
    the time of saving into the font unless told not to (SOURCE_DATE_EPOCH stands in for the clock)."""
    made = []
    for epoch in ("1700000000", "1800000000"):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        made.append(texmath._subset_font(MATH_FONT.read_bytes(), set("a+b")))
    assert made[0] == made[1]


def test_the_font_subset_keeps_what_stretches(subset_font):
    _, font = subset_font
    math = font["MATH"].table
    glyphs = set(font.getGlyphOrder())
    variants = math.MathVariants
    constructions = dict(zip(variants.VertGlyphCoverage.glyphs, variants.VertGlyphConstruction, strict=True))
    for name in ("parenleft", "radical", "summation", "integral"):
        base = font.getBestCmap()[{"parenleft": ord("("), "radical": ord("√"), "summation": ord("∑"), "integral": ord("∫")}[name]]
        construction = constructions[base]
        sizes = [record.VariantGlyph for record in construction.MathGlyphVariantRecord]
        assert len(sizes) > 1 and set(sizes) <= glyphs, name
        if construction.GlyphAssembly:
            assert {part.glyph for part in construction.GlyphAssembly.PartRecords} <= glyphs, name
    assert math.MathConstants.AxisHeight.Value == 250
