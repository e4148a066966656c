"""The store over time: `tabbook cache` reports it, --prune clears what no notebook uses
(and a killed run's temporary files), `cache import` merges other machines' stores."""

from __future__ import annotations

import os
import shutil
import time

import pytest

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_cache_report_prune_and_leftovers(book):
    assert book.cli("run", "--tabs", "pytorch", "chapter/two.md").returncode == 0
    [old] = book.entries()
    book.edit("chapter/two.md", "x = 6 * 7", "x = 6 * 8")
    assert book.cli("run", "--tabs", "pytorch", "chapter/two.md").returncode == 0
    leftover = book.store / f".{old.name}.abc123.tmp"  # what a SIGKILL in the middle of a write leaves
    leftover.write_text('{"cells": [')
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    report = book.cli("cache")
    assert report.returncode == 0
    assert f"store {book.store}: 2 entries" in report.stdout
    assert "pytorch chapter/two.md" in report.stdout
    # The old entry was used a moment ago: a plain prune keeps it (another checkout may need it).
    pruned = book.cli("cache", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 file(s)" in pruned.stdout and "2 entries" in pruned.stdout and old.exists()
    # --dry-run says what --this-book would remove, and removes nothing.
    dry = book.cli("cache", "--prune", "--this-book", "--dry-run")
    assert dry.returncode == 0 and f"would remove {old.name}" in dry.stdout and "only this checkout used it" in dry.stdout
    assert old.exists()
    pruned = book.cli("cache", "--prune", "--this-book")
    assert f"remove {old.name}" in pruned.stdout and "removed 1 file(s)" in pruned.stdout and "1 entries" in pruned.stdout
    assert not old.exists() and not leftover.exists() and len(book.entries()) == 1
    # What the book uses now is still served.
    assert "1 cached" in book.cli("run", "--tabs", "pytorch", "chapter/two.md").stdout.replace("0 executed, ", "")


def test_pruning_from_another_book_leaves_the_first_book_s_entries(book, tmp_path):
    """Pruning from another book left 0 entries of the first, with exit 0 and no warning."""
    assert book.cli("run", "--tabs", "pytorch").returncode == 0
    first = book.entries()
    assert len(first) == 2
    other_root = tmp_path / "other"
    shutil.copytree(book.root, other_root, ignore=shutil.ignore_patterns("_build"))
    other = type(book)(other_root, book.cache)  # another checkout, another book, the same store
    other.edit("chapter/two.md", "x = 6 * 7", "x = 6 * 9")
    assert other.cli("run", "--tabs", "pytorch", "chapter/two.md").returncode == 0
    for flags in ((), ("--this-book",), ("--older-than", "1")):
        result = other.cli("cache", "--prune", *flags)
        assert result.returncode == 0, result.stderr
        assert all(path.exists() for path in first), (flags, result.stdout)
    # Made 3 days ago, but used by the first book now (its run finds them current): they stay.
    long_ago = time.time() - 3 * 86400
    for path in book.store.glob("*.ipynb"):
        os.utime(path, (long_ago, long_ago))
    assert "0 executed" in book.cli("run", "--tabs", "pytorch").stdout
    result = other.cli("cache", "--prune", "--older-than", "2")
    assert all(path.exists() for path in first), result.stdout
    # Entries nobody used for longer than --older-than go, whichever book prunes.
    for path in [*book.store.glob("*.ipynb"), *book.store.glob("used/*/*")]:
        os.utime(path, (long_ago, long_ago))
    result = other.cli("cache", "--prune", "--older-than", "2")
    assert "no book or checkout used it for 3 day(s)" in result.stdout
    # chapter/one.md is the same in both books (one key, one entry): the pruning book uses it, so it stays.
    [gone] = [path for path in first if not path.exists()]
    assert f"remove {gone.name}" in result.stdout and len(book.entries()) == 2


def test_cache_import_merges_stores_from_other_runners(book, tmp_path):
    # Two "runners" execute different tabs into their own stores.
    runners = []
    for tab in ("pytorch", "jax"):
        env_cache = tmp_path / f"runner-{tab}"
        result = book.cli("run", "--tabs", tab)  # into the book's store, then moved: one store per runner
        assert result.returncode == 0
        shutil.move(book.store, env_cache)
        runners.append(env_cache)
    executed_here = {path.relative_to(book.eval): path.read_bytes() for path in book.eval.rglob("*.ipynb")}
    shutil.rmtree(book.eval)
    (runners[1] / "ffffffffffffffffffffffffffffffff.ipynb").write_text("[]")
    merged = book.cli("cache", "import", *runners)
    assert merged.returncode == 1  # the invalid entry is refused and reported
    assert f"{runners[0]}: 2 added, 0 already here, 0 invalid" in merged.stdout
    assert f"{runners[1]}: 2 added, 0 already here, 1 invalid" in merged.stdout
    assert "not a notebook (a JSON list)" in merged.stdout
    again = book.cli("cache", "import", runners[0])
    assert "0 added, 2 already here" in again.stdout
    # The merged store serves the whole book: nothing executes.
    result = book.cli("run")
    assert result.returncode == 0 and "0 executed, 4 cached" in result.stdout
    # ... and gives the very notebooks the runners executed.
    assert {path.relative_to(book.eval): path.read_bytes() for path in book.eval.rglob("*.ipynb")} == executed_here
