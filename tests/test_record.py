"""tabbook.record: rows, the summary a run merges into, and the failure report."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

from conftest import FIXTURES

from tabbook.config import load_config
from tabbook.record import Row, failure_report, previous_rows, write_summary

ROW = Row("chapter/one.md", "pytorch", "chapter/one", "_build/eval/pytorch/chapter/one.ipynb", "ok", False, 1.5, 1.5, "torch", "2.13.0", "k1")


def test_a_run_of_one_file_keeps_the_other_rows_whose_notebooks_exist(tmp_path):
    shutil.copytree(FIXTURES / "execute" / "book", tmp_path / "book")
    config = load_config(tmp_path / "book")
    two = replace(ROW, source="chapter/two.md", name="chapter/two", notebook="_build/eval/pytorch/chapter/two.ipynb")
    gone = replace(ROW, source="chapter/gone.md", notebook="_build/eval/pytorch/chapter/gone.ipynb")
    (config.root / two.notebook).parent.mkdir(parents=True)
    (config.root / two.notebook).write_text("{}")
    write_summary(config, [two, gone, replace(ROW, tab="jax")], 3.0, 2)
    path = write_summary(config, [replace(ROW, status="failed")], 1.0, 2)
    rows = json.loads(path.read_text())["notebooks"]
    assert [(row["source"], row["tab"], row["status"]) for row in rows] == [
        ("chapter/one.md", "pytorch", "failed"),  # this run's row
        ("chapter/two.md", "pytorch", "ok"),  # kept: its notebook exists
    ]  # gone.md's and one.md's jax rows: their notebooks do not exist
    assert previous_rows(path) == rows


def test_the_failure_report_names_file_line_tab_cell_and_the_end_of_the_traceback():
    failure = {"cell": 3, "code_cell": 2, "line": 12, "source_head": ["value = 1", "value / 0"], "error": "ZeroDivisionError: division by zero", "traceback_tail": ["----> 2 value / 0"]}
    report = failure_report([ROW, replace(ROW, status="failed", failure=failure)])
    assert report.splitlines()[:5] == [
        "FAILED: chapter/one.md:12 [pytorch] cell 3 (code cell 2): ZeroDivisionError: division by zero",
        "    | value = 1",
        "    | value / 0",
        "  last lines of the traceback:",
        "    ----> 2 value / 0",
    ]
    assert failure_report([ROW]) == ""


def test_a_row_says_how_its_run_shows_it():
    assert ROW.line() == "     1.5 s  pytorch     chapter/one"
    assert replace(ROW, cached=True).line().strip().startswith("cached")
    assert replace(ROW, status="timeout").failed and not replace(ROW, status="interrupted").failed
