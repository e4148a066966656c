"""Slide marks -> a slide deck per section and framework, as HTML and as a notebook.

A section's slides are cut out of its text by the slide marks of DIALECT
section 6, which ``tabbook.parse`` reads once (``Cell.slide_marks``), with the
semantics of d2lbook's slides:

- ``[**text**]`` and ``(**text**)`` put ``text`` on the slides (it stays in the
  book); ``[~~text~~]`` and ``(~~text~~)`` put ``text`` on the slides only (the
  book drops it). Prose outside every mark is left out of the slides.
- A text cell with a ``[`` mark starts a new slide; one with only ``(`` marks
  continues the current slide. A cell's level-1 heading is kept too.
- Every code cell of the framework's view of the page is shown with its
  outputs from the executed notebook; whole-line comments and ``#@save`` go,
  and code cells without outputs are merged into the next one.
- A section without marks gets no deck; bad marks are the book's errors
  (``tabbook check``).

Each deck is written twice under ``_build/slides/<tab>/``: ``<name>.ipynb``
with ``slideshow.slide_type`` metadata (for Jupyter's slide tools; its text is
the reader notebooks' plain Markdown, roles resolved), and ``<name>.html``, an
offline reveal.js presentation (reveal.js vendored by ``make setup``, copied
to ``_build/slides/_reveal``; math as MathML, code highlighted at build time).
Nothing is executed.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

from tabbook import assets
from tabbook.artifacts import deck_url
from tabbook.assets import tab_title
from tabbook.book import Book, Page, relative_url
from tabbook.fileio import atomic_write, write_notebook
from tabbook.markdown import highlight
from tabbook.outputs import OutputRenderer
from tabbook.parse import CODE, D2L_NEU, CellReference, Div, Heading, Inline, Math, Pause, Span, split_save_mark
from tabbook.reader import ReaderNotebooks
from tabbook.render import PageResolver, Site

REVEAL_DIR = "_reveal"
# the files of reveal.js a deck loads (the theme's fonts folder is copied whole)
REVEAL_FILES = ("reveal.js", "reveal.css", "theme/white.css")
_END_OF_SENTENCE = ",.;: \n"


@dataclass
class SlideCell:
    """One cell of a deck: Markdown (an Inline) with its slide type, or code with its outputs."""

    kind: str  # "markdown" | "code" | "blocks" (d2l-neu: a slide's blocks as the book renders them)
    slide_type: str  # "slide" starts a new slide, "-" continues it, "fragment" is its next step
    source: Inline | str | list
    line: int
    outputs: list = field(default_factory=list)


def join_inlines(parts: list[Inline], separator: str = "\n\n") -> Inline:
    """Several texts as one, their spans moved along."""
    text, spans = "", []
    for part in parts:
        if text:
            text += separator
        spans += [dataclasses.replace(span, start=span.start + len(text), end=span.end + len(text)) for span in part.spans]
        text += part.text
    return Inline(text, parts[0].line if parts else 0, tuple(spans))


def _sentence_end(inline: Inline) -> Inline:
    """A slide's text ends without trailing punctuation, also inside a closing display (``$$f = 1.$$``)."""
    pieces, spans, position = [], [], 0
    for span in inline.spans:
        pieces.append(inline.text[position : span.start])
        start = sum(map(len, pieces))
        source = inline.text[span.start : span.end]
        mark = span.mark
        if isinstance(mark, Math) and mark.display and mark.tex.rstrip()[-1:] in (".", ","):
            mark = dataclasses.replace(mark, tex=mark.tex.rstrip()[:-1])
            source = f"$${mark.tex}$$"
        pieces.append(source)
        spans.append(Span(start, start + len(source), mark))
        position = span.end
    pieces.append(inline.text[position:])
    text = "".join(pieces)
    end = max(len(text.rstrip(_END_OF_SENTENCE)), spans[-1].end if spans else 0)
    return Inline(text[:end], inline.line, tuple(spans))


def _capitalized(inline: Inline) -> Inline:
    stripped = inline.text.lstrip()
    offset = len(inline.text) - len(stripped)
    if not stripped or any(span.start <= offset < span.end for span in inline.spans):
        return inline
    text = inline.text[:offset] + stripped[0].upper() + stripped[1:]
    return Inline(text, inline.line, inline.spans)


def slide_text(cell) -> Inline | None:
    """What a text cell puts on its slide: its level-1 heading and its marks' texts, one paragraph each."""
    parts = []
    heading = next((block for block in cell.blocks if isinstance(block, Heading) and block.level == 1), None)
    if heading is not None:
        title = heading.title
        parts.append(Inline("# " + title.text, title.line, tuple(Span(s.start + 2, s.end + 2, s.mark) for s in title.spans)))
    marks = [_capitalized(mark.inline) for mark in cell.slide_marks if mark.inline.text.strip()]
    if marks:
        parts.append(_sentence_end(join_inlines(marks)))
    return join_inlines(parts) if parts else None


def _slide_code(source: str) -> str:
    """The code as a slide shows it: without whole-line comments and ``#@save``."""
    lines = []
    for line in source.split("\n"):
        code, saved = split_save_mark(line)
        if line.lstrip().startswith("#") and not saved:
            continue
        lines.append(code if saved else line.rstrip())
    return "\n".join(lines).strip("\n")


def slide_divs(blocks):
    """The ``.slide`` divs among ``blocks`` (and inside other divs), in order (d2l-neu)."""
    for block in blocks:
        if isinstance(block, Div):
            if block.is_slide:
                yield block
            else:
                yield from slide_divs(block.blocks)


def neu_deck_cells(page: Page, tab: str, outputs: dict) -> list[SlideCell] | None:
    """A d2l-neu deck: one slide per ``.slide`` div for ``tab`` (``only`` / ``except``), its title on top,
    ``@id`` showing that code cell with its outputs, ``. . .`` making what follows a next step."""
    by_id = {cell.fence_id: cell for cell in page.cells(tab) if cell.kind == CODE and cell.fence_id}
    slides = [div for cell in page.document.cells for div in slide_divs(cell.blocks) if div.for_tab(tab)]
    if not slides:
        return None
    cells: list[SlideCell] = []
    for div in slides:
        step = "slide"
        title = div.attributes.get("title")
        if title:
            cells.append(SlideCell("markdown", step, Inline(f"## {title}", div.line), div.line))
            step = "-"
        for block in div.blocks:
            if isinstance(block, Pause):
                step = "fragment"
            elif isinstance(block, CellReference):
                cell = by_id.get(block.cell_id)
                if cell is not None and cell.hide != "cell":
                    shown = [] if cell.hide == "output" else (outputs.get(cell.id) or {}).get("outputs", [])
                    cells.append(SlideCell("code", step, _slide_code(cell.source_for(tab)), block.line, shown))
                    step = "-"
            else:
                cells.append(SlideCell("blocks", step, [block], block.line))
                step = "-"
    return cells


def deck_cells(page: Page, tab: str, outputs: dict) -> list[SlideCell] | None:
    """The deck of ``page`` for ``tab`` (``outputs``: cell id -> executed cell), or None without marks."""
    if page.document.dialect == D2L_NEU:
        return neu_deck_cells(page, tab, outputs)
    cells: list[SlideCell] = []
    has_marks = False
    for cell in page.cells(tab):
        if cell.kind != CODE:
            has_marks = has_marks or bool(cell.slide_marks)
            text = slide_text(cell)
            if text is not None and text.text.strip():
                starts = any(mark.starts_slide for mark in cell.slide_marks) or text.text.startswith("# ")
                cells.append(SlideCell("markdown", "slide" if starts else "-", text, cell.text_line))
        elif cell.hide != "cell":
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
    return [cell for cell in merged if cell.kind == "markdown" or cell.source or cell.outputs]


def deck_notebook(page: Page, cells: list[SlideCell], reader: ReaderNotebooks, kernel_name: str | None, tab: str) -> dict:
    """The deck as a notebook whose cells carry ``slideshow.slide_type``; its text as reader notebooks have it."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["celltoolbar"] = "Slideshow"
    if kernel_name:
        nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": f"Python ({tab_title(tab)})", "language": "python"}
    for cell in cells:
        meta = {"slideshow": {"slide_type": cell.slide_type}}
        if cell.kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(reader.text(page, cell.source), metadata=meta))
        elif cell.kind == "blocks":
            nb.cells.append(nbformat.v4.new_markdown_cell(reader.blocks_markdown(page, cell.source, {})[0], metadata=meta))
        else:
            code = nbformat.v4.new_code_cell(cell.source, metadata=meta)
            code.outputs = [nbformat.from_dict(output) for output in cell.outputs]
            nb.cells.append(code)
    # the first cell opens the first slide
    if nb.cells:
        nb.cells[0].metadata["slideshow"]["slide_type"] = "slide"
    return nb


class SlideResolver(PageResolver):
    """References on a slide point into the HTML book, where the deck is copied (``slides/<tab>/``)."""

    def __init__(self, site, page, deck: str):
        super().__init__(site, page)
        self.deck = deck

    def link(self, target) -> str:
        url = relative_url(target.page.url, self.deck)
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
                part = Markup(f'<div class="slide-text">{self.markdown.render(cell.source, resolver)}</div>')
            elif cell.kind == "blocks":
                part = Markup(f'<div class="slide-text">{self.blocks_html(cell.source, resolver)}</div>')
            else:
                outputs = renderer.render(cell.outputs)
                part = self.cells.code_cell(Markup(highlight(cell.source, "python")) if cell.source else None, outputs or None)
            if cell.slide_type == "fragment":
                part = Markup(f'<div class="fragment">{part}</div>')
            if cell.slide_type == "slide" or not slides:
                slides.append([])
            slides[-1].append(Markup(part))
        reveal = posixpath.relpath(f"{REVEAL_DIR}/", posixpath.dirname(f"{self.tab}/{page.url}")) + "/"
        return self.deck_template.render(
            book_title=self.book.title,
            title=self.title_html(page),
            number=page.number_text,
            tab_title=tab_title(self.tab),
            slides=slides,
            reveal=reveal,
            css=Markup(assets.style_sheet("slides.css")),
        )


def build_slides(config, book: Book, tabs=None, keep_going: bool = False, out=None) -> tuple[list[Path], list]:
    """Write every deck under ``_build/slides/<tab>/`` from ``_build/eval``; execute nothing.

    A page with bad slide marks gets no deck (``keep_going``; otherwise the
    caller has stopped on the book's errors). Returns the decks written and the
    references shown as ``??``."""
    out = out or sys.stdout
    started = time.perf_counter()
    slides_dir = config.build_dir / "slides"
    reader = ReaderNotebooks(book, config.publish.site_url)
    written, broken = [], []
    for tab in tabs or config.tabs:
        site = DeckSite(config, book, tab, keep_going)
        kernel = config.envs[tab].kernel if tab in config.envs else None
        for page in book.pages:
            if page.document.slide_problems or tab not in page.tabs:
                continue  # no marks, marks we cannot read, or no notebook for this framework: no deck
            cells = deck_cells(page, tab, site.outputs_of(page)[tab])
            if cells is None:
                continue
            base = slides_dir / tab / page.name
            write_notebook(deck_notebook(page, cells, reader, kernel, tab), base.with_suffix(".ipynb"))
            atomic_write(base.with_suffix(".html"), site.deck_html(page, cells))
            written.append(base.with_suffix(".html"))
        for name, data in site.output_files.items():
            atomic_write(slides_dir / name, data)
        broken += site.broken
    copy_reveal(slides_dir / REVEAL_DIR)
    print(f"slides: {len(written)} decks under {slides_dir} in {time.perf_counter() - started:.2f} s", file=out)
    return written, broken


def copy_reveal(dest: Path) -> None:
    """The vendored reveal.js files the decks load, next to them."""
    for name in REVEAL_FILES:
        atomic_write(dest / name, assets.vendored(assets.REVEAL / name).read_bytes())
    fonts = assets.REVEAL / "theme" / "fonts"
    if fonts.is_dir():
        shutil.copytree(fonts, dest / "theme" / "fonts", dirs_exist_ok=True)
