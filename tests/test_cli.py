"""tabbook.cli: options parsed once, one message for each kind of mistake, no traceback for a bug."""

from __future__ import annotations

import shutil

import pytest
from conftest import FIXTURES

from tabbook import cli

BOOK = FIXTURES / "convert"


@pytest.fixture
def book(tmp_path, monkeypatch):
    root = tmp_path / "book"
    shutil.copytree(BOOK, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    return root


@pytest.mark.parametrize("command", ["run", "html"])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_one_rule_for_minus_j_in_every_command(book, capsys, command, value):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "-j", value])
    assert info.value.code == 2
    assert f"must be a whole number of at least 1, not '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run"], ["pdf"], ["slides"], ["serve", "--port", "0"]])
def test_one_message_for_an_unknown_tab_in_every_command(book, capsys, command):
    assert cli.main([*command, "--tabs", "pytorch,keras"]) == 1
    assert "unknown tab 'keras' (--tabs); the book's tabs are: pytorch, mxnet, jax, tensorflow" in capsys.readouterr().err


def test_an_empty_tab_list_is_a_clear_error(book, capsys):
    assert cli.main(["run", "--tabs", " , "]) == 1
    assert "--tabs: names no tab" in capsys.readouterr().err


def test_a_bug_of_ours_is_one_line_and_the_traceback_only_with_debug(book, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("tabbook.book.load_book", broken)
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "tabbook check: internal error (ZeroDivisionError: division by zero); please report it with the command and the input; --debug shows the traceback"
    ]
    assert cli.main(["--debug", "check"]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_root_names_the_book_from_anywhere(book, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--root", str(book)]) == 0
    assert "all resolve" in capsys.readouterr().out
