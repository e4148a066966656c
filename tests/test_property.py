"""A differential property: on random small books, ``check`` passes exactly when every output builds.

Hypothesis draws books from a grammar of the dialect (headings, labels,
references, citations split by commas or spaces, figures, captioned tables,
labelled equations on their own line or the display's, tab cells with marks on
any line, tab prose, slide marks, code spans holding role-like text, fences of
3 and 4 backticks and of tildes, and now and then a mistake: a dangling label,
an unknown key, bad math, an unclosed slide mark). For each book:

- ``check`` (the book loaded with its math typeset) has no error exactly when
  ``notebooks``, ``html``, ``slides`` and the reader notebooks all succeed;
- nothing ends in anything but a ``SourceError`` (no traceback);
- every reference ``check`` resolves is a link that leads to a file and an
  anchor of the built site.

The examples are fixed (``derandomize``), so CI sees the same books every run;
``TABBOOK_PROPERTY_EXAMPLES=500`` runs more of them.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabbook import cli
from tabbook.book import load_book
from tabbook.config import load_config
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write
from tabbook.notebooks import convert_files, notebook_dicts, notebook_json
from tabbook.reader import ReaderNotebooks

TABS = ("pytorch", "mxnet", "jax")
LABELS = ("sec_a", "sec_b", "fig_a", "tab_a", "eq_a", "eq_b")
KEYS = ("Known.2001", "Other.2002")
CONFIG = "[project]\nname = prop\ntitle = Property Book\n\n[build]\nchapters = ch*.md\ntabs = pytorch, mxnet, jax\n\n[html]\nbibfile = refs.bib\n"
BIB = "".join(f"@article{{{key}, author = {{Someone, A.}}, title = {{A Work}}, journal = {{J}}, year = {{{key[-4:]}}}}}\n" for key in KEYS)
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10"/></svg>'

words = st.lists(st.sampled_from(["alpha", "beta", "layer", "weights", "the", "and", "gradient"]), min_size=1, max_size=4).map(" ".join)
# Mistakes are drawn now and then (a dangling label, an unknown key, bad math, an unclosed
# mark), so that many books check clean and their links can be followed.
math = st.sampled_from([r"x_i", r"\sigma(z)", r"\mathbf{W}^\top x", r"[a, b)", r"\frac{1}{n}\sum_i x_i", r"e^{-x}", r"\nosuchcommand{x}"])


@st.composite
def inline_piece(draw):
    kind = draw(st.sampled_from(["word", "math", "code", "numref", "eqref", "ref", "cite", "slide", "bold"]))
    if kind == "word":
        return draw(words)
    if kind == "math":
        return f"${draw(math)}$"
    if kind == "code":
        return "`:numref:`sec_missing``"  # a role inside a code span is text
    if kind in ("numref", "ref", "eqref"):
        return f"\0{kind}\0"  # filled in once the book's labels are known (books())
    if kind == "cite":
        keys = draw(st.lists(st.sampled_from(KEYS * 3 + ("Unknown.1999",)), min_size=1, max_size=2, unique=True))
        separator = draw(st.sampled_from([",", ", ", " "]))
        return f":{draw(st.sampled_from(['cite', 'citet', 'citep']))}:`{separator.join(keys)}`"
    if kind == "slide":
        return draw(st.sampled_from(["[**{w}**]", "(**{w}**)", "[~~{w}~~]", "(~~{w}~~)"] * 2 + ["[**{w}"])).format(w=draw(words))
    return f"(then **{draw(words)}**)"


@st.composite
def block(draw, labels: list):
    def label():
        name = draw(st.sampled_from(LABELS))
        if name in labels:
            return ""
        labels.append(name)
        return f"\n:label:`{name}`"

    kind = draw(st.sampled_from(["heading", "paragraph", "paragraph", "figure", "table", "equation", "code", "prose", "fence"]))
    if kind == "heading":
        return f"{'#' * draw(st.integers(2, 3))} {draw(words).title()}{label() if draw(st.booleans()) else ''}"
    if kind == "paragraph":
        return " ".join(draw(st.lists(inline_piece(), min_size=1, max_size=6)))
    if kind == "figure":
        return f"![{draw(words)} ${draw(math)}$](img.svg){label() if draw(st.booleans()) else ''}"
    if kind == "table":
        name = draw(st.sampled_from(LABELS))
        head = f":{draw(words)}\n:label:`{name}`\n\n" if name not in labels and labels.append(name) is None else ""
        return f"{head}|a|b|\n|:-|:-|\n|1|{draw(inline_piece())}|"
    if kind == "equation":
        name = draw(st.sampled_from(LABELS))
        if name in labels:
            return f"$${draw(math)}$$"
        labels.append(name)
        same_line = draw(st.booleans())
        return f"$${draw(math)}$$ :eqlabel:`{name}`" if same_line else f"$${draw(math)}$$\n:eqlabel:`{name}`"
    if kind == "code":
        mark = draw(st.sampled_from(["", "%%tab pytorch\n", "%%tab all\n", "# %%tab jax\n", "x = 0\n#@tab mxnet, jax\n"]))
        return f"```{{.python .input}}\n{mark}value = {draw(st.integers(0, 9))}\n```"
    if kind == "prose":
        return f":begin_tab:`{draw(st.sampled_from(['mxnet', 'jax', 'pytorch, jax']))}`\n{draw(words)} {draw(inline_piece())}\n:end_tab:"
    fence = draw(st.sampled_from(["```", "````", "~~~"]))
    inner = draw(st.sampled_from(["```{.python .input}\nnot_a_cell = 1\n```", ":numref:`sec_missing` and [**not a mark", "plain = 1"]))
    if fence == "```" and inner.startswith("```"):
        inner = "plain = 2"
    return f"{fence}python\n{inner}\n{fence}"


@st.composite
def books(draw):
    count = draw(st.integers(1, 3))
    labels: list[str] = []
    chapters = []
    for number in range(count):
        blocks = draw(st.lists(block(labels), min_size=1, max_size=7))
        title = f"# Chapter {number}\n:label:`sec_c{number}`"
        chapters.append("\n\n".join([title, *blocks]) + "\n")
    labels += [f"sec_c{number}" for number in range(count)]
    equations = [name for name in labels if name.startswith("eq_")]

    def target(match):
        role = match.group(1)
        pool = equations if role == "eqref" else labels
        if not pool or draw(st.integers(0, 9)) == 0:
            return f":{role}:`sec_missing`"  # now and then a reference to nothing
        return f":{role}:`{draw(st.sampled_from(pool))}`"

    return [re.sub("\0(numref|ref|eqref)\0", target, text) for text in chapters]


def write_book(root: Path, chapters: list[str]) -> None:
    root.mkdir(parents=True)
    (root / "config.ini").write_text(CONFIG)
    (root / "refs.bib").write_text(BIB)
    (root / "img.svg").write_text(SVG)
    toc = "\n".join(f"ch{number}" for number in range(len(chapters)))
    (root / "index.md").write_text(f"# Property Book\n\n```toc\n:numbered:\n\n{toc}\n```\n")
    for number, text in enumerate(chapters):
        (root / f"ch{number}.md").write_text(text)


def attempt(work) -> bool:
    """Whether ``work`` succeeds; bad input may fail it only with a SourceError."""
    try:
        work()
    except SourceError:
        return False
    return True


_REFERENCE = re.compile(r'<a class="reference [a-z]+" href="([^"]*)"')
_ID = re.compile(r'\sid="([^"]+)"')


def assert_links_lead_somewhere(html_dir: Path) -> None:
    pages = {path.relative_to(html_dir).as_posix(): path.read_text(encoding="utf-8") for path in html_dir.glob("*.html")}
    anchors = {url: set(_ID.findall(text)) for url, text in pages.items()}
    for url, text in pages.items():
        for href in _REFERENCE.findall(text):
            target, _, fragment = href.partition("#")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(url), target)) if target else url
            assert path in pages, f"{url}: {href} leads to no page"
            assert not fragment or fragment in anchors[path], f"{url}: {href} leads to no anchor"


EXAMPLES = int(os.environ.get("TABBOOK_PROPERTY_EXAMPLES", "25"))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(books())
def test_check_passes_exactly_when_every_output_builds(chapters):
    with tempfile.TemporaryDirectory(prefix="tabbook-property-") as tmp:
        root = Path(tmp) / "book"
        write_book(root, chapters)
        config = load_config(root)
        checked = load_book(config, typeset=True)
        out = io.StringIO()

        def notebooks():
            converted = convert_files(config, config.chapter_files())
            for _path, name, texts in converted:  # unexecuted notebooks stand in for executed ones
                for tab, text in texts.items():
                    atomic_write(config.build_dir / "eval" / tab / f"{name}.ipynb", text)

        def reader():
            book = load_book(config)
            book.raise_errors()
            reader = ReaderNotebooks(book)
            for page in book.pages:
                for nb in notebook_dicts(config, page.document).values():
                    notebook_json(reader.notebook(page, nb))

        built = {
            "notebooks": attempt(notebooks),
            "html": attempt(lambda: cli.html(config, run=False, out=out)),
            "slides": attempt(lambda: cli.slides(config, out=out)),
            "reader": attempt(reader),
        }
        assert (checked.errors == []) == all(built.values()), (checked.errors, built)
        if not checked.errors:
            assert_links_lead_somewhere(config.build_dir / "html")
        shutil.rmtree(root)
