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
outside the checkout, so fresh clones and CI reuse them. On a hit the stored
outputs are attached to the new notebook's code cells, so the prose in
``_build/eval`` is always the current text.

Failures: a failing, timed-out or dead notebook stops only itself; it is still
written to ``_build/eval`` (with its error shown in the failing cell, so the
HTML shows it) but never enters the store, so the next run executes it again.
Ctrl-C (or SIGTERM) interrupts the running kernels, shuts them down, writes
the summary and leaves no notebook of the interrupted run behind: only
complete, successful executions are ever stored, and every file is written
atomically.

Speed: up to ``-j`` kernels run at once, each with its share of the cores for
its numeric libraries' thread pools. An unchanged rerun only converts the
chapters and compares stamps (``_build/eval/stamps.json``): no kernel, no
store read, no file rewritten.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.config import BookConfig, load_config
from tabbook.envs import cache_dir, requirements_hash
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write, notebook_text, write_notebook
from tabbook.notebooks import attach_outputs

# Bump when the stored format or the meaning of a key changes: old entries are then ignored.
STORE_FORMAT = "tabbook-eval-2"  # 2: cells carry content-derived ids, and outputs travel by them

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

OK, FAILED, TIMEOUT, DEAD_KERNEL, KERNEL_ERROR, INTERRUPTED = (
    "ok",
    "failed",
    "timeout",
    "dead-kernel",
    "kernel-error",
    "interrupted",
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
        self.changed = False

    def of(self, path: Path) -> str:
        stat = path.stat()
        memo_key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if memo_key not in self.memo:
            digest = hashlib.sha256()
            with open(path, "rb") as data:
                compressed = data.read(2) == b"\x1f\x8b"
            opener = gzip.open if compressed else open
            try:
                with opener(path, "rb") as data:
                    for block in iter(lambda: data.read(1 << 20), b""):
                        digest.update(block)
            except (OSError, EOFError):  # not valid gzip: hash the bytes; d2l will reject the file
                digest = hashlib.sha256(path.read_bytes())
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


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def notebook_key(nb, tab: str, source_dir: str, kernel: str, env_hash: str, book_hash: str) -> str:
    """The content key of one notebook: everything its outputs depend on, and nothing else.

    ``source_dir`` is the notebook's working directory relative to the book
    (relative paths such as ``../data`` resolve from it); ``book_hash`` covers
    the d2l source and the data, computed once per run.
    """
    code = [[cell.source, cell.metadata.get("tabbook", {}).get("hide")] for cell in code_cells(nb)]
    payload = {
        "format": STORE_FORMAT,
        "tab": tab,
        "kernel": kernel,
        "env": env_hash,
        "book": book_hash,
        "cwd": source_dir,
        "code": code,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- store


def store_dir() -> Path:
    return cache_dir() / "eval"


def load_stored(key: str, nb):
    """The stored execution for ``key`` whose code cells match ``nb``'s, or None."""
    path = store_dir() / f"{key}.ipynb"
    try:
        from nbformat.v4 import reads  # no schema validation: we wrote and validated it ourselves

        stored = reads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    info = stored.metadata.get("tabbook_execution", {})
    stored_code = code_cells(stored)
    new_code = code_cells(nb)
    if info.get("key") != key or [(c.get("id"), c.source) for c in stored_code] != [(c.get("id"), c.source) for c in new_code]:
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
        try:
            self.entries = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}

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
            return entry.get("execution", {})
        return None

    def record(self, rel: str, stamp: str, target: Path, execution: dict) -> None:
        self.entries[rel] = {"stamp": stamp, "file": self._file_state(target), "execution": execution}

    def forget(self, rel: str) -> None:
        self.entries.pop(rel, None)

    def save(self) -> None:
        atomic_write(self.path, json.dumps(self.entries, indent=0, sort_keys=True) + "\n")


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
    (parallel kernels would interleave there); a crash report shows its end.
    """
    from nbclient import NotebookClient

    stop = stop or threading.Event()
    start = time.perf_counter()
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
        detail = [*_log_tail(log_path), f"{type(exc).__name__}: {exc}"]
        outcome = Outcome(KERNEL_ERROR, failure={"error": f"kernel '{kernel}' did not start", "traceback_tail": detail})
    finally:
        _cancel_leftover_tasks()
        if log is not None:
            log.close()
    if outcome.status == DEAD_KERNEL:
        outcome.failure["traceback_tail"] = _log_tail(log_path)
    if stop.is_set() and outcome.status != OK:
        outcome.status = INTERRUPTED
    outcome.seconds = time.perf_counter() - start
    return outcome


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
    try:
        rows = json.loads(summary_path.read_text())["notebooks"]
        return [row for row in rows if isinstance(row, dict) and "source" in row and "tab" in row]
    except (OSError, ValueError, KeyError, TypeError):
        return []


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
            kernel = config.envs[tab].kernel
            key = notebook_key(nb, tab, source_dir, kernel, env_hashes[tab], book_hashes[tab])
            # The converted notebook (prose included) and its key: what its file in _build/eval is made of.
            stamp = hashlib.sha256(json.dumps([key, nb], sort_keys=True).encode()).hexdigest()
            jobs.append(Job(path, source_rel, tab, name, nb, key, eval_dir / tab / f"{name}.ipynb", stamp))
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


def _finish(config: BookConfig, job: Job, outcome: Outcome) -> None:
    """Write one execution's result: _build/eval always (unless interrupted), the store only on success."""
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
        if outcome.status == OK:  # the store first: a crash in between only costs a re-write
            write_notebook(job.nb, store_dir() / f"{job.key}.ipynb")
        write_notebook(job.nb, job.target)
    job.row = _row(job, config, outcome.status, False, outcome.seconds, info, outcome.failure)


def _execute_all(config: BookConfig, stale: list[Job], jobs: int, say, stop: threading.Event | None = None) -> None:
    """Execute ``stale`` with up to ``jobs`` kernels at once; Ctrl-C (or setting ``stop``,
    from another thread) interrupts and shuts them down."""
    workers = max(1, min(jobs, len(stale)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = kernel_env(config, threads)
    stopped_by_caller = stop or threading.Event()
    stop = threading.Event()
    kernels: dict[int, object] = {}
    say(f"executing {len(stale)} notebook(s), {workers} at once, {threads} thread(s) each")

    def work(job: Job) -> Job:
        if stop.is_set():
            outcome = Outcome(INTERRUPTED)
        else:
            outcome = execute_notebook(
                job.nb,
                config.envs[job.tab].kernel,
                cwd=job.source.parent.resolve(),
                env=env,
                timeout=config.cell_timeout,
                tab=job.tab,
                log_path=job.log,
                stop=stop,
                on_kernel_start=lambda km: kernels.__setitem__(id(job), km),
            )
            kernels.pop(id(job), None)
        _finish(config, job, outcome)
        return job

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tabbook-run")
    futures = [pool.submit(work, job) for job in stale]
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
                row = future.result().row
                status = f"{row['seconds']:.1f} s" if row["status"] == OK else row["status"].upper()
                say(f"{status:>10}  {row['tab']:<11} {row['name']}")
    except BaseException:
        stop.set()
        for future in futures:
            future.cancel()
        _signal_kernels(kernels, signal.SIGINT)
        if wait(futures, timeout=10).not_done:
            _signal_kernels(kernels, signal.SIGKILL)
            wait(futures, timeout=30)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm if previous_sigterm is not None else signal.SIG_DFL)


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


def run_book(config: BookConfig, files=None, tabs=None, jobs=None, force=False, out=None, stop=None) -> list[dict]:
    """Bring ``_build/eval`` up to date for ``files`` x ``tabs``; return the summary rows.

    ``tabs`` picks frameworks of the book as configured: it does not change the
    default tab, so each notebook is exactly the one the whole book runs.
    ``force`` re-executes even what the store holds. Prints a line per notebook,
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
    jobs = jobs or config.jobs
    files = [Path(f) for f in files] if files else config.chapter_files()
    summary_path = config.build_dir / "eval" / "summary.json"
    previous = {(row["source"], row["tab"]): row.get("executed_seconds") or 0.0 for row in _previous_rows(summary_path)}

    def say(text):
        print(text, file=out, flush=True)

    planned = plan(config, files, tabs)
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
        elif (stored := None if force else load_stored(job.key, job.nb)) is not None:
            attach_outputs(job.nb, stored)
            write_if_changed(job.nb, job.target)
            job.row = _row(job, config, OK, True, 0.0, stored.metadata["tabbook_execution"])
        else:
            stale.append(job)
            continue
        say(f"{'cached' if has_code else 'no code':>10}  {job.tab:<11} {job.name}")
    interrupted = False
    if stale:
        # Longest first (by the last run's times; new ones count as long): the parallel run ends sooner.
        stale.sort(key=lambda job: -previous.get((job.source_rel, job.tab), float("inf")))
        try:
            _execute_all(config, stale, jobs, say, stop)
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
            execution = {
                "seconds": job.row["executed_seconds"],
                "framework": job.row["framework"],
                "framework_version": job.row["framework_version"],
            }
            stamps.record(rel, job.stamp, job.target, execution)
        else:
            stamps.forget(rel)
    stamps.save()
    seconds = time.perf_counter() - started
    write_summary(config, rows, seconds, jobs)
    report = failure_report(rows)
    if report:
        say("\n" + report)
    counts = {
        "executed": sum(
            1 for r in rows if r["executed_seconds"] is not None and not r["cached"] and r["status"] != INTERRUPTED
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


def run_command(args) -> int:
    config = load_config()
    tabs = [tab.strip() for tab in args.tabs.split(",") if tab.strip()] if args.tabs else None
    rows = run_book(config, files=args.files or None, tabs=tabs, jobs=args.jobs, force=args.force)
    return 0 if all(row["status"] == OK for row in rows) else 1
