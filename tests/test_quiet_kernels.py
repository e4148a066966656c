"""Quiet kernels: framework start-up noise never reaches a view, a reader's own warnings do.

Two layers (README, "Quiet kernels"): the kernels start with the settings that
silence the frameworks' C++ logging (``tabbook.run.KERNEL_DEFAULTS``), and what
no setting silences is dropped by ``[env-<tab>] drop_stderr`` where a run is
recorded (``tabbook.outputs.drop_stderr``, called by ``tabbook.record``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import REPO

from tabbook import execute
from tabbook.config import load_config
from tabbook.errors import SourceError
from tabbook.outputs import drop_stderr
from tabbook.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "execute" / "book"
ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN = (
    "I0000 00:00:1796524545.369683   32168 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders."
)
TENSORFLOW_NOISE = f"{ABSL}\n{ONEDNN}\n"
READER_WARNING = "/tmp/ipykernel_1/2.py:3: UserWarning: Converting a tensor with requires_grad=True to a scalar\n"


def our_patterns() -> tuple[str, ...]:
    return load_config(REPO).envs["tensorflow"].drop_stderr


def notebook(*outputs) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import tensorflow as tf")
    cell.outputs = [nbformat.from_dict(output) for output in outputs]
    nb.cells.append(cell)
    return nb


def stderr(text: str) -> dict:
    return {"output_type": "stream", "name": "stderr", "text": text}


def stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


# ----------------------------------------------------------------------------- the filter


def test_our_config_drops_tensorflows_import_noise_and_the_empty_output_goes():
    nb = notebook(stderr(TENSORFLOW_NOISE), stdout("2.21.0\n"), stderr(TENSORFLOW_NOISE))
    assert drop_stderr(nb, our_patterns()) == 4
    assert nb.cells[0].outputs == [stdout("2.21.0\n")]
    nbformat.validate(nb)


def test_a_readers_own_warning_stays_also_beside_the_noise():
    nb = notebook(stderr(TENSORFLOW_NOISE + READER_WARNING))
    assert drop_stderr(nb, our_patterns()) == 2
    assert nb.cells[0].outputs == [stderr(READER_WARNING)]
    nb = notebook(stderr("W0000 00:00:1.0   7 some_op.cc:12] a real C++ warning of the reader's code\n"))
    assert drop_stderr(nb, our_patterns()) == 0
    assert len(nb.cells[0].outputs) == 1


def test_a_line_written_in_pieces_is_matched_whole():
    half = len(ABSL) // 2
    nb = notebook(stderr(ABSL[:half]), stderr(ABSL[half:] + "\n" + READER_WARNING))
    assert drop_stderr(nb, our_patterns()) == 1
    assert nb.cells[0].outputs == [stderr(READER_WARNING)]


def test_no_patterns_or_nothing_matched_leaves_the_outputs_as_they_were():
    outputs = [stderr("one "), stderr("piece\n"), stdout("out\n")]
    nb = notebook(*outputs)
    assert drop_stderr(nb, ()) == 0
    assert drop_stderr(nb, our_patterns()) == 0
    assert nb.cells[0].outputs == outputs


# ----------------------------------------------------------------------------- config.ini


def book_copy(tmp_path: Path, env_lines: str = "") -> Path:
    book = tmp_path / "book"
    shutil.copytree(FIXTURE, book)
    config = book / "config.ini"
    config.write_text(config.read_text().replace("[env-jax]\nrequirements = envs/jax.txt\nkernel = python3\n", f"[env-jax]\nrequirements = envs/jax.txt\nkernel = python3\n{env_lines}"))
    return book


def test_drop_stderr_is_read_per_environment(tmp_path):
    book = book_copy(tmp_path, "drop_stderr =\n    ^noise one$\n    ^I\\d{4} .*port\\.cc\n")
    config = load_config(book)
    assert config.envs["jax"].drop_stderr == ("^noise one$", r"^I\d{4} .*port\.cc")
    assert config.envs["pytorch"].drop_stderr == ()


def test_a_bad_pattern_is_an_error_naming_its_line(tmp_path):
    book = book_copy(tmp_path, "drop_stderr =\n    ^fine$\n    ^broken(\n")
    with pytest.raises(SourceError) as error:
        load_config(book)
    lines = (book / "config.ini").read_text().splitlines()
    assert error.value.line == lines.index("    ^broken(") + 1
    assert "drop_stderr" in str(error.value) and "'^broken('" in str(error.value)


# ----------------------------------------------------------------------------- recorded runs (python3 kernels)

NOISY_CELL = """
```{.python .input}
%%tab all
import sys, warnings
sys.stderr.write("I0000 00:00:1.5   42 port.cc:153] oneDNN custom operations are on. Noise.\\n")
sys.stderr.flush()
warnings.warn("the reader's own warning")
print("done")
```
"""


def noisy_book(tmp_path, monkeypatch, patterns: str) -> Path:
    book = book_copy(tmp_path, f"drop_stderr =\n    {patterns}\n" if patterns else "")
    with open(book / "chapter" / "one.md", "a") as source:
        source.write(NOISY_CELL)
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(book)
    return book


def stderr_of(book: Path, tab: str) -> str:
    nb = nbformat.read(book / "_build" / "eval" / tab / "chapter" / "one.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stderr")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_recorded_notebook_is_quiet_the_store_keeps_the_truth_and_a_new_list_needs_no_run(tmp_path, monkeypatch):
    book = noisy_book(tmp_path, monkeypatch, r"port\.cc:\d+\] oneDNN")
    rows = execute.run_book(load_config(book), files=[book / "chapter" / "one.md"])
    assert {row.status for row in rows} == {"ok"}
    # jax drops the noise, pytorch (no list) keeps it; both keep the reader's warning
    assert "oneDNN" not in stderr_of(book, "jax") and "the reader's own warning" in stderr_of(book, "jax")
    assert "oneDNN" in stderr_of(book, "pytorch") and "the reader's own warning" in stderr_of(book, "pytorch")
    store = Store()
    jax_row = next(row for row in rows if row.tab == "jax")
    assert "oneDNN" in "".join(o.get("text", "") for c in store.load(jax_row.key).cells if c.cell_type == "code" for o in c.outputs)
    # another list applies to the stored run at once: nothing is executed, the file is written again
    config = book / "config.ini"
    config.write_text(config.read_text().replace(r"port\.cc:\d+\] oneDNN", "the reader's own warning"))
    rows = execute.run_book(load_config(book), files=[book / "chapter" / "one.md"])
    assert all(row.cached for row in rows)
    assert "oneDNN" in stderr_of(book, "jax") and "the reader's own warning" not in stderr_of(book, "jax")


# ----------------------------------------------------------------------------- the real TensorFlow kernel


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tensorflows_import_cell_writes_nothing_to_stderr_in_the_books_kernel(tmp_path):
    """The book's own TensorFlow import cell, in the d2l-tensorflow kernel that `make setup` registers.

    What the kernel writes to its stderr reaches the notebook through ipykernel's
    capture, which may hand a late line to the next cell or to nobody; the kernel's
    log holds all of it. So both are read: the log (everything the framework wrote)
    holds nothing but what config.ini drops, and the recorded cells hold no stderr.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    from tabbook import run
    from tabbook.book import load_book
    from tabbook.notebooks import build_notebooks

    if "d2l-tensorflow" not in KernelSpecManager().find_kernel_specs():
        pytest.fail("no d2l-tensorflow kernel: run make setup")
    config = load_config(REPO)
    page = next(page for page in load_book(config).pages if page.name == "chapter_mlp/mlp")
    nb = build_notebooks(config, page.document, ["tensorflow"])["tensorflow"]
    imports = next(cell for cell in nb.cells if cell.cell_type == "code" and "import tensorflow" in cell.source)
    # the import, then a cell that computes (TensorFlow logs its first op) and leaves late lines time to arrive
    nb.cells = [imports, nbformat.v4.new_code_cell("import time\nprint(float(tf.reduce_sum(tf.ones(3))))\ntime.sleep(1)")]
    log = tmp_path / "kernel.log"
    env = run.kernel_env(config, 1)
    outcome = run.execute_notebook(nb, "d2l-tensorflow", REPO / "chapter_mlp", env, 240, "tensorflow", log_path=log)
    assert outcome.status == "ok", outcome.failure
    assert nb.cells[1].outputs[0]["text"] == "3.0\n"
    # the kernel's settings silence everything but what TensorFlow writes before its logging starts ...
    patterns = [re.compile(pattern) for pattern in config.envs["tensorflow"].drop_stderr]
    written = [line for line in log.read_text().splitlines() if line.strip() and not line.startswith("[IPKernelApp]")]
    assert written, "the kernel's log shows no start-up lines: is this TensorFlow quiet by itself now?"
    assert [line for line in written if not any(p.search(line) for p in patterns)] == []
    # ... and config.ini's list drops that from the recorded outputs
    drop_stderr(nb, config.envs["tensorflow"].drop_stderr)
    assert [o for cell in nb.cells for o in cell.outputs if o.get("name") == "stderr"] == []


# ----------------------------------------------------------------------------- the check over a built book


def test_the_books_check_finds_a_stderr_block_in_its_page_and_pane_unless_it_is_intended(tmp_path):
    """tests/chapter/test_quiet_outputs.py's finder, on the HTML fixture book with one stderr output added."""
    import importlib.util

    from quiet_outputs import file_stderr, unintended

    from tabbook.book import load_book
    from tabbook.fileio import write_notebook
    from tabbook.render import Site

    spec = importlib.util.spec_from_file_location("html_fixture_make_book", Path(__file__).parent / "fixtures" / "html" / "make_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.make_book(tmp_path / "book")

    def stderr_blocks():
        files = Site(config, load_book(config), from_cache=True).render()
        return [block for url, data in files.items() if url.endswith((".html", ".ipynb")) for block in file_stderr(url, data)]

    assert stderr_blocks() == []
    path = config.build_dir / "eval" / "mxnet" / "chapter_demo" / "first.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(cell for cell in nb.cells if cell.cell_type == "code" and cell.outputs)
    cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=f"{ABSL}\n<noise> & more\n"))
    write_notebook(nb, path)
    blocks = stderr_blocks()
    page = [block for block in blocks if block.where.endswith(".html")]
    assert [(block.where, block.tab, block.text) for block in page] == [("chapter_demo/first.html", "mxnet", f"{ABSL}\n<noise> & more")]
    assert [block.where for block in blocks if block.where.endswith(".ipynb")] == ["notebooks/mxnet/chapter_demo/first.ipynb"]
    assert unintended(blocks, ()) == blocks
    assert unintended(blocks, [("*", "mxnet", r"absl::InitializeLog")]) == []
    assert unintended(blocks, [("*", "jax", r"absl::InitializeLog")]) == blocks  # another framework's is not this one
    assert unintended(blocks, [("chapter_demo/second.html", "*", r"absl")]) == blocks  # nor another page's
    assert unintended(blocks, [("*", "*", r"^nothing like it$")]) == blocks
