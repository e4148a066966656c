"""Our book's PDFs read as one print book (`make pdf` prints them from the executed notebooks).

One bibliography, listed once in the contents; running heads that follow the back
matter; no text that only makes sense on the web; no page left half empty except
before a chapter or the back matter; equation numbers clear of their formulas.
Read back with pdftotext and from the pages rendered as images (tests/pdf_text.py).
"""

from __future__ import annotations

import re

import pytest
from executed import CONFIG, TABS
from pdf_text import (
    all_text,
    body_text,
    contents,
    lines,
    overlapping_equation_numbers,
    page_count,
    running_head,
    short_pages,
)

from tabbook.artifacts import pdf_path

# What the web edition says about its tabs, which a printed edition of one framework does not have.
WEB_ONLY = re.compile(r"with the tabs|tabs above|the tabs? (?:bar|at the top)", re.I)


def printed(tab: str):
    pdf = pdf_path(CONFIG, tab)
    if not pdf.exists():
        pytest.fail(f"{pdf} is missing: run make pdf first")
    return pdf


@pytest.mark.parametrize("tab", TABS)
def test_one_bibliography_listed_once_and_headed_as_itself(tab):
    pdf = printed(tab)
    toc = contents(pdf)
    assert [entry for entry in toc if not entry[0].isdigit()] == ["References"]
    assert "Bibliography" not in all_text(pdf)
    first = toc["References"]
    assert lines(body_text(pdf, first))[0] == "References"
    heads = [" ".join(lines(running_head(pdf, page))) for page in range(first, page_count(pdf) + 1)]
    assert heads == ["References"] * len(heads)


@pytest.mark.parametrize("tab", TABS)
def test_no_page_is_left_half_empty_but_before_a_chapter(tab):
    pdf = printed(tab)
    starts = {page for title, page in contents(pdf).items() if not re.match(r"\d+\.\d", title)}
    assert [page for page in short_pages(pdf) if page + 1 not in starts] == []


@pytest.mark.parametrize("tab", TABS)
def test_equation_numbers_stand_clear_of_their_formulas(tab):
    pdf = printed(tab)
    assert overlapping_equation_numbers(pdf) == []


@pytest.mark.parametrize("tab", TABS)
def test_no_printed_sentence_sends_the_reader_to_the_tabs(tab):
    """Text for the web only is marked <span class="web-only"> in the source (README, "PDF and slides").
    (The title page's note on this edition names the web edition's tabs on purpose.)"""
    pdf = printed(tab)
    found = [(page, line) for page in range(2, page_count(pdf) + 1) for line in lines(body_text(pdf, page)) if WEB_ONLY.search(line)]
    assert found == [], "mark these as web-only text in their source"
