"""Limits: huge outputs are cut with a note; a full disk fails cleanly and keeps the records."""

from __future__ import annotations

import errno
import json

import pytest

from tabbook import store as store_module

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_an_output_over_the_limit_is_cut_in_the_store_the_notebook_and_the_page(book):
    book.edit("config.ini", "jobs = 2", "jobs = 2\nmax_output_mb = 1")
    book.edit("chapter/two.md", "print(x)", "print(x)\nprint(('z' * 999 + '\\n') * 6_000, end='')")
    result = book.cli("run", "--tabs", "pytorch", "chapter/two.md")
    assert result.returncode == 0, result.stdout + result.stderr
    notebook = book.eval / "pytorch" / "chapter" / "two.ipynb"
    [entry] = book.entries()
    assert notebook.stat().st_size < 1.3e6 and entry.stat().st_size < 1.3e6  # 6 MB printed
    text = notebook.read_text()
    assert "[output cut: 5.0 MB more than the 1.0 MB limit ([build] max_output_mb in config.ini) was left out]" in text
    assert "42" in text


def test_a_long_log_in_pieces_and_a_notebook_over_its_budget_are_cut_where_they_are_recorded(book):
    """A 200,000-line log arrived as 16 stream outputs, none cut; 40 outputs of 3.9 MB made a 156 MB entry."""
    book.edit("config.ini", "jobs = 2", "jobs = 2\nmax_notebook_output_mb = 1")
    log = (
        "import sys, time\n"
        "for piece in range(16):\n"
        "    sys.stdout.write(''.join(f'step {i}\\n' for i in range(piece * 12_500, (piece + 1) * 12_500)))\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(0.3)\n"
    )
    big = "\n\n```{.python .input}\n%%tab pytorch, jax\nprint('b' * 400_000)\n```\n" * 4
    book.edit("chapter/two.md", "print(x)\n```\n", f"print(x)\n```\n\n```{{.python .input}}\n%%tab pytorch, jax\n{log}```\n{big}")
    result = book.cli("run", "--tabs", "pytorch", "chapter/two.md")
    assert result.returncode == 0, result.stdout + result.stderr
    nb = json.loads((book.eval / "pytorch" / "chapter" / "two.ipynb").read_text())
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    [log_output] = code[1]["outputs"]
    lines = "".join(log_output["text"]).splitlines()
    assert len(lines) == 10_001 and lines[0] == "step 0" and lines[-1] == "step 199999"
    assert "190,000 lines" in lines[5_000]
    # 1.6 MB printed by the four cells after the log; the budget keeps 1 MB in all, and says so.
    assert (book.eval / "pytorch" / "chapter" / "two.ipynb").stat().st_size < 1.2e6
    assert "max_notebook_output_mb" in "".join("".join(output.get("text", "")) for cell in code[2:] for output in cell["outputs"])
    [entry] = book.entries()
    assert entry.stat().st_size < 1.2e6


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
