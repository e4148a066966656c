"""Two clones of the book on one machine share the environments; neither changes what
the other's kernels import (make setup installs no checkout into a shared environment)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from tabbook import envs
from tabbook.config import load_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "execute" / "book"


def _clone(tmp_path: Path, name: str, answer: int) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURE, root)
    config = (root / "config.ini").read_text().replace("kernel = python3", "kernel = clonetest")
    (root / "config.ini").write_text(config + "\n[env-tool]\nrequirements = envs/pytorch.txt\n")
    (root / "d2l" / "__init__.py").write_text(f"ANSWER = {answer}\n")
    return root


def _fake_env(spec) -> None:
    """A complete environment whose Python is this one (has ipykernel), without building anything."""
    target = envs.env_dir(spec)
    (target / "bin").mkdir(parents=True, exist_ok=True)
    python = target / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (target / envs.COMPLETE_MARK).write_text("")


def _answer(cwd: Path) -> str:
    """What a kernel started by the shared kernelspec imports as d2l, from ``cwd`` (a notebook's folder)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    km, kc = start_new_kernel(kernel_name="clonetest", cwd=str(cwd), env=env)
    try:
        reply = kc.execute_interactive("import d2l; print(d2l.ANSWER)", timeout=30, output_hook=_collect)
        assert reply["content"]["status"] == "ok"
        return _collect.text.pop()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _collect(msg):
    if msg["msg_type"] == "stream":
        _collect.text.append(msg["content"]["text"].strip())


_collect.text = []


def test_a_second_clones_setup_does_not_change_what_the_first_clones_kernels_import(tmp_path, monkeypatch):
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    first, second = _clone(tmp_path, "first", 42), _clone(tmp_path, "second", 7)
    for root in (first, second):  # make setup in the first clone, then in the second
        config = load_config(root)
        for spec in config.envs.values():
            _fake_env(spec)
        envs.setup(config)
    config = load_config(first)
    monkeypatch.setenv("JUPYTER_PATH", str(envs.env_dir(config.envs["tool"]) / "share" / "jupyter"))
    assert (first / ".venv").resolve() == (second / ".venv").resolve() == envs.env_dir(config.envs["tool"])
    # The shared environments hold no checkout: each clone's kernels import their own d2l.
    assert not list(envs.env_dir(config.envs["pytorch"]).rglob("*.pth"))
    assert _answer(first / "chapter") == "42"
    assert _answer(second / "chapter") == "7"
