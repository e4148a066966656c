"""``make bench-d2lbook``: our converter against d2lbook 1.0.3's splitting, on the same files, in one run.

The files are the notebooks of the d2l.ai excerpt (``../shared/corpus/d2l-en-excerpt``, read in
place) that our converter accepts. d2lbook's side runs scripts/d2lbook_notebooks.py in the
test-only d2lbook environment (``[env-d2lbook]``): notedown's reading and d2lbook's per-tab
splitting, notebooks in memory, which is all ``d2lbook build eval`` does before executing. Ours
is timed twice: to notebooks in memory (``read_document`` + ``notebook_dicts``, the same work) and
to validated notebook JSON (``convert_file``, what ``tabbook notebooks`` writes). Each figure is
the best of ``--repeat`` runs, files x tabs as in the book's config.ini.

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


def best_of(repeat, work):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    return best


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

    ours_memory = best_of(args.repeat, ours_in_memory)
    ours_text = best_of(args.repeat, ours_json)
    python = env_python(load_config(ROOT).envs["d2lbook"])
    if not python.exists():
        sys.exit(f"the d2lbook environment is missing ({python}); run 'make setup'")
    names = [path.relative_to(config.root).as_posix() for path in files]
    result = subprocess.run(
        [str(python), str(ROOT / "scripts" / "d2lbook_notebooks.py"), str(config.root), *names, "--repeat", str(args.repeat)],
        capture_output=True, text=True, check=True,
    )
    theirs = json.loads(result.stdout)["seconds"]
    tabs = len(config.tabs)
    print(f"{len(files)} files x {tabs} tabs of {args.book} (best of {args.repeat})")
    for line in rejected:
        print(f"  left out, our converter rejects it: {line}")
    print(f"  d2lbook 1.0.3 (notedown + per-tab split, in memory) {theirs * 1000:8.1f} ms")
    print(f"  tabbook (parse + per-tab notebooks, in memory)      {ours_memory * 1000:8.1f} ms   {theirs / ours_memory:5.1f}x faster")
    print(f"  tabbook (validated notebook JSON, as written)      {ours_text * 1000:8.1f} ms   {theirs / ours_text:5.1f}x faster")


if __name__ == "__main__":
    main()
