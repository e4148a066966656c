"""Every output file is written whole or not at all."""

import os
import stat

import nbformat
import pytest

from tabbook import fileio


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    fileio.atomic_write(target, "first")
    fileio.atomic_write(target, b"second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["out.txt"]  # no temporary file left


def test_atomic_write_gives_a_normal_file_mode(tmp_path):
    target = tmp_path / "out.txt"
    fileio.atomic_write(target, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError):
        fileio.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_notebook_refuses_an_invalid_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    good = tmp_path / "good.ipynb"
    fileio.write_notebook(nb, good)
    assert nbformat.read(good, as_version=4).cells[0].source == "1 + 1"
    assert fileio.notebook_text(nb) == good.read_text()

    nb.cells[0]["outputs"] = "not a list"
    bad = tmp_path / "bad.ipynb"
    with pytest.raises(nbformat.ValidationError):
        fileio.write_notebook(nb, bad)
    assert not bad.exists()
