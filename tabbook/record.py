"""Execution, part 3 of 3: record. What a run did goes into the store, ``_build/eval``, its stamps and its summary.

Only complete, successful executions are stored (store first, then the
notebook in ``_build/eval``); a failed one is still written to ``_build/eval``,
with its error shown in the failing cell so the HTML shows it, but never
stored, so the next run executes it again. An interrupted notebook leaves no
file that could pass for this run's result. A file that cannot be written
(disk full) fails its notebook with the path; the records of what finished are
still written. Every write is atomic.

``summary.json`` has one :class:`Row` per notebook (``dataclasses.asdict``);
concurrent runs of one book merge their rows and stamps under a lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
from dataclasses import dataclass
from pathlib import Path

from tabbook.config import BookConfig
from tabbook.fileio import atomic_write, notebook_text, write_notebook
from tabbook.notebooks import attach_outputs
from tabbook.outputs import drop_stderr, output_limits
from tabbook.plan import Job, Stamps, source_rel
from tabbook.run import FAILED, INTERRUPTED, KERNEL_ERROR, OK, WRITE_ERROR, Outcome
from tabbook.store import STORE_ONLY, Store


@dataclass
class Row:
    """One notebook of a run, as ``summary.json`` records it."""

    source: str
    tab: str
    name: str
    notebook: str
    status: str
    cached: bool
    seconds: float  # this run's time for it
    executed_seconds: float | None  # the time of the execution its outputs come from
    framework: str | None
    framework_version: str | None
    key: str
    failure: dict | None = None

    @property
    def failed(self) -> bool:
        return self.status not in (OK, INTERRUPTED)

    @property
    def executed(self) -> bool:
        """Whether this run executed it (cached, failed-to-start and interrupted ones were not)."""
        return self.executed_seconds is not None and not self.cached and self.status not in (INTERRUPTED, KERNEL_ERROR)

    def line(self) -> str:
        """The run's line for it: ``cached``, its time or its status, then tab and name."""
        status = "cached" if self.cached else f"{self.seconds:.1f} s" if self.status == OK else self.status.upper()
        return f"{status:>10}  {self.tab:<11} {self.name}"


class Recorder:
    """Turns each job's fate into its files and its :class:`Row` (``rows``, by ``id(job)``)."""

    def __init__(self, config: BookConfig, store: Store):
        self.config = config
        self.store = store
        self.rows: dict[int, Row] = {}

    def row(self, job: Job, status: str, cached: bool, seconds: float, info: dict, failure=None) -> Row:
        row = Row(
            source=job.source_rel,
            tab=job.tab,
            name=job.name,
            notebook=source_rel(self.config, job.target),
            status=status,
            cached=cached,
            seconds=round(seconds, 3),
            executed_seconds=info.get("seconds"),
            framework=info.get("framework"),
            framework_version=info.get("framework_version"),
            key=job.key,
            failure=failure,
        )
        self.rows[id(job)] = row
        return row

    def current(self, job: Job, execution: dict) -> Row:
        """The file is already this notebook with these outputs."""
        return self.row(job, OK, job.has_code, 0.0, execution)

    def no_code(self, job: Job) -> Row:
        """Nothing to run: written as it is (no kernel is started for it)."""
        write_if_changed(job.nb, job.target)
        return self.row(job, OK, False, 0.0, {})

    def use_stored(self, job: Job, stored) -> Row:
        """Give ``job`` the outputs of its valid store entry and write its notebook."""
        attach_outputs(job.nb, stored)
        # The store's own bookkeeping (key inputs, digest) stays in the store: a notebook from the
        # store is then the same file as one executed here.
        info = dict(job.nb.metadata.get("tabbook_execution", {}))
        for name in STORE_ONLY:
            info.pop(name, None)
        job.nb.metadata["tabbook_execution"] = info
        self.drop_noise(job)
        write_if_changed(job.nb, job.target)
        return self.row(job, OK, True, 0.0, stored.metadata["tabbook_execution"])

    def drop_noise(self, job: Job) -> None:
        """The framework's start-up noise ([env-<tab>] drop_stderr) leaves the notebook ``_build/eval`` gets.

        The store keeps what the kernel wrote: a changed list applies to stored
        executions without running them again."""
        env = self.config.envs.get(job.tab)
        dropped = drop_stderr(job.nb, env.drop_stderr if env is not None else ())
        if dropped:
            job.nb.metadata["tabbook_execution"]["stderr_lines_dropped"] = dropped

    def not_written(self, job: Job, error: str) -> Row:
        """The lock or the kernel log could not be created (disk full, permissions)."""
        return self.row(job, WRITE_ERROR, False, 0.0, {}, {"error": error, "traceback_tail": []})

    def interrupted(self, job: Job) -> Row:
        """Never started, or interrupted before its result was in: no file may pass for its result."""
        job.target.unlink(missing_ok=True)
        return self.row(job, INTERRUPTED, False, 0.0, {})

    def finish(self, job: Job, outcome: Outcome, stop) -> Row:
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
            outcome.failure["kernel_log"] = source_rel(self.config, job.log)
        if outcome.status == INTERRUPTED:
            job.target.unlink(missing_ok=True)  # never leave a notebook behind that could pass for this run's result
        else:
            job.nb.metadata["tabbook_execution"] = {**info, "status": outcome.status}
            cut = output_limits(self.config)(job.nb)
            if cut:
                job.nb.metadata["tabbook_execution"]["output_bytes_cut"] = cut
            path = self.store.path(job.key)
            try:
                if outcome.status == OK:  # the store first: a crash in between only costs a re-write
                    self.store.save(job.key, job.nb, job.inputs)
                self.drop_noise(job)
                path = job.target
                write_notebook(job.nb, job.target)
            except OSError as exc:
                outcome.status = WRITE_ERROR
                outcome.failure = {"error": f"could not write {path}: {exc.strerror or exc}", "traceback_tail": []}
                job.target.unlink(missing_ok=True)  # no older notebook may pass for this run's result
        return self.row(job, outcome.status, False, outcome.seconds, info, outcome.failure)


def write_if_changed(nb, path: Path) -> None:
    """Write ``nb`` atomically unless the file already holds exactly this notebook."""
    try:
        if path.read_text(encoding="utf-8") == notebook_text(nb):
            return
    except OSError:
        pass
    write_notebook(nb, path)


def record_stamps(config: BookConfig, stamps: Stamps, jobs: list[Job], rows: dict[int, Row]) -> None:
    """Each notebook's stamp: what its file is made of (an OK one), or none (the next run looks again)."""
    for job in jobs:
        row = rows[id(job)]
        rel = source_rel(config, job.target)
        if row.status == OK:
            job.log.unlink(missing_ok=True)  # a kernel log left by an earlier failure is stale now
            execution = {"seconds": row.executed_seconds, "framework": row.framework, "framework_version": row.framework_version}
            stamps.record(rel, job.stamp, job.target, execution)
        else:
            stamps.forget(rel)


@contextlib.contextmanager
def book_lock(config: BookConfig):
    """Held while a run merges its stamps and summary rows into ``_build/eval``."""
    path = config.build_dir / "eval" / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def previous_rows(summary_path: Path) -> list[dict]:
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


def write_summary(config: BookConfig, rows: list[Row], seconds: float, jobs: int) -> Path:
    """Write summary.json: this run's rows, plus the earlier rows of notebooks it did not touch
    (a run of one file keeps the rest of the book's record) whose notebooks still exist."""
    path = config.build_dir / "eval" / "summary.json"
    ours = {(row.source, row.tab) for row in rows}
    kept = [
        row
        for row in previous_rows(path)
        if (row["source"], row["tab"]) not in ours and (config.root / row.get("notebook", "")).is_file()
    ]
    order = {tab: number for number, tab in enumerate(config.tabs)}
    merged = sorted([*kept, *map(dataclasses.asdict, rows)], key=lambda row: (row["source"], order.get(row["tab"], len(order)), row["tab"]))
    summary = {"seconds": round(seconds, 3), "jobs": jobs, "notebooks": merged}
    atomic_write(path, json.dumps(summary, indent=1) + "\n")
    return path


def failure_report(rows: list[Row]) -> str:
    """Every failed notebook: where (file:line, tab, cell), its first lines, the end of its traceback."""
    lines = []
    for row in rows:
        failure = row.failure
        if not row.failed or not failure:
            continue
        where = row.source + (f":{failure['line']}" if failure.get("line") else "")
        cell = f"cell {failure['cell']} (code cell {failure['code_cell']})" if failure.get("cell") else "before any cell"
        lines.append(f"{row.status.upper()}: {where} [{row.tab}] {cell}: {failure['error']}")
        lines.extend(f"    | {text}" for text in failure.get("source_head", []))
        if failure.get("traceback_tail"):
            lines.append("  last lines of the traceback:" if row.status == FAILED else "  last lines of the kernel's log:")
            lines.extend(f"    {text}" for text in failure["traceback_tail"])
        if row.status != WRITE_ERROR:  # a notebook that could not be written has no file to look at
            lines.append(f"  notebook: {row.notebook}")
        if failure.get("kernel_log"):
            lines.append(f"  kernel log: {failure['kernel_log']}")
        lines.append("")
    return "\n".join(lines)
