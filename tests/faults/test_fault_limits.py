"""Limits: huge outputs are cut with a note; a full disk fails cleanly and keeps the records."""

from __future__ import annotations

import errno
import json

import pytest

from tabbook import store as store_module

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_an_output_over_the_limit_is_cut_in_the_store_the_notebook_and_the_page(book):
    book.edit("config.ini", "jobs = 2", "jobs = 2\nmax_output_mb = 1")
    book.edit("chapter/two.md", "print(x)", "print(x)\nprint(('z' * 99 + '\\n') * 60_000, end='')")
    result = book.cli("run", "--tabs", "pytorch", "chapter/two.md")
    assert result.returncode == 0, result.stdout + result.stderr
    notebook = book.eval / "pytorch" / "chapter" / "two.ipynb"
    [entry] = book.entries()
    assert notebook.stat().st_size < 1.3e6 and entry.stat().st_size < 1.3e6  # 6 MB printed
    text = notebook.read_text()
    assert "[output cut: 5.0 MB more than the 1.0 MB limit ([build] max_output_mb in config.ini) was left out]" in text
    assert "42" in text


def test_the_page_cuts_outputs_of_notebooks_made_elsewhere():
    from tabbook.outputs import OutputRenderer

    html = OutputRenderer(collapse_lines=5, max_output_mb=0.01).render(
        [{"output_type": "stream", "name": "stdout", "text": "line\n" * 10_000}]
    )
    assert "output cut: 40.0 kB more than the 10.0 kB limit" in html
    assert html.count("line") < 2100


def test_disk_full_names_the_path_and_still_writes_the_records(book, monkeypatch, capsys):
    def full(self, key, nb, inputs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path(key)))

    monkeypatch.setattr(store_module.Store, "save", full)
    rows = book.run(files=["chapter/one.md", "index.md"], tabs=["pytorch"])
    out = capsys.readouterr().out
    assert "WRITE-ERROR: chapter/one.md [pytorch]" in out and "No space left on device" in out
    assert str(book.store) in out  # the path that could not be written
    assert {row.source: row.status for row in rows} == {"chapter/one.md": "write-error", "index.md": "ok"}
    summary = json.loads((book.eval / "summary.json").read_text())
    assert {row["source"]: row["status"] for row in summary["notebooks"]} == {"chapter/one.md": "write-error", "index.md": "ok"}
    stamps = json.loads((book.eval / "stamps.json").read_text())
    assert list(stamps) == ["_build/eval/pytorch/index.ipynb"]  # what finished is recorded
    assert not book.entries() and not list(book.root.rglob("*.tmp"))


def test_disk_full_for_the_records_is_a_message_not_a_traceback(book, monkeypatch, capsys):
    from tabbook import execute

    def full(config, *args):
        raise OSError(errno.ENOSPC, "No space left on device", str(config.build_dir / "eval" / "summary.json"))

    monkeypatch.setattr(execute, "write_summary", full)
    from tabbook.errors import SourceError

    with pytest.raises(SourceError) as err:
        book.run(files=["index.md"], tabs=["pytorch"])
    assert "could not write the summary" in str(err.value) and "No space left on device" in str(err.value)
    assert "summary.json" in str(err.value)
    assert (book.eval / "stamps.json").is_file()  # the stamps still went out
