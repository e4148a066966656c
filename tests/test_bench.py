"""The converter benchmark: its chapters use the whole dialect, and the command prints the figure."""

from __future__ import annotations

import random
import re

from conftest import REPO

from tabbook.bench import TABS, bench_config, chapter_text, write_chapters
from tabbook.library import saved_blocks
from tabbook.parse import CODE, TAB_TEXT, read_document


def test_generated_chapters_use_the_dialect(tmp_path):
    text = chapter_text(7, random.Random(1))
    assert 250 <= text.count("\n") <= 500  # about a d2l.ai section
    path = write_chapters(tmp_path, 2)[1]
    doc = read_document(bench_config(tmp_path), path)
    assert doc.notebook_tabs() == list(TABS)
    assert {cell.kind for cell in doc.cells} >= {CODE, TAB_TEXT}
    assert any(not cell.same_in_all_tabs for cell in doc.cells)  # tab.selected branches
    assert {label.kind for label in doc.labels.values()} == {"section", "figure", "table", "equation"}
    assert any(block.attach_to for block in saved_blocks(doc, "pytorch"))


def test_bench_command_prints_the_figure(tabbook):
    result = tabbook("bench", "--files", "3", "--repeat", "1", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert re.search(r"converted 3 files \(\d+ lines\) into 12 notebooks \(4 tabs\): work [\d.]+ s", result.stdout)
