"""tabbook.store: entries that prove their key, validation, import, prune and the cache command."""

from __future__ import annotations

import json
import os
import time

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tabbook.store import InvalidEntry, Store, code_of, key_of, validate_entry

INPUTS = {"tab": "pytorch", "kernel": "python3", "env": "e", "book": "b", "cwd": "chapter"}


def executed(text: str = "42"):
    # ids as tabbook.parse gives them: made from the cell's content, so every machine agrees
    cell = new_code_cell("print(6 * 7)", id="code-6d4a1c", execution_count=1, outputs=[new_output("stream", name="stdout", text=text + "\n")])
    nb = new_notebook(cells=[new_markdown_cell("# Prose", id="text-0b1f2e"), cell])
    nb.metadata["tabbook"] = {"source": "chapter/two.md"}
    return nb


def stored(store: Store, text: str = "42") -> str:
    nb = executed(text)
    key = key_of(code_of(nb), INPUTS)
    store.save(key, nb, INPUTS)
    return key


def test_a_saved_entry_is_valid_and_proves_its_key(tmp_path):
    store = Store(tmp_path / "eval")
    key = stored(store)
    nb = store.load(key)
    assert nb.cells[1].outputs[0].text == "42\n"
    info = nb.metadata.tabbook_execution
    assert info.key == key and info.key_inputs == INPUTS and len(info.digest) == 64


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda data: data["cells"][1]["outputs"][0].update(text="43\n"), "does not match its digest"),
        (lambda data: data["cells"][1].update(source="print(6 * 8)"), "do not hash to its key"),
        (lambda data: data["metadata"]["tabbook_execution"]["key_inputs"].update(tab="jax"), "do not hash to its key"),
        (lambda data: data["metadata"]["tabbook_execution"].update(status="failed"), "status is 'failed'"),
        (lambda data: data["cells"][1].update(outputs=["x"]), "not a valid notebook"),
        (lambda data: data.update(nbformat=3), "not an nbformat 4 notebook"),
    ],
)
def test_validation_names_what_is_wrong(tmp_path, change, reason):
    store = Store(tmp_path / "eval")
    key = stored(store)
    data = json.loads(store.path(key).read_text())
    change(data)
    with pytest.raises(InvalidEntry, match=reason):
        validate_entry(json.dumps(data), key)


def test_invalid_entries_are_set_aside_once(tmp_path):
    said = []
    store = Store(tmp_path / "eval", say=said.append)
    key = stored(store)
    store.path(key).write_text("null")
    assert store.load(key) is None and store.load(key) is None
    assert len(said) == 1 and "not a notebook (a JSON NoneType)" in said[0]
    assert len(list((store.root / "corrupt").iterdir())) == 1


def test_import_merges_valid_entries_and_refuses_invalid_ones(tmp_path):
    here, a = Store(tmp_path / "here"), Store(tmp_path / "a")
    shared = stored(here)
    assert stored(a) == shared  # the same execution on another machine: same key, no conflict
    nb = executed()
    nb.cells[1].source = "print(7 * 6)"
    other = key_of(code_of(nb), INPUTS)
    a.save(other, nb, INPUTS)
    (a.root / "0123456789abcdef0123456789abcdef.ipynb").write_text("{}")
    result = here.import_from(a.root)
    assert result["added"] == [other] and result["present"] == [shared]
    assert len(result["invalid"]) == 1 and "not an nbformat 4 notebook" in result["invalid"][0]
    assert here.load(other) is not None
    assert not (here.root / "0123456789abcdef0123456789abcdef.ipynb").exists()


def test_prune_removes_unused_entries_set_aside_ones_and_old_temporary_files(tmp_path):
    store = Store(tmp_path / "eval")
    keep = stored(store)
    nb = executed()
    nb.cells[1].source = "print(1)"
    unused = key_of(code_of(nb), INPUTS)
    store.save(unused, nb, INPUTS)
    (store.root / "corrupt").mkdir()
    (store.root / "corrupt" / "x.ipynb").write_text("{}")
    old_tmp, new_tmp = store.root / ".a.ipynb.1.tmp", store.root / ".b.ipynb.2.tmp"
    old_tmp.write_text("half")
    new_tmp.write_text("being written")
    os.utime(old_tmp, (time.time() - 7200, time.time() - 7200))
    old = time.time() - 40 * 86400
    os.utime(store.path(unused), (old, old))  # made 40 days ago and never used since
    removed, freed = store.remove(store.prune_plan({keep}, time.time() - 30 * 86400, leftovers_before=time.time() - 3600))
    assert {path.name for path in removed} == {f"{unused}.ipynb", "x.ipynb", old_tmp.name}
    assert freed > 0 and store.path(keep).is_file() and new_tmp.is_file()


def test_prune_takes_only_entries_no_checkout_used_lately_or_only_this_one_used(tmp_path):
    """`cache --prune` from another book left 0 entries: it removed everything that book did not use."""
    store = Store(tmp_path / "store")
    store.root.mkdir()
    book_a, book_b = tmp_path / "a", tmp_path / "b"
    for key in ("shared", "only_a", "only_b", "forgotten", "current_a"):
        store.path(key).write_text("{}")
    store.mark_used(["shared", "only_a", "current_a"], book_a)
    store.mark_used(["shared", "only_b"], book_b)
    old = time.time() - 40 * 86400
    os.utime(store.path("forgotten"), (old, old))
    unused_since = time.time() - 30 * 86400

    def removed(plan):
        return sorted(path.stem for path, _why in plan)

    assert removed(store.prune_plan({"current_a"}, unused_since)) == ["forgotten"]
    assert removed(store.prune_plan({"current_a"}, unused_since, checkout=book_a)) == ["forgotten", "only_a"]
    # Book b prunes its own: book a's entries stay, and so does what both use.
    plan = store.prune_plan(set(), unused_since, checkout=book_b)
    assert removed(plan) == ["forgotten", "only_b"]
    assert dict((path.stem, why) for path, why in plan)["only_b"] == "only this checkout used it, and its notebooks no longer do"
    store.remove(plan)
    assert sorted(path.stem for path in store.root.glob("*.ipynb")) == ["current_a", "only_a", "shared"]
    assert not (store.root / "used" / "only_b").exists() and (store.root / "used" / "only_a").is_dir()
    # A use long ago counts as long ago; a use now keeps an old entry.
    os.utime(store.path("only_a"), (old, old))
    for stamp in (store.root / "used" / "only_a").iterdir():
        os.utime(stamp, (old, old))
    assert removed(store.prune_plan({"current_a"}, unused_since)) == ["only_a"]
    store.mark_used(["only_a"], book_b)
    assert removed(store.prune_plan({"current_a"}, unused_since)) == []
