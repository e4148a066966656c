"""Store entries that are well-formed JSON but wrong: reported once, set aside, executed again."""

from __future__ import annotations

import json
import shutil

import pytest

from tabbook.store import content_digest

from .conftest import make_book as faults_book

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

ONE = {"files": ["chapter/two.md"], "tabs": ["pytorch"]}


@pytest.fixture(scope="module")
def executed_store(tmp_path_factory):
    """The store after one execution of chapter/two.md (pytorch): executed once for the module."""
    tmp_path = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as monkeypatch:
        book = faults_book(tmp_path, monkeypatch)
        assert [row.status for row in book.run(**ONE)] == ["ok"]
    return book.store


@pytest.fixture
def stored(book, executed_store):
    """The book with the store filled, and no _build/eval (a fresh checkout): its one entry."""
    shutil.copytree(executed_store, book.store)
    return _entry(book)


def _entry(book):
    [entry] = book.entries()
    return entry


def _code(data):
    return next(cell for cell in data["cells"] if cell["cell_type"] == "code")


def _set_output(data, value):
    _code(data)["outputs"] = [value]


WRONG = {
    "empty object": lambda data: "{}",
    "array": lambda data: "[]",
    "null": lambda data: "null",
    "truncated": lambda data: json.dumps(data)[:200],
    "output is a string": lambda data: (_set_output(data, "oops"), json.dumps(data))[1],
    "output_type bogus": lambda data: (_set_output(data, {"output_type": "bogus"}), json.dumps(data))[1],
    "tabbook_execution is a string": lambda data: (data["metadata"].update(tabbook_execution="x"), json.dumps(data))[1],
    "edited output": lambda data: (
        _code(data)["outputs"][0].update(text="43\n"),
        json.dumps(data),
    )[1],
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_wrong_entry_is_reported_once_set_aside_and_executed_again(book, stored, capsys, name):
    entry = stored
    entry.write_text(WRONG[name](json.loads(entry.read_text())))
    rows = book.run(**ONE)
    out = capsys.readouterr().out
    assert f"store: the entry {entry} is invalid" in out and "executed again" in out
    assert [row.status for row in rows] == ["ok"] and not rows[0].cached
    assert len(list((book.store / "corrupt").glob("*.ipynb"))) == 1  # kept for a look, out of the way
    assert "42" in (book.eval / "pytorch" / "chapter" / "two.ipynb").read_text()
    # The fresh entry is valid: the next run serves it without a word.
    (book.eval / "stamps.json").unlink()
    rows = book.run(**ONE)
    assert rows[0].cached and "invalid" not in capsys.readouterr().out


def test_an_entry_under_another_key_is_not_served(book, stored, capsys):
    """A forged entry: schema-valid and digest-consistent, but the result of other code."""
    entry = stored
    book.edit("chapter/two.md", "x = 6 * 7", "x = 6 * 8")
    new_key = book.run(**ONE)[0].key
    forged = book.store / f"{new_key}.ipynb"
    data = json.loads(entry.read_text())  # the old code's result, claiming the new code's key
    data["metadata"]["tabbook_execution"]["key"] = new_key
    data["metadata"]["tabbook_execution"]["digest"] = content_digest(data)
    forged.write_text(json.dumps(data))
    (book.eval / "stamps.json").unlink()
    capsys.readouterr()
    rows = book.run(**ONE)
    out = capsys.readouterr().out
    assert "invalid: its code and key inputs do not hash to its key" in out
    assert not rows[0].cached and "48" in (book.eval / "pytorch" / "chapter" / "two.ipynb").read_text()


def test_a_wrong_entry_does_not_break_html(book, stored):
    """`tabbook html` runs what is stale first: a bad entry must not stop it."""
    stored.write_text("[]")
    result = book.cli("run", "--tabs", "pytorch", "chapter/two.md")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "is invalid: not a notebook (a JSON list)" in result.stdout
