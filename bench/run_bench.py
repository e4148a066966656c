"""Benchmark of ``tabbook run``: cold time with -j 1 and -j 2, and the rerun time.

Usage (from the book's root, after ``make setup``)::

    .venv/bin/python bench/run_bench.py [--jobs 1 2] [--tabs pytorch,jax] [--reruns 3]

"Cold" executes every notebook (``--force``: the store is ignored, and
refreshed); "rerun" changes nothing and must execute nothing (goal: under
2 s for the whole book). Each figure is the wall time of the command as an
author runs it, interpreter start included. Prints a Markdown table for the
README, with each framework's total execution time from the -j 1 run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RERUN_GOAL_SECONDS = 2.0


def run(args: list[str]) -> tuple[float, dict]:
    """Wall time of one ``tabbook run`` and the summary it wrote."""
    command = [sys.executable, "-m", "tabbook", "run", *args]
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = json.loads((ROOT / "_build" / "eval" / "summary.json").read_text())
    if finished.returncode != 0:
        print(finished.stdout[-4000:], finished.stderr[-2000:], sep="\n", file=sys.stderr)
        sys.exit(f"'{' '.join(command[1:])}' failed (exit {finished.returncode}); fix the book first")
    return seconds, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="-j values to time cold (default: 1 2)")
    parser.add_argument("--tabs", help="comma-separated frameworks (default: all)")
    parser.add_argument("--reruns", type=int, default=3, help="unchanged reruns to time (the best counts)")
    args = parser.parse_args()
    tabs = ["--tabs", args.tabs] if args.tabs else []

    rows = []
    per_tab = {}
    for jobs in args.jobs:
        seconds, summary = run([*tabs, "--force", "-j", str(jobs)])
        executed = [row for row in summary["notebooks"] if row["executed_seconds"] is not None and not row["cached"]]
        rows.append((f"cold, -j {jobs}", seconds, len(executed)))
        print(f"cold -j {jobs}: {seconds:.1f} s, {len(executed)} notebooks executed", flush=True)
        if not per_tab:
            for row in executed:
                per_tab[row["tab"]] = per_tab.get(row["tab"], 0.0) + row["executed_seconds"]
    reruns = []
    for _ in range(args.reruns):
        seconds, summary = run(tabs)
        executed = sum(1 for row in summary["notebooks"] if not row["cached"] and row["executed_seconds"] is not None)
        if executed:
            sys.exit(f"an unchanged rerun executed {executed} notebook(s): the cache is broken")
        reruns.append(seconds)
    rows.append(("rerun, nothing changed", min(reruns), 0))

    print("\n| run | wall time | notebooks executed |\n| --- | ---: | ---: |")
    for name, seconds, count in rows:
        print(f"| {name} | {seconds:.1f} s | {count} |")
    if per_tab:
        print(f"\n| framework | execution time, -j {args.jobs[0]} |\n| --- | ---: |")
        for tab, seconds in per_tab.items():
            print(f"| {tab} | {seconds:.1f} s |")
    verdict = "meets" if min(reruns) < RERUN_GOAL_SECONDS else "MISSES"
    print(f"\nrerun: best {min(reruns):.2f} s of {len(reruns)}; {verdict} the {RERUN_GOAL_SECONDS:.0f} s goal")
    return 0 if min(reruns) < RERUN_GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
