"""Execute the book's notebooks: plan (``tabbook.plan``) -> run (``tabbook.run``) -> record (``tabbook.record``).

``tabbook run`` (and ``make run``, and ``tabbook html`` before it renders)
brings ``_build/eval/<tab>/<name>.ipynb`` up to date: planning converts the
book's Documents and decides, by content key and stamp, what is current, what
the store holds and what must execute; running executes the stale notebooks
in their kernels, in parallel; recording writes the store, the notebooks, the
stamps and ``_build/eval/summary.json``. Successful executions are stored under
``$TABBOOK_CACHE/eval/<key>.ipynb`` (default ``~/.cache/tabbook/eval``),
outside the checkout, so fresh clones and CI reuse them; ``tabbook.store``
validates each entry before it is used. On a hit the stored outputs are
attached to the new notebook's code cells, so the prose in ``_build/eval`` is
always the current text.
"""

from __future__ import annotations

import sys
import time

from tabbook.book import Book, load_book
from tabbook.config import BookConfig, check_tabs
from tabbook.errors import SourceError
from tabbook.plan import CURRENT, NO_CODE, STALE, STORED, Stamps, decide, plan, source_rel
from tabbook.record import Recorder, Row, book_lock, failure_report, previous_rows, record_stamps, write_summary
from tabbook.run import OK, run_all
from tabbook.schedule import Timings, select_shard
from tabbook.store import Store


def run_book(
    config: BookConfig,
    files=None,
    tabs=None,
    jobs=None,
    force=False,
    out=None,
    shard=None,
    save_timings=False,
    stop=None,
    book: Book | None = None,
) -> list[Row]:
    """Bring ``_build/eval`` up to date for ``files`` x ``tabs``; return the summary rows.

    ``book`` is the loaded book (read here when not given); ``files`` are some
    of its chapters (default: all). ``tabs`` picks frameworks of the book as
    configured: it does not change the default tab, so each notebook is exactly
    the one the whole book runs. ``force`` re-executes even what the store
    holds. ``shard`` (a tabbook.schedule.Shard) keeps only that shard's
    notebooks; ``save_timings`` records the run's execution times in
    ``timings.json``. Prints a line per notebook, then the failure report.
    Setting ``stop`` (a threading.Event) from another thread interrupts the run
    as Ctrl-C does (the live preview's shutdown).
    """
    out = out or sys.stdout
    started = time.perf_counter()
    tabs = check_tabs(config, tabs)
    jobs_given, jobs = jobs, jobs or config.jobs
    book = book or load_book(config)
    summary_path = config.build_dir / "eval" / "summary.json"
    previous = {(row["source"], row["tab"]): row.get("executed_seconds") or 0.0 for row in previous_rows(summary_path)}

    def say(text):
        print(text, file=out, flush=True)

    store = Store(say=say)
    planned = plan(config, book.documents(files), tabs)
    timings = Timings.load(config.root)
    if shard is not None:
        total = len(planned)
        planned = select_shard(planned, shard, timings, lambda job: job.has_code)
        say(f"shard {shard}: {len(planned)} of {total} notebook(s)")
    stamps = Stamps(config.build_dir / "eval" / "stamps.json")
    recorder = Recorder(config, store)
    stale = []
    for decision in decide(config, planned, stamps, store, force):
        job = decision.job
        if decision.kind == STALE:
            stale.append(job)
            continue
        if decision.kind == CURRENT:
            recorder.current(job, decision.execution)
        elif decision.kind == NO_CODE:
            recorder.no_code(job)
        elif decision.kind == STORED:
            recorder.use_stored(job, decision.stored)
        say(f"{'cached' if job.has_code else 'no code':>10}  {job.tab:<11} {job.name}")
    interrupted = False
    if stale:
        # Longest first (by the last run's times; new ones count as long): the parallel run ends sooner.
        expected = {id(job): previous.get((job.source_rel, job.tab)) or timings.estimate(job.source_rel, job.tab) for job in stale}
        stale.sort(key=lambda job: -previous.get((job.source_rel, job.tab), float("inf")))
        try:
            run_all(config, stale, recorder, store, jobs, say, force, expected, jobs_given, out, stop)
        except KeyboardInterrupt:
            interrupted = True
    rows = [recorder.rows.get(id(job)) or recorder.interrupted(job) for job in planned]
    record_stamps(config, stamps, planned, recorder.rows)
    # The entries this checkout uses now: `cache --prune` keeps them for every other book and checkout.
    store.mark_used([job.key for job, row in zip(planned, rows, strict=True) if job.has_code and row.status == OK], config.root)
    seconds = time.perf_counter() - started
    unwritten = []
    for what, write in (("stamps", stamps.save), ("summary", lambda: write_summary(config, rows, seconds, jobs))):
        try:
            with book_lock(config):  # concurrent runs merge their records one at a time
                write()
        except OSError as exc:
            unwritten.append(f"could not write the {what} ({exc.filename or ''}): {exc.strerror or exc}")
    report = failure_report(rows)
    if report:
        say("\n" + report)
    if save_timings:
        recorded = timings.update(rows)
        timings.save()
        say(f"recorded {recorded} execution time(s) in {source_rel(config, timings.path)}")
    executed = sum(1 for row in rows if row.executed)
    cached = sum(1 for row in rows if row.cached)
    failed = sum(1 for row in rows if row.failed)
    say(
        f"{len(rows)} notebook(s): {executed} executed, {cached} cached, {failed} failed, "
        f"in {seconds:.1f} s; summary in {source_rel(config, summary_path)}"
    )
    if interrupted:
        raise KeyboardInterrupt
    if unwritten:
        raise SourceError(config.build_dir / "eval", None, "; ".join(unwritten) + "; free some space and run again")
    return rows


def all_ok(rows: list[Row]) -> bool:
    return all(row.status == OK for row in rows)
