"""Tests of tabbook.execute: the content cache, parallel runs and every failure path.

The fixture book (tests/fixtures/execute/book) has two tabs that both run in
the tool environment's own ``python3`` kernel, so no framework is needed and a
kernel starts in about a second. The execution store is isolated per test
through ``TABBOOK_CACHE``; a store filled once per session is copied into
tests that start from an executed book.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import process_gone

from tabbook import execute, record
from tabbook import run as run_module
from tabbook.cli import main
from tabbook.config import load_config
from tabbook.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "execute" / "book"
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # real kernels


def make_book(tmp_path: Path, monkeypatch, store: Path | None = None) -> Path:
    """A fresh copy of the fixture book, with its own (optionally pre-filled) store."""
    book = tmp_path / "book"
    shutil.copytree(FIXTURE, book)
    cache = tmp_path / "cache"
    if store is not None:
        shutil.copytree(store, cache)
    monkeypatch.setenv("TABBOOK_CACHE", str(cache))
    monkeypatch.delenv("D2L_DATA", raising=False)
    monkeypatch.chdir(book)
    return book


def run(book: Path, **kwargs) -> dict:
    """run_book on the book; returns the rows keyed by (source, tab)."""
    rows = execute.run_book(load_config(book), **kwargs)
    return {(row.source, row.tab): row for row in rows}


def executed(rows: dict) -> set:
    return {key for key, row in rows.items() if not row.cached and row.executed_seconds is not None}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def eval_notebook(book: Path, tab: str, name: str):
    return nbformat.read(book / "_build" / "eval" / tab / f"{name}.ipynb", as_version=4)


def outputs_text(nb) -> str:
    return "".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs)


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


ALL = {
    ("chapter/one.md", "pytorch"),
    ("chapter/one.md", "jax"),
    ("chapter/two.md", "pytorch"),
    ("chapter/two.md", "jax"),
}


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory):
    """The store after one cold run of the fixture book (executed once per session)."""
    tmp_path = tmp_path_factory.mktemp("filled")
    with pytest.MonkeyPatch.context() as monkeypatch:
        book = make_book(tmp_path, monkeypatch)
        rows = run(book)
    assert executed(rows) == ALL
    assert all(row.status == "ok" for row in rows.values())
    return tmp_path / "cache"


@pytest.fixture
def book(tmp_path, monkeypatch, filled_store):
    """A fresh checkout of the fixture book whose store already holds its results."""
    return make_book(tmp_path, monkeypatch, filled_store)


@pytest.fixture
def no_kernels(monkeypatch):
    """Fail the test if anything is executed."""

    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was executed")

    monkeypatch.setattr(run_module, "execute_notebook", refuse)


# ----------------------------------------------------------------------------- cold run and cache


def test_cold_run_executes_every_notebook_in_its_directory_with_the_book_on_the_path(tmp_path, monkeypatch):
    book = make_book(tmp_path, monkeypatch)
    rows = run(book)
    assert executed(rows) == ALL
    assert rows[("index.md", "pytorch")].status == "ok"  # text only: written, no kernel
    one = eval_notebook(book, "pytorch", "chapter/one")
    text = outputs_text(one)
    assert "answer 42" in text  # the book's own d2l, through PYTHONPATH
    assert "cwd chapter" in text  # cwd = the source's directory
    assert "root first on the path True" in text
    assert "pytorch 2" in text and "jax 4" not in text
    assert "jax 4" in outputs_text(eval_notebook(book, "jax", "chapter/one"))
    assert one.metadata.tabbook.source == "chapter/one.md"  # the converter's metadata is kept
    assert (book / "_build" / "eval" / "pytorch" / "index.ipynb").is_file()
    assert not list((book / "_build" / "eval").rglob("*.log"))  # kernel logs are kept only for failures
    stored = sorted(p.name for p in (tmp_path / "cache" / "eval").glob("*.ipynb"))
    assert stored == sorted(f"{row.key}.ipynb" for key, row in rows.items() if key in ALL)


def refuse(*args, **kwargs):
    raise AssertionError("called on an up-to-date book")


def test_second_run_executes_nothing_and_is_fast(book, no_kernels, monkeypatch, capsys):
    first = run(book)  # a fresh checkout: the outputs come from the store
    assert executed(first) == set() and all(first[key].cached for key in ALL)
    files = {path: path.stat().st_mtime_ns for path in (book / "_build" / "eval").rglob("*.ipynb")}
    monkeypatch.setattr(Store, "load", refuse)  # up to date: not even the store is read
    monkeypatch.setattr(record, "write_notebook", refuse)
    start = time.perf_counter()
    rows = run(book)
    seconds = time.perf_counter() - start
    assert rows == first
    assert seconds < 2
    lines = capsys.readouterr().out.splitlines()
    assert sum(1 for line in lines if line.split()[0] == "cached") == 2 * len(ALL)  # one line per notebook
    assert {path: path.stat().st_mtime_ns for path in files} == files
    assert "answer 42" in outputs_text(eval_notebook(book, "jax", "chapter/one"))


def test_a_changed_or_deleted_executed_notebook_is_restored_from_the_store(book, no_kernels):
    run(book)
    changed = book / "_build" / "eval" / "jax" / "chapter" / "one.ipynb"
    changed.write_text(changed.read_text().replace("jax 4", "jax 5"))
    deleted = book / "_build" / "eval" / "pytorch" / "chapter" / "two.ipynb"
    deleted.unlink()
    assert executed(run(book)) == set()
    assert "jax 4" in outputs_text(eval_notebook(book, "jax", "chapter/one"))
    assert "42" in outputs_text(eval_notebook(book, "pytorch", "chapter/two"))


def test_prose_edit_executes_nothing_and_shows_the_new_text(book, no_kernels):
    edit(book / "chapter" / "one.md", "Prose that the tests edit.", "Prose, edited by a test.")
    rows = run(book)
    assert executed(rows) == set()
    nb = eval_notebook(book, "pytorch", "chapter/one")
    markdown = "".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "Prose, edited by a test." in markdown
    assert "Prose that the tests edit." not in markdown
    assert "pytorch 2" in outputs_text(nb)  # the stored outputs, re-attached to the new text


def test_editing_one_cell_executes_exactly_that_notebook(book):
    edit(book / "chapter" / "one.md", 'print("jax", 2 + 2)', 'print("jax", 3 + 3)')
    rows = run(book)
    assert executed(rows) == {("chapter/one.md", "jax")}
    assert "jax 6" in outputs_text(eval_notebook(book, "jax", "chapter/one"))


def test_d2l_and_environment_changes_invalidate(book):
    edit(book / "envs" / "jax.txt", "jax", "jax==0.10.2")
    assert executed(run(book)) == {("chapter/one.md", "jax"), ("chapter/two.md", "jax")}
    edit(book / "d2l" / "__init__.py", "ANSWER = 42", "ANSWER = 43")
    rows = run(book, tabs=["pytorch"])
    assert executed(rows) == {("chapter/one.md", "pytorch"), ("chapter/two.md", "pytorch")}
    assert {tab for _, tab in rows} == {"pytorch"}  # --tabs keeps to the tabs it names
    assert "answer 43" in outputs_text(eval_notebook(book, "pytorch", "chapter/one"))


def test_one_frameworks_library_change_reruns_only_that_framework(book):
    """Saving code for JAX (d2l/_saved/jax.py, or d2l/jax.py) leaves the PyTorch notebooks cached."""
    (book / "d2l" / "_saved").mkdir()
    (book / "d2l" / "_saved" / "jax.py").write_text("SAVED = 1\n")
    assert executed(run(book)) == {("chapter/one.md", "jax"), ("chapter/two.md", "jax")}
    (book / "d2l" / "torch.py").write_text("FRAMEWORK = 'torch'\n")
    assert executed(run(book)) == {("chapter/one.md", "pytorch"), ("chapter/two.md", "pytorch")}


def test_force_executes_even_cached_notebooks(book):
    assert executed(run(book, files=[book / "chapter" / "two.md"], force=True)) == {
        ("chapter/two.md", "pytorch"),
        ("chapter/two.md", "jax"),
    }


# ----------------------------------------------------------------------------- failures


def test_failing_cell_is_reported_and_the_other_notebooks_finish(book, capsys):
    chapter = book / "chapter" / "two.md"
    edit(
        chapter,
        "x = 6 * 7\nprint(x)\n```",
        "x = 6 * 7\nprint(x)\n```\n\n```{.python .input}\nvalue = 1\nvalue / 0\n```",
    )
    bad_line = line_of(chapter, "value = 1") - 1  # the fence line
    assert main(["run", "--force"]) == 1
    out = capsys.readouterr().out
    report = out[out.index("FAILED:") :]
    assert f"chapter/two.md:{bad_line} [pytorch] cell 3 (code cell 2): ZeroDivisionError: division by zero" in report
    assert "| value = 1" in report and "| value / 0" in report
    assert "----> 2 value / 0" in report  # the traceback's last lines, without ANSI colours
    assert "\x1b[" not in report
    summary = json.loads((book / "_build" / "eval" / "summary.json").read_text())
    statuses = {(row["source"], row["tab"]): row["status"] for row in summary["notebooks"]}
    assert statuses.pop(("chapter/two.md", "pytorch")) == "failed"
    assert set(statuses.values()) == {"ok"}  # the jax notebook of the same file ran too
    failed = eval_notebook(book, "pytorch", "chapter/two")  # written, with the error for the HTML
    assert failed.cells[-1].outputs[0].output_type == "error"
    failed_key = next(r["key"] for r in summary["notebooks"] if r["status"] == "failed")
    assert not (book.parent / "cache" / "eval" / f"{failed_key}.ipynb").exists()  # never cached


def test_timeout_is_reported_as_timeout(book, capsys):
    edit(book / "config.ini", "cell_timeout = 20", "cell_timeout = 1")
    edit(book / "chapter" / "two.md", "x = 6 * 7", "import time\ntime.sleep(30)")
    start = time.perf_counter()
    rows = run(book, files=[book / "chapter" / "two.md"], tabs=["jax"])
    assert time.perf_counter() - start < 15
    row = rows[("chapter/two.md", "jax")]
    assert row.status == "timeout"
    assert (
        "TIMEOUT: chapter/two.md:5 [jax] cell 2 (code cell 1): timeout: the cell ran longer than 1 s"
        in capsys.readouterr().out
    )
    nb = eval_notebook(book, "jax", "chapter/two")
    assert nb.cells[1].outputs[-1].ename == "CellTimeoutError"


def test_dying_kernel_is_reported_not_waited_on(book, capsys):
    edit(book / "chapter" / "two.md", "x = 6 * 7", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    start = time.perf_counter()
    rows = run(book, files=[book / "chapter" / "two.md"], tabs=["pytorch"])
    assert time.perf_counter() - start < 15
    assert rows[("chapter/two.md", "pytorch")].status == "dead-kernel"
    out = capsys.readouterr().out
    assert "DEAD-KERNEL: chapter/two.md:5 [pytorch] cell 2 (code cell 1): the kernel died" in out
    assert "killed by signal 9 (SIGKILL" in out
    assert "kernel log: _build/eval/pytorch/chapter/two.log" in out  # the kernel process's own output
    assert (book / "_build" / "eval" / "pytorch" / "chapter" / "two.log").is_file()


def test_unknown_kernel_is_reported(book, capsys):
    edit(
        book / "config.ini",
        "requirements = envs/jax.txt\nkernel = python3",
        "requirements = envs/jax.txt\nkernel = no-such-kernel",
    )
    rows = run(book, files=[book / "chapter" / "two.md"])
    assert rows[("chapter/two.md", "jax")].status == "kernel-error"
    assert rows[("chapter/two.md", "pytorch")].status == "ok"
    assert "kernel 'no-such-kernel' did not start" in capsys.readouterr().out


def test_unknown_tab_and_missing_file_are_clear_errors(book, capsys):
    assert main(["run", "--tabs", "pytorch,mxnet"]) == 1
    assert "unknown tab 'mxnet' (--tabs); the book's tabs are: pytorch, jax" in capsys.readouterr().err
    assert main(["run", "chapter/three.md"]) == 1
    assert "chapter/three.md: no such file" in capsys.readouterr().err
    (book / "elsewhere.md").write_text("# Not in the book\n")
    assert main(["run", "elsewhere.md"]) == 1  # never written over the book's own notebooks
    assert "elsewhere.md: not a chapter of this book" in capsys.readouterr().err


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_shuts_kernels_down_and_stores_nothing_half_done(tmp_path, stop_signal):
    book = tmp_path / "book"
    shutil.copytree(FIXTURE, book)
    marker = tmp_path / "kernel.pid"
    edit(
        book / "chapter" / "two.md",
        "x = 6 * 7",
        f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)",
    )
    cache = tmp_path / "cache"
    env = {**os.environ, "TABBOOK_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "tabbook", "run", "--tabs", "pytorch", "chapter/two.md"],
        cwd=book,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline and process.poll() is None, "the kernel never started the cell"
        time.sleep(0.1)
    kernel_pid = int(marker.read_text())
    start = time.monotonic()
    process.send_signal(stop_signal)
    out, _ = process.communicate(timeout=30)
    assert time.monotonic() - start < 15
    assert process.returncode == 130, out
    assert "interrupted" in out
    assert process_gone(kernel_pid), "the kernel survived Ctrl-C"
    assert not list((cache / "eval").glob("*.ipynb"))  # nothing entered the store
    assert not (book / "_build" / "eval" / "pytorch" / "chapter" / "two.ipynb").exists()
    assert not list(book.rglob("*.tmp"))
    summary = json.loads((book / "_build" / "eval" / "summary.json").read_text())
    assert [row["status"] for row in summary["notebooks"]] == ["interrupted"]


# ----------------------------------------------------------------------------- summary and kernel environment


def test_summary_records_status_time_cache_and_framework_version(book, monkeypatch):
    # The test kernels are plain python3: report nbformat's version as the "framework" of the pytorch tab.
    monkeypatch.setitem(run_module.FRAMEWORK_DISTRIBUTIONS, "pytorch", ("no-such-distribution", "nbformat"))
    run(book, files=[book / "chapter" / "two.md"], tabs=["pytorch"], force=True)
    run(book, files=[book / "chapter" / "two.md"])
    summary = json.loads((book / "_build" / "eval" / "summary.json").read_text())
    rows = {row["tab"]: row for row in summary["notebooks"]}
    torch = rows["pytorch"]
    assert torch["source"] == "chapter/two.md" and torch["name"] == "chapter/two"
    assert torch["notebook"] == "_build/eval/pytorch/chapter/two.ipynb"
    assert torch["status"] == "ok" and torch["cached"] is True and torch["seconds"] < 1
    assert torch["executed_seconds"] > 0
    assert (torch["framework"], torch["framework_version"]) == ("nbformat", nbformat.__version__)
    assert rows["jax"]["framework"] is None  # no distribution named jax in the tool env
    assert rows["jax"]["cached"] is True and rows["jax"]["failure"] is None
    run(book, files=[book / "chapter" / "one.md"])  # a partial run keeps the other rows
    summary = json.loads((book / "_build" / "eval" / "summary.json").read_text())
    assert [(row["source"], row["tab"]) for row in summary["notebooks"]] == [
        ("chapter/one.md", "pytorch"),
        ("chapter/one.md", "jax"),
        ("chapter/two.md", "pytorch"),
        ("chapter/two.md", "jax"),
    ]


def test_parallel_kernels_get_their_share_of_the_cores(tmp_path, monkeypatch):
    book = make_book(tmp_path, monkeypatch)
    edit(book / "chapter" / "two.md", "print(x)", "import os\nprint('threads', os.environ['OMP_NUM_THREADS'])")
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    run(book, files=[book / "chapter" / "two.md"], jobs=2)
    assert "threads 2" in outputs_text(eval_notebook(book, "jax", "chapter/two"))
    edit(book / "chapter" / "two.md", "x = 6 * 7", "x = 7 * 6")
    run(book, files=[book / "chapter" / "two.md"], tabs=["jax"], jobs=2)  # one notebook: it gets every core
    assert "threads 4" in outputs_text(eval_notebook(book, "jax", "chapter/two"))
    edit(book / "chapter" / "two.md", "x = 7 * 6", "x = 42")
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    run(book, files=[book / "chapter" / "two.md"], jobs=2)  # more kernels than cores: one thread each, never 0
    assert "threads 1" in outputs_text(eval_notebook(book, "jax", "chapter/two"))


def test_a_kernel_that_loses_its_start_is_started_again(book, monkeypatch):
    """Kernels started side by side can race for a port ("Address already in use"): such a
    failed start is tried again, and the notebook runs; an unknown kernel is not retried."""
    import contextlib

    import nbclient

    real = nbclient.NotebookClient.setup_kernel
    starts = []

    @contextlib.contextmanager
    def flaky(self, **kwargs):
        starts.append(self.kernel_name)
        if len(starts) == 1:
            raise RuntimeError("Address already in use (addr='tcp://127.0.0.1:42133')")
        with real(self, **kwargs):
            yield

    monkeypatch.setattr(nbclient.NotebookClient, "setup_kernel", flaky)
    rows = run(book, files=[book / "chapter" / "two.md"], tabs=["pytorch"], force=True)
    assert rows[("chapter/two.md", "pytorch")].status == "ok"
    assert len(starts) == 2


def test_run_executes_nothing_when_the_book_says_eval_notebook_false(book, no_kernels, capsys):
    edit(book / "config.ini", "jobs = 2\n", "jobs = 2\neval_notebook = False\n")
    assert main(["run", "--force"]) == 0
    assert "eval_notebook = False: nothing is executed" in capsys.readouterr().out
    assert not (book / "_build" / "eval" / "summary.json").exists()
