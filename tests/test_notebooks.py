"""Notebooks from chapters: the contract with the executor and the renderer, and the CLI."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from conftest import FIXTURES
from test_parse import ERRORS

from tabbook.config import load_config
from tabbook.fileio import notebook_text
from tabbook.notebooks import build_notebooks, convert_file, notebook_dicts
from tabbook.parse import read_document

BOOK = FIXTURES / "convert"
DIALECT = BOOK / "dialect"
TABS = ["pytorch", "mxnet", "jax", "tensorflow"]


@pytest.fixture(scope="module")
def config():
    return load_config(BOOK)


def sources(nb):
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_build_notebooks_contract(config):
    notebooks = build_notebooks(config, read_document(config, DIALECT / "prose_tab.md"))
    assert list(notebooks) == ["pytorch", "jax"]
    jax = notebooks["jax"]
    assert isinstance(jax, nbformat.NotebookNode)
    nbformat.validate(jax)
    assert jax.metadata == {
        "kernelspec": {"name": "test-jax", "display_name": "Python 3 (d2l, jax)", "language": "python"},
        "language_info": {"name": "python"},
        "tabbook": {"source": "dialect/prose_tab.md", "tab": "jax", "tabs": ["pytorch", "jax"], "required_libs": []},
    }
    assert [cell.metadata.tabbook for cell in jax.cells] == [
        {"line": 1, "end_line": 1, "kind": "text"},
        {"line": 7, "end_line": 9, "kind": "tab_text", "tabs": ["jax"]},
    ]
    torch = notebooks["pytorch"]
    assert sources(torch) == [("markdown", "# Prose Names a Tab"), ("code", "shared_default = 1")]
    code = torch.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata.tabbook == {"line": 3, "end_line": 5, "kind": "code", "tabs": ["pytorch"]}


def test_shared_text_has_the_same_line_and_id_in_every_tab(config):
    notebooks = build_notebooks(config, read_document(config, DIALECT / "tabs.md"))
    first = {tab: nb.cells[0] for tab, nb in notebooks.items()}
    assert {cell.metadata.tabbook["line"] for cell in first.values()} == {1}
    assert len({cell.id for cell in first.values()}) == 1
    for nb in notebooks.values():
        ids = [cell.id for cell in nb.cells]
        assert len(ids) == len(set(ids))


def test_code_of_each_tab(config):
    notebooks = build_notebooks(config, read_document(config, DIALECT / "tabs.md"))
    assert [c.source for c in notebooks["jax"].cells if c.cell_type == "code"] == ["everyone = 2", "jax_old_form = 4", "spaced_old_form = 5"]
    assert [c.metadata.tabbook["tabs"] for c in notebooks["jax"].cells if c.cell_type == "code"] == [TABS, ["jax"], ["jax", "tensorflow"]]
    assert [c.source for c in notebooks["pytorch"].cells if c.cell_type == "code"] == ["default_only = 1", "everyone = 2", "torch_and_mxnet = 3"]


def test_required_libs_and_hide_in_metadata(config):
    nb = build_notebooks(config, read_document(config, DIALECT / "selector.md"))["pytorch"]
    assert nb.metadata.tabbook.required_libs == ["pandas==2.2.3", "scipy>=1.0"]
    hide = build_notebooks(config, read_document(config, DIALECT / "hide.md"))["pytorch"]
    assert [c.metadata.tabbook.get("hide") for c in hide.cells if c.cell_type == "code"] == ["cell", "code", "output", None]


def test_tab_prose_marks_are_removed_other_marks_kept(config):
    nb = build_notebooks(config, read_document(config, DIALECT / "prose.md"))["mxnet"]
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "MXNet and JAX text." in text and "PyTorch text." not in text
    assert ":begin_tab:" not in text.replace("```markdown\n:end_tab:\n```", "")
    labels = build_notebooks(config, read_document(config, DIALECT / "labels.md"))["pytorch"]
    assert ":label:`sec_labels`" in labels.cells[0].source


@pytest.mark.parametrize("name", sorted(path.name for path in DIALECT.glob("*.md")))
def test_json_is_what_nbformat_writes(config, name):
    """Our fast serializer gives exactly nbformat.writes' text (fileio.notebook_text)."""
    texts = convert_file(config, DIALECT / name)
    notebooks = notebook_dicts(config, read_document(config, DIALECT / name))
    assert texts.keys() == notebooks.keys()
    for tab, text in texts.items():
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        assert text == notebook_text(nbformat.from_dict(notebooks[tab]))


def test_json_of_unusual_text(config, tmp_path):
    source = tmp_path / "odd.md"
    source.write_text('# Ünïcödé "quotes" \\ back\\slash\n\n```{.python .input}\ns = "tab\\there"  # 😀\n```\n', encoding="utf-8")
    text = convert_file(config, source)["pytorch"]
    assert text == notebook_text(nbformat.reads(text, as_version=4))
    assert "😀" in text


def test_json_of_an_executed_notebook_with_numbers_in_its_metadata():
    from tabbook.notebooks import notebook_json

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="c1")])
    nb.metadata["tabbook_execution"] = {"seconds": 20.325, "cells": 3, "cached": False, "cut": None}
    assert notebook_json(json.loads(json.dumps(nb))) == notebook_text(nb)


def test_invalid_cell_is_caught(config):
    from tabbook.notebooks import validate_notebooks

    notebooks = notebook_dicts(config, read_document(config, DIALECT / "hide.md"))
    notebooks["pytorch"]["cells"][1]["id"] = "not a valid id!"
    with pytest.raises(nbformat.ValidationError):
        validate_notebooks(notebooks)


# -- the command ---------------------------------------------------------------------------


def read_nb(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_cli_writes_one_notebook_per_tab(tabbook, tmp_path):
    out = tmp_path / "out"
    result = tabbook("notebooks", DIALECT / "tabs.md", DIALECT / "prose_tab.md", "--out", out, cwd=BOOK)
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ipynb"))
    assert written == [
        "jax/dialect/prose_tab.ipynb",
        "jax/dialect/tabs.ipynb",
        "mxnet/dialect/tabs.ipynb",
        "pytorch/dialect/prose_tab.ipynb",
        "pytorch/dialect/tabs.ipynb",
        "tensorflow/dialect/tabs.ipynb",
    ]
    for path in out.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        tab = path.relative_to(out).parts[0]
        assert nb.metadata.kernelspec.name == f"test-{tab}"
        assert nb.metadata.tabbook.tab == tab
        assert all(cell.get("outputs", []) == [] for cell in nb.cells)


def test_cli_is_deterministic(tabbook, tmp_path):
    files = sorted(DIALECT.glob("*.md"))
    for run in ("a", "b"):
        assert tabbook("notebooks", *files, "--out", tmp_path / run, cwd=BOOK).returncode == 0
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.ipynb")}
    second = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*.ipynb")}
    assert len(first) > 15 and first == second


def test_cli_rerun_leaves_unchanged_files_and_removes_stale_tabs(tabbook, tmp_path):
    source = tmp_path / "book"
    shutil.copytree(BOOK, source)
    page = source / "chapter_one" / "page.md"
    page.write_text("# P\n\n```{.python .input}\n%%tab pytorch, jax\nx = 1\n```\n")
    out = tmp_path / "out"
    assert tabbook("notebooks", page, "--out", out, cwd=source).returncode == 0
    assert (out / "jax/chapter_one/page.ipynb").exists()
    page.write_text("# P\n\n```{.python .input}\nx = 1\n```\n")
    result = tabbook("notebooks", page, "--out", out, cwd=source)
    assert result.returncode == 0 and "1 written" in result.stdout
    assert not (out / "jax/chapter_one/page.ipynb").exists()
    assert "0 written, 1 unchanged" in tabbook("notebooks", page, "--out", out, cwd=source).stdout


def test_cli_converts_every_chapter_by_default(tabbook, tmp_path):
    result = tabbook("notebooks", "--out", tmp_path, cwd=BOOK)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pytorch/chapter_one/saving.ipynb").exists()
    assert (tmp_path / "tensorflow/index.ipynb").exists()


def test_cli_tabs_override(tabbook, tmp_path):
    result = tabbook("notebooks", DIALECT / "tabs.md", "--tabs", "jax,mxnet", "--out", tmp_path, cwd=BOOK)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ipynb")) == ["jax/dialect/tabs.ipynb", "mxnet/dialect/tabs.ipynb"]
    jax = read_nb(tmp_path / "jax/dialect/tabs.ipynb")
    # jax is the default tab now: the unmarked cell is jax's
    assert [c["source"] for c in jax["cells"] if c["cell_type"] == "code"][0] == ["default_only = 1"]
    assert jax["metadata"]["tabbook"]["tabs"] == ["jax", "mxnet"]


def test_cli_file_outside_the_book(tabbook, tmp_path):
    outside = tmp_path / "elsewhere" / "my_notes.md"
    outside.parent.mkdir()
    shutil.copy(DIALECT / "prose_tab.md", outside)
    result = tabbook("notebooks", outside, "--out", tmp_path / "out", cwd=BOOK)
    assert result.returncode == 0, result.stderr
    nb = read_nb(tmp_path / "out/jax/my_notes.ipynb")
    assert nb["metadata"]["tabbook"]["source"] == "my_notes.md"
    assert nb["metadata"]["kernelspec"]["name"] == "test-jax"


def test_cli_without_any_book(tabbook, tmp_path):
    shutil.copy(DIALECT / "tabs.md", tmp_path / "tabs.md")
    result = tabbook("notebooks", "tabs.md", "--out", "out", cwd=tmp_path)
    assert result.returncode == 1 and "--tabs" in result.stderr
    result = tabbook("notebooks", "tabs.md", "--tabs", "pytorch,tensorflow", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    nb = read_nb(tmp_path / "out/tensorflow/tabs.ipynb")
    assert nb["metadata"]["kernelspec"]["name"] == "d2l-tensorflow"
    assert nb["metadata"]["tabbook"]["source"] == "tabs.md"
    assert not (tmp_path / "out/mxnet").exists()
    # without a config, the --tabs names and the d2l.ai frameworks are known
    (tmp_path / "typo.md").write_text("```{.python .input}\n%%tab pytorch, tensorflw\nx = 1\n```\n")
    result = tabbook("notebooks", "typo.md", "--tabs", "pytorch", "--out", "out2", cwd=tmp_path)
    assert result.returncode == 1 and "unknown tab 'tensorflw'" in result.stderr and not (tmp_path / "out2").exists()


def test_cli_same_name_twice_is_an_error(tabbook, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(DIALECT / "tabs.md", tmp_path / sub / "x.md")
    result = tabbook("notebooks", tmp_path / "a/x.md", tmp_path / "b/x.md", "--out", tmp_path / "out", cwd=BOOK)
    assert result.returncode == 1 and "both are named 'x'" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, line, message", ERRORS)
def test_cli_errors_leave_no_output(tabbook, tmp_path, name, line, message):
    """FILE:LINE: message, exit 1, and nothing written, even for the good file before it."""
    bad = BOOK / "errors" / name
    out = tmp_path / "out"
    result = tabbook("notebooks", DIALECT / "tabs.md", bad, "--out", out, cwd=BOOK)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:{line}: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_cli_missing_file(tabbook, tmp_path):
    result = tabbook("notebooks", "no_such.md", "--out", tmp_path / "out", cwd=BOOK)
    assert result.returncode == 1 and "no_such.md: no such file" in result.stderr
