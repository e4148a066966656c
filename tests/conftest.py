"""Shared test helpers: where things are, and running ``python -m tabbook``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def run_tabbook(*args, cwd, timeout=120) -> subprocess.CompletedProcess:
    """Run ``python -m tabbook ARGS`` in ``cwd`` with this checkout's tabbook; capture output."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run(
        [sys.executable, "-m", "tabbook", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def tabbook():
    """The :func:`run_tabbook` helper, as a fixture."""
    return run_tabbook


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, through Playwright (one per test module)."""
    import playwright.sync_api as playwright_api

    from tabbook.browser import CHROMIUM, CHROMIUM_ARGS

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def process_gone(pid: int, seconds: float = 5) -> bool:
    """Whether process ``pid`` has ended (or does within ``seconds``)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
