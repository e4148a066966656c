"""The fault suite: every way a careful user (or a hostile notebook) broke the tool.

Each test reproduces one fault and asserts the message, the exit status, and
that nothing was lost or left half-written. They use the executor's fixture
book (two tabs, both in the tool environment's ``python3`` kernel), with the
store isolated per test through ``TABBOOK_CACHE``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tabbook import execute
from tabbook.config import load_config

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "execute" / "book"


class Book:
    """A fresh copy of the fixture book with its own store; runs the tool on it."""

    def __init__(self, root: Path, cache: Path):
        self.root, self.cache = root, cache

    @property
    def store(self) -> Path:
        return self.cache / "eval"

    @property
    def eval(self) -> Path:
        return self.root / "_build" / "eval"

    def config(self):
        return load_config(self.root)

    def run(self, **kwargs) -> list[dict]:
        """``run_book`` in this process (the tests' monkeypatches apply)."""
        return execute.run_book(self.config(), **kwargs)

    def env(self) -> dict:
        env = dict(os.environ, TABBOOK_CACHE=str(self.cache), PYTHONPATH=str(REPO))
        env.pop("D2L_DATA", None)
        return env

    def cli(self, *args, timeout=120) -> subprocess.CompletedProcess:
        """``python -m tabbook ARGS`` in the book, as a user runs it."""
        return subprocess.run(
            [sys.executable, "-m", "tabbook", *map(str, args)],
            cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def popen(self, *args) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tabbook", *map(str, args)],
            cwd=self.root, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))

    def entries(self) -> list[Path]:
        return sorted(self.store.glob("*.ipynb"))


def make_book(tmp_path: Path, monkeypatch) -> Book:
    """A fresh copy of the fixture book under ``tmp_path`` with its own empty store."""
    root = tmp_path / "book"
    shutil.copytree(FIXTURE, root)
    cache = tmp_path / "cache"
    monkeypatch.setenv("TABBOOK_CACHE", str(cache))
    monkeypatch.delenv("D2L_DATA", raising=False)
    monkeypatch.chdir(root)
    return Book(root, cache)


@pytest.fixture
def book(tmp_path, monkeypatch) -> Book:
    return make_book(tmp_path, monkeypatch)
