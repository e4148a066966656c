"""How many shards? The CI workflow's wall time for N shards per framework, from timings.json.

For this book and for a 200-section book made of copies of its sections (each
with its recorded times), it splits each framework's notebooks with the same
balancing as ``tabbook run --shard K/N`` and prints, per N, the longest shard
(the framework jobs' wall time, before per-job overhead) and the runner time
the whole matrix costs with ``--overhead`` seconds per job (checkout, restoring
the environments and the store, uploading). Run: ``.venv/bin/python bench/shard_bench.py``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from tabbook.progress import format_duration
from tabbook.schedule import Timings, assign_shards

ROOT = Path(__file__).resolve().parent.parent


def scaled(timings: Timings, sections: int) -> dict[tuple[str, str], float]:
    """A book of ``sections`` sections: copies of the recorded ones, in turn."""
    recorded = sorted({source for source, _ in timings.seconds})
    book = {}
    for number in range(sections):
        source = recorded[number % len(recorded)]
        for (name, tab), seconds in timings.seconds.items():
            if name == source:
                book[(f"section{number:03d}.md", tab)] = seconds
    return book


def longest_shard(weights: dict[tuple[str, str], float], count: int) -> float:
    """The wall time of the slowest framework job: per framework, its most loaded shard."""
    worst = 0.0
    for tab in {tab for _, tab in weights}:
        mine = {name: seconds for name, seconds in weights.items() if name[1] == tab}
        assignment = assign_shards(mine, count)
        loads = [0.0] * count
        for name, shard in assignment.items():
            loads[shard - 1] += mine[name]
        worst = max(worst, max(loads))
    return worst


def report(title: str, weights: dict[tuple[str, str], float], shard_counts, overhead: float) -> None:
    tabs = sorted({tab for _, tab in weights})
    total = sum(weights.values())
    per_tab = {tab: sum(s for (_, t), s in weights.items() if t == tab) for tab in tabs}
    print(f"\n{title}: {len(weights)} notebooks, {format_duration(total)} of execution in all")
    print("  per framework: " + ", ".join(f"{tab} {format_duration(s)}" for tab, s in per_tab.items()))
    print(f"  longest notebook: {format_duration(max(weights.values()))}")
    print(f"  {'N':>4}  {'jobs':>5}  {'wall (longest shard + overhead)':>32}  {'runner time':>12}")
    for count in shard_counts:
        wall = longest_shard(weights, count) + overhead
        runner = total + overhead * count * len(tabs)
        print(f"  {count:>4}  {count * len(tabs):>5}  {format_duration(wall):>32}  {format_duration(runner):>12}")
    slowest = max(per_tab.values())
    best = math.sqrt(slowest / overhead) if overhead else float("inf")
    print(f"  one more shard stops paying (it saves less than its own overhead) near N = {best:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overhead", type=float, default=120.0, help="seconds each job spends besides running")
    parser.add_argument("--sections", type=int, default=200, help="sections of the extrapolated book")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the recorded times (e.g. from a loaded machine to a quiet one)"
    )
    args = parser.parse_args()
    timings = Timings.load(ROOT)
    if not timings.seconds:
        raise SystemExit("no timings.json: run `tabbook run --save-timings` first")
    timings.seconds = {name: seconds * args.scale for name, seconds in timings.seconds.items()}
    print(f"per-job overhead assumed: {format_duration(args.overhead)}; recorded times x {args.scale:g}")
    report("this book", dict(timings.seconds), (1, 2, 3, 4, 6), args.overhead)
    report(f"a {args.sections}-section book", scaled(timings, args.sections), (1, 2, 4, 8, 16, 32, 64), args.overhead)


if __name__ == "__main__":
    main()
