"""Reading the chapter's executed notebooks (``make run`` writes them), for the chapter tests."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tabbook.config import load_config

CONFIG = load_config(Path(__file__).resolve().parents[2])
TABS = CONFIG.tabs


def executed_stdout(tab: str, name: str) -> str:
    """All text the notebook printed, in cell order; fails clearly if it was not executed."""
    path = CONFIG.build_dir / "eval" / tab / "chapter_mlp" / f"{name}.ipynb"
    if not path.exists():
        pytest.fail(f"{path} is missing: run make run first (it executes the chapter's notebooks)")
    notebook = nbformat.read(path, as_version=4)
    pieces = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                pytest.fail(f"{path}: a cell raised {output.get('ename')}: {output.get('evalue')}")
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                pieces.append(output.get("text", ""))
    return "".join(pieces)
