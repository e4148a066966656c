"""Files the tool reads back, damaged: a clear message or a rebuild, never a traceback."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

ONE = ("--tabs", "pytorch", "chapter/two.md")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("_build/eval/stamps.json", "[]"),
        ("_build/eval/stamps.json", '{"pytorch/chapter/two.ipynb": 7}'),
        ("_build/eval/summary.json", '{"notebooks": [{"source": "chapter/one.md", "tab": "jax", "notebook": 5, "status": "ok"}]}'),
        ("_build/eval/summary.json", '{"notebooks": {"a": 1}}'),
        ("_build/eval/summary.json", "[]"),
    ],
)
def test_damaged_records_are_rebuilt(book, name, content):
    assert book.cli("run", *ONE).returncode == 0
    (book.root / name).write_text(content)
    result = book.cli("run", *ONE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads((book.eval / "summary.json").read_text())
    assert [(row["source"], row["status"]) for row in summary["notebooks"]] == [("chapter/two.md", "ok")]
    assert isinstance(json.loads((book.eval / "stamps.json").read_text()), dict)


def _run_with_data(book, data_file: bytes, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train-images-idx3-ubyte.gz").write_bytes(data_file)
    book.edit("config.ini", "jobs = 2\n", "jobs = 2\ndata = $D2L_DATA/*.gz\n")  # declared: its content is in every key
    env = {**book.env(), "D2L_DATA": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "tabbook", "run", *ONE], cwd=book.root, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_damaged_fingerprint_memo_is_rebuilt(book, tmp_path):
    book.store.mkdir(parents=True)
    (book.store / "data-fingerprints.json").write_text("[]")
    result = _run_with_data(book, gzip.compress(b"\0" * 1000), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    memo = json.loads((book.store / "data-fingerprints.json").read_text())
    assert isinstance(memo, dict) and len(memo) == 1


def test_a_corrupt_gzip_stream_in_the_data_does_not_stop_notebooks_that_never_read_it(book, tmp_path):
    good = gzip.compress(bytes(range(256)) * 400)
    result = _run_with_data(book, good[:20] + b"\xff" * 200 + good[220:], tmp_path)  # a bad deflate stream
    assert result.returncode == 0, result.stdout + result.stderr
    assert "zlib.error" not in result.stderr and "Traceback" not in result.stderr


def test_a_kernel_that_fails_to_start_is_not_counted_as_executed(book):
    book.edit("config.ini", "requirements = envs/pytorch.txt\nkernel = python3", "requirements = envs/pytorch.txt\nkernel = no-such-kernel")
    result = book.cli("run", *ONE)
    assert result.returncode == 1
    assert "KERNEL-ERROR: chapter/two.md [pytorch] before any cell: kernel 'no-such-kernel' did not start" in result.stdout
    assert "1 notebook(s): 0 executed, 0 cached, 1 failed" in result.stdout
    assert not book.entries()


def test_stale_kernel_logs_are_removed_once_the_notebook_succeeds(book):
    assert book.cli("run", *ONE).returncode == 0  # stored
    book.edit("chapter/two.md", "x = 6 * 7", "x = 6 * 7\nimport sys; sys.stderr.flush(); import os; os._exit(3)")
    assert book.cli("run", *ONE).returncode == 1
    log = book.eval / "pytorch" / "chapter" / "two.log"
    assert log.is_file()  # kept for the report of the failure
    book.edit("chapter/two.md", "\nimport sys; sys.stderr.flush(); import os; os._exit(3)", "")
    fixed = book.cli("run", *ONE)  # back to the stored version: nothing runs, the log is stale
    assert fixed.returncode == 0 and "1 cached" in fixed.stdout
    assert not log.exists()


@pytest.mark.parametrize("content", ["{}", "[]", '{"cells": [{"cell_type": "code", "source": "x"', '{"cells": [1], "metadata": {}}'])
def test_a_damaged_executed_notebook_is_named_not_a_traceback(tmp_path, content):
    from tabbook.errors import SourceError
    from tabbook.fileio import read_notebook_json

    path = tmp_path / "two.ipynb"
    path.write_text(content)
    with pytest.raises(SourceError) as err:
        read_notebook_json(path)
    assert str(err.value).startswith(f"{path}: ") and "run `python -m tabbook run` to rebuild it" in str(err.value)


@pytest.mark.parametrize("content", ["{}", '{"cells": [{"cell_type": "code", "source": "x"'])
def test_html_no_run_over_a_damaged_executed_notebook_names_it(tmp_path, content):
    import importlib.util

    from tabbook import cli
    from tabbook.errors import SourceError

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "html"
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", fixtures / "make_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.make_book(tmp_path / "book")
    damaged = config.build_dir / "eval" / "pytorch" / "chapter_demo" / "second.ipynb"
    damaged.write_text(content)
    with pytest.raises(SourceError) as err:
        cli.html(config, run=False)
    assert str(err.value).startswith(f"{damaged}: ") and "run `python -m tabbook run` to rebuild it" in str(err.value)


def test_an_executed_notebook_damaged_in_place_with_its_size_and_time_kept_is_rebuilt(book):
    """`html` said the notebook was damaged ("run `tabbook run` to rebuild it"), but `run` called it cached and left it."""
    import os

    assert book.cli("run", *ONE).returncode == 0
    target = book.eval / "pytorch" / "chapter" / "two.ipynb"
    good = target.read_bytes()
    stat = target.stat()
    target.write_bytes(b"\0" * len(good))  # same size ...
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... same time
    result = book.cli("run", *ONE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 executed, 1 cached" in result.stdout  # from the store: nothing runs again
    assert target.read_bytes() == good
