"""Kernels clean up (issue 22): when a notebook ends, everything its kernel started ends too, even
a grandchild that started a session of its own, and the kernel's private TMPDIR is removed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from tabbook.run import KERNEL_MARK, OK, execute_notebook, kernel_processes

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import process_gone  # noqa: E402

# A background child in the kernel's session; a grandchild whose parent made it a session
# leader and then ended (so it belongs to init, not to the kernel); a file in TMPDIR.
LEAVES_PROCESSES = """\
import os, subprocess, sys, tempfile
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
spawner = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
grandchild = int(subprocess.run([sys.executable, "-c", spawner], capture_output=True, text=True).stdout)
with open(os.path.join(tempfile.gettempdir(), "scratch.txt"), "w") as scratch:
    scratch.write("left behind")
print(child.pid, grandchild, os.getsid(grandchild) != os.getsid(0), tempfile.gettempdir())
"""


def _run(source: str, tmp_path: Path, fail: bool = False):
    cells = [nbformat.v4.new_code_cell(source)]
    if fail:
        cells.append(nbformat.v4.new_code_cell("raise RuntimeError('the notebook fails')"))
    nb = nbformat.v4.new_notebook(cells=cells)
    outcome = execute_notebook(nb, "python3", cwd=tmp_path, env=dict(os.environ), timeout=60, tab="pytorch", log_path=tmp_path / "kernel.log")
    child, grandchild, own_session, tmpdir = nb.cells[0].outputs[0]["text"].split()
    return outcome, int(child), int(grandchild), own_session == "True", Path(tmpdir)


@pytest.mark.parametrize("fail", [False, True], ids=["ok", "failed"])
def test_a_kernel_s_children_and_grandchildren_in_their_own_session_end_with_its_notebook(tmp_path, fail):
    outcome, child, grandchild, own_session, tmpdir = _run(LEAVES_PROCESSES, tmp_path, fail)
    assert (outcome.status == OK) != fail
    assert own_session  # the grandchild had left the kernel's session
    assert process_gone(child) and process_gone(grandchild)
    # ... and the kernel's private temporary folder is gone with them.
    assert tmpdir.name.startswith("tabbook-kernel-") and tmpdir != Path("/tmp") and not tmpdir.exists()


def test_finding_a_kernel_s_processes_never_takes_this_process_or_others(tmp_path):
    import subprocess
    import uuid

    mark = uuid.uuid4().hex
    marked = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, KERNEL_MARK: mark}, start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        found = kernel_processes(None, mark)
        assert found == [marked.pid]
        assert kernel_processes(os.getsid(other.pid), "no-such-mark") == [other.pid]
    finally:
        for process in (marked, other):
            process.kill()
            process.wait()
