"""Which notebooks a run executes, and where: shards across machines, GPUs within one.

Shards (``tabbook run --shard K/N``): CI splits the book's notebooks over N
runners. Every runner must compute the same split without talking to the
others, so the split depends only on what every checkout has: the notebooks
themselves and the committed timing file ``timings.json`` (each notebook's
last recorded execution time, written by ``tabbook run --save-timings``). The
stores are no use here: each runner's store holds different entries. The split
is the longest-first greedy one: notebooks in order of decreasing recorded
time, each to the shard with the least work so far, ties broken by name. A
notebook with no recorded time counts as the mean of those recorded for its
framework (or of all), and with no timing file at all every notebook counts
the same, which splits by counts.

GPUs: where CUDA devices are visible (``nvidia-smi -L``, or ``[build] gpus``
in config.ini), each notebook that needs one gets a GPU of its own through
``CUDA_VISIBLE_DEVICES``, so notebooks never share a GPU, and as many run at
once as there are GPUs (or fewer, with ``-j``). Notebooks marked CPU-only
(``cpu_only`` in the notebook's ``tabbook`` metadata, or ``[build] cpu_only``
globs) run alongside them on the CPU, with no GPU visible. Without GPUs
nothing changes: up to ``-j`` notebooks at once, as always.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import queue
import re
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tabbook.errors import SourceError
from tabbook.fileio import atomic_write

TIMINGS_NAME = "timings.json"
TIMINGS_FORMAT = "tabbook-timings-1"

# --------------------------------------------------------------------------- recorded times


class Timings:
    """Each notebook's last recorded execution time: ``timings.json`` at the book's root.

    The file is committed with the book (``tabbook run --save-timings`` writes
    it), so every CI runner reads the same times and computes the same shards.
    """

    def __init__(self, path: Path, seconds: dict[tuple[str, str], float] | None = None):
        self.path = path
        self.seconds = dict(seconds or {})

    @classmethod
    def load(cls, root: Path) -> Timings:
        """The book's timing file; none at all is an empty record, a broken one a clear error."""
        path = root / TIMINGS_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        try:
            data = json.loads(text)
            if data.get("format") != TIMINGS_FORMAT:
                raise ValueError(f"its format is not {TIMINGS_FORMAT}")
            seconds = {}
            for source, tabs in data["notebooks"].items():
                for tab, value in tabs.items():
                    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                        raise ValueError(f"{source} [{tab}]: {value!r} is not a number of seconds")
                    seconds[(source, tab)] = float(value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SourceError(
                path, None, f"not a valid timing file ({exc}); delete it or rewrite it with `tabbook run --save-timings`"
            ) from None
        return cls(path, seconds)

    def estimate(self, source: str, tab: str) -> float:
        """The recorded time, else the mean for the framework, else the mean of all, else 1."""
        if (source, tab) in self.seconds:
            return self.seconds[(source, tab)]
        for values in ([s for (_, t), s in self.seconds.items() if t == tab], list(self.seconds.values())):
            if values:
                return sum(values) / len(values)
        return 1.0

    def update(self, rows: Iterable) -> int:
        """Record the execution times of a run's rows (``tabbook.record.Row``: executed now or earlier, as the store says)."""
        count = 0
        for row in rows:
            if row.status == "ok" and row.executed_seconds is not None:
                self.seconds[(row.source, row.tab)] = round(float(row.executed_seconds), 1)
                count += 1
        return count

    def save(self) -> None:
        notebooks: dict[str, dict[str, float]] = {}
        for (source, tab), seconds in sorted(self.seconds.items()):
            notebooks.setdefault(source, {})[tab] = seconds
        data = {
            "format": TIMINGS_FORMAT,
            "about": "seconds each notebook took to execute; `tabbook run --shard K/N` balances shards with them",
            "notebooks": notebooks,
        }
        atomic_write(self.path, json.dumps(data, indent=1) + "\n")


# --------------------------------------------------------------------------- shards


@dataclass(frozen=True)
class Shard:
    """``K/N``: the K-th of N shards, counted from 1."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``--shard K/N``; anything else is an argparse error that says what is expected."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise argparse.ArgumentTypeError(f"expected K/N, such as 2/3 (the 2nd of 3 shards), not '{text}'")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise argparse.ArgumentTypeError(f"the number of shards must be at least 1, not {count} (in '{text}')")
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"the shard must be between 1 and {count}, not {index} (in '{text}')")
    return Shard(index, count)


def assign_shards(weights: dict[tuple[str, str], float], count: int) -> dict[tuple[str, str], int]:
    """Each notebook's shard (1..count): longest first, each to the least loaded shard.

    Deterministic: equal weights are ordered by name and equal loads by shard
    number, so every runner computes the same assignment from the same input.
    """
    loads = [0.0] * count
    assignment = {}
    for name in sorted(weights, key=lambda name: (-weights[name], name)):
        shard = min(range(count), key=lambda number: (loads[number], number))
        assignment[name] = shard + 1
        loads[shard] += weights[name]
    return assignment


def select_shard(jobs: Sequence, shard: Shard, timings: Timings, runs_code=lambda job: True) -> list:
    """The jobs (anything with ``source_rel`` and ``tab``) of ``shard``, in their order.

    A notebook without code (``runs_code`` false) weighs nothing: it is only written, never executed.
    """
    weights = {
        (job.source_rel, job.tab): timings.estimate(job.source_rel, job.tab) if runs_code(job) else 0.0 for job in jobs
    }
    assignment = assign_shards(weights, shard.count)
    return [job for job in jobs if assignment[(job.source_rel, job.tab)] == shard.index]


# --------------------------------------------------------------------------- GPUs


def nvidia_smi_gpus(run=subprocess.run) -> list[str]:
    """The indices ``nvidia-smi -L`` lists; none where it is missing or fails."""
    try:
        result = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if result.returncode != 0:
        return []
    return [match.group(1) for match in re.finditer(r"^GPU (\d+):", result.stdout, re.MULTILINE)]


def visible_gpus(setting: tuple[str, ...] | None, environ=None, run=subprocess.run) -> list[str]:
    """The GPUs this run may hand out: the configured ones, else those the user left
    visible through ``CUDA_VISIBLE_DEVICES``, else all that nvidia-smi lists."""
    if setting is not None:
        return list(setting)
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        listed = [item.strip() for item in environ["CUDA_VISIBLE_DEVICES"].split(",") if item.strip()]
        # CUDA ignores everything from the first invalid entry on (-1 is the usual "no GPU").
        valid = []
        for item in listed:
            if item.startswith("-"):
                break
            valid.append(item)
        return valid
    return nvidia_smi_gpus(run)


def is_cpu_only(nb, source_rel: str, patterns: Sequence[str]) -> bool:
    """Marked CPU-only in the notebook's metadata, or by one of config.ini's ``cpu_only`` globs."""
    if nb.metadata.get("tabbook", {}).get("cpu_only"):
        return True
    return any(fnmatch.fnmatch(source_rel, pattern) for pattern in patterns)


class Lanes:
    """How many notebooks run at once, and which GPU each one gets.

    Without GPUs there is one lane, the CPU, ``jobs`` wide: exactly the old
    behaviour. With GPUs, notebooks that need one go to the GPU lane, one
    worker per device (at most ``jobs_given`` when ``-j`` was given), and each
    worker holds a device of its own for the whole notebook; CPU-only
    notebooks go to the CPU lane, ``jobs`` wide, and see no GPU.
    """

    def __init__(self, devices: Sequence[str], needs_gpu: Sequence[bool], jobs: int, jobs_given: int | None = None):
        self.devices = list(devices)
        gpu_count = sum(1 for needs in needs_gpu if needs) if self.devices else 0
        cpu_count = len(needs_gpu) - gpu_count
        self.gpu_workers = min(len(self.devices), jobs_given or len(self.devices), gpu_count)
        self.cpu_workers = min(jobs, cpu_count)
        self._free: queue.Queue[str] = queue.Queue()
        for device in self.devices[: self.gpu_workers]:
            self._free.put(device)

    @property
    def workers(self) -> int:
        return max(1, self.gpu_workers + self.cpu_workers)

    def uses_gpu(self, needs_gpu: bool) -> bool:
        return bool(self.devices) and needs_gpu

    def executors(self) -> dict[bool, ThreadPoolExecutor]:
        """One thread pool per lane, keyed by ``uses_gpu``: a queue of GPU notebooks never holds up CPU ones."""
        pools = {}
        if self.gpu_workers:
            pools[True] = ThreadPoolExecutor(self.gpu_workers, thread_name_prefix="tabbook-gpu")
        if self.cpu_workers or not pools:
            pools[False] = ThreadPoolExecutor(max(1, self.cpu_workers), thread_name_prefix="tabbook-run")
        return pools

    @contextmanager
    def device(self, needs_gpu: bool):
        """The kernel's extra environment while it runs: its own GPU, none, or (no GPUs) nothing."""
        if not self.devices:
            yield {}
        elif not needs_gpu:
            yield {"CUDA_VISIBLE_DEVICES": ""}
        else:
            device = self._free.get()
            try:
                yield {"CUDA_VISIBLE_DEVICES": device}
            finally:
                self._free.put(device)

    def describe(self) -> str:
        if not self.devices:
            return f"{self.cpu_workers} at once"
        gpus = ", ".join(self.devices[: self.gpu_workers]) or "none needed"
        return f"{self.gpu_workers} at once on a GPU each ({gpus}), {self.cpu_workers} CPU-only alongside"
