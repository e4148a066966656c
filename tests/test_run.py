"""tabbook.run: the kernels' environment (the runs themselves are tested end to end in test_execute)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tabbook import run
from tabbook.config import load_config

FIXTURE = Path(__file__).parent / "fixtures" / "execute" / "book"


def make_book(tmp_path, monkeypatch):
    book = tmp_path / "book"
    shutil.copytree(FIXTURE, book)
    monkeypatch.chdir(book)
    return book


def test_kernel_env_puts_the_book_first_and_sizes_threads(tmp_path, monkeypatch):
    book = make_book(tmp_path, monkeypatch)
    config = load_config(book)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("D2L_DATA", "/data/fashion-mnist")
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    env = run.kernel_env(config, 1)
    assert env["PYTHONPATH"] == os.pathsep.join([str(book.resolve()), "/elsewhere"])
    assert env["D2L_DATA"] == "/data/fashion-mnist"
    assert all(env[name] == "1" for name in run.THREAD_VARIABLES)
    assert (
        env["XLA_FLAGS"].startswith("--xla_dump_to=/tmp/x ")
        and "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"]
    )
    env = run.kernel_env(config, 3)
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "3"
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"


def test_kernel_env_keeps_idle_openmp_threads_from_spinning(tmp_path, monkeypatch):
    book = make_book(tmp_path, monkeypatch)
    config = load_config(book)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert run.kernel_env(config, 1)["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a user's own choice wins
    assert run.kernel_env(config, 1)["OMP_WAIT_POLICY"] == "ACTIVE"


