"""Execute the book's notebooks: ``python -m tabbook run`` (and ``make run``).

Each chapter is converted (``tabbook.notebooks.build_notebooks``) and each
framework's notebook runs with nbclient in that framework's kernel. Results go
to ``_build/eval/<tab>/<name>.ipynb`` plus ``_build/eval/summary.json``.

Why a content cache: authors fix a typo and want the page back at once, so a
notebook is re-executed only when something it depends on changed. Its key is a
hash of its code cells (sources and hide marks, not the prose), its kernel, its
environment's requirements hash, the ``d2l`` package's source and the
Fashion-MNIST files. Successful executions are stored under
``$TABBOOK_CACHE/eval/<key>.ipynb`` (default ``~/.cache/tabbook/eval``),
outside the checkout, so fresh clones and CI reuse them; ``tabbook.store``
validates each entry before it is used and holds a lock per key, so
concurrent runs execute each notebook once. On a hit the stored outputs are
attached to the new notebook's code cells, so the prose in ``_build/eval`` is
always the current text.

Failures: a failing, timed-out or dead notebook stops only itself; it is still
written to ``_build/eval`` (with its error shown in the failing cell, so the
HTML shows it) but never enters the store, so the next run executes it again.
Ctrl-C (or SIGTERM) interrupts the running kernels, shuts them down (a
second one kills them at once), writes the summary and leaves no notebook of
the interrupted run behind, even one that finished after the interrupt: only
complete, successful executions are ever stored, and every file is written
atomically. A file that cannot be written (disk full) fails its notebook with
the path; the records of what finished are still written.

Speed: up to ``-j`` kernels run at once, each with its share of the cores for
its numeric libraries' thread pools. An unchanged rerun only converts the
chapters and compares stamps (``_build/eval/stamps.json``): no kernel, no
store read, no file rewritten.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.config import BookConfig, load_config
from tabbook.envs import requirements_hash
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write, notebook_text, write_notebook
from tabbook.notebooks import attach_outputs
from tabbook.outputs import cut_outputs
from tabbook.progress import Progress
from tabbook.schedule import Lanes, Timings, is_cpu_only, parse_shard, select_shard, visible_gpus
from tabbook.store import STORE_ONLY, Store, code_cells, code_of, key_of, store_dir

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
# TensorFlow's start-up notices about CPU features would clutter every page.
KERNEL_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "TF_CPP_MIN_LOG_LEVEL": "2"}
# XLA has no thread-count setting; with one thread per kernel its Eigen pool is switched off.
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

# Fashion-MNIST as d2l reads it: file name -> SHA256 of the official (decompressed) content,
# which d2l verifies. A file that is not there yet counts as that content: d2l downloads
# exactly it (or fails), so a first run's download does not re-execute the book.
DATA_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")

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


# --------------------------------------------------------------------------- keys


def d2l_source_hash(config: BookConfig, tab: str) -> str:
    """Hash of the library source a notebook of ``tab`` can import.

    That is every ``.py`` file of the package except the other frameworks'
    modules (hand-written ``d2l/torch.py`` and generated ``d2l/_saved/torch.py``
    are both named after the tab's library file), so saving new code for one
    framework re-executes only that framework's notebooks.
    """
    package = config.root / config.library_package
    own = config.lib_files[tab].stem if tab in config.lib_files else None
    others = {path.stem for path in config.lib_files.values()} - {own}
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts or path.stem in others:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class DataFingerprints:
    """Content hashes of the data files, memoized by (path, size, mtime) in the store.

    The content (decompressed, as d2l verifies it) is hashed, not the path or
    mtime, so a copy in another place or a fresh download keeps its key; the
    memo makes that cost paid once per file, not once per run.
    """

    def __init__(self, memo_path: Path):
        self.memo_path = memo_path
        try:
            self.memo = json.loads(memo_path.read_text())
        except (OSError, ValueError):
            self.memo = {}
        if not isinstance(self.memo, dict) or not all(isinstance(v, str) for v in self.memo.values()):
            self.memo = {}  # not what we write: rebuild it
        self.changed = False

    def of(self, path: Path) -> str:
        """The file's content hash. A file that cannot be read or decompressed never stops the run:
        it gets a hash of what it is, and d2l reports the damage in the notebooks that read it."""
        try:
            stat = path.stat()
        except OSError as exc:
            return f"unreadable: {exc.strerror}"
        memo_key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if memo_key not in self.memo:
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as data:
                    compressed = data.read(2) == b"\x1f\x8b"
                opener = gzip.open if compressed else open
                with opener(path, "rb") as data:
                    for block in iter(lambda: data.read(1 << 20), b""):
                        digest.update(block)
            except (OSError, EOFError, zlib.error):  # damaged gzip: hash the bytes; d2l will reject the file
                try:
                    digest = hashlib.sha256(path.read_bytes())
                except OSError as exc:
                    return f"unreadable: {exc.strerror}"
            # The file changed (or is new): forget what was known about its older versions.
            prefix = f"{path.resolve()}|"
            self.memo = {key: value for key, value in self.memo.items() if not key.startswith(prefix)}
            self.memo[memo_key] = digest.hexdigest()
            self.changed = True
        return self.memo[memo_key]

    def save(self) -> None:
        if self.changed:
            atomic_write(self.memo_path, json.dumps(self.memo, indent=0, sort_keys=True))
            self.changed = False


def data_dirs(config: BookConfig) -> list[Path]:
    """Where the notebooks' d2l looks for Fashion-MNIST, in its order (d2l/_common.py)."""
    dirs = []
    if os.environ.get("D2L_DATA"):
        dirs += [Path(os.environ["D2L_DATA"]), Path(os.environ["D2L_DATA"]) / "fashion-mnist"]
    data = config.root / "data"  # '../data' from a chapter's directory
    return [*dirs, data, data / "fashion-mnist", data / "FashionMNIST" / "raw", SYSTEM_DATA_DIR]


def data_fingerprint(config: BookConfig, fingerprints: DataFingerprints) -> str:
    """One hash for the data the notebooks read: the content of each file d2l would pick."""
    parts = []
    dirs = data_dirs(config)
    for name, official in DATA_FILES.items():
        candidates = (folder / file for folder in dirs for file in (name, f"{name}.gz"))
        found = next((path for path in candidates if path.is_file()), None)
        parts.append(f"{name}:{fingerprints.of(found) if found else official}")
    fingerprints.save()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def key_inputs(tab: str, source_dir: str, kernel: str, env_hash: str, book_hash: str) -> dict:
    """What a notebook's outputs depend on besides its code (recorded in its store entry).

    ``source_dir`` is the notebook's working directory relative to the book
    (relative paths such as ``../data`` resolve from it); ``book_hash`` covers
    the d2l source and the data, computed once per run.
    """
    return {"tab": tab, "kernel": kernel, "env": env_hash, "book": book_hash, "cwd": source_dir}


def notebook_key(nb, tab: str, source_dir: str, kernel: str, env_hash: str, book_hash: str) -> str:
    """The content key of one notebook: everything its outputs depend on, and nothing else."""
    return key_of(code_of(nb), key_inputs(tab, source_dir, kernel, env_hash, book_hash))


def load_stored(store: Store, key: str, nb):
    """The valid stored execution for ``key`` whose code cells match ``nb``'s, or None."""
    stored = store.load(key)
    if stored is None or code_of(stored) != code_of(nb):
        return None
    return stored


def write_if_changed(nb, path: Path) -> None:
    """Write ``nb`` atomically unless the file already holds exactly this notebook."""
    try:
        if path.read_text(encoding="utf-8") == notebook_text(nb):
            return
    except OSError:
        pass
    write_notebook(nb, path)


class Stamps:
    """What each file in ``_build/eval`` was made from (``_build/eval/stamps.json``).

    An unchanged rerun must take well under 2 s: with a stamp that matches the
    converted notebook, its key and the file's size and mtime, the notebook is
    up to date, and neither the store is read nor the file rewritten.
    """

    def __init__(self, path: Path):
        self.path = path
        self.entries = self._read()
        self.changes: dict[str, dict | None] = {}

    def _read(self) -> dict:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            entries = {}
        # Anything but what we write (a hand edit, another tool) is dropped: it only costs a store read.
        items = entries.items() if isinstance(entries, dict) else []
        return {rel: entry for rel, entry in items if isinstance(entry, dict)}

    def _file_state(self, target: Path) -> list[int] | None:
        try:
            stat = target.stat()
        except OSError:
            return None
        return [stat.st_size, stat.st_mtime_ns]

    def current(self, rel: str, stamp: str, target: Path) -> dict | None:
        """The execution info recorded for ``target`` if it is still exactly what ``stamp`` makes."""
        entry = self.entries.get(rel)
        if entry and entry.get("stamp") == stamp and entry.get("file") == self._file_state(target):
            execution = entry.get("execution")
            return execution if isinstance(execution, dict) else {}
        return None

    def record(self, rel: str, stamp: str, target: Path, execution: dict) -> None:
        self.entries[rel] = self.changes[rel] = {"stamp": stamp, "file": self._file_state(target), "execution": execution}

    def forget(self, rel: str) -> None:
        self.entries.pop(rel, None)
        self.changes[rel] = None

    def save(self) -> None:
        """Write this run's changes over the file as it is now: a concurrent run's entries are kept."""
        entries = self._read()
        for rel, entry in self.changes.items():
            if entry is None:
                entries.pop(rel, None)
            else:
                entries[rel] = entry
        atomic_write(self.path, json.dumps(entries, indent=0, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- execution


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


def _execute_once(nb, kernel, cwd, env, timeout, tab, log_path, stop, on_kernel_start) -> tuple[Outcome, Exception | None]:
    """One try: (how it ended, the exception that kept the kernel from starting, if one did)."""
    from nbclient import NotebookClient

    error = None
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
    if outcome.status == DEAD_KERNEL:
        outcome.failure["traceback_tail"] = _log_tail(log_path)
    return outcome, error


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


# --------------------------------------------------------------------------- the run


@dataclass
class Job:
    """One notebook of the run: which file and tab, its key, where it goes."""

    source: Path
    source_rel: str
    tab: str
    name: str
    nb: object
    key: str
    target: Path
    stamp: str = ""
    inputs: dict = field(default_factory=dict)
    row: dict = field(default_factory=dict)

    @property
    def log(self) -> Path:
        """Where the kernel process's own output goes: next to the executed notebook."""
        return self.target.with_suffix(".log")


def _source_rel(config: BookConfig, path: Path) -> str:
    try:
        return path.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return path.name


def _previous_rows(summary_path: Path) -> list[dict]:
    """The rows of the last summary that have the shape we write; anything else is dropped."""
    try:
        rows = json.loads(summary_path.read_text())["notebooks"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(rows, list):
        return []
    return [
        row
        for row in rows
        if isinstance(row, dict)
        and all(isinstance(row.get(name), str) for name in ("source", "tab", "notebook", "status"))
        and isinstance(row.get("executed_seconds"), int | float | None)
    ]


def _row(job: Job, config: BookConfig, status: str, cached: bool, seconds: float, info: dict, failure=None) -> dict:
    return {
        "source": job.source_rel,
        "tab": job.tab,
        "name": job.name,
        "notebook": _source_rel(config, job.target),
        "status": status,
        "cached": cached,
        "seconds": round(seconds, 3),
        "executed_seconds": info.get("seconds"),
        "framework": info.get("framework"),
        "framework_version": info.get("framework_version"),
        "key": job.key,
        "failure": failure,
    }


def plan(config: BookConfig, files, tabs) -> list[Job]:
    """Convert every file and key every notebook of the selected tabs (no kernel needed)."""
    from tabbook.notebooks import build_notebooks

    eval_dir = config.build_dir / "eval"
    memo = DataFingerprints(store_dir() / "data-fingerprints.json")
    data = data_fingerprint(config, memo)
    book_hashes = {tab: hashlib.sha256(f"{d2l_source_hash(config, tab)}|{data}".encode()).hexdigest() for tab in tabs}
    env_hashes = {tab: requirements_hash(config.envs[tab]) for tab in tabs}
    jobs = []
    for path in files:
        path = Path(path)
        if not path.is_file():
            raise SourceError(path, None, "no such file")
        source_rel = _source_rel(config, path)
        source_dir = _source_rel(config, path.parent) if source_rel != path.name else "."
        name = config.notebook_name(path)
        for tab, nb in build_notebooks(config, path).items():
            if tab not in tabs:
                continue
            inputs = key_inputs(tab, source_dir, config.envs[tab].kernel, env_hashes[tab], book_hashes[tab])
            key = key_of(code_of(nb), inputs)
            # The converted notebook (prose included) and its key: what its file in _build/eval is made of.
            stamp = hashlib.sha256(json.dumps([key, nb], sort_keys=True).encode()).hexdigest()
            jobs.append(Job(path, source_rel, tab, name, nb, key, eval_dir / tab / f"{name}.ipynb", stamp, inputs))
    return jobs


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


def _finish(config: BookConfig, job: Job, outcome: Outcome, store: Store, stop: threading.Event) -> None:
    """Write one execution's result: _build/eval always (unless interrupted), the store only on success.

    A result that arrives after Ctrl-C (a cell that ignored the interrupt) is
    dropped: the run already reported the notebook as interrupted. A write
    that fails (disk full) fails only this notebook, with the path in its report.
    """
    if stop.is_set():
        outcome.status = INTERRUPTED
    info = {
        "key": job.key,
        "seconds": round(outcome.seconds, 3),
        "framework": outcome.framework,
        "framework_version": outcome.framework_version,
    }
    if outcome.status in (OK, INTERRUPTED):  # the kernel's log only matters when it failed
        job.log.unlink(missing_ok=True)
    elif job.log.is_file():
        outcome.failure["kernel_log"] = _source_rel(config, job.log)
    if outcome.status == INTERRUPTED:
        # Never leave a notebook behind that could pass for this run's result.
        job.target.unlink(missing_ok=True)
    else:
        job.nb.metadata["tabbook_execution"] = {**info, "status": outcome.status}
        cut = cut_outputs(job.nb, int(config.max_output_mb * 1e6))
        if cut:
            job.nb.metadata["tabbook_execution"]["output_bytes_cut"] = cut
        path = store.path(job.key)
        try:
            if outcome.status == OK:  # the store first: a crash in between only costs a re-write
                store.save(job.key, job.nb, job.inputs)
            path = job.target
            write_notebook(job.nb, job.target)
        except OSError as exc:
            outcome.status = WRITE_ERROR
            outcome.failure = {"error": f"could not write {path}: {exc.strerror or exc}", "traceback_tail": []}
            job.target.unlink(missing_ok=True)  # no older notebook may pass for this run's result
    job.row = _row(job, config, outcome.status, False, outcome.seconds, info, outcome.failure)


def _use_stored(config: BookConfig, job: Job, stored) -> None:
    """Give ``job`` the outputs of its valid store entry and write its notebook."""
    attach_outputs(job.nb, stored)
    # The store's own bookkeeping (key inputs, digest) stays in the store: a notebook from the
    # store is then the same file as one executed here.
    info = dict(job.nb.metadata.get("tabbook_execution", {}))
    for name in STORE_ONLY:
        info.pop(name, None)
    job.nb.metadata["tabbook_execution"] = info
    write_if_changed(job.nb, job.target)
    job.row = _row(job, config, OK, True, 0.0, stored.metadata["tabbook_execution"])


def _execute_all(
    config: BookConfig,
    stale: list[Job],
    jobs: int,
    say,
    store: Store,
    force: bool,
    expected: dict,
    jobs_given: int | None = None,
    out=None,
    stop: threading.Event | None = None,
) -> None:
    """Execute ``stale`` with up to ``jobs`` kernels at once (or one per GPU, see tabbook.schedule);
    Ctrl-C (or setting ``stop``, from another thread) interrupts and shuts them down. ``expected``: each job's expected seconds, for the time left.

    Each notebook is executed under its key's lock in the store: a concurrent
    run of the same book waits for it and then uses its result. A second
    Ctrl-C (or SIGTERM after one) kills the kernels at once.
    """
    devices = visible_gpus(config.gpus)
    needs_gpu = {id(job): bool(devices) and not is_cpu_only(job.nb, job.source_rel, config.cpu_only) for job in stale}
    lanes = Lanes(devices, list(needs_gpu.values()), jobs, jobs_given)
    threads = max(1, (os.cpu_count() or 1) // lanes.workers)
    env = kernel_env(config, threads)
    stopped_by_caller = stop or threading.Event()
    stop = threading.Event()
    kernels: dict[int, object] = {}
    say(f"executing {len(stale)} notebook(s), {lanes.describe()}, {threads} thread(s) each")
    lane_of = {id(job): lanes.uses_gpu(needs_gpu[id(job)]) for job in stale}
    progress = Progress(
        out or sys.stdout,
        {id(job): (f"{job.tab} {job.name}", expected[id(job)], lane_of[id(job)]) for job in stale},
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
                    _use_stored(config, job, stored)
                    return job
                outcome = Outcome(INTERRUPTED) if stop.is_set() else execute(job)
                kernels.pop(id(job), None)
                _finish(config, job, outcome, store, stop)
        except KeyboardInterrupt:
            _finish(config, job, Outcome(INTERRUPTED), store, stop)
        except OSError as exc:  # the lock or the kernel log could not be created (disk full, permissions)
            outcome = Outcome(WRITE_ERROR, failure={"error": f"{exc.filename or ''}: {exc.strerror or exc}", "traceback_tail": []})
            job.row = _row(job, config, WRITE_ERROR, False, 0.0, {}, outcome.failure)
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
                row = job.row
                if row["cached"]:
                    status = "cached"
                else:
                    status = f"{row['seconds']:.1f} s" if row["status"] == OK else row["status"].upper()
                line = f"{status:>10}  {row['tab']:<11} {row['name']}"
                progress.finish(id(job), line, failed=row["status"] not in (OK, INTERRUPTED))
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


@contextlib.contextmanager
def _book_lock(config: BookConfig):
    """Held while a run merges its stamps and summary rows into ``_build/eval``."""
    path = config.build_dir / "eval" / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def failure_report(rows: list[dict]) -> str:
    """Every failed notebook: where (file:line, tab, cell), its first lines, the end of its traceback."""
    lines = []
    for row in rows:
        failure = row.get("failure")
        if row["status"] in (OK, INTERRUPTED) or not failure:
            continue
        where = row["source"] + (f":{failure['line']}" if failure.get("line") else "")
        cell = (
            f"cell {failure['cell']} (code cell {failure['code_cell']})" if failure.get("cell") else "before any cell"
        )
        lines.append(f"{row['status'].upper()}: {where} [{row['tab']}] {cell}: {failure['error']}")
        lines.extend(f"    | {text}" for text in failure.get("source_head", []))
        if failure.get("traceback_tail"):
            lines.append(
                "  last lines of the traceback:" if row["status"] == FAILED else "  last lines of the kernel's log:"
            )
            lines.extend(f"    {text}" for text in failure["traceback_tail"])
        if row["status"] != WRITE_ERROR:  # a notebook that could not be written has no file to look at
            lines.append(f"  notebook: {row['notebook']}")
        if failure.get("kernel_log"):
            lines.append(f"  kernel log: {failure['kernel_log']}")
        lines.append("")
    return "\n".join(lines)


def write_summary(config: BookConfig, rows: list[dict], seconds: float, jobs: int) -> Path:
    """Write summary.json: this run's rows, plus the earlier rows of notebooks it did not touch
    (a run of one file keeps the rest of the book's record) whose notebooks still exist."""
    path = config.build_dir / "eval" / "summary.json"
    ours = {(row["source"], row["tab"]) for row in rows}
    kept = [
        row
        for row in _previous_rows(path)
        if (row["source"], row["tab"]) not in ours and (config.root / row.get("notebook", "")).is_file()
    ]
    order = {tab: number for number, tab in enumerate(config.tabs)}
    merged = sorted([*kept, *rows], key=lambda row: (row["source"], order.get(row["tab"], len(order)), row["tab"]))
    summary = {"seconds": round(seconds, 3), "jobs": jobs, "notebooks": merged}
    atomic_write(path, json.dumps(summary, indent=1) + "\n")
    return path


def run_book(
    config: BookConfig, files=None, tabs=None, jobs=None, force=False, out=None, shard=None, save_timings=False, stop=None
) -> list[dict]:
    """Bring ``_build/eval`` up to date for ``files`` x ``tabs``; return the summary rows.

    ``tabs`` picks frameworks of the book as configured: it does not change the
    default tab, so each notebook is exactly the one the whole book runs.
    ``force`` re-executes even what the store holds. ``shard`` (a
    tabbook.schedule.Shard) keeps only that shard's notebooks; ``save_timings``
    records the run's execution times in ``timings.json``. Prints a line per notebook,
    then the failure report; writes ``_build/eval/summary.json``. The HTML build
    calls it too, to run whatever is stale. Setting ``stop`` (a threading.Event)
    from another thread interrupts the run as Ctrl-C does (the live preview's shutdown).
    """
    out = out or sys.stdout
    started = time.perf_counter()
    tabs = list(tabs or config.tabs)
    unknown = [tab for tab in tabs if tab not in config.tabs]
    if unknown:
        raise SourceError(
            config.config_path, None, f"unknown tab '{unknown[0]}'; configured tabs: {', '.join(config.tabs)}"
        )
    jobs_given, jobs = jobs, jobs or config.jobs
    files = [Path(f) for f in files] if files else config.chapter_files()
    summary_path = config.build_dir / "eval" / "summary.json"
    previous = {(row["source"], row["tab"]): row.get("executed_seconds") or 0.0 for row in _previous_rows(summary_path)}

    def say(text):
        print(text, file=out, flush=True)

    store = Store(say=say)
    planned = plan(config, files, tabs)
    timings = Timings.load(config.root)
    if shard is not None:
        total = len(planned)
        planned = select_shard(planned, shard, timings, lambda job: bool(code_cells(job.nb)))
        say(f"shard {shard}: {len(planned)} of {total} notebook(s)")
    stamps = Stamps(config.build_dir / "eval" / "stamps.json")
    stale = []
    for job in planned:
        rel = _source_rel(config, job.target)
        up_to_date = None if force else stamps.current(rel, job.stamp, job.target)
        has_code = bool(code_cells(job.nb))
        if up_to_date is not None:  # the file is already this notebook with these outputs
            job.row = _row(job, config, OK, has_code, 0.0, up_to_date)
        elif not has_code:  # nothing to run: no kernel is started for it
            write_if_changed(job.nb, job.target)
            job.row = _row(job, config, OK, False, 0.0, {})
        elif (stored := None if force else load_stored(store, job.key, job.nb)) is not None:
            _use_stored(config, job, stored)
        else:
            stale.append(job)
            continue
        say(f"{'cached' if has_code else 'no code':>10}  {job.tab:<11} {job.name}")
    interrupted = False
    if stale:
        # Longest first (by the last run's times; new ones count as long): the parallel run ends sooner.
        expected = {
            id(job): previous.get((job.source_rel, job.tab)) or timings.estimate(job.source_rel, job.tab)
            for job in stale
        }
        stale.sort(key=lambda job: -previous.get((job.source_rel, job.tab), float("inf")))
        try:
            _execute_all(config, stale, jobs, say, store, force, expected, jobs_given, out, stop)
        except KeyboardInterrupt:
            interrupted = True
    rows = []
    for job in planned:
        if not job.row:  # never started, or interrupted before its result was in
            job.target.unlink(missing_ok=True)
            job.row = _row(job, config, INTERRUPTED, False, 0.0, {})
        rows.append(job.row)
        rel = _source_rel(config, job.target)
        if job.row["status"] == OK:
            job.log.unlink(missing_ok=True)  # a kernel log left by an earlier failure is stale now
            execution = {
                "seconds": job.row["executed_seconds"],
                "framework": job.row["framework"],
                "framework_version": job.row["framework_version"],
            }
            stamps.record(rel, job.stamp, job.target, execution)
        else:
            stamps.forget(rel)
    seconds = time.perf_counter() - started
    unwritten = []
    for what, write in (("stamps", stamps.save), ("summary", lambda: write_summary(config, rows, seconds, jobs))):
        try:
            with _book_lock(config):  # concurrent runs merge their records one at a time
                write()
        except OSError as exc:
            unwritten.append(f"could not write the {what} ({exc.filename or ''}): {exc.strerror or exc}")
    report = failure_report(rows)
    if report:
        say("\n" + report)
    if save_timings:
        recorded = timings.update(rows)
        timings.save()
        say(f"recorded {recorded} execution time(s) in {_source_rel(config, timings.path)}")
    counts = {
        "executed": sum(
            1
            for r in rows
            if r["executed_seconds"] is not None and not r["cached"] and r["status"] not in (INTERRUPTED, KERNEL_ERROR)
        ),
        "cached": sum(1 for r in rows if r["cached"]),
        "failed": sum(1 for r in rows if r["status"] not in (OK, INTERRUPTED)),
    }
    say(
        f"{len(rows)} notebook(s): {counts['executed']} executed, {counts['cached']} cached, "
        f"{counts['failed']} failed, in {seconds:.1f} s; summary in {_source_rel(config, summary_path)}"
    )
    if interrupted:
        raise KeyboardInterrupt
    if unwritten:
        raise SourceError(config.build_dir / "eval", None, "; ".join(unwritten) + "; free some space and run again")
    return rows


def _at_least_one(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not '{text}'")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="chapter sources to run (default: the whole book)")
    parser.add_argument("--tabs", help="comma-separated frameworks to run (default: all in config.ini)")
    parser.add_argument(
        "-j", "--jobs", type=_at_least_one, help="notebooks executed at once (default: [build] jobs in config.ini)"
    )
    parser.add_argument("--force", action="store_true", help="execute even the notebooks whose results are cached")
    parser.add_argument(
        "--shard",
        type=parse_shard,
        metavar="K/N",
        help="run only the K-th of N shards, balanced by the times in timings.json (for N machines)",
    )
    parser.add_argument(
        "--save-timings", action="store_true", help="record the notebooks' execution times in timings.json"
    )


def run_command(args) -> int:
    config = load_config()
    if not config.eval_notebook:  # d2lbook's switch: the book is published with its code unexecuted
        print(
            f"{config.config_path.name}: [build] eval_notebook = False: nothing is executed "
            "(`tabbook notebooks` writes the notebooks; `tabbook html` shows the code without outputs)"
        )
        return 0
    tabs = [tab.strip() for tab in args.tabs.split(",") if tab.strip()] if args.tabs else None
    rows = run_book(
        config,
        files=args.files or None,
        tabs=tabs,
        jobs=args.jobs,
        force=args.force,
        shard=args.shard,
        save_timings=args.save_timings,
    )
    return 0 if all(row["status"] == OK for row in rows) else 1
