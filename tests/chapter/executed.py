"""Reading the chapter's executed notebooks (``make run`` writes them) and its prose, for the chapter tests.

``CHAPTER_EVAL_DIR`` points the tests at another folder of executed notebooks laid out like
``_build/eval`` (``<tab>/chapter_mlp/<name>.ipynb``), for instance a copy kept from an earlier forced run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from tabbook.config import load_config

CONFIG = load_config(Path(__file__).resolve().parents[2])
TABS = CONFIG.tabs
EVAL_DIR = Path(os.environ.get("CHAPTER_EVAL_DIR") or CONFIG.build_dir / "eval")
CHAPTER = CONFIG.root / "chapter_mlp"


def executed_notebook(tab: str, name: str):
    path = EVAL_DIR / tab / "chapter_mlp" / f"{name}.ipynb"
    if not path.exists():
        pytest.fail(f"{path} is missing: run make run first (it executes the chapter's notebooks)")
    return path, nbformat.read(path, as_version=4)


def executed_stdout(tab: str, name: str) -> str:
    """All text the notebook printed, in cell order; fails clearly if it was not executed."""
    path, notebook = executed_notebook(tab, name)
    pieces = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                pytest.fail(f"{path}: a cell raised {output.get('ename')}: {output.get('evalue')}")
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                pieces.append(output.get("text", ""))
    return "".join(pieces)


def prose(name: str) -> str:
    """The text of chapter_mlp/<name>.md outside its code cells, with every run of whitespace made one
    space, so that a sentence can be matched however its lines are broken."""
    text = (CHAPTER / f"{name}.md").read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", " ", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"\s+", " ", text)


def claim(name: str, pattern: str) -> tuple[str, ...]:
    """The groups of the one place in the prose of ``name`` that matches ``pattern`` (a regular expression
    over the whitespace-normalized text). Fails when the sentence is missing or ambiguous: a test that
    checks a quoted number must find the number where the reader reads it."""
    found = list(re.finditer(pattern, prose(name)))
    if len(found) != 1:
        pytest.fail(f"chapter_mlp/{name}.md: expected one sentence matching {pattern!r}, found {len(found)}")
    return found[0].groups()


def quoted_range(name: str, pattern: str) -> tuple[float, float]:
    """A range 'A to B' (or 'between A and B') that the prose quotes: the two numbers of ``pattern``'s groups."""
    low, high = (float(v.replace("−", "-")) for v in claim(name, pattern))
    assert low <= high, f"{name}: the quoted range {low} .. {high} is upside down"
    return low, high


def within(values: dict[str, float], low: float, high: float, what: str) -> None:
    """Every framework's value lies in the range the prose quotes."""
    outside = {tab: v for tab, v in values.items() if not low <= v <= high}
    assert not outside, f"{what}: the prose says {low} to {high}, but {outside} (all: {values})"
