"""``make bench-d2lbook``: our converter against d2lbook 1.0.3's splitting, on the same files, in one run.

The files are the notebooks of the d2l.ai excerpt (``../shared/corpus/d2l-en-excerpt``, read in
place) that our converter accepts. d2lbook's side runs scripts/d2lbook_notebooks.py in the
test-only d2lbook environment (``[env-d2lbook]``): notedown's reading and d2lbook's per-tab
splitting, notebooks in memory, which is all ``d2lbook build eval`` does before executing. Ours
is timed twice: to notebooks in memory (``read_document`` + ``notebook_dicts``, the same work) and
to validated notebook JSON (``convert_file``, what ``tabbook notebooks`` writes). Each figure is
the best of ``--repeat`` rounds, which alternate between the tools; wall-clock and CPU time (the
steadier figure on a shared machine). Files x tabs as in the book's config.ini.

    python bench/convert_vs_d2lbook.py [--repeat 5] [--book DIR]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabbook.config import load_config  # noqa: E402
from tabbook.envs import env_python  # noqa: E402
from tabbook.errors import SourceError  # noqa: E402
from tabbook.notebooks import convert_file, notebook_dicts  # noqa: E402
from tabbook.parse import read_document  # noqa: E402

EXCERPT = ROOT.parent / "shared" / "corpus" / "d2l-en-excerpt"


def timed(work):
    """(wall-clock, CPU) seconds of one call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - start, time.process_time() - start_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--book", type=Path, default=EXCERPT)
    args = parser.parse_args()
    config = load_config(args.book)
    files, rejected = [], []
    for path in config.chapter_files():
        try:
            read_document(config, path)
            files.append(path)
        except SourceError as exc:
            rejected.append(str(exc))
    if not files:
        sys.exit(f"no file of {args.book} to convert")

    def ours_in_memory():
        for path in files:
            notebook_dicts(config, read_document(config, path))

    def ours_json():
        for path in files:
            convert_file(config, path)

    python = env_python(load_config(ROOT).envs["d2lbook"])
    if not python.exists():
        sys.exit(f"the d2lbook environment is missing ({python}); run 'make setup'")
    names = [path.relative_to(config.root).as_posix() for path in files]
    oracle = [str(python), str(ROOT / "scripts" / "d2lbook_notebooks.py"), str(config.root), *names]
    # Rounds alternate between the two tools, so a busy spell of the machine hits both alike.
    runs = {"memory": [], "json": [], "d2lbook": []}
    for _ in range(args.repeat):
        runs["memory"].append(timed(ours_in_memory))
        runs["json"].append(timed(ours_json))
        answer = json.loads(subprocess.run(oracle, capture_output=True, text=True, check=True).stdout)
        runs["d2lbook"].append((answer["seconds"], answer["cpu_seconds"]))
    best = {name: (min(t[0] for t in times), min(t[1] for t in times)) for name, times in runs.items()}
    theirs = best["d2lbook"]
    print(f"{len(files)} files x {len(config.tabs)} tabs of {args.book} (best of {args.repeat}; wall-clock, CPU)")
    for line in rejected:
        print(f"  left out, our converter rejects it: {line}")
    rows = [
        ("d2lbook 1.0.3 (notedown + per-tab split, in memory)", "d2lbook"),
        ("tabbook (parse + per-tab notebooks, in memory)", "memory"),
        ("tabbook (validated notebook JSON, as written)", "json"),
    ]
    for label, name in rows:
        wall, cpu = best[name]
        ratio = "" if name == "d2lbook" else f"   {theirs[0] / wall:4.1f}x, {theirs[1] / cpu:4.1f}x faster"
        print(f"  {label:<52} {wall * 1000:7.0f} ms, {cpu * 1000:7.0f} ms CPU{ratio}")


if __name__ == "__main__":
    main()
