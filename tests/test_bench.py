"""The benchmarks: the converter's chapters use the whole dialect and its command prints the figure; the d2l
benchmark trains the chapter's own models and its floor runs exactly an epoch's products."""

from __future__ import annotations

import ast
import random
import re
import sys

import pytest
from conftest import REPO

from tabbook.bench import TABS, bench_config, chapter_text, write_chapters
from tabbook.config import load_config
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


# ---------------------------------------------------------------- make bench-d2l (bench/d2l_bench.py)

sys.path.insert(0, str(REPO / "bench"))
import d2l_bench  # noqa: E402
from d2l_bench_shapes import epoch_gemms, gemm_flops  # noqa: E402


@pytest.mark.parametrize("tab", ["pytorch", "mxnet", "jax", "tensorflow"])
def test_house_price_benchmark_trains_the_sections_own_model(tab):
    """The d2l way of the house-price benchmark runs house-prices.md's HousePriceMLP, with the
    section's imports (no magics) and what the class uses (MXNet's AdamW), as one Python module."""
    code = d2l_bench.house_price_code(load_config(REPO), tab)
    tree = ast.parse(code)  # plain Python: no %magic left
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert "HousePriceMLP" in classes
    assert ("AdamW" in classes) == (tab == "mxnet")
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom | ast.Import)
                for alias in node.names}
    assert {"d2l", "math"} <= imported


def test_an_epochs_products_with_the_validation_rows_in_one_batch():
    """The house-price floor's shapes: 8 training batches (the last smaller), each forward and backward,
    then the validation rows in one batch larger than a training batch. (The worker checks at run
    time that the floor's operands have exactly these shapes.)"""
    gemms = epoch_gemms(train=1876, val=468, batch=256, inputs=12, hidden=16, outputs=1, val_batch=468)
    assert len(gemms) == 8 * 5 + 2
    assert gemms[35:40] == [(84, 12, 16), (84, 16, 1), (16, 84, 1), (84, 1, 16), (12, 84, 16)]
    assert gemms[-2:] == [(468, 12, 16), (468, 16, 1)]
    assert gemm_flops(gemms[-1:]) == 2 * 468 * 16
    assert len(epoch_gemms()) == 1255  # the chapter's MLP: 235 training batches x 5 + 40 validation x 2
