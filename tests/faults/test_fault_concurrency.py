"""Two runs of the same book at once share the work: each notebook is executed once."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_two_runs_at_once_execute_each_notebook_once_and_agree(book, tmp_path):
    log = tmp_path / "executions.log"
    # Every execution appends its notebook to a log (the kernel's cwd is the chapter folder).
    for name, old in (("one", 'print("pytorch", 1 + 1)'), ("two", "print(x)")):
        rel = f"chapter/{name}.md"
        book.edit(rel, old, f"{old}\nimport time; time.sleep(1.5)\nopen({str(log)!r}, 'a').write('{name}\\n')")
    first = book.popen("run", "--tabs", "pytorch", "-j", "1")
    time.sleep(0.3)
    second = book.popen("run", "--tabs", "pytorch", "-j", "1")
    out_first, _ = first.communicate(timeout=150)
    out_second, _ = second.communicate(timeout=150)
    assert first.returncode == 0 and second.returncode == 0, out_first + out_second
    assert sorted(log.read_text().split()) == ["one", "two"]  # each executed exactly once across both runs
    assert "waiting" in out_first + out_second
    summary = json.loads((book.eval / "summary.json").read_text())
    assert [(row["source"], row["status"]) for row in summary["notebooks"]] == [
        ("chapter/one.md", "ok"),
        ("chapter/two.md", "ok"),
        ("index.md", "ok"),
    ]
    stamps = json.loads((book.eval / "stamps.json").read_text())
    assert len(stamps) == 3
    # And a third run finds everything done.
    third = book.cli("run", "--tabs", "pytorch")
    assert "0 executed" in third.stdout


def test_runs_of_different_files_at_once_keep_each_others_stamps(book):
    first = book.popen("run", "--tabs", "pytorch", "chapter/one.md")
    second = book.popen("run", "--tabs", "pytorch", "chapter/two.md")
    assert first.wait(timeout=150) == 0 and second.wait(timeout=150) == 0
    stamps = json.loads((book.eval / "stamps.json").read_text())
    assert sorted(stamps) == ["_build/eval/pytorch/chapter/one.ipynb", "_build/eval/pytorch/chapter/two.ipynb"]
