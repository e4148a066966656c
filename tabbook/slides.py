"""Slide marks -> a slide deck per section and framework, as HTML and as a notebook.

A section's slides are cut out of its text by the slide marks of DIALECT
section 6, read from each text cell as written (``Cell.raw_text``), with the
semantics of d2lbook's slides:

- ``[**text**]`` and ``(**text**)`` put ``text`` on the slides (it stays in the
  book); ``[~~text~~]`` and ``(~~text~~)`` put ``text`` on the slides only (the
  book drops it). Prose outside every mark is left out of the slides.
- A text cell with a ``[`` mark starts a new slide; one with only ``(`` marks
  continues the current slide. A cell's level-1 heading is kept too.
- Every code cell of the framework is shown with its outputs from the executed
  notebook; whole-line comments and ``#@save`` go, and code cells without
  outputs are merged into the next one.
- A section without marks gets no deck; a mark that is never closed, closed
  by the wrong mark or opened inside another is a ``FILE:LINE`` error.

Each deck is written twice under ``_build/slides/<tab>/``: ``<name>.ipynb``
with ``slideshow.slide_type`` metadata (for Jupyter's slide tools), and
``<name>.html``, an offline reveal.js presentation (reveal.js vendored by
``make setup``, copied to ``_build/slides/_reveal``; math as MathML, code
highlighted at build time). Nothing is executed.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

from tabbook.book import Page, load_book, report
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write, write_notebook
from tabbook.markdown import highlight
from tabbook.parse import CODE, TAB_TEXT, TEXT, strip_slide_marks
from tabbook.pdf import VENDORED, vendored
from tabbook.render import OutputRenderer, PageResolver, Site, _relative, fail_after_keep_going, tab_title

REVEAL = VENDORED / "reveal.js" / "dist"
REVEAL_DIR = "_reveal"
# the files of reveal.js a deck loads (the theme's fonts folder is copied whole)
REVEAL_FILES = ("reveal.js", "reveal.css", "theme/white.css")

_MARK = re.compile(r"\[\*\*|\(\*\*|\[~~|\(~~|\*\*\]|\*\*\)|~~\]|~~\)")
_CLOSER = {"[**": "**]", "(**": "**)", "[~~": "~~]", "(~~": "~~)"}
_OPENER = {closer: opener for opener, closer in _CLOSER.items()}
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# marks of the book's structure, meaningless on a slide
_STRUCTURE_LINE = re.compile(r"^\s*:(label|eqlabel|width):`[^`]*`\s*$", re.M)
_STRUCTURE_ROLE = re.compile(r":(label|eqlabel|width):`[^`]*`")
_COMMENT_LINE = re.compile(r"^\s*#(?!@save).*$")


@dataclass
class Mark:
    """The text of one slide mark: ``opener`` is one of ``[** (** [~~ (~~``."""

    opener: str
    text: str
    line: int


def slide_marks(text: str, path, first_line: int) -> list[Mark]:
    """The marks of a text cell, in order. Raises SourceError for unbalanced or nested marks.

    Marks inside code fences are not marks, and ``[**bold**](url)`` is a link.
    """
    blanked = _blank_fences(text)
    marks: list[Mark] = []
    opened: tuple[str, int, int] | None = None  # (opener, offset after it, line)
    for match in _MARK.finditer(blanked):
        token = match.group(0)
        line = first_line + blanked.count("\n", 0, match.start())
        if token in _CLOSER:
            if opened is not None:
                raise SourceError(path, opened[2], f"slide mark {opened[0]} is not closed before the {token} of line {line} (slide marks do not nest)")
            opened = (token, match.end(), line)
            continue
        if opened is None:
            if token == "**]" and blanked.startswith("(", match.end()):
                continue  # the end of a bold link text
            raise SourceError(path, line, f"slide mark {token} closes nothing: no {_OPENER[token]} before it")
        if token != _CLOSER[opened[0]]:
            raise SourceError(path, line, f"slide mark {opened[0]} (line {opened[2]}) is closed by {token}; expected {_CLOSER[opened[0]]}")
        if token == "**]" and blanked.startswith("(", match.end()):
            opened = None  # [**bold**](url): a link, not a mark
            continue
        marks.append(Mark(opened[0], text[opened[1] : match.start()], opened[2]))
        opened = None
    if opened is not None:
        raise SourceError(path, opened[2], f"slide mark {opened[0]} is never closed: no {_CLOSER[opened[0]]} after it before the next code cell")
    return marks


def mark_errors(page: Page) -> list[SourceError]:
    """The slide-mark errors of a page, one per text cell at most (for the book's checks)."""
    errors = []
    for cell in page.document.cells:
        if cell.kind in (TEXT, TAB_TEXT):
            try:
                slide_marks(cell.raw_text, page.rel, cell.text_line)
            except SourceError as error:
                errors.append(error)
    return errors


def _blank_fences(text: str) -> str:
    """``text`` with the lines of its code fences blanked: spaces, so offsets and line breaks stay."""
    lines = text.split("\n")
    fence = None
    for index, line in enumerate(lines):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            lines[index] = " " * len(line)
        elif fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) == {fence[0]}:
                fence = None
            lines[index] = " " * len(line)
    return "\n".join(lines)


@dataclass
class SlideCell:
    """One cell of a deck: Markdown with its slide type, or code with its outputs."""

    kind: str  # "markdown" | "code"
    slide_type: str  # "slide" starts a new slide, "-" continues the current one
    source: str
    line: int
    outputs: list = field(default_factory=list)


def _slide_text(marks: list[Mark]) -> str:
    """The marks' texts, one paragraph each, each starting with a capital and the last without trailing punctuation."""
    parts = []
    for mark in marks:
        text = _STRUCTURE_ROLE.sub("", _STRUCTURE_LINE.sub("", mark.text)).strip()
        if text:
            parts.append(text[0].upper() + text[1:])
    text = "\n\n".join(parts)
    # a display ends the slide's sentence: no full stop or comma left before its closing $$
    text = re.sub(r"[.,]\s*\$\$", "$$", text)
    return text.rstrip(",.;: \n")


def _level_one_heading(text: str) -> str | None:
    for line in text.split("\n"):
        if line.startswith("# "):
            return strip_slide_marks(line)
    return None


def _slide_code(source: str) -> str:
    """The code as a slide shows it: without whole-line comments and ``#@save``."""
    lines = [line.replace("#@save", "").rstrip() for line in source.split("\n") if not _COMMENT_LINE.match(line)]
    return "\n".join(lines).strip("\n")


def deck_cells(page: Page, tab: str, outputs: dict) -> list[SlideCell] | None:
    """The deck of ``page`` for ``tab`` (``outputs``: cell id -> executed cell), or None without marks."""
    cells: list[SlideCell] = []
    has_marks = False
    for cell in page.document.cells:
        if cell.kind == TEXT or (cell.kind == TAB_TEXT and tab in cell.tabs):
            marks = slide_marks(cell.raw_text, page.rel, cell.text_line)
            has_marks = has_marks or bool(marks)
            text = _slide_text(marks)
            heading = _level_one_heading(cell.raw_text)
            if heading:
                text = f"{heading}\n\n{text}" if text else heading
            if text:
                slide_type = "slide" if any(mark.opener.startswith("[") for mark in marks) or heading else "-"
                cells.append(SlideCell("markdown", slide_type, text, cell.text_line))
        elif cell.kind == CODE and tab in cell.tabs and cell.hide != "cell" and cell.source_for(tab):
            executed = outputs.get(cell.id) or {}
            shown = [] if cell.hide == "output" else executed.get("outputs", [])
            cells.append(SlideCell("code", "-", _slide_code(cell.source_for(tab)), cell.line, shown))
    if not has_marks:
        return None
    return _merge_code(cells)


def _merge_code(cells: list[SlideCell]) -> list[SlideCell]:
    """Code cells without outputs join the next code cell, as in d2lbook's slides."""
    merged: list[SlideCell] = []
    pending: list[str] = []
    for index, cell in enumerate(cells):
        if cell.kind != "code":
            merged.append(cell)
            continue
        pending.append(cell.source)
        next_is_code = index + 1 < len(cells) and cells[index + 1].kind == "code"
        if cell.outputs or not next_is_code:
            merged.append(SlideCell("code", "-", "\n\n".join(part for part in pending if part), cell.line, cell.outputs))
            pending = []
    return [cell for cell in merged if cell.source or cell.outputs]


def deck_notebook(cells: list[SlideCell], kernel_name: str | None, tab: str) -> dict:
    """The deck as a notebook whose cells carry ``slideshow.slide_type``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["celltoolbar"] = "Slideshow"
    if kernel_name:
        nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": f"Python ({tab_title(tab)})", "language": "python"}
    for cell in cells:
        meta = {"slideshow": {"slide_type": cell.slide_type}}
        if cell.kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.source, metadata=meta))
        else:
            code = nbformat.v4.new_code_cell(cell.source, metadata=meta)
            code.outputs = [nbformat.from_dict(output) for output in cell.outputs]
            nb.cells.append(code)
    # the first cell opens the first slide
    if nb.cells:
        nb.cells[0].metadata["slideshow"]["slide_type"] = "slide"
    return nb


def deck_url(tab: str, page: Page) -> str:
    """Where ``page``'s deck for ``tab`` sits in the HTML site (and, without ``slides/``, under ``_build/slides``)."""
    return f"slides/{tab}/{page.url}"


class SlideResolver(PageResolver):
    """References on a slide point into the HTML book, where the deck is copied (``slides/<tab>/``)."""

    def __init__(self, site, page, deck_url: str):
        super().__init__(site, page)
        self.deck_url = deck_url

    def link(self, target) -> str:
        url = _relative(target.page.url, self.deck_url)
        return url if target is target.page.targets[0] else f"{url}#{target.anchor}"


class DeckSite(Site):
    """The HTML book's renderer, for the decks of one framework."""

    def __init__(self, config, book, tab: str, keep_going: bool = False):
        super().__init__(config, book, from_cache=True, keep_going=keep_going)
        self.tab = tab
        self.tabs = [tab]
        self.deck_template = self.env.get_template("slides.html")

    def deck_html(self, page: Page, cells: list[SlideCell]) -> str:
        resolver = SlideResolver(self, page, deck_url(self.tab, page))
        # the outputs' image files go under the decks' folder (build_slides writes them)
        root = posixpath.relpath(".", posixpath.dirname(f"{self.tab}/{page.url}")) + "/"
        renderer = OutputRenderer(sys.maxsize, self.config.max_output_mb, files=self.output_files, root=root)
        slides: list[list[Markup]] = []
        for cell in cells:
            if cell.kind == "markdown":
                body = self.markdown.render(cell.source, cell.line, resolver)
                part = Markup(f'<div class="slide-text">{body}</div>')
            else:
                outputs = renderer.render(cell.outputs)
                part = self.cells.code_cell(Markup(highlight(cell.source, "python")) if cell.source else None, outputs or None)
            if cell.slide_type == "slide" or not slides:
                slides.append([])
            slides[-1].append(Markup(part))
        reveal = posixpath.relpath(f"{REVEAL_DIR}/", posixpath.dirname(f"{self.tab}/{page.url}")) + "/"
        return self.deck_template.render(
            book_title=self.config.project.get("title", ""),
            title=self.title_html(page),
            number=page.number_text,
            tab_title=tab_title(self.tab),
            slides=slides,
            reveal=reveal,
            css=Markup(self.deck_css()),
        )

    def deck_css(self) -> str:
        from pygments.formatters import HtmlFormatter

        css = (Path(__file__).resolve().parent / "static" / "css" / "slides.css").read_text(encoding="utf-8")
        return css + "\n/* Pygments */\n" + HtmlFormatter(style="default").get_style_defs(".highlight")


def build_slides(config, tabs=None, out=None, keep_going=False) -> list[Path]:
    """Write every deck under ``_build/slides/<tab>/`` from ``_build/eval``; execute nothing.

    The book's checks (bad slide marks among them) come first: a problem anywhere writes no deck.
    With ``keep_going`` the decks are written anyway (a section with bad marks gets none, an
    unresolved reference shows as ``??``), the problems are listed, and the command then fails.
    """
    out = out or sys.stdout
    started = time.perf_counter()
    book = load_book(config)
    text = report(book)
    if text:
        print(text, file=out)
    if not keep_going:
        book.raise_errors()  # bad slide marks included (mark_errors)
    bad_marks = {page.source for page in book.pages if mark_errors(page)} if keep_going else set()
    slides_dir = config.build_dir / "slides"
    written, broken = [], []
    for tab in tabs or config.tabs:
        site = DeckSite(config, book, tab, keep_going)
        kernel = config.envs[tab].kernel if tab in config.envs else None
        for page in book.pages:
            outputs = site.outputs_of(page)
            if tab not in outputs or page.source in bad_marks:
                continue  # no notebook for this framework, or marks we cannot read: no deck
            cells = deck_cells(page, tab, outputs[tab])
            if cells is None:
                continue
            base = slides_dir / tab / page.name
            write_notebook(deck_notebook(cells, kernel, tab), base.with_suffix(".ipynb"))
            atomic_write(base.with_suffix(".html"), site.deck_html(page, cells))
            written.append(base.with_suffix(".html"))
        for name, data in site.output_files.items():
            atomic_write(slides_dir / name, data)
        broken += site.broken
    copy_reveal(slides_dir / REVEAL_DIR)
    print(f"slides: {len(written)} decks under {slides_dir} in {time.perf_counter() - started:.2f} s", file=out)
    fail_after_keep_going(config, book, broken, "slides", out)
    return written


def copy_reveal(dest: Path) -> None:
    """The vendored reveal.js files the decks load, next to them."""
    for name in REVEAL_FILES:
        atomic_write(dest / name, vendored(REVEAL / name).read_bytes())
    fonts = REVEAL / "theme" / "fonts"
    if fonts.is_dir():
        shutil.copytree(fonts, dest / "theme" / "fonts", dirs_exist_ok=True)


def add_arguments(parser) -> None:
    parser.add_argument("--tabs", help="comma-separated frameworks (default: every tab of config.ini)")
    parser.add_argument("--build-dir", type=Path, help="where executed notebooks are read and the decks written (default: [build] build_dir)")
    parser.add_argument("--keep-going", action="store_true", help="write the decks despite errors in the book (unresolved references show as ??), then list them")


def run_command(args) -> int:
    from tabbook.pdf import command_config

    config, tabs = command_config(args)
    build_slides(config, tabs, keep_going=args.keep_going)
    return 0
