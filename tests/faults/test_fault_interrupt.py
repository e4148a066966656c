"""Interrupts: nothing from an interrupted run is kept, and a second Ctrl-C does not wait."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def _start(book, tmp_path, cell: str):
    """Run chapter/two.md with ``cell`` in place of its code; return the process once the cell runs."""
    marker = tmp_path / "kernel.pid"
    book.edit("chapter/two.md", "x = 6 * 7\nprint(x)", f"import os\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\n{cell}")
    process = book.popen("run", "--tabs", "pytorch", "chapter/two.md")
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline and process.poll() is None, "the cell never started"
        time.sleep(0.1)
    time.sleep(0.5)  # let the cell reach its loop
    return process, int(marker.read_text())


def _assert_nothing_kept(book, kernel_pid):
    for _ in range(50):
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the kernel survived")
    assert not book.entries()  # nothing entered the store
    assert not (book.eval / "pytorch" / "chapter" / "two.ipynb").exists()
    assert not list(book.root.rglob("*.tmp")) and not list(book.cache.rglob("*.tmp"))
    summary = json.loads((book.eval / "summary.json").read_text())
    assert [row["status"] for row in summary["notebooks"]] == ["interrupted"]


IGNORES_SIGINT = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"


def test_a_cell_that_ignores_ctrl_c_and_then_finishes_is_not_kept(book, tmp_path):
    process, kernel_pid = _start(book, tmp_path, IGNORES_SIGINT + "time.sleep(4)\nprint('finished anyway')")
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, out
    assert "interrupted" in out
    _assert_nothing_kept(book, kernel_pid)


@pytest.mark.parametrize(
    ("cell", "second"),
    [
        (IGNORES_SIGINT + "time.sleep(60)", signal.SIGINT),
        (IGNORES_SIGINT + "while True:\n    pass", signal.SIGTERM),
    ],
    ids=["sleep-then-ctrl-c", "busy-loop-then-sigterm"],
)
def test_a_second_interrupt_kills_the_kernels_at_once(book, tmp_path, cell, second):
    process, kernel_pid = _start(book, tmp_path, cell)
    process.send_signal(signal.SIGINT)
    time.sleep(1)
    start = time.monotonic()
    process.send_signal(second)
    out, _ = process.communicate(timeout=60)
    assert time.monotonic() - start < 6, "it waited for the kernel after the second interrupt"
    assert process.returncode == 130, out
    assert "killing the kernels" in out
    _assert_nothing_kept(book, kernel_pid)
