"""No stderr block in what the book publishes, unless the book means it (issue 20, "quiet kernels").

Framework start-up noise (TensorFlow's absl and oneDNN notices) is silenced where
the kernels start and dropped where runs are recorded (README, "Quiet kernels").
What is left on stderr is a warning of the book's own code: a reader sees it, so
the text should have meant it. Each check lists every stderr block it finds in
the pages (each framework's pane), the reader notebooks, the decks and their
notebooks (all as the HTML book publishes them) and the print documents.

A block the book shows on purpose goes into INTENDED: (glob of the file in the
site or under _build, tab or "*", a regular expression its text matches), with a
comment saying why.
"""

from __future__ import annotations

import pytest
from executed import CONFIG, TABS
from quiet_outputs import file_stderr, unintended

from tabbook.artifacts import pdf_path
from tabbook.book import load_book
from tabbook.render import Site

BOOK = load_book(CONFIG)
# No stderr output is intended in this book.
INTENDED: tuple[tuple[str, str, str], ...] = ()


@pytest.fixture(scope="module")
def site_files():
    site = Site(CONFIG, BOOK, from_cache=True)
    files = site.render()
    assert site.unexecuted == [], "run make run first"
    return files


def report(blocks) -> str:
    return f"{len(blocks)} stderr block(s) nobody meant:\n" + "\n".join(map(str, blocks))


def test_no_page_shows_a_stderr_block_nobody_meant(site_files):
    blocks = [block for url, data in site_files.items() if url.endswith(".html") and not url.startswith(("slides/", "pdf/")) for block in file_stderr(url, data)]
    assert unintended(blocks, INTENDED) == [], report(unintended(blocks, INTENDED))


def test_no_reader_notebook_holds_stderr_nobody_meant(site_files):
    blocks = [block for url, data in site_files.items() if url.startswith("notebooks/") and url.endswith(".ipynb") for block in file_stderr(url, data)]
    assert unintended(blocks, INTENDED) == [], report(unintended(blocks, INTENDED))


@pytest.mark.parametrize("tab", TABS)
def test_no_deck_shows_stderr_nobody_meant(site_files, tab):
    decks = {url: data for url, data in site_files.items() if url.startswith(f"slides/{tab}/") and url.endswith((".html", ".ipynb"))}
    if not decks:
        pytest.fail(f"no decks under {CONFIG.build_dir / 'slides' / tab}: run make slides first")
    blocks = [block for url, data in decks.items() for block in file_stderr(url, data, tab)]
    assert unintended(blocks, INTENDED) == [], report(unintended(blocks, INTENDED))


@pytest.mark.parametrize("tab", TABS)
def test_no_print_book_shows_stderr_nobody_meant(tab):
    document = pdf_path(CONFIG, tab).with_suffix(".html")
    if not document.exists():
        pytest.fail(f"{document} is missing: run make pdf first")
    where = document.relative_to(CONFIG.root).as_posix()
    blocks = file_stderr(where, document.read_text(encoding="utf-8"), tab)
    assert unintended(blocks, INTENDED) == [], report(unintended(blocks, INTENDED))
