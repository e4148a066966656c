"""TeX -> MathML engines compared on real books' math: coverage and speed.

    .venv/bin/python bench/math_engines.py [--json OUT]

The corpus: every formula of this book, of the d2l.ai excerpt in
../shared/corpus/d2l-en-excerpt (read in place, when it is there) and of the
d2l-en corpus in tests/fixtures/math, and 40 constructs such books use
(tests/fixtures/math/constructs.json), each distinct (tex, display) once.

- latex2mathml, the converter the renderer uses today (tabbook.markdown's
  rewrites and its unknown-command check included), in this Python process;
- Temml, KaTeX (MathML output) and MathJax 4 (TeX input, serialized MathML),
  all pinned in bench/js/package-lock.json and installed on first use with
  `npm ci` into .vendor/bench-js, run one after the other in ONE Node process
  (bench/js/engines.cjs): load time, a cold and a warm pass, failures;
- tabbook.texmath end to end (Node started, one round trip, post-processing),
  cold, as `tabbook html` meets it, then from its disk cache.

Quality is not a number here: tests/test_math_browser.py measures layouts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "math"))

import corpus  # noqa: E402

EXCERPT = REPO.parent / "shared" / "corpus" / "d2l-en-excerpt"
BENCH_JS = REPO / "bench" / "js"
VENDOR = REPO / ".vendor" / "bench-js"


def engines_installed() -> Path:
    """bench/js's pinned engines under .vendor/bench-js (npm ci when the lock changed)."""
    lock = (BENCH_JS / "package-lock.json").read_bytes()
    stamp = VENDOR / "node_modules" / ".tabbook-lock.json"
    if not (stamp.is_file() and stamp.read_bytes() == lock):
        if shutil.which("npm") is None:
            sys.exit("npm is missing: run `make setup` (it installs Debian's npm)")
        VENDOR.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(BENCH_JS / name, VENDOR / name)
        print("installing the engines to compare (npm ci into .vendor/bench-js)", file=sys.stderr)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=VENDOR, check=True)
        stamp.write_bytes(lock)
    shutil.copy(BENCH_JS / "engines.cjs", VENDOR / "engines.cjs")
    return VENDOR / "engines.cjs"


def collect() -> dict[str, list[tuple[str, bool]]]:
    sets = {"book": corpus.math_of_book(REPO), "d2l-en corpus": corpus.d2l_math()}
    if EXCERPT.is_dir():
        sets["d2l excerpt"] = corpus.math_of_book(EXCERPT)
    sets["constructs"] = [(tex, display, "constructs.json") for tex, display in corpus.constructs()]
    return {name: [(tex, display) for tex, display, _ in items] for name, items in sets.items()}


def latex2mathml(items):
    from tabbook import markdown

    markdown._convert_math.cache_clear()
    started = time.perf_counter()
    failures = [(tex, display, reason) for tex, display in items for _, reason in [markdown._convert_math(tex, display)] if reason]
    return {"load_ms": 0.0, "cold_ms": (time.perf_counter() - started) * 1000, "warm_ms": None, "failures": failures}


def texmath_end_to_end(items):
    """tabbook.texmath in a fresh process: Node started, one round trip; then again from the disk cache."""
    script = (
        "import json, sys, time\n"
        "from tabbook import texmath\n"
        "texmath.use_disk_cache(sys.argv[2] or None)\n"
        "items = [tuple(i) for i in json.load(open(sys.argv[1]))]\n"
        "t = time.perf_counter(); r = texmath.to_mathml_many(items); t = time.perf_counter() - t\n"
        "texmath.save_disk_cache()\n"
        "print(json.dumps({'ms': t * 1000, 'failures': [[a, b, str(e)] for (a, b), e in zip(items, r) if isinstance(e, texmath.MathError)]}))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.json"
        path.write_text(json.dumps(items), encoding="utf-8")
        runs = []
        for cache in ("", str(Path(tmp) / "cache"), str(Path(tmp) / "cache")):
            out = subprocess.run([sys.executable, "-c", script, str(path), cache], cwd=REPO, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout))
    return {"cold_ms": runs[0]["ms"], "disk_cache_ms": runs[2]["ms"], "failures": runs[0]["failures"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    engines_js = engines_installed()
    sets = collect()
    everything = list(dict.fromkeys(item for items in sets.values() for item in items))
    print("corpus: " + ", ".join(f"{name} {len(items)} expressions ({len(set(items))} distinct)" for name, items in sets.items()))
    print(f"all together: {len(everything)} distinct (tex, display)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.json"
        path.write_text(json.dumps(everything), encoding="utf-8")
        node = subprocess.run(["node", str(engines_js), str(path)], cwd=engines_js.parent, capture_output=True, text=True, check=True)
    results = {"latex2mathml": latex2mathml(everything), **json.loads(node.stdout)}
    end_to_end = texmath_end_to_end(everything)

    print(f"\n{'engine':<14}{'load ms':>9}{'cold ms':>9}{'warm ms':>9}  " + "  ".join(f"{name} fails" for name in sets))
    for engine, result in results.items():
        failed = {(tex, display) for tex, display, *_ in result["failures"]}
        per_set = "  ".join(f"{sum(1 for item in set(items) if item in failed):>{len(name) + 6}}" for name, items in sets.items())
        warm = "-" if result["warm_ms"] is None else f"{result['warm_ms']:.0f}"
        print(f"{engine:<14}{result['load_ms']:>9.0f}{result['cold_ms']:>9.0f}{warm:>9}  {per_set}")
    print(
        f"\ntabbook.texmath (Temml + post-processing, Node started in a fresh process, one round trip): "
        f"{end_to_end['cold_ms']:.0f} ms; from its disk cache: {end_to_end['disk_cache_ms']:.0f} ms; "
        f"{len(end_to_end['failures'])} failures"
    )
    for engine, result in results.items():
        for tex, display, *reason in result["failures"][:3]:
            print(f"  {engine} fails: {'$$' if display else '$'}{' '.join(tex.split())[:70]} ({(reason or [''])[0][:90]})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sets": {k: len(set(v)) for k, v in sets.items()}, "engines": results, "texmath": end_to_end}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
