"""``make bench-real``: render a book the size of d2l-en (about 190 pages of real d2l.ai sections) without executing it.

Issue 19 asks for under 10 s on this machine. The book is the d2l.ai excerpt
(``../shared/corpus/d2l-en-excerpt``, 32 files with their real code cells) six
times over, each copy in its own chapter folders with its labels renamed so
that every reference resolves: 192 pages, 4 tabs. It is assembled in a
temporary folder (test data only, nothing is kept), then ``tabbook html
--no-run`` runs in a fresh process, cold (empty highlight and math caches)
and warm (what an author's second build costs), best of ``--repeat``; the
converter alone is timed on the same files.

    python bench/real_book.py [--copies 6] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT.parent / "shared" / "corpus" / "d2l-en-excerpt"
_LABELS = re.compile(r":(label|eqlabel|numref|ref|eqref):`([^`]+)`")


def assemble(out: Path, copies: int) -> int:
    """The excerpt ``copies`` times in ``out``; returns the number of pages."""
    shutil.copy(EXCERPT / "config.ini", out / "config.ini")
    shutil.copy(EXCERPT / "d2l.bib", out / "d2l.bib")
    shutil.copytree(EXCERPT / "img", out / "img")
    chapters = sorted(path.name for path in EXCERPT.glob("chapter_*") if path.is_dir())
    entries = []
    for copy in range(copies):
        for chapter in chapters:
            folder = out / f"part{copy}_{chapter}"
            folder.mkdir()
            for source in (EXCERPT / chapter).glob("*.md"):
                text = source.read_text(encoding="utf-8")
                (folder / source.name).write_text(_LABELS.sub(lambda m, c=copy: f":{m.group(1)}:`{m.group(2)}_p{c}`", text), encoding="utf-8")
            entries.append(f"{folder.name}/index")
    toc = "\n".join(entries)
    (out / "index.md").write_text(f"# Dive into Deep Learning, {copies} times\n\n```toc\n:maxdepth: 2\n:numbered:\n\n{toc}\n```\n", encoding="utf-8")
    return 1 + sum(1 for _ in out.glob("part*/*.md"))


def tabbook(args, cwd: Path, env: dict) -> tuple[float, float, str]:
    """(wall-clock seconds, CPU seconds of the child, its last line)."""
    start = time.perf_counter()
    before = os.times()
    result = subprocess.run([sys.executable, "-m", "tabbook", *args], cwd=cwd, env=env, capture_output=True, text=True)
    after = os.times()
    if result.returncode not in (0, 1):
        raise SystemExit(result.stdout + result.stderr)
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("html:") and " in " in line]
    return time.perf_counter() - start, cpu, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not EXCERPT.is_dir():
        raise SystemExit(f"the d2l.ai excerpt is not at {EXCERPT}")
    with tempfile.TemporaryDirectory(prefix="tabbook-real-") as tmp:
        book, cache = Path(tmp) / "book", Path(tmp) / "cache"
        book.mkdir()
        pages = assemble(book, args.copies)
        env = dict(os.environ, PYTHONPATH=str(ROOT), TABBOOK_CACHE=str(cache))
        html = ["html", "--no-run", "--keep-going"]
        cold = []
        for _ in range(args.repeat):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(tabbook(html, book, env))
        warm = [tabbook(html, book, env) for _ in range(args.repeat)]
        convert = min(tabbook(["notebooks", "--out", str(Path(tmp) / "nb")], book, env)[:2])
    best = min(cold)
    print(f"book: {pages} pages (the d2l.ai excerpt x {args.copies}), 4 tabs, nothing executed")
    print(f"html --no-run, cold caches: {best[0]:.2f} s wall, {best[1]:.2f} s CPU  [{best[2]}]")
    best = min(warm)
    print(f"html --no-run, warm caches: {best[0]:.2f} s wall, {best[1]:.2f} s CPU  [{best[2]}]")
    print(f"notebooks (the converter, every file): {convert:.2f} s wall; goal for html: < 10 s")


if __name__ == "__main__":
    main()
