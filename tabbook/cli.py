"""Command line: ``python -m tabbook <command>``, the top of the pipeline.

Each command is a short function here that parses its options once, loads the
config and the book once, and calls the stages (``parse`` -> ``book`` ->
``plan``/``run``/``record`` -> the views). The options several commands share
(``--root``, ``--tabs``, ``-j``, ``--build-dir``, ``--keep-going``) are
defined and checked in one place, with one message for each kind of mistake.

Bad input (SourceError) is printed as ``FILE:LINE: message`` with exit status
1. Anything else is a bug of ours: one line names the command and asks for a
report, exit status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tabbook.errors import SourceError

COMMANDS = {
    "notebooks": "convert Markdown chapters into one notebook per framework",
    "lib": "write the chapters' #@save code into the d2l package",
    "check": "check the whole book: labels, references, citations, figures, slide marks",
    "run": "execute every notebook (cached by content, in parallel)",
    "html": "build the HTML book under _build/html (running what is stale first)",
    "publish-notebooks": "write the executed notebooks for readers (Colab, Studio Lab) into DIR",
    "cache": "report the execution store; --prune it; 'cache import DIR...' merges other stores",
    "pdf": "print one PDF book per framework under _build/pdf (from the executed notebooks)",
    "slides": "write slide decks under _build/slides from the sections' slide marks",
    "bench": "print the converter's (or, with --html, the HTML build's) speed figure",
    "serve": "a live preview on 127.0.0.1 that rebuilds only what changed",
}


# -- shared options -------------------------------------------------------------------


def jobs_option(text: str) -> int:
    """``-j N``: the same rule for every command, a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not '{text}'")
    return value


def add_book_options(parser, *, tabs=False, jobs=False, build_dir=False, keep_going=False, what="") -> None:
    parser.add_argument("--root", type=Path, default=None, help="the book's root (default: where config.ini is, here or above)")
    if tabs:
        parser.add_argument("--tabs", metavar="a,b", help=f"comma-separated frameworks {what}(default: every tab of config.ini)")
    if jobs:
        parser.add_argument("-j", "--jobs", type=jobs_option, default=None, help="notebooks executed at once (default: [build] jobs)")
    if build_dir:
        parser.add_argument("--build-dir", type=Path, help="where executed notebooks are read and outputs written (default: [build] build_dir)")
    if keep_going:
        parser.add_argument("--keep-going", action="store_true", help="build despite errors in the book (unresolved references show as ??), then list them and fail")


def book_config(args):
    """The config of the command's book: ``--root`` and ``--build-dir`` applied, ``--tabs`` checked (``args.tab_list``)."""
    from tabbook.config import check_tabs, load_config, parse_tabs

    config = load_config(getattr(args, "root", None))
    if getattr(args, "build_dir", None):
        config = dataclasses.replace(config, build_dir=writable_folder(args.build_dir, "--build-dir"))
    raw = getattr(args, "tabs", None)
    args.tab_list = check_tabs(config, parse_tabs(raw)) if raw else None
    return config


def writable_folder(path: Path, option: str) -> Path:
    """``path`` resolved, created if need be, and known to take files; else a message naming the option."""
    folder = path.resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SourceError(option, None, f"{path}: cannot write there ({exc.strerror or exc}); name a folder you can write to") from None
    return folder


def typeset_with_cache() -> None:
    """Converted math and subset fonts outlive the run, next to the execution store (shared by clones)."""
    from tabbook import texmath
    from tabbook.envs import cache_dir

    texmath.use_disk_cache(cache_dir() / "math")


def load_checked_book(config, keep_going: bool, out=None):
    """The book with its math typeset, its warnings and errors printed; stop on errors unless ``keep_going``."""
    from tabbook.book import load_book, report

    typeset_with_cache()
    book = load_book(config, typeset=True)
    text = report(book)
    if text:
        print(text, file=out or sys.stdout)
    if not keep_going:
        book.raise_errors()
    return book


def fail_after_keep_going(config, book, broken: list[SourceError], command: str, out=None) -> None:
    """The end of a ``--keep-going`` build: list what was shown as ``??`` and fail if the book has errors.

    The output stays (it is what the author asked for); the exit status still says the book is not right."""
    if not book.errors:
        return
    out = out or sys.stdout
    unique = list(dict.fromkeys(str(error) for error in broken))  # each framework's print or deck meets it again
    print(f"{command}: {len(unique)} unresolved reference(s) shown as ??:", file=out)
    for error in unique:
        print(f"  {error}", file=out)
    raise SourceError(config.config_path, None, f"{command}: built with --keep-going, but the book has {len(book.errors)} error(s), listed above")


def _run_or_fail(config, book, jobs=None, tabs=None, what="notebooks"):
    """Run what is stale; a failed notebook stops the command (after the run reported it)."""
    from tabbook.execute import run_book

    rows = run_book(config, jobs=jobs, tabs=tabs, book=book)
    failed = [row for row in rows if row.failed]
    if failed:
        names = ", ".join(f"{row.tab}/{row.name}" for row in failed)
        raise SourceError(config.build_dir / "eval" / "summary.json", None, f"these {what} failed: {names}")
    return rows


# -- the commands -----------------------------------------------------------------------


def notebooks_arguments(parser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE.md", help="chapter files (default: every chapter of the book)")
    parser.add_argument("--tabs", metavar="a,b,c", help="tabs to convert, the first being the default (default: config.ini's)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default: <build_dir>/notebooks)")


def notebooks_command(args) -> int:
    from tabbook.config import BookConfig, EnvSpec, find_root, load_config, parse_tabs
    from tabbook.notebooks import D2L_FRAMEWORKS, convert_files, write_converted

    tabs = parse_tabs(args.tabs) if args.tabs else None
    try:
        root = find_root()
    except SourceError:
        if not tabs:
            raise SourceError(Path.cwd() / "config.ini", None, "no config.ini here or in any parent directory; outside a book, name the tabs with --tabs a,b,c") from None
        # Outside a book: tab t gets the kernel d2l-t, and marks may name the d2l.ai books' frameworks too.
        root = Path.cwd()
        config = BookConfig(
            root=root, project={}, index="index", chapter_globs=(), exclusions=(), tabs=tuple(tabs), cell_timeout=0, jobs=1,
            build_dir=root / "_build", bibfile=root / "references.bib", collapse_lines=40, library_package="d2l",
            envs={tab: EnvSpec(tab, None, f"d2l-{tab}") for tab in dict.fromkeys([*tabs, *D2L_FRAMEWORKS])},
        )
    else:
        config = load_config(root)
        config = config.with_tabs(tabs) if tabs else config
    files = [Path(f) for f in args.files] if args.files else config.chapter_files()
    if not files:
        print("no chapter files to convert")
        return 0
    out_dir = Path(args.out) if args.out else config.build_dir / "notebooks"
    converted = convert_files(config, files)
    written = write_converted(config, converted, out_dir)
    count = sum(len(texts) for _, _, texts in converted)
    print(f"{count} notebooks for {len(converted)} files in {out_dir} ({written} written, {count - written} unchanged)")
    return 0


def lib_arguments(parser) -> None:
    add_book_options(parser)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a library file is out of date")


def lib_command(args) -> int:
    from tabbook.book import load_book
    from tabbook.fileio import atomic_write
    from tabbook.library import library_texts, out_of_date, relative

    config = book_config(args)
    texts = library_texts(config, load_book(config))
    stale = out_of_date(config, texts)
    names = ", ".join(relative(config, path) for path in stale)
    if args.check:
        if stale:
            print(f"out of date with the chapters' #@save code: {names}; run `make lib`", file=sys.stderr)
            return 1
        print(f"{len(texts)} library files are up to date")
        return 0
    for path in stale:
        atomic_write(path, texts[path])
    print(f"wrote {names}" if stale else f"{len(texts)} library files already up to date")
    return 0


def check_arguments(parser) -> None:
    add_book_options(parser)
    parser.add_argument("--strict", action="store_true", help="warnings count as errors (a typo in config.ini, a misplaced mark, a reference the style cannot format)")


def check_command(args) -> int:
    from tabbook.book import load_book, report

    config = book_config(args)
    typeset_with_cache()
    book = load_book(config, typeset=True)  # math too: check rejects what html would
    text = report(book)
    if text:
        print(text, file=sys.stderr)
    warnings = len(config.warnings) + len(book.warnings) + len(book.orphans)
    if book.errors or (args.strict and warnings):
        strict = f" and {warnings} warning(s) (--strict)" if args.strict and warnings else ""
        print(f"{len(book.errors)} error(s){strict} in {len(book.pages)} pages", file=sys.stderr)
        return 1
    references = sum(len(page.document.references) for page in book.pages)
    print(f"{len(book.pages)} pages, {len(book.labels)} labels, {references} references and citations: all resolve")
    return 0


def run_arguments(parser) -> None:
    from tabbook.schedule import parse_shard

    parser.add_argument("files", nargs="*", metavar="FILE", help="chapter sources to run (default: the whole book)")
    add_book_options(parser, tabs=True, jobs=True, what="to run ")
    parser.add_argument("--force", action="store_true", help="execute even the notebooks whose results are cached")
    parser.add_argument("--shard", type=parse_shard, metavar="K/N", help="run only the K-th of N shards, balanced by the times in timings.json (for N machines)")
    parser.add_argument("--save-timings", action="store_true", help="record the notebooks' execution times in timings.json")


def run_command(args) -> int:
    from tabbook.book import load_book
    from tabbook.execute import all_ok, run_book

    config = book_config(args)
    if not config.eval_notebook:  # d2lbook's switch: the book is published with its code unexecuted
        print(
            f"{config.config_path.name}: [build] eval_notebook = False: nothing is executed "
            "(`tabbook notebooks` writes the notebooks; `tabbook html` shows the code without outputs)"
        )
        return 0
    rows = run_book(
        config,
        files=args.files or None,
        tabs=args.tab_list,
        jobs=args.jobs,
        force=args.force,
        shard=args.shard,
        save_timings=args.save_timings,
        book=load_book(config),
    )
    return 0 if all_ok(rows) else 1


def html_arguments(parser) -> None:
    add_book_options(parser, jobs=True, build_dir=True, keep_going=True)
    parser.add_argument("--no-run", action="store_true", help="render what _build/eval holds; execute nothing")
    parser.add_argument("--screenshots", action="store_true", help="then save screenshots of every page in every tab (desktop and phone, light and dark) under _build/screenshots")


def html_command(args) -> int:
    config = book_config(args)
    html_dir = html(config, jobs=args.jobs, run=not args.no_run, keep_going=args.keep_going)
    if args.screenshots:
        from tabbook.browser import take_screenshots

        shots = take_screenshots(html_dir, config.build_dir / "screenshots", config.tabs)
        print(f"screenshots: {len(shots)} under {config.build_dir / 'screenshots'}")
    return 0


def html(config, jobs=None, run=True, keep_going=False, out=None) -> Path:
    """``tabbook html``: check the book, run what is stale (unless ``run`` is False), render the site.

    The book's problems stop the build before anything runs, all reported at
    once; with ``keep_going`` the site is built anyway (unresolved references
    shown as ``??``), the problems are listed, and the build then fails.
    """
    from tabbook.render import build_html

    book = load_checked_book(config, keep_going, out)  # a dangling reference fails now, before any notebook runs
    run = run and config.eval_notebook  # d2lbook's eval_notebook = False: show the code, run nothing
    failed = []
    if run:
        from tabbook.execute import run_book

        failed = [row for row in run_book(config, jobs=jobs, book=book, out=out) if row.failed]
    html_dir, site = build_html(config, book, from_cache=not run, keep_going=keep_going, out=out)
    if failed:
        names = ", ".join(f"{row.tab}/{row.name}" for row in failed)
        raise SourceError(config.build_dir / "eval" / "summary.json", None, f"the HTML was built, but these notebooks failed: {names}")
    fail_after_keep_going(config, book, site.broken, "html", out)
    return html_dir


def publish_arguments(parser) -> None:
    add_book_options(parser)
    parser.add_argument("out", type=Path, metavar="DIR", help="where the notebook tree goes (the repository [publish] notebooks_repo names)")
    parser.add_argument("--no-run", action="store_true", help="publish what _build/eval holds; execute nothing")


def publish_command(args) -> int:
    from tabbook.reader import publish_notebooks

    config = book_config(args)
    book = load_checked_book(config, keep_going=False)
    if not args.no_run:
        _run_or_fail(config, book, what="notebooks (so nothing was published)")
    written = publish_notebooks(config, book, args.out)
    print(f"publish-notebooks: {written} notebooks under {args.out}")
    return 0


def cache_arguments(parser) -> None:
    add_book_options(parser)
    parser.add_argument("action", nargs="?", choices=["import"], help="import: merge the stores DIR... into this one")
    parser.add_argument("dirs", nargs="*", metavar="DIR", help="stores to import (other machines' $TABBOOK_CACHE/eval)")
    parser.add_argument(
        "--prune", action="store_true",
        help="remove the entries no book or checkout has used for --older-than days (never those this book uses now), set-aside entries and leftover temporary files",
    )  # fmt: skip
    parser.add_argument("--older-than", type=days_option, default=30.0, metavar="DAYS", help="with --prune: how long unused (default 30 days)")
    parser.add_argument("--this-book", action="store_true", help="with --prune: also remove the entries only this checkout used that its notebooks no longer use")
    parser.add_argument("--dry-run", action="store_true", help="with --prune: list what would be removed; remove nothing")


def cache_command(args) -> int:
    from tabbook.store import CORRUPT_DIR, Store

    store = Store(say=print)
    if args.action == "import":
        if not args.dirs:
            raise SourceError("tabbook cache import", None, "name at least one store folder to import")
        bad = 0
        for folder in args.dirs:
            result = store.import_from(Path(folder))
            print(f"{folder}: {len(result['added'])} added, {len(result['present'])} already here, {len(result['invalid'])} invalid (not imported)")
            for line in result["invalid"]:
                print(f"  invalid: {line}")
            bad += len(result["invalid"])
        return 1 if bad else 0
    if args.dirs:
        raise SourceError("tabbook cache", None, f"unexpected arguments {' '.join(args.dirs)}; did you mean 'cache import'?")
    if (args.this_book or args.dry_run) and not args.prune:
        raise SourceError("tabbook cache", None, "--this-book and --dry-run go with --prune")
    if args.prune:
        from tabbook.book import load_book
        from tabbook.plan import plan

        config = book_config(args)
        keys = {job.key for job in plan(config, load_book(config).documents(), list(config.tabs))}
        # Leftovers of writes older than an hour cannot belong to a write still in progress.
        now = time.time()
        doomed = store.prune_plan(keys, now - args.older_than * 86400, config.root if args.this_book else None, now - 3600)
        for path, why in doomed:
            print(f"  {'would remove' if args.dry_run else 'remove'} {path.name}  {store.describe_path(path):<40} ({why})")
        if args.dry_run:
            print(f"store {store.root}: --dry-run: {len(doomed)} file(s) would be removed, {_size(sum(_file_size(path) for path, _ in doomed))}")
        else:
            removed, freed = store.remove(doomed)
            print(f"store {store.root}: removed {len(removed)} file(s), {_size(freed)} freed")
    entries = store.entries()
    for entry in entries:
        print(f"  {entry.key}  {store.describe(entry):<48} {_size(entry.size):>9}  {time.strftime('%Y-%m-%d %H:%M', time.localtime(entry.mtime))}")
    corrupt = list((store.root / CORRUPT_DIR).glob("*"))
    print(f"store {store.root}: {len(entries)} entries, {_size(sum(entry.size for entry in entries))}")
    if corrupt:
        print(f"  {len(corrupt)} invalid entries set aside in {store.root / CORRUPT_DIR} ('tabbook cache --prune' removes them)")
    return 0


def days_option(text: str) -> float:
    """``--older-than DAYS``: a number of days, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 <= value < 1e6):
        raise argparse.ArgumentTypeError(f"must be a number of days (0 or more), not '{text}'")
    return value


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return ""


def print_arguments(parser) -> None:
    add_book_options(parser, tabs=True, build_dir=True, keep_going=True, what="to print ")


def pdf_command(args) -> int:
    pdf(book_config(args), args.tab_list, keep_going=args.keep_going)
    return 0


def pdf(config, tabs=None, keep_going=False, out=None) -> list[Path]:
    """``tabbook pdf``: one PDF book per framework from the executed notebooks; nothing runs."""
    from tabbook.pdf import build_pdfs

    book = load_checked_book(config, keep_going, out)
    written, broken = build_pdfs(config, book, tabs, keep_going=keep_going, out=out)
    fail_after_keep_going(config, book, broken, "pdf", out)
    return written


def slides_command(args) -> int:
    slides(book_config(args), args.tab_list, keep_going=args.keep_going)
    return 0


def slides(config, tabs=None, keep_going=False, out=None) -> list[Path]:
    """``tabbook slides``: the decks of every marked section; bad slide marks are the book's errors."""
    from tabbook.slides import build_slides

    book = load_checked_book(config, keep_going, out)
    written, broken = build_slides(config, book, tabs, keep_going=keep_going, out=out)
    fail_after_keep_going(config, book, broken, "slides", out)
    return written


def bench_arguments(parser) -> None:
    parser.add_argument("--html", action="store_true", help="time rendering a whole book of --files sections to HTML instead")
    parser.add_argument("--files", type=jobs_option, default=200, help="how many chapter files to convert (default 200)")
    parser.add_argument("--repeat", type=jobs_option, default=3, help="runs; the best is reported (default 3)")
    parser.add_argument("--profile", action="store_true", help="also print the top functions by time (cProfile)")


def bench_command(args) -> int:
    from tabbook.bench import TABS, run_bench, run_html_bench

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run_html_bench if args.html else run_bench, args.files, 1)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    if args.html:
        result = run_html_bench(args.files, args.repeat)
        print(
            f"rendered a {result['sections']}-section book ({result['pages']} pages, {len(TABS)} tabs, nothing executed) "
            f"to HTML in {result['seconds']:.2f} s (CPU {result['cpu']:.2f} s); best of {args.repeat}"
        )
        return 0
    result = run_bench(args.files, args.repeat)
    files, work, total = result["files"], result["work"], result["total"]
    print(
        f"converted {files} files ({result['lines']} lines) into {result['notebooks']} notebooks "
        f"({len(TABS)} tabs): work {work:.3f} s ({files / work:.0f} files/s; CPU {result['work_cpu']:.3f} s), "
        f"total with writing {total:.3f} s ({files / total:.0f} files/s); best of {args.repeat}"
    )
    return 0


def serve_arguments(parser) -> None:
    add_book_options(parser, tabs=True, what="whose notebooks are run on a code edit ")
    parser.add_argument("--port", type=int, default=8000, help="the port on 127.0.0.1 (default 8000; 0 picks a free one)")
    parser.add_argument("--no-run", action="store_true", help="never execute: show what _build/eval holds")


def serve_command(args) -> int:
    from tabbook.serve import serve

    if not 0 <= args.port <= 65535:
        raise SourceError("--port", None, f"{args.port} is not a port; use 1 to 65535, or 0 for a free one")
    config = book_config(args)  # a broken config.ini stops here, before anything is served
    return serve(config.root, port=args.port, tabs=args.tab_list, run=not args.no_run)


HANDLERS = {
    "notebooks": (notebooks_arguments, notebooks_command),
    "lib": (lib_arguments, lib_command),
    "check": (check_arguments, check_command),
    "run": (run_arguments, run_command),
    "html": (html_arguments, html_command),
    "publish-notebooks": (publish_arguments, publish_command),
    "cache": (cache_arguments, cache_command),
    "pdf": (print_arguments, pdf_command),
    "slides": (print_arguments, slides_command),
    "bench": (bench_arguments, bench_command),
    "serve": (serve_arguments, serve_command),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m tabbook", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        arguments, handler = HANDLERS[name]
        arguments(sub)
        sub.set_defaults(handler=handler)
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except SourceError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: one line, the traceback only when asked for
        if args.debug:
            traceback.print_exc()
        where = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(f"tabbook {args.command}: internal error ({where}); please report it with the command and the input; --debug shows the traceback", file=sys.stderr)
        return 2
