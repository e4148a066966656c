"""tabbook.plan: what a notebook's key covers, the declared data, and what planning decides."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tabbook import plan
from tabbook.book import load_book
from tabbook.config import load_config
from tabbook.parse import read_document
from tabbook.store import Store, code_of, key_of

FIXTURE = Path(__file__).parent / "fixtures" / "execute" / "book"


def test_key_depends_on_code_and_hide_marks_only():
    def notebook(prose, code, hide=None, cell_id="code-1"):
        meta = {"tabbook": {"kind": "code", "line": 3, **({"hide": hide} if hide else {})}}
        return new_notebook(cells=[new_markdown_cell(prose), new_code_cell(code, metadata=meta, id=cell_id)])

    def key(nb, **changes):
        args = {"tab": "jax", "source_dir": "chapter", "kernel": "k", "env_hash": "e", "book_hash": "b", **changes}
        return key_of(code_of(nb), plan.key_inputs(**args))

    base = key(notebook("text", "x = 1"))
    assert key(notebook("other text", "x = 1")) == base
    assert key(notebook("text", "x = 2")) != base
    assert key(notebook("text", "x = 1", hide="output")) != base
    assert key(notebook("text", "x = 1", cell_id="code-2")) != base  # outputs travel by id: the key covers it
    for change in ({"kernel": "k2"}, {"env_hash": "e2"}, {"book_hash": "b2"}, {"tab": "mxnet"}, {"source_dir": "."}):
        assert key(notebook("text", "x = 1"), **change) != base


def book_with_data(tmp_path, monkeypatch, data: str):
    book = tmp_path / "book"
    shutil.copytree(FIXTURE, book)
    text = (book / "config.ini").read_text().replace("jobs = 2\n", f"jobs = 2\ndata = {data}\n")
    (book / "config.ini").write_text(text)
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    return load_config(book)


def test_declared_data_follows_content_not_place(tmp_path, monkeypatch):
    config = book_with_data(tmp_path, monkeypatch, "data/*.csv $EXTRA_DATA")
    memo = plan.DataFingerprints(tmp_path / "memo.json")
    nothing = plan.data_fingerprint(config, memo)
    (config.root / "data").mkdir()
    (config.root / "data" / "prices.csv").write_text("1,2\n")
    found = plan.data_fingerprint(config, memo)
    assert found != nothing
    assert plan.data_fingerprint(config, memo) == found  # memoized by path, size and mtime
    (config.root / "data" / "prices.csv").write_text("1,3\n")
    changed = plan.data_fingerprint(config, memo)
    assert changed != found
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "labels.bin").write_bytes(b"\x01")
    monkeypatch.setenv("EXTRA_DATA", str(extra))  # a folder named through the environment: every file under it
    assert plan.data_fingerprint(config, memo) != changed
    assert len(json.loads((tmp_path / "memo.json").read_text())) == 2  # latest state of each file only


def test_declared_data_is_part_of_every_key_and_undeclared_files_are_not(tmp_path, monkeypatch):
    config = book_with_data(tmp_path, monkeypatch, "data/*.csv")
    documents = load_book(config).documents()

    def keys():
        return {(job.source_rel, job.tab): job.key for job in plan.plan(config, documents, ["pytorch", "jax"])}

    before = keys()
    (config.root / "notes.txt").write_text("not declared")
    assert keys() == before
    (config.root / "data").mkdir()
    (config.root / "data" / "x.csv").write_text("1\n")
    after = keys()
    assert set(after) == set(before) and all(after[name] != before[name] for name in after)


def test_decisions_without_a_store_or_stamps_are_stale_or_no_code(tmp_path, monkeypatch):
    config = book_with_data(tmp_path, monkeypatch, "")
    jobs = plan.plan(config, load_book(config).documents(), ["pytorch", "jax"])
    stamps = plan.Stamps(tmp_path / "stamps.json")
    kinds = {(d.job.source_rel, d.job.tab): d.kind for d in plan.decide(config, jobs, stamps, Store(tmp_path / "store"), force=False)}
    assert kinds[("index.md", "pytorch")] == plan.NO_CODE
    assert kinds[("chapter/one.md", "jax")] == plan.STALE


def test_a_stamp_covers_the_file_s_content_not_only_its_size_and_time(tmp_path):
    import os

    target = tmp_path / "eval" / "a.ipynb"
    target.parent.mkdir()
    target.write_text('{"cells": []}')
    stamps = plan.Stamps(tmp_path / "stamps.json")
    stamps.record("a.ipynb", "stamp", target, {"seconds": 1.0})
    stamps.save()
    assert plan.Stamps(tmp_path / "stamps.json").current("a.ipynb", "stamp", target) == {"seconds": 1.0}
    stat = target.stat()
    target.write_text('{"cells": [}}')  # damaged in place: the same size ...
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and the same time
    assert target.stat().st_size == stat.st_size
    assert plan.Stamps(tmp_path / "stamps.json").current("a.ipynb", "stamp", target) is None


def test_a_stamped_file_is_current_a_stored_run_is_reused_and_force_runs_everything(tmp_path, monkeypatch):
    """What `run` relies on to execute nothing twice: a file in _build/eval still made from the same
    stamp is CURRENT; a stored execution of the same code is STORED (written, not executed); a stored
    entry whose code differs is not taken; --force makes every job with code STALE."""
    config = book_with_data(tmp_path, monkeypatch, "")
    jobs = [job for job in plan.plan(config, load_book(config).documents(), ["jax"]) if job.has_code]
    job, other = jobs[0], jobs[1]
    store, stamps = Store(tmp_path / "store"), plan.Stamps(tmp_path / "stamps.json")

    def kinds(force=False):
        return {d.job.source_rel: d.kind for d in plan.decide(config, jobs, stamps, store, force=force)}

    store.save(job.key, job.nb, job.inputs)
    assert plan.load_stored(store, job.key, job.nb) is not None
    assert kinds() == {job.source_rel: plan.STORED, other.source_rel: plan.STALE}
    # a stored entry under the other job's key but with this job's code is not the other job's run
    store.save(other.key, job.nb, other.inputs)
    assert plan.load_stored(store, other.key, other.nb) is None
    assert kinds()[other.source_rel] == plan.STALE
    job.target.parent.mkdir(parents=True, exist_ok=True)
    job.target.write_text('{"cells": []}')
    stamps.record(plan.source_rel(config, job.target), job.stamp, job.target, {"seconds": 2.0})
    decided = {d.job.source_rel: d for d in plan.decide(config, jobs, stamps, store, force=False)}
    assert decided[job.source_rel].kind == plan.CURRENT and decided[job.source_rel].execution == {"seconds": 2.0}
    assert set(kinds(force=True).values()) == {plan.STALE}


def test_a_notebook_runs_in_its_chapter_s_folder(tmp_path, monkeypatch):
    """Relative paths in a chapter's code (../data) resolve from its folder: the key and the job say which."""
    config = book_with_data(tmp_path, monkeypatch, "")
    (config.root / "chapter" / "deeper").mkdir()
    (config.root / "chapter" / "deeper" / "three.md").write_text("# Three\n\n```{.python .input}\n%%tab jax\nx = 1\n```\n")
    three = config.root / "chapter" / "deeper" / "three.md"
    documents = [*load_book(config).documents(), (three, read_document(config, three))]
    cwd = {job.source_rel: job.inputs["cwd"] for job in plan.plan(config, documents, ["jax"])}
    assert cwd == {"index.md": ".", "chapter/one.md": "chapter", "chapter/two.md": "chapter", "chapter/deeper/three.md": "chapter/deeper"}


def test_a_data_memo_that_is_not_what_we_write_is_rebuilt(tmp_path):
    data = tmp_path / "prices.csv"
    data.write_text("1,2\n")
    for broken in ("[1, 2]", '{"x": 3}', "not json"):
        (tmp_path / "memo.json").write_text(broken)
        memo = plan.DataFingerprints(tmp_path / "memo.json")
        assert memo.memo == {}
        assert memo.of(data) == hashlib.sha256(b"1,2\n").hexdigest()
