"""#@save -> the d2l package: extraction, the generated modules, and sync with the chapters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import FIXTURES, REPO

from tabbook.book import load_book
from tabbook.config import load_config
from tabbook.errors import SourceError
from tabbook.library import library_texts, out_of_date, saved_blocks
from tabbook.parse import parse_markdown, read_document

BOOK = FIXTURES / "convert"
TABS = ("pytorch", "mxnet", "jax", "tensorflow")


def test_library_in_sync():
    """d2l/_saved/*.py hold exactly the chapters' #@save code: run `make lib` when this fails."""
    config = load_config(REPO)
    stale = out_of_date(config, library_texts(config, load_book(config)))
    assert not stale, f"out of date with the chapters: {', '.join(map(str, stale))}; run `make lib`"


@pytest.fixture(scope="module")
def config():
    return load_config(BOOK)


def blocks_of(config, tab):
    return saved_blocks(read_document(config, BOOK / "chapter_one" / "saving.md"), tab)


def test_saved_blocks_of_a_tab(config):
    blocks = blocks_of(config, "pytorch")
    assert [(b.line, b.end_line, b.names, b.attach_to) for b in blocks] == [
        (10, 13, ["Scaler"], None),  # a class
        (15, 15, ["FACTOR"], None),  # an assignment
        (23, 26, [], "Scaler"),  # add_to_class: attached, not exported
        (34, 36, ["offsets"], None),  # `#@save` on its own line saves the next block
        (38, 40, ["cached"], None),  # a decorated def
        (42, 45, ["TABLE"], None),  # a multi-line statement
    ]
    assert blocks[0].code == 'class Scaler:\n    """Multiplies by a factor."""\n    def __init__(self, factor):\n        self.factor = factor'
    assert blocks[2].code == "@d2l.add_to_class(Scaler)\ndef apply(self, x):\n    return self.factor * x"
    assert blocks[3].code == "def offsets(n,\n            start=0):\n    return [start + i for i in range(n)]"
    assert blocks[4].code.startswith("@functools.cache\ndef cached(x):")
    assert blocks[5].code == "TABLE = {\n    'a': 1,\n    'b': 2,\n}"
    assert blocks[0].section == '"Saving Code" (sec_saving)'
    assert blocks[2].section == '"Methods Added Later"'


def test_tab_selected_applies_before_saving(config):
    torch = {b.line: b.code for b in blocks_of(config, "pytorch")}
    jax = {b.line: b.code for b in blocks_of(config, "jax")}
    assert torch[23].endswith("return self.factor * x") and jax[23].endswith("return x * self.factor")
    assert 34 not in jax and 51 in jax  # each tab saves its own cells only


def test_generated_modules(config, tmp_path):
    texts = {path.relative_to(config.root).as_posix(): text for path, text in library_texts(config, load_book(config)).items()}
    assert sorted(texts) == ["d2l/_saved/jax.py", "d2l/_saved/mxnet.py", "d2l/_saved/tensorflow.py", "d2l/_saved/torch.py"]
    torch = texts["d2l/_saved/torch.py"]
    assert "do not edit" in torch and "import torch\n" in torch and "from d2l import torch as d2l\n" in torch
    # book order: intro.md comes before saving.md in the toc
    assert torch.index("# chapter_one/intro.md, section \"Introduction\" (sec_intro)\ndef square") < torch.index("class Scaler")
    assert "#@save" not in torch.replace("#@save code", "").replace("with #@save", "")
    assert "__all__ = ['square', 'Scaler', 'FACTOR', 'offsets', 'cached', 'TABLE']" in torch
    assert "from jax import numpy as jnp" in texts["d2l/_saved/jax.py"]
    assert "__all__ = ['square', 'Scaler', 'FACTOR', 'jax_only']" in texts["d2l/_saved/jax.py"]
    for text in texts.values():
        compile(text, "generated", "exec")


def save_errors(code):
    doc = parse_markdown(f"# S\n\n```{{.python .input}}\n{code}\n```\n", "s.md", TABS)
    with pytest.raises(SourceError) as info:
        saved_blocks(doc, "pytorch")
    return info.value


def test_save_mark_inside_a_statement_is_an_error():
    error = save_errors("def f():\n    x = 1  #@save\n    return x")
    assert error.line == 5 and "first line of a top-level statement" in error.message


def test_lone_save_mark_at_the_end_is_an_error():
    error = save_errors("x = 1\n#@save")
    assert error.line == 5 and "no statement follows" in error.message


def test_saved_cell_with_a_syntax_error():
    error = save_errors("def f(:  #@save\n    pass")
    assert error.line == 4 and "cannot save" in error.message


def test_magics_do_not_break_saving():
    doc = parse_markdown("```{.python .input}\n%matplotlib inline\ndef f():  #@save\n    return 1\n```\n", "m.md", TABS)
    assert [b.code for b in saved_blocks(doc, "pytorch")] == ["def f():\n    return 1"]


def make_book(root, chapter):
    """A one-chapter book for a fake framework 'numpy' whose hand-written d2l module is tiny."""
    config = (BOOK / "config.ini").read_text()
    config = config.replace("tabs = pytorch, mxnet, jax, tensorflow", "tabs = numpy")
    config += "\n[library-numpy]\nlib_file = d2l/_saved/numpy.py\n\n[env-numpy]\nrequirements = envs/numpy.txt\nkernel = test-numpy\n"
    (root / "config.ini").write_text(config)
    (root / "index.md").write_text("# Book\n\n```toc\nchapter/page\n```\n")
    (root / "chapter").mkdir()
    (root / "chapter" / "page.md").write_text(chapter)
    (root / "d2l" / "_saved").mkdir(parents=True)
    (root / "d2l" / "__init__.py").write_text("")
    (root / "d2l" / "_saved" / "__init__.py").write_text("")
    (root / "d2l" / "numpy.py").write_text(
        textwrap.dedent(
            """\
            class Base:
                pass

            def add_to_class(Class):
                def wrapper(obj):
                    setattr(Class, obj.__name__, obj)
                return wrapper

            from d2l._saved.numpy import *  # noqa: E402,F403
            """
        )
    )


CHAPTER = """# Page
:label:`sec_page`

```{.python .input}
%%tab all
class Model(d2l.Base):  #@save
    pass

@d2l.add_to_class(Model)  #@save
def forward(self, x):
    return 2 * x

class Bigger(d2l.Model):  #@save
    def forward(self, x):
        return 10 * x

m = Model()
```
"""


def test_generated_module_imports_and_attaches_methods(tmp_path, tabbook):
    """The circular import works, add_to_class attaches to the saved class, and
    later saved code may say d2l.<saved name> while the module loads."""
    make_book(tmp_path, CHAPTER)
    result = tabbook("lib", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check = "from d2l import numpy as d2l; print(d2l.Model().forward(3), d2l.Bigger().forward(3), hasattr(d2l, 'forward'))"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.stdout.split() == ["6", "30", "False"], run.stderr


def test_add_to_class_of_an_unsaved_class_is_an_error(tmp_path):
    make_book(tmp_path, CHAPTER.replace("class Model(d2l.Base):  #@save", "class Model(d2l.Base):"))
    with pytest.raises(SourceError) as info:
        library_texts(load_config(tmp_path), load_book(load_config(tmp_path)))
    assert info.value.line == 9 and "class Model is not saved" in info.value.message


def test_check_and_write(tmp_path, tabbook):
    root = tmp_path / "book"
    shutil.copytree(BOOK, root)
    result = tabbook("lib", "--check", cwd=root)
    assert result.returncode == 1
    assert "d2l/_saved/torch.py" in result.stderr and "run `make lib`" in result.stderr
    assert not (root / "d2l").exists()
    assert tabbook("lib", cwd=root).returncode == 0
    assert tabbook("lib", "--check", cwd=root).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in (root / "d2l/_saved").iterdir()}
    assert "already up to date" in tabbook("lib", cwd=root).stdout
    assert before == {p: p.stat().st_mtime_ns for p in (root / "d2l/_saved").iterdir()}
    # a changed chapter makes the library stale again, for the tabs it touches
    page = root / "chapter_one" / "intro.md"
    page.write_text(page.read_text().replace("return x * x", "return x ** 2"))
    result = tabbook("lib", "--check", cwd=root)
    assert result.returncode == 1 and "d2l/_saved/jax.py" in result.stderr


def test_prose_edits_leave_the_library_unchanged(tmp_path):
    """The library is part of every notebook's cache key: moving a block must not change it."""
    book = tmp_path / "book"
    shutil.copytree(BOOK, book)
    before = {p.name: t for p, t in library_texts(load_config(book), load_book(load_config(book))).items()}
    saving = book / "chapter_one" / "saving.md"
    saving.write_text(saving.read_text().replace("\n\n", "\n\nA new paragraph of prose.\n\n", 1))
    after = {p.name: t for p, t in library_texts(load_config(book), load_book(load_config(book))).items()}
    assert after == before
