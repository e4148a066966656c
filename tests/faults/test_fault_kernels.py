"""Kernels clean up (issue 22): when a notebook ends, everything its kernel started ends too, even
a grandchild that started a session of its own (and, where a cgroup can be made for the kernel,
one that also cleared its environment), and the kernel's private TMPDIR is removed."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from tabbook.run import KERNEL_MARK, OK, end_kernel_processes, execute_notebook, kernel_processes, make_kernel_cgroup

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


# The same, but the grandchild also starts with an empty environment: neither the kernel's session
# nor its mark finds it; only a cgroup does.
LEAVES_A_HIDDEN_PROCESS = LEAVES_PROCESSES.replace("start_new_session=True,", "start_new_session=True, env={},")
assert LEAVES_A_HIDDEN_PROCESS != LEAVES_PROCESSES


def _sleeper(**popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], **popen)


def _cgroups_can_be_made() -> bool:
    """Whether this machine lets us make cgroups (a writable cgroup mount), found without the code
    under test, so that a broken make_kernel_cgroup fails these tests rather than skipping them."""
    for mount in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids"):
        probe = Path(mount) / f"tabbook-probe-{uuid.uuid4().hex}"
        try:
            probe.mkdir()
        except OSError:
            continue
        made = (probe / "cgroup.procs").exists()
        probe.rmdir()
        if made:
            return True
    return False


needs_cgroups = pytest.mark.skipif(not _cgroups_can_be_made(), reason="this process may not make a cgroup here")


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


@needs_cgroups
def test_a_grandchild_that_also_cleared_its_environment_ends_with_the_notebook(tmp_path):
    outcome, child, grandchild, own_session, _ = _run(LEAVES_A_HIDDEN_PROCESS, tmp_path)
    try:
        assert outcome.status == OK and own_session
        assert process_gone(child) and process_gone(grandchild)
    finally:
        for pid in (child, grandchild):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


@needs_cgroups
def test_a_kernel_s_cgroup_holds_what_it_starts_and_is_removed_with_it():
    """Whatever a process in the cgroup starts is in it, in a new session and with no environment
    too; ending the kernel's processes kills them all and removes the cgroup."""
    spawner = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
               "time.sleep(300)'], start_new_session=True, env={}); print(p.pid, flush=True); time.sleep(300)")
    parent = subprocess.Popen([sys.executable, "-c", "import sys; exec(sys.stdin.readline())"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    group = make_kernel_cgroup(uuid.uuid4().hex, parent.pid)
    assert group is not None and group.name.startswith("tabbook-kernel-")
    parent.stdin.write(spawner + "\n")
    parent.stdin.flush()
    grandchild = int(parent.stdout.readline())
    try:
        assert kernel_processes(None, "no-such-mark", group) == sorted([parent.pid, grandchild])
        assert end_kernel_processes(None, "no-such-mark", cgroup=group) == 2
        parent.wait(timeout=10)
        assert process_gone(grandchild) and not group.exists()
    finally:
        for pid in (parent.pid, grandchild):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def test_finding_a_kernel_s_processes_never_takes_this_process_or_others(tmp_path):
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
