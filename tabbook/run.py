"""Execution, part 2 of 3: run. Notebooks executed in their frameworks' kernels, in parallel.

Each stale notebook (``tabbook.plan``) runs with nbclient in its framework's
kernel, in the source's folder, up to ``-j`` at once (or one per GPU, see
``tabbook.schedule``), each kernel with its share of the cores for its numeric
libraries' thread pools. A failing, timed-out or dying kernel stops only its
own notebook (its :class:`Outcome` says how it ended). Ctrl-C (or SIGTERM)
interrupts the running kernels and shuts them down; a second one kills them.

Each notebook runs under its key's lock in the store, so a concurrent run of
the same book waits and then uses the other's result. What becomes of an
outcome (the store, ``_build/eval``, the summary) is ``tabbook.record``'s
business: the caller passes it in.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

from tabbook.config import BookConfig
from tabbook.plan import Job, load_stored
from tabbook.progress import Progress
from tabbook.schedule import Lanes, is_cpu_only, visible_gpus
from tabbook.store import Store, code_cells

# The distribution whose version the summary reports for each tab; the first installed one wins.
# A tab not listed here reports the distribution named like the tab, if any.
FRAMEWORK_DISTRIBUTIONS = {
    "pytorch": ("torch",),
    "mxnet": ("mxnet",),
    "jax": ("jax",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
}

# Thread-pool sizes of the numeric libraries; each kernel gets cores // (notebooks at once).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "MXNET_CPU_WORKER_NTHREADS",
)
# Defaults a user's environment may override. OpenMP threads that spin while
# waiting steal the other kernels' cores: with the default (active) policy one
# PyTorch epoch of the chapter's MLP took 6-8 s instead of 1 s on 2 shared cores.
# TensorFlow's C++ logging (CPU-feature notices, registration errors) is off from
# the start: level 3 keeps only FATAL. Two lines it writes before absl's logging is
# initialized ignore that setting (measured on TensorFlow 2.21: the absl notice and
# "oneDNN custom operations are on"); TF_ENABLE_ONEDNN_OPTS=0 would silence the
# second by changing the numerics, so config.ini drops both instead
# ([env-tensorflow] drop_stderr, tabbook.record).
KERNEL_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "TF_CPP_MIN_LOG_LEVEL": "3"}
# XLA has no thread-count setting; with one thread per kernel its Eigen pool is switched off.
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


OK, FAILED, TIMEOUT, DEAD_KERNEL, KERNEL_ERROR, INTERRUPTED, WRITE_ERROR = (
    "ok",
    "failed",
    "timeout",
    "dead-kernel",
    "kernel-error",
    "interrupted",
    "write-error",
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_VERSION_FUNCTION = """
def _tabbook_framework_version(names):
    from importlib import metadata
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return None, None
"""



@dataclass
class Outcome:
    """How one execution ended."""

    status: str
    seconds: float = 0.0
    framework: str | None = None
    framework_version: str | None = None
    failure: dict | None = None


def kernel_env(config: BookConfig, threads: int, base: dict | None = None) -> dict:
    """The kernel's environment: this checkout's d2l first on the path, and sized thread pools."""
    env = dict(os.environ if base is None else base)
    root = str(config.root.resolve())
    env["PYTHONPATH"] = os.pathsep.join([root, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else root
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    if threads == 1:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {XLA_SINGLE_THREAD}".strip()
    for name, value in KERNEL_DEFAULTS.items():
        env.setdefault(name, value)
    return env


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _failure(nb, index: int, error: str, traceback: list[str]) -> dict:
    if index < 0:  # before the first cell ran
        return {"error": error, "traceback_tail": traceback}
    cell = nb.cells[index]
    meta = cell.metadata.get("tabbook", {})
    return {
        "cell": index + 1,
        "code_cell": sum(1 for c in nb.cells[: index + 1] if c.cell_type == "code"),
        "line": meta.get("line"),
        "source_head": cell.source.splitlines()[:3],
        "error": error,
        "traceback_tail": traceback,
    }


def _traceback_tail(cell, lines: int = 8) -> list[str]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = strip_ansi("\n".join(output.get("traceback", [])))
            return [line for line in text.splitlines() if line.strip()][-lines:]
    return []


def _log_tail(path: Path | None, lines: int = 8) -> list[str]:
    """The end of the kernel's own output, without ipykernel's routine start-up warning."""
    try:
        text = strip_ansi(path.read_text(errors="replace"))
    except (OSError, AttributeError):
        return []
    kept = [line for line in text.splitlines() if line.strip() and "Kernel is running over TCP" not in line]
    return kept[-lines:]


def _exit_reason(km) -> str:
    """Why the kernel process ended: its exit status or the signal that killed it."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "exit status unknown"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = ", often out of memory" if -code == signal.SIGKILL else ""
        return f"killed by signal {-code} ({name}{hint})"
    return f"exit status {code}"


def _add_error_output(cell, ename: str, evalue: str) -> None:
    """Show in the notebook (and so in the HTML) why a cell has no result."""
    from nbformat.v4 import new_output

    cell.outputs.append(new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))


def _framework_version(client, tab: str) -> dict:
    """Ask the live kernel which framework version it runs (cheap: no new process)."""
    names = FRAMEWORK_DISTRIBUTIONS.get(tab, (tab,))
    try:
        msg_id = client.kc.execute(
            _VERSION_FUNCTION,
            silent=True,
            store_history=False,
            user_expressions={"v": f"_tabbook_framework_version({names!r})"},
        )
        reply = client.wait_for_reply(msg_id)
        value = reply["content"]["user_expressions"]["v"]["data"]["text/plain"]
        name, version = ast.literal_eval(value)
        return {"framework": name, "framework_version": version}
    except Exception:  # the version is informative only; never fail a notebook over it
        return {}


def _cancel_leftover_tasks() -> None:
    """nbclient leaves its output poller pending after a timeout or a dead kernel; end it here."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()  # the one nbclient's sync calls use in this thread
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


# A kernel that fails to start (before any cell ran) is started again this many times in all:
# kernels started side by side can lose a race for the same free port ("Address already in use").
KERNEL_START_TRIES = 3


def execute_notebook(
    nb,
    kernel: str,
    cwd: Path,
    env: dict,
    timeout: int | None,
    tab: str,
    log_path: Path | None = None,
    stop: threading.Event | None = None,
    on_kernel_start=None,
) -> Outcome:
    """Run ``nb``'s code cells in order in a fresh ``kernel``, filling in their outputs.

    Stops at the first failing cell. ``stop`` (set on Ctrl-C) ends the run between
    cells; ``on_kernel_start(km)`` lets the caller interrupt the kernel meanwhile.
    The kernel process's own stdout/stderr go to ``log_path``, not to the terminal
    (parallel kernels would interleave there); a crash report shows its end. A
    kernel that does not start is tried again (``KERNEL_START_TRIES``), unless its
    name is unknown.
    """
    from jupyter_client.kernelspec import NoSuchKernel

    stop = stop or threading.Event()
    start = time.perf_counter()
    for _attempt in range(KERNEL_START_TRIES):
        outcome, error = _execute_once(nb, kernel, cwd, env, timeout, tab, log_path, stop, on_kernel_start)
        if outcome.status != KERNEL_ERROR or isinstance(error, NoSuchKernel) or stop.is_set() or _ran_any(nb):
            break
    if stop.is_set() and outcome.status != OK:
        outcome.status = INTERRUPTED
    outcome.seconds = time.perf_counter() - start
    return outcome


def _ran_any(nb) -> bool:
    return any(cell.get("outputs") or cell.get("execution_count") for cell in code_cells(nb))


# Every process a kernel starts inherits this variable (a fresh value per kernel): its descendants
# are found by it even after they started a session of their own and their parent ended.
KERNEL_MARK = "TABBOOK_KERNEL"


def _proc_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _cgroup_bases() -> list[Path]:
    """Folders in which this process could make a cgroup of its own: under its cgroup in a cgroup-v2
    mount (first: it can kill a whole group at once), and in cgroup v1's pids hierarchy."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    paths = {}
    for line in own:  # ID:CONTROLLERS:PATH, CONTROLLERS empty for cgroup v2
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths[controller] = parts[2].lstrip("/")
    v2, v1 = [], []
    for mount in mounts:
        fields = mount.split()
        if len(fields) < 4:
            continue
        point, kind, options = fields[1], fields[2], fields[3].split(",")
        if kind == "cgroup2" and "" in paths:
            v2.append(Path(point) / paths[""])
        elif kind == "cgroup" and "pids" in options and "pids" in paths:
            v1.append(Path(point) / paths["pids"])
    return v2 + v1


def make_kernel_cgroup(mark: str, pid: int) -> Path | None:
    """A new cgroup holding process ``pid`` (a kernel just started): every process the kernel starts
    from then on is in it too, whatever session or environment it takes, so that all of them can be
    found when the notebook ends. None where this process may not make one (then the session and
    the mark are what find them)."""
    for base in _cgroup_bases():
        group = base / f"tabbook-kernel-{mark}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / "cgroup.procs").write_text(str(pid))
            return group
        except OSError:
            _remove_cgroup(group)
    return None


def _remove_cgroup(group: Path, tries: int = 20) -> None:
    """Remove a kernel's cgroup once its processes are gone (they leave it as they exit)."""
    for _ in range(tries):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def _cgroup_pids(group: Path | None) -> list[int]:
    if group is None:
        return []
    try:
        return [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def kernel_processes(session: int | None, mark: str, cgroup: Path | None = None) -> list[int]:
    """The processes of one kernel: those in its cgroup (where one was made), those in its session
    (recorded when it started), and those whose environment carries its mark (children that called
    setsid, and their children)."""
    needle = f"{KERNEL_MARK}={mark}".encode()
    mine = os.getpid()
    in_group = set(_cgroup_pids(cgroup))
    found = sorted(in_group - {mine})
    for pid in _proc_pids():
        if pid == mine or pid in in_group:
            continue
        try:
            if session is not None and os.getsid(pid) == session:
                found.append(pid)
                continue
        except OSError:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    found.append(pid)
        except OSError:  # gone, or another user's
            continue
    return found


def end_kernel_processes(session: int | None, mark: str, rounds: int = 20, cgroup: Path | None = None) -> int:
    """Kill whatever is left of a kernel whose notebook ended (SIGKILL), until nothing is, and remove
    its cgroup; return how many were killed."""
    killed: set[int] = set()
    if cgroup is not None and (cgroup / "cgroup.kill").exists():  # cgroup v2: all at once, forks included
        killed.update(_cgroup_pids(cgroup))
        try:
            (cgroup / "cgroup.kill").write_text("1")
        except OSError:
            pass
    for _ in range(rounds):
        left = kernel_processes(session, mark, cgroup)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)  # a process forking while it is killed: look again
    if cgroup is not None:
        _remove_cgroup(cgroup)
    return len(killed)


def _execute_once(nb, kernel, cwd, env, timeout, tab, log_path, stop, on_kernel_start) -> tuple[Outcome, Exception | None]:
    """One try: (how it ended, the exception that kept the kernel from starting, if one did).

    The kernel gets a private ``TMPDIR``, a mark in its environment and, where this process may
    make one, a cgroup; when the notebook ends, every process of its cgroup, of its session or
    carrying its mark is killed (a grandchild that started its own session and cleared its
    environment included) and the temporary folder is removed."""
    from nbclient import NotebookClient

    error = None
    mark = uuid.uuid4().hex
    scratch = Path(tempfile.mkdtemp(prefix="tabbook-kernel-"))
    env = {**env, KERNEL_MARK: mark, "TMPDIR": str(scratch), "TEMP": str(scratch), "TMP": str(scratch)}
    session = cgroup = None
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=timeout or None,
        allow_errors=False,
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb") if log_path is not None else None  # noqa: SIM115 - closed below
    try:
        with client.setup_kernel(cwd=str(cwd), env=env, stdout=log, stderr=log):
            session = _session_of(client.km)
            pid = _kernel_pid(client.km)
            cgroup = make_kernel_cgroup(mark, pid) if pid else None
            if on_kernel_start is not None:
                on_kernel_start(client.km)
            outcome = _run_cells(client, nb, tab, timeout, stop)
            if outcome.status != OK:  # don't wait on a busy or broken kernel: stop it now
                client.shutdown_kernel = "immediate"
    except Exception as exc:  # the kernel did not start: unknown name, or it died at start-up
        error = exc
        detail = [*_log_tail(log_path), f"{type(exc).__name__}: {exc}"]
        outcome = Outcome(KERNEL_ERROR, failure={"error": f"kernel '{kernel}' did not start", "traceback_tail": detail})
    finally:
        _cancel_leftover_tasks()
        if log is not None:
            log.close()
        end_kernel_processes(session, mark, cgroup=cgroup)
        shutil.rmtree(scratch, ignore_errors=True)
    if outcome.status == DEAD_KERNEL:
        outcome.failure["traceback_tail"] = _log_tail(log_path)
    return outcome, error


def _kernel_pid(km) -> int | None:
    return getattr(getattr(km, "provisioner", None), "pid", None)


def _session_of(km) -> int | None:
    """The session of the kernel's process (jupyter_client starts each kernel in a new one)."""
    pid = _kernel_pid(km)
    try:
        session = os.getsid(pid) if pid else None
    except OSError:
        return None
    return None if session == os.getsid(0) else session  # never our own session: only the mark then


def _run_cells(client, nb, tab: str, timeout: int | None, stop: threading.Event) -> Outcome:
    """The cells, in order, in the started kernel; the first failure ends the notebook."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    index = -1
    try:
        for index, cell in enumerate(nb.cells):
            if stop.is_set():
                return Outcome(INTERRUPTED)
            if cell.cell_type == "code":
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
    except CellTimeoutError:
        evalue = f"the cell ran longer than {timeout} s (cell_timeout in config.ini)"
        _add_error_output(nb.cells[index], "CellTimeoutError", evalue)
        return Outcome(TIMEOUT, failure=_failure(nb, index, f"timeout: {evalue}", []))
    except DeadKernelError:
        evalue = f"the kernel died while running this cell ({_exit_reason(client.km)})"
        _add_error_output(nb.cells[index], "DeadKernelError", evalue)
        return Outcome(DEAD_KERNEL, failure=_failure(nb, index, evalue, []))
    except CellExecutionError as exc:  # the error output is already in the cell
        failure = _failure(nb, index, f"{exc.ename}: {exc.evalue}", _traceback_tail(nb.cells[index]))
        return Outcome(FAILED, failure=failure, **_framework_version(client, tab))
    except Exception as exc:  # the connection to the kernel broke in some other way
        return Outcome(FAILED, failure=_failure(nb, index, f"{type(exc).__name__}: {exc}", []))
    return Outcome(OK, **_framework_version(client, tab))


def _signal_kernels(kernels: dict, sig: int) -> None:
    """Send ``sig`` to every running kernel's process group (as Jupyter's interrupt does)."""
    for km in list(kernels.values()):
        provisioner = getattr(km, "provisioner", None)
        pgid, pid = getattr(provisioner, "pgid", None), getattr(provisioner, "pid", None)
        try:
            if pgid:
                os.killpg(pgid, sig)
            elif pid:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass



def run_all(
    config: BookConfig,
    stale: list[Job],
    recorder,
    store: Store,
    jobs: int,
    say,
    force: bool = False,
    expected: dict | None = None,
    jobs_given: int | None = None,
    out=None,
    stop: threading.Event | None = None,
) -> None:
    """Execute ``stale`` with up to ``jobs`` kernels at once (or one per GPU, see tabbook.schedule);
    ``recorder`` (``tabbook.record.Recorder``) records each outcome as it comes.

    Ctrl-C (or setting ``stop``, from another thread) interrupts and shuts the
    kernels down; a second Ctrl-C (or SIGTERM after one) kills them at once.
    ``expected``: each job's expected seconds, for the time left. Each notebook
    is executed under its key's lock in the store: a concurrent run of the same
    book waits for it and then uses its result.
    """
    devices = visible_gpus(config.gpus)
    needs_gpu = {id(job): bool(devices) and not is_cpu_only(job.nb, job.source_rel, config.cpu_only) for job in stale}
    lanes = Lanes(devices, list(needs_gpu.values()), jobs, jobs_given)
    threads = max(1, (os.cpu_count() or 1) // lanes.workers)
    env = kernel_env(config, threads)
    stopped_by_caller = stop or threading.Event()
    stop = threading.Event()
    kernels: dict[int, object] = {}
    rows: dict[int, object] = {}
    say(f"executing {len(stale)} notebook(s), {lanes.describe()}, {threads} thread(s) each")
    lane_of = {id(job): lanes.uses_gpu(needs_gpu[id(job)]) for job in stale}
    expected = expected or {}
    progress = Progress(
        out or sys.stdout,
        {id(job): (f"{job.tab} {job.name}", expected.get(id(job), 0.0), lane_of[id(job)]) for job in stale},
        {True: lanes.gpu_workers, False: lanes.cpu_workers},
    )

    def execute(job: Job) -> Outcome:
        started = f"{'started':>10}  {job.tab:<11} {job.name}"
        with progress.running_while(id(job), started), lanes.device(needs_gpu[id(job)]) as device_env:
            return execute_notebook(
                job.nb,
                config.envs[job.tab].kernel,
                cwd=job.source.parent.resolve(),
                env={**env, **device_env},
                timeout=config.cell_timeout,
                tab=job.tab,
                log_path=job.log,
                stop=stop,
                on_kernel_start=lambda km: kernels.__setitem__(id(job), km),
            )

    def work(job: Job) -> Job:
        def waiting():
            say(f"{'waiting':>10}  {job.tab:<11} {job.name} (another run is executing it)")

        try:
            with store.lock(job.key, stop, on_wait=waiting):
                stored = None if force else load_stored(store, job.key, job.nb)
                if stored is not None:  # another run executed it meanwhile
                    rows[id(job)] = recorder.use_stored(job, stored)
                    return job
                outcome = Outcome(INTERRUPTED) if stop.is_set() else execute(job)
                kernels.pop(id(job), None)
                rows[id(job)] = recorder.finish(job, outcome, stop)
        except KeyboardInterrupt:
            rows[id(job)] = recorder.finish(job, Outcome(INTERRUPTED), stop)
        except OSError as exc:  # the lock or the kernel log could not be created (disk full, permissions)
            rows[id(job)] = recorder.not_written(job, f"{exc.filename or ''}: {exc.strerror or exc}")
        return job

    pools = lanes.executors()
    futures = [pools[lane_of[id(job)]].submit(work, job) for job in stale]
    # SIGTERM (a CI timeout, `kill`) stops the run like Ctrl-C, so the kernels are shut down too.
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:
        previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if stopped_by_caller.is_set():
                raise KeyboardInterrupt
            for future in done:
                job = future.result()
                row = rows[id(job)]
                progress.finish(id(job), row.line(), failed=row.failed)
    except BaseException:
        stop.set()
        for future in futures:
            future.cancel()
        _signal_kernels(kernels, signal.SIGINT)
        try:
            if wait(futures, timeout=10).not_done:
                _signal_kernels(kernels, signal.SIGKILL)
                wait(futures, timeout=30)
        except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM): no more waiting
            say("interrupted again: killing the kernels")
            _signal_kernels(kernels, signal.SIGKILL)
            wait(futures, timeout=5)
        raise
    finally:
        progress.close()
        for pool in pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm if previous_sigterm is not None else signal.SIG_DFL)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


