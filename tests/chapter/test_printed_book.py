"""Checks on the book's PDFs and slide decks (`make pdf`, `make slides` write them from the executed notebooks).

Each framework's PDF lists every numbered page of the book in its contents, in
order, at the page where its heading lands; each section with slide marks has
a deck (HTML and notebook) per framework whose notebook it has, and no other
section has one.
"""

from __future__ import annotations

import json

import pytest
from executed import CONFIG, TABS
from pdf_text import contents, heading_pages

from tabbook.artifacts import pdf_path
from tabbook.book import load_book

BOOK = load_book(CONFIG)


@pytest.mark.parametrize("tab", TABS)
def test_each_pdf_lists_every_numbered_page_where_it_lands(tab):
    pdf = pdf_path(CONFIG, tab)
    if not pdf.exists():
        pytest.fail(f"{pdf} is missing: run make pdf first")
    toc = {entry: page for entry, page in contents(pdf).items() if entry[0].isdigit()}  # the bibliography aside
    assert [entry.split(" ", 1)[0] for entry in toc] == [page.number_text for page in BOOK.pages if page.number]
    pages = heading_pages(pdf)
    landed = {entry: pages.get(entry) for entry in toc}
    assert toc == landed
    assert list(toc.values()) == sorted(toc.values())


@pytest.mark.parametrize("tab", TABS)
def test_a_deck_for_each_section_with_slide_marks(tab):
    slides = CONFIG.build_dir / "slides" / tab
    for page in BOOK.pages:
        executed = (CONFIG.build_dir / "eval" / tab / f"{page.name}.ipynb").exists()
        deck = slides / f"{page.name}.html"
        assert deck.exists() == (executed and page.document.has_slides), f"{deck}: run make slides"
        if deck.exists():
            nb = json.loads(deck.with_suffix(".ipynb").read_text(encoding="utf-8"))
            assert nb["cells"][0]["metadata"]["slideshow"]["slide_type"] == "slide"
            assert any(cell["cell_type"] == "code" and cell.get("outputs") for cell in nb["cells"])
