"""Execution at scale, simulated on one machine: ``tabbook run --shard K/N`` on N
"runners" (separate checkouts, each with its own store), the stores merged into
one with ``tabbook cache import``, and the book built from the merged store
without executing anything.

Uses the executor's fixture book (tests/fixtures/execute/book), whose two tabs
run in the tool environment's ``python3`` kernel: no framework needed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

FIXTURE = Path(__file__).parent / "fixtures" / "execute" / "book"
CODE_NOTEBOOKS = {
    ("chapter/one.md", "pytorch"),
    ("chapter/one.md", "jax"),
    ("chapter/two.md", "pytorch"),
    ("chapter/two.md", "jax"),
}
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]  # real kernels


def checkout(tmp_path: Path, name: str) -> Path:
    """A fresh copy of the fixture book, as a runner's clone of the repository would be."""
    book = tmp_path / name
    shutil.copytree(FIXTURE, book)
    (book / "refs.bib").write_text("")  # the HTML build wants the bibliography file
    return book


def tabbook(book: Path, cache: Path, *args) -> subprocess.CompletedProcess:
    """``python -m tabbook ARGS`` in ``book`` with its store in ``cache`` (``TABBOOK_CACHE``)."""
    env = dict(os.environ, TABBOOK_CACHE=str(cache))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.pop("D2L_DATA", None)
    return subprocess.run(
        [sys.executable, "-m", "tabbook", *map(str, args)], cwd=book, env=env, capture_output=True, text=True, timeout=240
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def summary(book: Path) -> dict:
    rows = json.loads((book / "_build" / "eval" / "summary.json").read_text())["notebooks"]
    return {(row["source"], row["tab"]): row for row in rows}


def executed(rows: dict) -> set:
    return {name for name, row in rows.items() if not row["cached"] and row["executed_seconds"] is not None}


def _without_timings(data: bytes) -> bytes:
    """An executed notebook without what differs between two executions of it: its run time."""
    nb = json.loads(data)
    nb["metadata"].get("tabbook_execution", {}).pop("seconds", None)
    return json.dumps(nb, sort_keys=True).encode()


def site(book: Path) -> dict[str, bytes]:
    """Every file of the built site, notebooks (also inside the zips) without their timings."""
    html = book / "_build" / "html"
    files = {}
    for path in sorted(html.rglob("*")):
        if not path.is_file():
            continue
        rel, data = path.relative_to(html).as_posix(), path.read_bytes()
        if path.suffix == ".ipynb":
            data = _without_timings(data)
        elif path.suffix == ".zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = {
                    name: _without_timings(archive.read(name)) if name.endswith(".ipynb") else archive.read(name)
                    for name in archive.namelist()
                }
            data = json.dumps({name: body.decode() for name, body in sorted(members.items())}).encode()
        files[rel] = data
    return files


def test_three_shards_merged_build_the_same_site_as_one_machine(tmp_path):
    # One machine runs everything.
    single = checkout(tmp_path, "single")
    ok(tabbook(single, tmp_path / "cache-single", "run", "-j", "2"))
    assert executed(summary(single)) == CODE_NOTEBOOKS
    ok(tabbook(single, tmp_path / "cache-single", "html", "--no-run"))

    # Three runners, each with its own checkout and its own (empty) store.
    per_shard = []
    for k in (1, 2, 3):
        runner = checkout(tmp_path, f"runner{k}")
        out = ok(tabbook(runner, tmp_path / f"cache{k}", "run", "--shard", f"{k}/3", "-j", "2"))
        assert f"shard {k}/3: " in out
        per_shard.append(executed(summary(runner)))
        assert not any(name in CODE_NOTEBOOKS for name in set(summary(runner)) - per_shard[-1])  # ran all it had
    # Each notebook executed exactly once across the shards.
    assert sum(len(names) for names in per_shard) == len(CODE_NOTEBOOKS)
    assert set().union(*per_shard) == CODE_NOTEBOOKS
    assert all(per_shard)  # 4 notebooks over 3 shards: none of them is idle

    # The merge job: merge the three stores (`tabbook cache import`), execute nothing, build.
    merged = checkout(tmp_path, "merged")
    stores = [tmp_path / f"cache{k}" / "eval" for k in (1, 2, 3)]
    out = ok(tabbook(merged, tmp_path / "cache-merged", "cache", "import", *stores))
    added = [int(line.split(": ")[1].split()[0]) for line in out.splitlines() if line.startswith(str(tmp_path))]
    assert added == [len(names) for names in per_shard]  # each store brings its shard's notebooks
    out = ok(tabbook(merged, tmp_path / "cache-merged", "run"))
    assert "executing" not in out
    rows = summary(merged)
    assert executed(rows) == set() and all(rows[name]["cached"] for name in CODE_NOTEBOOKS)
    ok(tabbook(merged, tmp_path / "cache-merged", "html", "--no-run"))

    assert site(merged) == site(single)

    # A shard whose notebooks are all in the store executes nothing.
    out = ok(tabbook(merged, tmp_path / "cache-merged", "run", "--shard", "2/3"))
    assert "executing" not in out
    assert executed(summary(merged)) == set()


def test_save_timings_records_times_and_the_next_split_follows_them(tmp_path):
    book = checkout(tmp_path, "book")
    cache = tmp_path / "cache"
    out = ok(tabbook(book, cache, "run", "-j", "2", "--save-timings"))
    assert "recorded 4 execution time(s) in timings.json" in out
    recorded = json.loads((book / "timings.json").read_text())["notebooks"]
    assert {(source, tab) for source, tabs in recorded.items() for tab in tabs} == CODE_NOTEBOOKS
    assert all(seconds > 0 for tabs in recorded.values() for seconds in tabs.values())

    # Make one notebook by far the longest: with two shards it gets one to itself,
    # and the notebooks without code (which weigh nothing) join the other one.
    data = json.loads((book / "timings.json").read_text())
    data["notebooks"]["chapter/one.md"]["jax"] = 1000.0
    (book / "timings.json").write_text(json.dumps(data))
    out = ok(tabbook(book, cache, "run", "--shard", "1/2"))
    assert "shard 1/2: 1 of 6 notebook(s)" in out
    assert [line.split()[1:] for line in out.splitlines() if line.split()[:1] == ["cached"]] == [["jax", "chapter/one"]]
    out = ok(tabbook(book, cache, "run", "--shard", "2/2"))
    assert "shard 2/2: 5 of 6 notebook(s)" in out


@pytest.mark.parametrize(
    "value, message",
    [("3", "expected K/N, such as 2/3"), ("4/3", "the shard must be between 1 and 3, not 4"), ("0/0", "the number of shards must be at least 1")],
)
def test_a_bad_shard_is_a_clear_error(tmp_path, value, message):
    book = checkout(tmp_path, "book")
    result = tabbook(book, tmp_path / "cache", "run", "--shard", value)
    assert result.returncode == 2
    assert f"argument --shard: {message}" in result.stderr
    assert not (book / "_build").exists()  # nothing planned, nothing written
