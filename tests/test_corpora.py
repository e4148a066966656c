"""The test corpora of issue 19 (tests/fixtures/corpora): what holds today, and
d2l-neu's own notebook generator as the oracle of that dialect.

The corpora are public book sources, test data only (each PROVENANCE.md says
where every file comes from). tests/test_d2lbook_oracle.py compares the
d2lbook books among them with d2lbook 1.0.3; this file checks the rest:

- every corpus file of a book whose config.ini loads is read without error;
- every corpus says where its files come from, and the corpora stay small;
- d2l-neu: our notebooks against ``expected_notebooks.json``, the output of
  d2l-neu's own ``tools/gen_notebooks.py`` on that corpus (see its
  PROVENANCE.md). Known differences are strict xfails in ``NEU_KNOWN``, so a
  fix shows up as XPASS and its entry is to be deleted.

Normalizations of the d2l-neu comparison, each of something cosmetic: code is
compared after format_code (trailing spaces, blank lines at both ends, as in
the d2lbook oracle), and with ``#@save`` markers removed on both sides (their
generator removes them from notebook code, d2lbook keeps them).
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import FIXTURES

from tabbook.config import load_config
from tabbook.errors import SourceError
from tabbook.notebooks import notebook_dicts
from tabbook.parse import read_document

CORPORA = FIXTURES / "corpora"
NAMES = ("d2l-en-more", "d2l-zh-part", "d2lbook-docs", "d2l-neu")
NEU = CORPORA / "d2l-neu"

# The books whose config.ini our loader refuses today (DIAGNOSIS.md, cause 5).
REFUSED: dict[str, str] = {}  # books a config.ini problem stops (none: an unknown key is a warning, as in d2lbook)

NEU_KNOWN: dict[str, str] = {}  # every file now matches d2l-neu's own generator


def markdown_files(book):
    return sorted(path for pattern in ("*.md", "*/*.md") for path in book.glob(pattern) if path.name != "PROVENANCE.md")


@pytest.mark.parametrize("name", NAMES)
def test_corpus_has_provenance(name):
    text = (CORPORA / name / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "Test data only" in text or "test data only" in text
    for path in markdown_files(CORPORA / name):
        rel = path.relative_to(CORPORA / name).as_posix()
        assert rel in text or path.name == "index.md", f"{name}/PROVENANCE.md does not say where {rel} comes from"


def test_corpora_stay_small():
    total = sum(path.stat().st_size for path in CORPORA.rglob("*") if path.is_file())
    assert total < 3 * 1024 * 1024, f"tests/fixtures/corpora holds {total} bytes"


def read_cases():
    for name in NAMES:
        for path in markdown_files(CORPORA / name):
            marks = (
                [pytest.mark.xfail(reason=REFUSED[name], strict=True, raises=SourceError)] if name in REFUSED else []
            )
            yield pytest.param(
                CORPORA / name, path, id=f"{name}/{path.relative_to(CORPORA / name).as_posix()}", marks=marks
            )


@pytest.mark.parametrize("book, path", list(read_cases()))
def test_every_corpus_file_is_read(book, path):
    config = load_config(book)
    document = read_document(config, path)
    assert notebook_dicts(config, document) is not None


def _code(source: str) -> str:
    source = re.sub(r"\s*#@save\b", "", source)
    return "\n".join(line.rstrip() for line in source.split("\n")).strip()


EXPECTED = json.loads((NEU / "expected_notebooks.json").read_text(encoding="utf-8"))


def test_expected_notebooks_cover_the_corpus():
    assert EXPECTED["frameworks"] == ["pytorch", "tensorflow", "jax", "mxnet"]
    names = sorted(path.relative_to(NEU).as_posix() for path in markdown_files(NEU))
    assert sorted(EXPECTED["files"]) == names
    for per in EXPECTED["files"].values():
        assert set(per) == set(EXPECTED["frameworks"])
        assert all(cells is None or all(isinstance(cell, str) for cell in cells) for cells in per.values())


def neu_cases():
    for name in sorted(EXPECTED["files"]):
        marks = [pytest.mark.xfail(reason=NEU_KNOWN[name], strict=True)] if name in NEU_KNOWN else []
        yield pytest.param(name, id=name, marks=marks)


@pytest.mark.parametrize("name", list(neu_cases()))
def test_same_notebooks_as_d2l_neu_generator(name):
    config = load_config(NEU)
    notebooks = notebook_dicts(config, read_document(config, NEU / name))
    for framework in EXPECTED["frameworks"]:
        theirs = EXPECTED["files"][name][framework]
        ours = notebooks.get(framework)
        assert (ours is None) == (theirs is None), (
            f"{framework}: ours {'no' if ours is None else 'a'} notebook, theirs {'no' if theirs is None else 'a'} notebook"
        )
        if ours is None:
            continue
        ours_code = [
            code for code in (_code(cell["source"]) for cell in ours["cells"] if cell["cell_type"] == "code") if code
        ]
        theirs_code = [code for code in map(_code, theirs) if code]
        assert ours_code == theirs_code, (
            f"{framework}: {len(ours_code)} code cells, d2l-neu's generator {len(theirs_code)}"
        )


@pytest.mark.parametrize("name", NAMES)
def test_every_corpus_builds_its_pages_and_decks_without_an_internal_error(name, tabbook, tmp_path):
    """A corpus is part of a book (its missing chapters leave references unresolved), so --keep-going;
    whatever it holds, html and slides end in messages, never in a bug (a KeyError on a d2l-neu slide's
    figure once stopped its decks)."""
    build = tmp_path / "build"
    for command in ("html", "slides"):
        args = [command, "--keep-going", "--build-dir", build] + (["--no-run"] if command == "html" else [])
        result = tabbook(*args, cwd=CORPORA / name, timeout=600)
        assert result.returncode in (0, 1), result.stdout + result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert (build / "html" / "index.html").is_file()
