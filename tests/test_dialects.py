"""Two small books in the dialects real books are written in build without an error.

``tests/fixtures/dialects/docs``: d2lbook's own documentation style, with a
misspelt config key, roles inside code spans, nested fences, a label on the
line of its display, and a references page that names its bibliography with
``:bibliography:``. ``tests/fixtures/dialects/neu``: the d2l authors' 2026
sources (``_quarto.yml`` order, front matter, fenced divs and spans, heading
attributes, fence ids, untagged code in every framework, ``.slide`` divs).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import FIXTURES

from tabbook import cli
from tabbook.book import load_book
from tabbook.config import load_config
from tabbook.notebooks import notebook_dicts
from tabbook.parse import D2L_NEU

DOCS, NEU = FIXTURES / "dialects" / "docs", FIXTURES / "dialects" / "neu"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each book copied, its HTML and decks built with nothing executed."""
    books = {}
    for source in (DOCS, NEU):
        root = tmp_path_factory.mktemp(source.name) / "book"
        shutil.copytree(source, root)
        config = load_config(root)
        cli.html(config, run=False)
        cli.slides(config)
        books[source.name] = config
    return books


def page(config, url: str) -> str:
    return (config.build_dir / "html" / url).read_text(encoding="utf-8")


def code_of(config, rel: str) -> dict[str, list[str]]:
    book = load_book(config)
    notebooks = notebook_dicts(config, book.page_of(config.root / rel).document)
    return {tab: [cell["source"] for cell in nb["cells"] if cell["cell_type"] == "code"] for tab, nb in notebooks.items()}


def test_the_docs_book_checks_clean_but_strict_check_names_the_typo(built, tabbook):
    root = built["docs"].root
    lenient, strict = tabbook("check", cwd=root), tabbook("check", "--strict", cwd=root)
    assert lenient.returncode == 0, lenient.stderr
    assert "config.ini:11: warning: unknown key 'dependences'" in lenient.stderr
    assert strict.returncode == 1


def test_the_docs_book_reads_its_cells_and_roles_as_d2lbook_does(built):
    config = built["docs"]
    code = code_of(config, "user/markdown.md")
    assert code["python"] == ['print("""\n````toc\nchapter\n````\n""")']  # the shown example is no cell
    assert code["numpy"] == ["import numpy as np\nprint(np.ones(2))"]
    html = page(config, "user/markdown.html")
    assert "<code>:num:</code>" in html and html.count("<code>:numref:</code>") == 2  # a role in a code span is text
    assert '<a class="reference equation" href="#eq_linear">(1)</a>' in html  # labelled on the display's own line
    assert "guide/index" in html and "print('an example, not a cell')" in html  # both examples shown whole
    refs = page(config, "user/refs.html")
    assert "Learning representations by back-propagating errors" in refs and ":bibliography:" not in refs


def test_the_neu_book_follows_its_quarto_order_and_numbers(built):
    config = built["neu"]
    assert config.dialect == D2L_NEU  # found from _quarto.yml
    book = load_book(config)
    assert book.errors == []
    assert [(p.rel, p.number_text) for p in book.pages] == [("index.md", ""), ("chapter_a/index.md", "1"), ("chapter_a/intro.md", "1.1")]
    chapter = page(config, "chapter_a/index.html")
    assert "Further Reading<a" in chapter and "{.unnumbered}" not in chapter and 'class="secnum">1.1</span> Further' not in chapter
    assert "pagetitle" not in page(config, "index.html")  # front matter is no text


def test_the_neu_book_renders_divs_and_spans_and_keeps_slides_off_the_page(built):
    html = page(built["neu"], "chapter_a/intro.html")
    assert '<div class="d2l-note">' in html and '<span class="kicker">kicker</span>' in html
    assert ":::" not in html and "{." not in html and "@intro-setup" not in html and "Start here" not in html
    assert re.search(r"Figure 1\.1\.1:</span> The interval <math>", html)  # a caption holding [a, b)


def test_the_neu_book_gives_untagged_code_to_every_framework_under_its_fence_id(built):
    config = built["neu"]
    notebooks = notebook_dicts(config, load_book(config).page_of(config.root / "chapter_a/intro.md").document)
    ids = {tab: [cell["id"] for cell in nb["cells"] if cell["cell_type"] == "code"] for tab, nb in notebooks.items()}
    assert ids == {"pytorch": ["intro-setup"], "jax": ["intro-setup", "intro-jax"]}
    assert notebook_dicts(config, load_book(config).root_page.document) == {}  # no code: no notebook


def test_the_neu_decks_are_cut_from_slide_divs_per_framework(built):
    slides = built["neu"].build_dir / "slides"
    decks = {tab: json.loads((slides / tab / "chapter_a" / "intro.ipynb").read_text(encoding="utf-8")) for tab in ("pytorch", "jax")}
    types = {tab: [cell["metadata"]["slideshow"]["slide_type"] for cell in nb["cells"]] for tab, nb in decks.items()}
    assert types["pytorch"].count("slide") == 1 and types["jax"].count("slide") == 2  # only="jax"
    assert "fragment" in types["pytorch"]  # . . .
    code = ["".join(cell["source"]) for cell in decks["pytorch"]["cells"] if cell["cell_type"] == "code"]
    assert code == ["total = sum(range(4))\nprint(total)"]  # @intro-setup
    html = (slides / "pytorch" / "chapter_a" / "intro.html").read_text(encoding="utf-8")
    assert '<div class="cols">' in html and '<div class="fragment">' in html
    # a figure and a heading on a slide: not numbered (the book does not count them), the image found from the
    # deck's place in the site (slides/pytorch/chapter_a/intro.html)
    assert '<img src="../../../img/square.svg" alt="The square again.">' in html and "<h3>On the slide only</h3>" in html
    site = built["neu"].build_dir / "html"
    assert (site / "slides" / "pytorch" / "chapter_a" / "../../../img/square.svg").resolve().is_file()
    notebook_text = json.dumps(decks["pytorch"])
    assert "The square again." in notebook_text and "Figure 1.1.2" not in notebook_text
