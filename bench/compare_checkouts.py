"""Is this checkout's converter (or HTML renderer) slower than another's? Both in one run.

    python bench/compare_checkouts.py OTHER_CHECKOUT [--html] [--rounds 5]

Runs ``tabbook bench`` (or ``tabbook bench --html``) from each checkout in turn,
``--rounds`` times, alternating so that both see the same load, and prints the
median CPU time of each and their ratio. CPU time, not wall time: the machines
this project runs on are shared, and wall time follows the neighbours' load.
``OTHER_CHECKOUT`` is any tree with ``tabbook/`` in it, e.g. ``git worktree add
/tmp/before <commit>``; both run with this checkout's tool environment.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
_CPU = {False: re.compile(r"CPU ([0-9.]+) s\)"), True: re.compile(r"\(CPU ([0-9.]+) s\)")}


def bench_cpu(checkout: Path, html: bool) -> float:
    """One ``tabbook bench`` run of ``checkout``: its best CPU time (seconds)."""
    command = [sys.executable, "-m", "tabbook", "bench", "--repeat", "3", *(["--html"] if html else [])]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    match = _CPU[html].search(result.stdout)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"{checkout}: tabbook bench failed:\n{result.stdout}{result.stderr}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the checkout to compare with (a tree holding tabbook/)")
    parser.add_argument("--html", action="store_true", help="compare rendering a generated book to HTML instead")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not (args.other / "tabbook" / "__init__.py").is_file():
        print(f"{args.other}: no tabbook/ here; give a checkout of this project (e.g. git worktree add)", file=sys.stderr)
        return 1
    times: dict[str, list[float]] = {"other": [], "this": []}
    for round_number in range(1, args.rounds + 1):
        for name, checkout in (("other", args.other.resolve()), ("this", HERE)):
            times[name].append(bench_cpu(checkout, args.html))
        print(f"round {round_number}: other {times['other'][-1]:.3f} s, this {times['this'][-1]:.3f} s CPU", flush=True)
    other, this = statistics.median(times["other"]), statistics.median(times["this"])
    what = "rendering a 200-section book to HTML" if args.html else "converting 200 files into 800 notebooks"
    print(f"{what}: median CPU {other:.3f} s there, {this:.3f} s here: this checkout takes {this / other:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
