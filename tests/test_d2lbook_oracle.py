"""Differential test: our notebooks against d2lbook 1.0.3's.

d2lbook, the d2l.ai books' own tool, is the oracle of the dialect's code side
(DIALECT 1 and 2). scripts/d2lbook_notebooks.py runs in the test-only
``[env-d2lbook]`` environment (built by ``make setup``) and prints, for every
notebook file of a book's config.ini and every tab, the code cells of
d2lbook's notebook, or null where d2lbook makes none. For each file we require
the same tabs to get a notebook, and each of them the same code cells with the
same sources. The books: the d2l.ai excerpt (in place, never copied),
tests/fixtures/d2lbook (the code side's corner cases), and the second corpus
of issue 19 under tests/fixtures/corpora (public d2lbook books, test data only,
see each PROVENANCE.md): d2l-en-more (d2l-en sections outside the excerpt),
d2l-zh-part (d2l-zh, four tabs with paddle) and d2lbook-docs (d2lbook's own
documentation book).

Normalizations, each of something d2lbook itself treats as cosmetic:
- ``d2lbook build`` passes every code cell through ``library.format_code``,
  which strips trailing spaces from each line and blank lines from both ends of
  the cell; both sides are compared after that same step. Its isort step and
  its alias rewriting are left out of the oracle (see the script's docstring).
- A shared cell whose every line sits in other tabs' ``tab.selected`` branches
  is an empty code cell in d2lbook's notebook and no cell in ours; d2lbook's
  empty cells are dropped before comparing.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import FIXTURES, REPO

from tabbook.config import load_config
from tabbook.envs import env_python
from tabbook.errors import SourceError
from tabbook.notebooks import notebook_dicts
from tabbook.parse import read_document

EXCERPT = REPO.parent / "shared" / "corpus" / "d2l-en-excerpt"
CORNERS = FIXTURES / "d2lbook"
CORPORA = FIXTURES / "corpora"
D2L_EN_MORE = CORPORA / "d2l-en-more"
D2L_ZH = CORPORA / "d2l-zh-part"
D2LBOOK_DOCS = CORPORA / "d2lbook-docs"
BOOKS = (EXCERPT, CORNERS, D2L_EN_MORE, D2L_ZH, D2LBOOK_DOCS)
ORACLE = REPO / "scripts" / "d2lbook_notebooks.py"

# Differences known today, by test id ("<book>/<file>"), each with its cause and
# the DIALECT rule it breaks (tests/fixtures/corpora/DIAGNOSIS.md has the
# details). Strict xfails: when a fix lands the test passes, pytest reports
# XPASS as a failure, and the entry is to be deleted.
KNOWN: dict[str, str] = {}
KNOWN_BOOKS: dict[str, str] = {}


def format_code(source: str) -> str:
    """What d2lbook's library.format_code does to whitespace."""
    return "\n".join(line.rstrip() for line in source.split("\n")).strip()


_oracle_runs: dict = {}


def d2lbook_notebooks(book):
    """The oracle's answer for ``book``, computed once per test session."""
    if book not in _oracle_runs:
        python = env_python(load_config(REPO).envs["d2lbook"])
        if not python.exists():
            pytest.fail(f"the d2lbook environment is missing ({python}); run 'make setup'")
        result = subprocess.run([str(python), str(ORACLE), str(book)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        _oracle_runs[book] = json.loads(result.stdout)
    return _oracle_runs[book]


def book_files(book):
    return sorted(path.relative_to(book).as_posix() for path in load_config(book).chapter_files()) if book.is_dir() else []


def listed_files(book):
    """The book's files, or (where our config loader refuses the book) its Markdown files one or two levels deep,
    d2lbook's ``*.md */*.md``: collecting the tests must not depend on what is being tested."""
    try:
        return book_files(book)
    except SourceError:
        paths = (path for pattern in ("*.md", "*/*.md") for path in book.glob(pattern) if path.name != "PROVENANCE.md")
        return sorted(path.relative_to(book).as_posix() for path in paths)


def cases():
    for book in BOOKS:
        if not book.is_dir():  # the excerpt lives next to the checkout, in ../shared
            continue
        for name in listed_files(book):
            test_id = f"{book.name}/{name}"
            marks = [pytest.mark.xfail(reason=KNOWN[test_id], strict=True)] if test_id in KNOWN else []
            yield pytest.param(book, name, id=test_id, marks=marks)


def book_cases():
    counts = {EXCERPT: 32, CORNERS: 7, D2L_EN_MORE: 12, D2L_ZH: 3, D2LBOOK_DOCS: 7}
    for book in BOOKS:
        marks = [pytest.mark.xfail(reason=KNOWN_BOOKS[book.name], strict=True)] if book.name in KNOWN_BOOKS else []
        yield pytest.param(book, counts[book], id=book.name, marks=marks)


@pytest.mark.parametrize("book, count", list(book_cases()))
def test_same_files_and_tabs(book, count):
    if not book.is_dir():
        pytest.skip("the d2l.ai excerpt is not next to this checkout")
    oracle = d2lbook_notebooks(book)
    assert list(load_config(book).tabs) == oracle["tabs"]
    assert book_files(book) == sorted(oracle["files"]) and len(oracle["files"]) == count


@pytest.mark.parametrize("book, name", list(cases()))
def test_same_notebooks_as_d2lbook(book, name):
    config = load_config(book)
    cells = d2lbook_notebooks(book)["files"][name]
    theirs = {tab: [code for code in map(format_code, sources) if code] for tab, sources in cells.items() if sources is not None}
    notebooks = notebook_dicts(config, read_document(config, book / name))
    ours = {tab: [format_code(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code"] for tab, nb in notebooks.items()}
    assert list(ours) == list(theirs), "a different set of tabs gets a notebook"
    for tab in ours:
        assert len(ours[tab]) == len(theirs[tab]), f"{tab}: {len(ours[tab])} code cells, d2lbook has {len(theirs[tab])}"
        for number, (mine, other) in enumerate(zip(ours[tab], theirs[tab], strict=True), 1):
            assert mine == other, f"{tab}, code cell {number}"
