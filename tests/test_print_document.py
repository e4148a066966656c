"""The print document (tabbook.pdf.PrintSite) without a browser: what a book without a references page prints.

The PDFs themselves, of a book with a references page, are read back in tests/test_pdf.py.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tabbook.book import load_book
from tabbook.pdf import PrintSite, bibliography_page, unique_anchors

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "html"


def test_a_book_without_a_references_page_prints_its_bibliography_at_the_end(tmp_path):
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", FIXTURE / "make_book.py")
    make_book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_book)
    config = make_book.make_book(tmp_path / "book")
    book = load_book(config)
    assert bibliography_page(book) is None
    unique_anchors(book)
    document = PrintSite(config, book, "pytorch", tmp_path / "files").document()
    assert document.count('<section class="bibliography" id="bibliography">') == 1
    assert '<a href="#bibliography">Bibliography</a>' in document  # in the contents
    # citations lead to its entries; each citation's anchor is unique in the one document
    assert 'href="#ref-Cybenko.1989"' in document and '<li id="ref-Cybenko.1989">' in document
    ids = re.findall(r'\sid="([^"]+)"', document)
    assert len(ids) == len(set(ids))
    assert "chapter_demo-first--cite-31" in ids
    # the print form of the page pieces: no "#" links beside the headings
    assert 'class="headerlink"' not in document
