"""d2lbook 1.0.3's per-tab notebooks of a book, as JSON: the oracle of
tests/test_d2lbook_oracle.py and the reference of bench/convert_vs_d2lbook.py.

Runs in the test-only ``d2lbook`` environment (``[env-d2lbook]`` of config.ini),
from any directory: ``python scripts/d2lbook_notebooks.py BOOK_ROOT [FILE ...] [--repeat N]``
(FILEs relative to the root; default: the book's notebooks, as d2lbook finds them).

It does what ``d2lbook build eval`` does before executing anything
(``d2lbook.build._process_and_eval_notebook``): find the notebooks with the
book's own ``[build] notebooks``/``exclusions``, read each with notedown, split
its Markdown cells into tab prose, and cut one notebook per tab with
``d2lbook.notebook.get_tab_notebook`` (None: that tab gets no notebook). The
later steps of ``build eval`` are left out on purpose: ``library.replace_alias``
rewrites ``d2l.xx`` calls into framework calls (our ``d2l`` package provides
those functions instead) and ``library.format_code_nb`` only sorts imports and
strips trailing spaces.

Prints ``{"tabs": [...], "files": {file: {tab: [code source, ...] or null}},
"seconds": ..., "cpu_seconds": ...}``: the best wall-clock and CPU time of
``--repeat`` runs of the reading and splitting alone, for the benchmark.
"""

import argparse
import json
import logging
import os
import sys
import time

from d2lbook import notebook
from d2lbook.config import Config
from d2lbook.utils import find_files


def tab_notebooks(files, tabs, default_tab):
    """file -> tab -> list of code sources, or None where d2lbook makes no notebook."""
    result = {}
    for fname in files:
        with open(fname) as f:
            nb = notebook.split_markdown_cell(notebook.read_markdown(f.read()))
        per_tab = {}
        for tab in tabs:
            tab_nb = notebook.get_tab_notebook(nb, tab, default_tab)  # copies the cells it keeps
            per_tab[tab] = None if tab_nb is None else [c.source for c in tab_nb.cells if c.cell_type == "code"]
        result[fname] = per_tab
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the book's root (holds config.ini)")
    parser.add_argument("files", nargs="*", help="only these files, relative to the root")
    parser.add_argument("--repeat", type=int, default=1, help="time the splitting this many times, keep the best")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    os.chdir(args.root)
    config = Config()
    build = config.build
    files = args.files or sorted(
        os.path.relpath(fname)
        for fname in find_files(build["notebooks"], config.src_dir, build["exclusions"] + " " + build["non-notebooks"])
    )
    best = best_cpu = None
    for _ in range(max(1, args.repeat)):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = tab_notebooks(files, config.tabs, config.default_tab)
        seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        best = seconds if best is None else min(best, seconds)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    answer = {"tabs": config.tabs, "files": result, "seconds": best, "cpu_seconds": best_cpu}
    json.dump(answer, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
