"""tabbook.search: the index is the text a reader reads, from the parsed book (issue 20 item 4)."""

from __future__ import annotations

import json

import pytest

from tabbook.book import load_book
from tabbook.config import load_config
from tabbook.search import page_entries, search_index

CHAPTER = """# Model Selection
:label:`sec_select`

## $K$-Fold Cross-Validation

A model has variance $\\sigma^2$, so we average over $K$ folds :cite:`Stone.1974`.
See :numref:`sec_select` and `the code`.

```{.python .input}
def kfold(data, k):
    return data
```
"""


@pytest.fixture
def book(tmp_path):
    (tmp_path / "config.ini").write_text("[build]\ntabs = pytorch\n\n[html]\nbibfile = refs.bib\n")
    (tmp_path / "refs.bib").write_text("@article{Stone.1974, author = {Stone, M.}, title = {Cross-validation}, journal = {JRSS}, year = {1974}}\n")
    (tmp_path / "index.md").write_text("# Front\n\nWelcome.\n\n```toc\n:numbered:\n\nselect\nmore\n```\n")
    (tmp_path / "select.md").write_text(CHAPTER)
    (tmp_path / "more.md").write_text("# Generalization\n\nMore text.\n")
    return load_book(load_config(tmp_path))


def entries_of(book, name):
    return page_entries(book, book.page_of(book.config.root / name))


def test_math_is_indexed_as_its_letters_so_k_fold_finds_the_section(book):
    page, section = entries_of(book, "select.md")
    assert section["t"] == "1.1 K-Fold Cross-Validation" and section["u"] == "select.html#k-fold-cross-validation"
    assert page["t"] == "1 Model Selection"


def test_snippets_read_as_sentences_with_references_and_citations_as_shown(book):
    _page, section = entries_of(book, "select.md")
    assert "A model has variance σ 2, so we average over K folds (Stone, 1974)." in section["x"]
    assert "See Chapter 1 and the code." in section["x"]
    assert "def kfold(data, k):" in section["x"]  # code is searchable


def test_words_of_separate_blocks_never_run_together(book):
    (front,) = entries_of(book, "index.md")
    assert front["x"] == "Welcome."  # the toc's titles are not the front page's text


def test_the_index_is_a_script_that_cannot_end_early():
    text = search_index([{"u": "a.html", "t": "</script><script>alert(1)", "x": ""}])
    assert "</script>" not in text and text.startswith("window.TABBOOK_SEARCH = ")
    assert json.loads(text[len("window.TABBOOK_SEARCH = ") : -2])[0]["t"] == "</script><script>alert(1)"
