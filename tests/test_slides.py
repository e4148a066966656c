"""Slide decks: the marks' semantics (d2lbook's), their errors, the notebook, and the deck in a browser.

The fixture book (tests/fixtures/slides) has one section with slide marks and
one without; its notebooks are "executed" in-process by the HTML fixture's
make_book.run_notebook, so no kernel is needed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
from deck_fit import measure_decks

from tabbook import cli
from tabbook import slides as S
from tabbook.parse import parse_markdown

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    """(config, slides dir) of the slide fixture book, executed and its decks written."""
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", FIXTURES / "html" / "make_book.py")
    make_book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_book)
    from tabbook.config import load_config
    from tabbook.fileio import write_notebook
    from tabbook.notebooks import build_notebooks
    from tabbook.parse import read_document

    root = tmp_path_factory.mktemp("slides") / "book"
    shutil.copytree(FIXTURES / "slides", root)
    config = load_config(root)
    for path in config.chapter_files():
        for tab, nb in build_notebooks(config, read_document(config, path)).items():
            make_book.run_notebook(nb)
            write_notebook(nb, config.build_dir / "eval" / tab / f"{config.notebook_name(path)}.ipynb")
    cli.slides(config)
    return config, config.build_dir / "slides"


# -- the marks ------------------------------------------------------------------------


def marked(text: str, path: str = "s.md"):
    """A Document whose text starts on line 10 (as a cell further down a section would)."""
    return parse_markdown("\n" * 9 + text, path, ("pytorch",), collect=True)


def texts(text: str) -> list[tuple[str, str, int]]:
    return [(mark.opener, mark.inline.text, mark.line) for cell in marked(text).cells for mark in cell.slide_marks]


def test_marks_in_order_with_their_lines():
    text = "We [**keep this**] and\n(**that $x$**) but (~~only on slides~~).\n[~~slide\nonly~~]"
    assert texts(text) == [("[**", "keep this", 10), ("(**", "that $x$", 11), ("(~~", "only on slides", 11), ("[~~", "slide\nonly", 12)]


def test_a_bold_link_and_code_fences_hold_no_marks():
    assert texts("a [**bold link**](https://example.org) and **bold** (in parentheses)") == []
    assert texts("```python\nx = [**y**]\n```\n[**after**]") == [("[**", "after", 13)]


def test_a_closer_with_nothing_open_is_text():
    assert texts("then **Swin**) and (**this**) but **] alone") == [("(**", "this", 10)]
    assert marked("(then **Swin**)\n").slide_problems == []


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("one\n[**never closed", 11, "slide mark [** is never closed"),
        ("[**outer\n(**inner**) end**]", 10, "slide mark [** is not closed before the (** of line 11 (slide marks do not nest)"),
        ("x\n(**wrong end**]", 11, "slide mark (** (line 11) is closed by **]; expected **)"),
    ],
)
def test_unbalanced_or_nested_marks_are_file_line_errors(text, line, message):
    (error,) = marked(text, "chapter/s.md").slide_problems
    assert str(error).startswith(f"chapter/s.md:{line}: {message}")


def test_the_parser_keeps_the_marked_text_for_the_slides_and_strips_it_for_the_book():
    doc = parse_markdown("# T\n\nBook [**and slide**] text (~~slide only~~).\n", "s.md", ("pytorch",))
    cell = doc.cells[0]
    assert "Book and slide text ." in cell.text and "slide only" not in cell.text
    assert [(mark.opener, mark.inline.text) for mark in cell.slide_marks] == [("[**", "and slide"), ("(~~", "slide only")]
    assert cell.text_line == 1


def test_a_bad_mark_stops_the_build_with_file_and_line(decks, tabbook):
    config, _slides = decks
    marked = config.root / "chapter_talk" / "marked.md"
    original = marked.read_text(encoding="utf-8")
    try:
        marked.write_text(original.replace("[**We plot the rectifier**]", "[**We plot the rectifier"), encoding="utf-8")
        result = tabbook("slides", cwd=config.root)
        check = tabbook("check", cwd=config.root)
    finally:
        marked.write_text(original, encoding="utf-8")
    assert result.returncode == 1
    line = original.split("\n").index("[**We plot the rectifier**], as (**:numref:`sec_marked` promised**),") + 1
    assert f"chapter_talk/marked.md:{line}: slide mark [** is not closed before the (** of line {line}" in result.stderr
    assert check.returncode == 1 and f"chapter_talk/marked.md:{line}: slide mark [**" in check.stderr


def test_keep_going_writes_the_decks_it_can_and_then_fails(decks, tabbook, tmp_path):
    config, _slides = decks
    root = tmp_path / "book"
    shutil.copytree(config.root, root)  # its executed notebooks included
    shutil.rmtree(root / "_build" / "slides")
    marked = root / "chapter_talk" / "marked.md"
    original = marked.read_text(encoding="utf-8")
    marked.write_text(original.replace(":numref:`sec_marked` promised", ":numref:`sec_elsewhere` promised"), encoding="utf-8")
    assert tabbook("slides", cwd=root).returncode == 1
    assert not (root / "_build" / "slides").exists()
    kept = tabbook("slides", "--keep-going", cwd=root)
    assert kept.returncode == 1
    assert "slides: 1 unresolved reference(s) shown as ??:" in kept.stdout  # once, though two frameworks met it
    assert "slides: built with --keep-going, but the book has 1 error(s)" in kept.stderr
    deck = (root / "_build" / "slides" / "pytorch" / "chapter_talk" / "marked.html").read_text(encoding="utf-8")
    assert "title=\"unresolved reference: no label 'sec_elsewhere' in this book\">??</a>" in deck
    # A section whose marks cannot be read gets no deck; the others still do.
    marked.write_text(original.replace("[**We plot the rectifier**]", "[**We plot the rectifier"), encoding="utf-8")
    shutil.rmtree(root / "_build" / "slides")
    bad = tabbook("slides", "--keep-going", cwd=root)
    assert bad.returncode == 1 and "slide mark [** is not closed" in bad.stdout
    assert not (root / "_build" / "slides" / "pytorch" / "chapter_talk" / "marked.html").exists()


# -- the decks --------------------------------------------------------------------------


def test_only_sections_with_marks_get_decks_per_framework(decks):
    _config, slides = decks
    found = sorted(p.relative_to(slides).as_posix() for p in slides.rglob("*") if p.suffix in (".html", ".ipynb"))
    assert found == [
        "mxnet/chapter_talk/marked.html",
        "mxnet/chapter_talk/marked.ipynb",
        "pytorch/chapter_talk/long.html",  # a section of the default tab only
        "pytorch/chapter_talk/long.ipynb",
        "pytorch/chapter_talk/marked.html",
        "pytorch/chapter_talk/marked.ipynb",
    ]


def test_the_notebook_starts_a_slide_where_the_deck_does_at_a_cell(decks):
    """Where the deck's packing starts a slide at a cell's start, the slide notebook does too (a cut inside a
    cell cannot be shown there: Jupyter's slides are whole cells)."""
    _config, slides = decks
    nb = json.loads((slides / "pytorch" / "chapter_talk" / "long.ipynb").read_text(encoding="utf-8"))
    types = [(c["cell_type"], c["metadata"]["slideshow"]["slide_type"], "".join(c["source"]).split("\n")[0]) for c in nb["cells"]]
    plots = [slide_type for kind, slide_type, first in types if first == "show_svg(SVG)"]
    assert plots == ["slide", "-", "-", "slide"]  # three small plots share a slide, the fourth starts the next
    assert [first for kind, slide_type, first in types if slide_type == "slide" and kind == "markdown"] == [
        "# Long Slides", "One function longer than a slide is cut inside, where nothing else can be done",
        "A cell that prints many lines", "Plots too large for a slide are scaled down to fit",
    ]


def test_the_notebook_carries_slide_types_marked_text_and_code_with_outputs(decks):
    _config, slides = decks
    nb = json.loads((slides / "mxnet" / "chapter_talk" / "marked.ipynb").read_text(encoding="utf-8"))
    cells = [(c["cell_type"], c["metadata"]["slideshow"]["slide_type"], "".join(c["source"])) for c in nb["cells"]]
    assert cells == [
        ("markdown", "slide", "# Rectifiers on Slides\n\nA rectifier keeps the positive part of its input.\n\nSay it aloud: max of x and zero\n\n$$\\operatorname{ReLU}(x) = \\max(x, 0)$$"),
        ("code", "-", 'print("mxnet says relu")'),
        ("markdown", "slide", "We plot the rectifier\n\nSection 1.1 promised"),  # roles resolved, as in reader notebooks
        ("code", "-", "xs = list(range(-3, 4))\n\nshow_svg(SVG)"),
        ("markdown", "slide", "MXNet users read this on a slide"),
    ]
    outputs = [c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"]
    assert "".join(outputs[0][0]["text"]) == "mxnet says relu\n"
    assert "image/svg+xml" in outputs[1][0]["data"]
    assert nb["metadata"]["kernelspec"]["name"] == "d2l-mxnet"
    torch = json.loads((slides / "pytorch" / "chapter_talk" / "marked.ipynb").read_text(encoding="utf-8"))
    sources = "".join("".join(c["source"]) for c in torch["cells"])
    assert 'print("torch says relu")' in sources and "a comment the slides leave out" not in sources
    assert "MXNet users" not in sources and "mxnet says" not in sources


def test_decks_load_nothing_from_the_network(decks):
    _config, slides = decks
    deck = (slides / "pytorch" / "chapter_talk" / "marked.html").read_text(encoding="utf-8")
    loaded = re.findall(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"', deck)
    assert loaded and not [url for url in loaded if re.match(r"[a-z]+:|//", url) and not url.startswith("data:")]
    assert '<script src="../../_reveal/reveal.js">' in deck
    assert (slides / "_reveal" / "reveal.js").is_file() and (slides / "_reveal" / "theme" / "white.css").is_file()


@pytest.mark.browser
def test_stepping_through_a_deck_in_the_browser(decks, browser):
    _config, slides = decks
    deck = slides / "mxnet" / "chapter_talk" / "marked.html"
    requests = []
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.on("request", lambda request: requests.append(request.url))
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(deck.as_uri())
        page.wait_for_function("window.Reveal && Reveal.isReady()")
        assert page.title() == "1.1 Rectifiers on Slides (MXNet) — Talk Book"
        seen = []
        for _ in range(page.evaluate("Reveal.getTotalSlides()")):
            current = page.locator("section.present")
            seen.append(current.inner_text())
            plot = current.locator(".output.image img")  # plots are image files next to the decks
            if plot.count():
                assert plot.first.is_visible() and plot.first.evaluate("img => img.complete && img.naturalWidth > 0")
                seen.append("<plot>")
            if current.locator("math").count():
                assert current.locator("math").first.is_visible()
                seen.append("<math>")
            page.keyboard.press("ArrowRight")
        page.screenshot(path=str(slides / "last-slide.png"))
    finally:
        page.close()
    assert len(seen) > 3
    text = "\n".join(seen)
    assert "Talk Book · MXNet" in seen[0] and "Rectifiers on Slides" in seen[0]
    for shown in ("A rectifier keeps the positive part of its input.", "Say it aloud: max of x and zero", "<math>",
                  'print("mxnet says relu")', "mxnet says relu", "We plot the rectifier", "show_svg(SVG)", "<plot>",
                  "MXNet users read this on a slide"):
        assert shown in text
    for dropped in ("pumpkins", "Walnut", "The book says much more", "torch says relu"):
        assert dropped not in text
    assert errors == []
    assert all(url.startswith("file://") for url in requests)


AXE = Path(__file__).resolve().parent.parent / ".vendor" / "npm" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_pdf_and_slides_row_passes_axe_on_a_phone_and_a_desktop(decks, browser, scheme):
    """The row of a page with decks ("PyTorch slides  MXNet slides"): its links stand out from the words
    beside them by more than their colour (axe's link-in-text-block; it failed on phones)."""
    from tabbook.browser import serve_directory

    config, _slides = decks
    html_dir = cli.html(config, run=False)
    assert AXE.is_file(), f"{AXE} is missing: run 'make setup' (scripts/vendor-js.sh installs axe-core)"
    with serve_directory(html_dir) as base:
        for viewport in ({"width": 390, "height": 844}, {"width": 1366, "height": 900}):
            context = browser.new_context(viewport=viewport, color_scheme=scheme)
            try:
                page = context.new_page()
                page.goto(f"{base}chapter_talk/marked.html")
                assert page.locator(".print-links .print-link a").count() == 2
                page.add_script_tag(path=str(AXE))
                violations = page.evaluate(
                    """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                        .filter(v => v.impact === "serious" || v.impact === "critical").map(v => v.id)"""
                )
                assert violations == [], (viewport["width"], violations)
            finally:
                context.close()


@pytest.mark.browser
def test_the_html_book_links_each_pages_decks_and_they_open_there(decks, browser):
    from tabbook.browser import serve_directory

    config, _slides = decks
    html_dir = cli.html(config, run=False)
    marked = (html_dir / "chapter_talk" / "marked.html").read_text(encoding="utf-8")
    assert 'PyTorch <a href="../slides/pytorch/chapter_talk/marked.html">slides</a>' in marked
    assert 'MXNet <a href="../slides/mxnet/chapter_talk/marked.html">slides</a>' in marked
    assert "PDF and slides" not in (html_dir / "chapter_talk" / "plain.html").read_text(encoding="utf-8")
    page = browser.new_page()
    try:
        failed = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
        with serve_directory(html_dir) as base:
            page.goto(f"{base}chapter_talk/marked.html")
            page.click(".print-link a >> nth=0")
            page.wait_for_function("window.Reveal && Reveal.isReady()")
            assert "Rectifiers on Slides" in page.locator("section.present").inner_text()
            # a reference on a slide leads back into the book
            page.keyboard.press("ArrowRight")
            page.click("section.present a.reference")
            page.wait_for_url("**/chapter_talk/marked.html")
    finally:
        page.close()
    assert failed == []


# -- slides that fit their frame (1280 x 720) ----------------------------------------------
#
# The fixture's `long` section holds what does not fit a slide: forty statements, a
# function longer than a slide, seventy lines of output and a plot larger than the
# frame. Our own book's decks are measured by tests/chapter/test_decks_fit.py.

def test_code_is_cut_between_top_level_statements_and_keeps_every_line():
    source = "\n".join(["import math", "", "def f(x):", *[f"    y{i} = x + {i}" for i in range(30)], "    return x", "", "z = f(1)", "print(z)"])
    chunks = S.split_code(source, S.SLIDE_ROOM)
    assert [line for line in "\n".join(chunks).split("\n") if line.strip()] == [line for line in source.split("\n") if line.strip()]
    assert all(S.slide_height([S.code_piece(chunk, 0)]) <= S.SLIDE_ROOM for chunk in chunks)
    # the 33-line function is longer than a slide, so it is cut inside; the rest is cut before a statement
    assert len(chunks) >= 2 and all(chunk.split("\n")[0] in source.split("\n") for chunk in chunks)
    short = "\n".join(f"a{i} = {i}" for i in range(40))
    pieces = S.split_code(short, 10 * S.CODE_LINE + S.BLOCK_GAP + 2 * S.CELL_PADDING)
    assert [len(piece.split("\n")) for piece in pieces] == [10, 10, 10, 10]
    # between statements only: a block is never cut when it fits a slide of its own
    loop = "for i in range(3):\n" + "\n".join(f"    print(i, {j})" for j in range(8))
    assert S.split_code("x = 1\n" + loop, 5 * S.CODE_LINE + S.BLOCK_GAP + 2 * S.CELL_PADDING, whole_statements=True) == ["x = 1", loop]


def test_text_output_is_cut_between_lines():
    text = "".join(f"row {i}\n" for i in range(70))
    chunks = S.split_text(text, S.SLIDE_ROOM)
    assert "".join(chunks) == text and len(chunks) == 3
    assert all(S.code_height(chunk.rstrip("\n")) + S.BLOCK_GAP + 2 * S.CELL_PADDING <= S.SLIDE_ROOM for chunk in chunks)


def piece(kind: str, lines: int, cell: int, starts: bool = False) -> S.Piece:
    if kind == "code":
        return S.code_piece("\n".join(f"x{i} = {i}" for i in range(lines)), cell, starts)
    return S.Piece(S.Markup("<p>text</p>"), lines * S.CODE_LINE, cell, kind, starts)


def test_packing_keeps_every_slide_within_its_room_and_code_with_its_output():
    pieces = [piece("text", 2, 0, True), piece("code", 20, 1), piece("output", 4, 1), piece("code", 3, 2), piece("output", 10, 2),
              piece("text", 1, 3, True), piece("code", 60, 4), piece("output", 2, 4)]
    slides = S.pack(pieces)
    assert all(S.slide_height(slide) <= S.SLIDE_ROOM for slide in slides)
    # the first slide (with the book's title) has no room for cell 1's output: its code stays with the title
    assert [(p.cell, p.kind) for p in slides[0]] == [(0, "text"), (1, "code")]
    # the code of cell 2 did not fit after cell 1's output: it goes along with its output
    second = next(slide for slide in slides if any(p.cell == 2 for p in slide))
    assert [(p.cell, p.kind) for p in second if p.cell == 2] == [(2, "code"), (2, "output")]
    # a marked slide starts a slide; the 60 lines after it are cut, none lost
    marked = next(i for i, slide in enumerate(slides) if slide[0].cell == 3)
    code = "\n".join(p.source for slide in slides for p in slide if p.cell == 4 and p.kind == "code")
    assert code.split("\n") == [f"x{i} = {i}" for i in range(60)]
    assert len(slides) > marked + 1


@pytest.mark.browser
def test_every_slide_of_the_fixture_decks_fits_its_frame_with_nothing_lost(decks, browser):
    config, slides = decks
    paths, root = sorted(slides.rglob("*.html")), config.root
    decks = {deck.path.relative_to(root / "_build" / "slides").as_posix(): deck for deck in measure_decks(browser, paths)}
    assert set(decks) == {"mxnet/chapter_talk/marked.html", "pytorch/chapter_talk/marked.html", "pytorch/chapter_talk/long.html"}
    assert [problem for deck in decks.values() for problem in deck.problems] == []
    for deck in decks.values():
        assert deck.frame == (1280, 720)
        assert min(deck.code_fonts) >= 16  # fitted by cutting, not by shrinking the type
    long = decks["pytorch/chapter_talk/long.html"]
    assert len(long.heights) >= 8 and long.tallest > 600  # cut into many slides, each filled
    shown = "\n".join(long.texts)
    # every line of code and output is on some slide, in order
    source = (root / "chapter_talk" / "long.md").read_text()
    expected = [line.strip() for line in source.split("\n") if re.match(r"(value_\d\d|    step_\d\d) =", line)]
    expected += [(f"output row {row:02d}: " + "x" * (row % 9)).strip() for row in range(70)]
    lines = [line.strip() for line in shown.split("\n")]
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)
    assert len([line for line in lines if line.startswith("show_svg(SVG)")]) == 4


@pytest.mark.browser
def test_the_measure_catches_a_slide_that_overflows(decks, browser, tmp_path):
    """The same check on a deck whose packing was undone: every cell of the long section on one slide."""
    _config, slides = decks
    paths = sorted(slides.rglob("*.html"))
    deck = next(path for path in paths if path.name == "long.html")
    text = deck.read_text(encoding="utf-8")
    one_slide = re.sub(r"</section>\s*<section>", "", text)
    broken = deck.with_name("one-slide.html")
    broken.write_text(one_slide, encoding="utf-8")
    try:
        [measured] = measure_decks(browser, [broken])
    finally:
        broken.unlink()
    assert len(measured.heights) == 1 and measured.tallest > 3000
    assert any("content reaches" in problem for problem in measured.problems)
