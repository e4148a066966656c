"""The PDF books: the fixture book printed by headless Chromium, read back with poppler.

The fixture book (tests/fixtures/html, executed in-process by its
make_book.py) gets one more section of its second page: many short
subsections of growing length, so that headings fall near page ends, and a
code line far longer than the page is wide. Its PyTorch and MXNet PDFs are
printed once per module; the tests read them with ``pdftotext`` (text and its
place on the page), ``pdfimages`` (raster images) and the PDF's own link
annotations, and two pages are rendered to PNG (``pdftoppm``) as artifacts
under the build's ``pdf/png``.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pdf_text import (
    all_text,
    body_text,
    contents,
    heading_pages,
    lines,
    overlapping_equation_numbers,
    page_count,
    running_head,
    short_pages,
)

from tabbook import cli
from tabbook.artifacts import pdf_path
from tabbook.config import load_config

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "html"
LONG_LINE = "values = [" + ", ".join(f"'item{i:03d}'" for i in range(40)) + "]  # WRAPPED_TO_THE_END"
# code that cannot fit on one page: its lines, split over two pages, must keep their spaces and breaks
SPLIT_CODE = [f"if step_{k} in (1, 2):  # step {k} of the long cell" if k % 2 else f"    total = total + {k}" for k in range(1, 91)]
FILLER = "Filler prose keeps the pages full so that headings fall near the bottom of a page. "


def extra_section() -> str:
    parts = ["\n## Many Short Parts\n", f"```{{.python .input}}\n%%tab all\n{LONG_LINE}\nlen(values)\n```\n"]
    parts.append("\nA code cell longer than a page:\n\n```{.python .input}\n%%tab all\n" + "\n".join(SPLIT_CODE) + "\n```\n")
    for k in range(1, 25):
        parts.append(f"\n### Part Number {k}\n\n{FILLER * (1 + (k * 7) % 9)}\n")
    return "".join(parts)


WEB_ONLY = "Pick your framework with the tabs above any code cell."


def add_back_matter(root: Path) -> None:
    """A references page (a ``.. bibliography::`` block, as in the d2l.ai books) after the chapter, and
    front-page text meant for the web only."""
    (root / "references.md").write_text(
        "# References\n\nEvery work cited in this book.\n\n```eval_rst\n.. bibliography:: static/references.bib\n```\n", encoding="utf-8"
    )
    index = root / "index.md"
    text = index.read_text(encoding="utf-8").replace(
        "Its chapter is :numref:`chap_demo`.", f'Its chapter is :numref:`chap_demo`. <span class="web-only">{WEB_ONLY}</span>'
    )
    index.write_text(text + "\n```toc\n:maxdepth: 1\n\nreferences\n```\n", encoding="utf-8")
    config = root / "config.ini"
    config.write_text(config.read_text(encoding="utf-8").replace("chapters = chapter_*/*.md", "chapters = chapter_*/*.md references.md"), encoding="utf-8")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """(config, {tab: pdf path}) of the fixture book with the extra section, printed for two tabs."""
    assert shutil.which("pdftotext"), "pdftotext is missing: run 'make setup' (it installs Debian's poppler-utils)"
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", FIXTURE / "make_book.py")
    make_book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_book)
    config = make_book.make_book(tmp_path_factory.mktemp("pdf") / "book")

    from tabbook.fileio import write_notebook
    from tabbook.notebooks import build_notebooks
    from tabbook.parse import read_document

    second = config.root / "chapter_demo" / "second.md"
    second.write_text(second.read_text(encoding="utf-8") + extra_section(), encoding="utf-8")
    add_back_matter(config.root)
    config = load_config(config.root)
    for tab, nb in build_notebooks(config, read_document(config, second)).items():
        make_book.run_notebook(nb)
        write_notebook(nb, config.build_dir / "eval" / tab / "chapter_demo" / "second.ipynb")
    cli.pdf(config, ["pytorch", "mxnet"])
    return config, {tab: pdf_path(config, tab) for tab in ("pytorch", "mxnet")}


HEADINGS = [
    "1 The Demo Chapter",
    "1.1 First Steps",
    "1.1.1 Activation Functions",
    "1.1.2 Hidden Things",
    "1.2 Second Steps",
    "1.2.1 Many Short Parts",
]


def test_title_page_and_the_sections_in_order(book):
    _config, pdfs = book
    first = lines(body_text(pdfs["pytorch"], 1))
    assert first[:2] == ["Demo Book", "PyTorch edition"]
    assert "Release 0.0.1" in first
    pages = heading_pages(pdfs["pytorch"])
    assert [title for title in pages if title in HEADINGS] == HEADINGS
    assert [pages[title] for title in HEADINGS] == sorted(pages[title] for title in HEADINGS)
    text = all_text(pdfs["pytorch"])
    assert text.rindex("References") > text.index("1.2.1") > text.index("1.1.1")
    # the title page says which framework this edition prints, where the web edition has tabs
    assert "This edition prints the PyTorch code of the book and its outputs." in " ".join(first)


def test_the_contents_page_numbers_are_where_the_headings_land(book):
    _config, pdfs = book
    for pdf in pdfs.values():
        toc = contents(pdf)
        # the references page is the book's one bibliography: listed once, no second list after it
        assert list(toc) == ["1 The Demo Chapter", "1.1 First Steps", "1.2 Second Steps", "References"]
        pages = heading_pages(pdf)
        references = toc.pop("References")
        assert toc == {title: pages[title] for title in toc}
        assert lines(body_text(pdf, references))[:2] == ["References", "Every work cited in this book."]
        assert "Bibliography" not in all_text(pdf)
        assert toc["1 The Demo Chapter"] > 2 and toc["1.2 Second Steps"] > toc["1.1 First Steps"]


def test_references_show_their_targets_numbers_and_link_to_them(book):
    _config, pdfs = book
    text = " ".join(lines(all_text(pdfs["pytorch"])))
    assert "Its chapter is Chapter 1." in text
    assert "See (1.1.1) and Figure 1.1.1." in text
    assert "Figure 1.1.1: A demo network diagram." in text
    assert re.search(r"ReLU\u2061? ?\(𝑥\) = max\u2061? ?\(𝑥, 0\) ?\. \(1\.1\.1\)", text)  # U+2061: function application
    assert "refers back to Section 1.1, to Section 1.1.1, to (1.1.2) and to Table 1.2.1." in text
    assert "Table 1.2.1: Sizes of the layers" in text
    # the references are links to named destinations inside the PDF, one per target
    data = pdfs["pytorch"].read_bytes()
    links = set(re.findall(rb"/Subtype /Link\n(?:/[^\n]*\n)*?/Dest /([\w.-]+)", data))
    for anchor in (b"chapter_demo-index--chap_demo", b"chapter_demo-first--fig_demo", b"chapter_demo-first--eq_relu", b"chapter_demo-second--tab_sizes"):
        assert anchor in links
        assert data.count(b"/" + anchor) >= 2, f"no destination {anchor!r} in the PDF"
    assert b"/URI" not in data, "a reference points outside the PDF"



def test_the_print_document_loads_only_local_files(book):
    _config, pdfs = book
    document = pdfs["pytorch"].with_suffix(".html").read_text(encoding="utf-8")
    loaded = re.findall(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"', document)
    assert loaded and all(url.startswith(("file:///", "data:")) for url in loaded)
    assert any(url.endswith("pagedjs/dist/paged.polyfill.js") for url in loaded)


def test_citations_and_the_bibliography(book):
    _config, pdfs = book
    text = " ".join(lines(all_text(pdfs["pytorch"])))
    assert "The rectified linear unit (Nair and Hinton, 2010) is" in text
    assert "As Cybenko (1989) showed" in text
    bibliography = text[text.rindex("Every work cited in this book.") :]
    assert bibliography.index("Cybenko") < bibliography.index("Nair")
    assert "Approximation by superpositions of a sigmoidal function" in bibliography
    assert bibliography.count("Cited in 1.1.") == 2  # back to where each work is cited
    # citations lead to the bibliography's entries, its back-links to the citations, all inside the PDF
    data = pdfs["pytorch"].read_bytes()
    links = set(re.findall(rb"/Subtype /Link\n(?:/[^\n]*\n)*?/Dest /([\w.-]+)", data))
    assert {b"bib-Cybenko.1989", b"bib-Nair.Hinton.2010", b"chapter_demo-first--cite-31"} <= links


def test_each_framework_gets_its_own_code_and_outputs(book):
    _config, pdfs = book
    torch, mxnet = all_text(pdfs["pytorch"]), all_text(pdfs["mxnet"])
    assert "hello from pytorch" in torch and "hello from mxnet" not in torch
    assert "hello from mxnet" in mxnet and "hello from pytorch" not in mxnet
    assert "torch.relu computes" in torch and "torch.relu computes" not in mxnet
    # a long output is printed whole, never collapsed
    assert "line 19" in mxnet and "click to show" not in mxnet
    assert "MXNet edition" in mxnet


def test_plots_are_vectors_and_only_raster_outputs_are_images(book):
    _config, pdfs = book
    listing = subprocess.run(["pdfimages", "-list", str(pdfs["pytorch"])], capture_output=True, text=True, check=True).stdout
    images = [line.split() for line in listing.splitlines()[2:]]
    # the SVG plot and the SVG figure are drawn as vectors: the one image is the 16x8 PNG output
    assert [(row[3], row[4]) for row in images] == [("16", "8")]


def test_code_wraps_and_no_page_ends_with_a_heading(book):
    _config, pdfs = book
    pdf = pdfs["pytorch"]
    text = " ".join(lines(all_text(pdf)))
    assert "WRAPPED_TO_THE_END" in text and "'item039'" in text
    printed = set(lines(all_text(pdf)))
    assert [line for line in SPLIT_CODE if " ".join(line.split()) not in printed] == []
    headings = set(heading_pages(pdf))
    parts = [line for line in headings if re.fullmatch(r"1\.2\.1\.\d+ Part Number \d+", line)]
    assert len(parts) == 24
    for number in range(1, page_count(pdf) + 1):
        body = lines(body_text(pdf, number))
        assert not body or body[-1] not in headings, f"page {number} ends with the heading {body[-1]!r}"


def test_code_copied_from_the_pdf_runs(book):
    """What a PDF viewer copies is the PDF's text layer: the long cell, split over two pages, must come
    out with plain spaces, its indentation and its line breaks, so that it compiles as Python."""
    from pypdf import PdfReader

    _config, pdfs = book
    text = "\n".join(page.extract_text() for page in PdfReader(pdfs["pytorch"]).pages)
    start = text.index(SPLIT_CODE[0])
    copied = text[start : text.index(SPLIT_CODE[-1], start) + len(SPLIT_CODE[-1])]
    copied = "\n".join(line for line in copied.split("\n") if line.startswith(("if ", "    ")))  # without the page's head and foot
    assert "\u00a0" not in copied
    assert copied.split("\n") == SPLIT_CODE
    compile(copied, "copied-from-the-pdf", "exec")


def test_two_pages_rendered_to_png(book):
    """Artifacts to look at: the page with math, a figure and a plot, and the one with the long code line."""
    config, pdfs = book
    pdf = pdfs["pytorch"]
    pages = heading_pages(pdf)
    out = config.build_dir / "pdf" / "png"
    out.mkdir(parents=True, exist_ok=True)
    for number in (pages["1.1.1 Activation Functions"], pages["1.2.1 Many Short Parts"]):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(number), "-l", str(number), str(pdf), str(out / "page")], check=True)
    pngs = sorted(out.glob("page-*.png"))
    assert len(pngs) == 2
    assert all(png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000 for png in pngs)


def test_running_heads_follow_the_chapter_the_section_and_the_back_matter(book):
    _config, pdfs = book
    pdf = pdfs["pytorch"]
    toc = contents(pdf)
    heads = {number: " ".join(lines(running_head(pdf, number))) for number in range(1, page_count(pdf) + 1)}
    assert (heads[1], heads[2]) == ("", "Contents")  # the title page has none
    assert heads[toc["1.2 Second Steps"] + 1] == "1 The Demo Chapter 1.2 Second Steps"
    assert [heads[number] for number in range(toc["References"], page_count(pdf) + 1)] == ["References"] * (page_count(pdf) - toc["References"] + 1)


def test_text_for_the_web_is_not_printed_and_stays_on_the_web(book):
    config, pdfs = book
    assert WEB_ONLY not in " ".join(lines(all_text(pdfs["pytorch"])))
    assert "Its chapter is Chapter 1." in " ".join(lines(all_text(pdfs["pytorch"])))
    html_dir = cli.html(config, run=False)
    assert f'<span class="web-only">{WEB_ONLY}</span>' in (html_dir / "index.html").read_text(encoding="utf-8")


def test_no_page_is_left_half_empty_but_before_a_chapter(book):
    """No blank tails: a page's body ends in its lower half (read from the page rendered as an image), unless
    the next page starts a chapter or the back matter, which always start a page."""
    _config, pdfs = book
    for pdf in pdfs.values():
        starts = {page for title, page in contents(pdf).items() if not re.match(r"\d+\.\d", title)}
        assert [page for page in short_pages(pdf) if page + 1 not in starts] == []


def test_equation_numbers_stand_clear_of_their_equations(book):
    _config, pdfs = book
    assert overlapping_equation_numbers(pdfs["pytorch"]) == []
    assert "(1.1.1)" in all_text(pdfs["pytorch"])


def test_the_print_checks_catch_the_old_seams(book, tmp_path):
    """The same checks on the print document with two faults put back: the bibliography's list starting a
    new page after its heading (a blank tail), and equation numbers drawn over their formulas."""
    from playwright.sync_api import sync_playwright

    from tabbook.browser import launch_chromium
    from tabbook.pdf import print_pdf

    _config, pdfs = book
    document = pdfs["pytorch"].with_suffix(".html").read_text(encoding="utf-8")
    faulty = document.replace("</style>", "ul.bibliography { break-before: page; }\n.eqn { position: relative; }\n.eqn .eqno { position: absolute; left: 45%; }\n</style>", 1)
    html_path = pdfs["pytorch"].with_name("faulty.html")
    html_path.write_text(faulty, encoding="utf-8")
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                pdf = tmp_path / "faulty.pdf"
                pdf.write_bytes(print_pdf(browser, html_path))
            finally:
                browser.close()
    finally:
        html_path.unlink()
    starts = {page for title, page in contents(pdf).items() if not re.match(r"\d+\.\d", title)}
    assert [page for page in short_pages(pdf) if page + 1 not in starts] == [contents(pdf)["References"]]
    assert overlapping_equation_numbers(pdf) != []


def test_pdf_command_prints_from_the_cache_and_checks_its_tabs(book, tabbook):
    config, pdfs = book
    before = pdfs["mxnet"].stat().st_mtime_ns
    result = tabbook("pdf", "--tabs", "mxnet", cwd=config.root)
    assert result.returncode == 0, result.stderr
    assert "demo-book-mxnet.pdf" in result.stdout
    assert pdfs["mxnet"].stat().st_mtime_ns > before
    bad = tabbook("pdf", "--tabs", "pytorch,keras", cwd=config.root)
    assert bad.returncode == 1
    assert "unknown tab 'keras' (--tabs); the book's tabs are: pytorch, mxnet, jax" in bad.stderr  # one message for every command


def test_keep_going_prints_despite_an_unresolved_reference_and_then_fails(book, tabbook, tmp_path):
    config, _pdfs = book
    root = tmp_path / "book"
    shutil.copytree(config.root, root)  # its executed notebooks included
    first = root / "chapter_demo" / "first.md"
    first.write_text(first.read_text(encoding="utf-8").replace(":numref:`fig_demo`", ":numref:`fig_elsewhere`"), encoding="utf-8")
    pdf = root / pdf_path(config, "mxnet").relative_to(config.root)
    pdf.unlink()
    stopped = tabbook("pdf", "--tabs", "mxnet", cwd=root)
    assert stopped.returncode == 1 and "undefined label 'fig_elsewhere'" in stopped.stderr
    assert not pdf.exists()
    kept = tabbook("pdf", "--tabs", "mxnet", "--keep-going", cwd=root)
    assert kept.returncode == 1
    assert "pdf: 1 unresolved reference(s) shown as ??:\n  chapter_demo/first.md:47: :numref: refers to the undefined label 'fig_elsewhere'" in kept.stdout
    assert "pdf: built with --keep-going, but the book has 1 error(s)" in kept.stderr
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"See\s+\(\S+\)\s+and\s+\?\?\.", text), "the broken reference is not printed as ??"


def test_another_browser_is_named_by_tabbook_chromium_and_a_missing_one_is_said(book, tabbook, monkeypatch):
    config, pdfs = book
    before = pdfs["mxnet"].read_bytes()
    monkeypatch.setenv("TABBOOK_CHROMIUM", str(config.root / "no-such-chrome"))
    result = tabbook("pdf", "--tabs", "mxnet", cwd=config.root)
    assert result.returncode == 1
    assert f"{config.root / 'no-such-chrome'}: no browser here: run `make setup`" in result.stderr
    assert "Traceback" not in result.stderr and pdfs["mxnet"].read_bytes() == before
    link = config.root / "chrome-elsewhere"
    link.symlink_to("/usr/bin/chromium")
    monkeypatch.setenv("TABBOOK_CHROMIUM", str(link))
    assert tabbook("pdf", "--tabs", "mxnet", cwd=config.root).returncode == 0


def test_the_html_book_links_the_pdfs(book):

    config, pdfs = book
    html_dir = cli.html(config, run=False)
    first = (html_dir / "chapter_demo" / "first.html").read_text(encoding="utf-8")
    assert 'PyTorch <a href="../pdf/demo-book-pytorch.pdf">PDF</a>' in first
    assert 'MXNet <a href="../pdf/demo-book-mxnet.pdf">PDF</a>' in first
    assert "JAX <a" not in first  # no JAX PDF was printed
    assert (html_dir / "pdf" / "demo-book-pytorch.pdf").read_bytes() == pdfs["pytorch"].read_bytes()
