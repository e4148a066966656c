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

import ast
import dataclasses
import functools
import html
import math
import posixpath
import re
import shutil
import sys
import time
from collections.abc import Callable
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


# -- fitting the slides into their frame ---------------------------------------------
#
# A slide is 1280 x 720 CSS pixels (reveal.js scales it to the screen). Each piece
# of a deck (a slide's text, a chunk of code, an output) gets an estimate of its
# height from the sizes that static/css/slides.css gives it, and the pieces are
# packed into slides in order: a piece that does not fit in what is left of a slide
# starts the next one, code longer than a slide is cut between top-level
# statements, and long text output between lines. The estimates are upper
# bounds, checked in Chromium by tests/test_slides.py on every deck; change
# them together with slides.css.

SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720
SLIDE_PADDING = 20  # top and bottom of a slide
SLIDE_ROOM = SLIDE_HEIGHT - 2 * SLIDE_PADDING
TEXT_LINE = 28 * 1.3  # a line of slide text (28 px type)
TEXT_CHARS = 78  # characters of slide text a line holds, fewer than measured (about 95)
TITLE_LINE = 42 * 1.2
TITLE_CHARS = 48
CODE_LINE = 18 * 1.3  # a line of code or text output (18 px monospace)
CODE_CHARS = 114  # monospace characters a line holds (115 measured in Chromium, DejaVu Sans Mono)
BLOCK_GAP = 12  # below a paragraph, a title or a cell
CELL_PADDING = 12  # above and below the code, and the outputs
IMAGE_MAX_HEIGHT = 400  # slides.css: plots are scaled down to this height at most
TABLE_ROW = 30  # a row of an HTML table output (16 px type)
DISPLAY_MATH = 2.4 * TEXT_LINE  # a display equation
DECK_BOOK_LINE = 17 * 1.3 + 8  # the book's title above the first slide
MIN_CUT_ROOM = BLOCK_GAP + 2 * CELL_PADDING + 6 * CODE_LINE  # code and output are cut to fill a slide's end only where 6 lines fit


@dataclass
class Piece:
    """One piece of a deck: its HTML, its estimated height in pixels, the cell it comes from.

    Code and text output keep their ``source`` and a way to ``remake`` the piece
    from part of it, so ``pack`` can cut them where a slide ends."""

    html: Markup | None  # None for code: highlighted once it is known where it is cut (``shown``)
    height: float
    cell: int
    kind: str  # "text" | "code" | "output"
    starts_slide: bool = False  # the slide marks start a new slide here
    source: str = ""
    remake: Callable[[str], Piece] | None = None

    def shown(self) -> Markup:
        return self.html if self.html is not None else Markup(highlight(self.source, "python"))

    def split(self, room: float, whole_statements: bool = False) -> list[Piece]:
        """This piece cut into pieces no taller than ``room`` (itself when it cannot be cut)."""
        if self.remake is None:
            return [self]
        texts = split_code(self.source, room, whole_statements) if self.kind == "code" else split_text(self.source, room)
        if len(texts) < 2:
            return [self]
        first = dataclasses.replace(self.remake(texts[0]), starts_slide=self.starts_slide)
        joined = "\n".join(texts[1:]) if self.kind == "code" else "".join(texts[1:])
        return [first, self.remake(joined)]


def code_piece(code: str, cell: int, starts_slide: bool = False) -> Piece:
    return Piece(None, code_height(code), cell, "code", starts_slide, code, lambda part: code_piece(part, cell))


def _wrapped_lines(text: str, chars: int) -> int:
    """Lines ``text`` takes when lines longer than ``chars`` wrap."""
    return sum(max(1, math.ceil(len(line.expandtabs()) / chars)) for line in text.split("\n"))


def code_height(text: str) -> float:
    """A block of code or text output (the padding around it is the cell's: ``slide_height``)."""
    return _wrapped_lines(text, CODE_CHARS) * CODE_LINE


_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(?:p|li|h[1-6])>")
_DISPLAY = re.compile(r'<math[^>]*display="block"')


def text_height(fragment: str) -> float:
    """Slide text (rendered Markdown): each paragraph's wrapped lines, titles larger, display math as blocks."""
    height = 0.0
    without_math = re.sub(r"<math\b.*?</math>", "xxxx", fragment, flags=re.S)
    for block in _BLOCK_END.split(without_math):
        title = re.search(r"<h1\b", block) is not None
        text = html.unescape(_TAG.sub("", block)).strip()
        if not text:
            continue
        if title:
            height += math.ceil(len(text) / TITLE_CHARS) * TITLE_LINE + BLOCK_GAP
        else:
            height += _wrapped_lines(" ".join(text.split()), TEXT_CHARS) * TEXT_LINE + BLOCK_GAP
    return height + len(_DISPLAY.findall(fragment)) * DISPLAY_MATH


_IMG_SIZE = re.compile(r'<img\b[^>]*\swidth="(\d+)"[^>]*\sheight="(\d+)"')


def output_height(fragment: str, output: dict) -> float:
    """One rendered output."""
    if not fragment:
        return 0.0
    size = _IMG_SIZE.search(fragment)
    if size:
        width, height = int(size.group(1)), int(size.group(2))
        scale = min(1.0, (SLIDE_WIDTH - 2 * CELL_PADDING) / width, IMAGE_MAX_HEIGHT / height)
        return height * scale
    if 'class="output image"' in fragment:  # an image of unknown size: as tall as it may be
        return IMAGE_MAX_HEIGHT
    if 'class="output html"' in fragment:
        return fragment.count("<tr") * TABLE_ROW + text_height(_TABLE.sub("", fragment))
    if 'class="output markdown"' in fragment:
        return text_height(fragment)
    return code_height(html.unescape(_TAG.sub("", fragment)))


def slide_height(pieces: list[Piece]) -> float:
    """The height of a slide holding ``pieces``: a cell's code and outputs on one slide are one cell
    (one margin below it, one padding around its code and one around its outputs)."""
    total, previous = 0.0, None
    for piece in pieces:
        if piece.kind == "text":
            total += piece.height
        else:
            same_cell = previous is not None and previous.kind != "text" and previous.cell == piece.cell
            total += 0 if same_cell else BLOCK_GAP
            total += 0 if same_cell and previous.kind == piece.kind else 2 * CELL_PADDING
            total += piece.height
        previous = piece
    return total


_TABLE = re.compile(r"<table\b.*?</table>", re.S)


@functools.lru_cache(maxsize=1024)
def _statement_starts(source: str) -> frozenset[int]:
    """The lines (0-based) where a top-level statement starts: where code may be cut without cutting a block."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics and the like: lines that start at the margin
        return frozenset(number for number, line in enumerate(source.split("\n")) if line[:1] not in ("", " ", "\t", ")", "]", "}"))
    return frozenset(min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1 for node in tree.body)


def split_code(source: str, room: float, whole_statements: bool = False) -> list[str]:
    """``source`` cut into chunks each no taller than ``room``, between top-level statements where it can.

    With ``whole_statements``: one cut, between statements, into a first chunk that
    fits ``room`` and the rest (however long); no cut when the first statement does not fit."""
    lines = source.split("\n")
    starts = _statement_starts(source)
    chunks, first = [], 0
    while first < len(lines):
        end, height = first, BLOCK_GAP + 2 * CELL_PADDING
        while end < len(lines) and height + _wrapped_lines(lines[end], CODE_CHARS) * CODE_LINE <= room + 1e-6:
            height += _wrapped_lines(lines[end], CODE_CHARS) * CODE_LINE
            end += 1
        if end < len(lines):
            cut = max((start for start in starts if first < start <= end), default=None)
            if whole_statements:
                return [source] if cut is None else ["\n".join(lines[:cut]).strip("\n"), "\n".join(lines[cut:]).strip("\n")]
            end = cut if cut is not None else max(end, first + 1)  # a statement longer than a slide is cut
        chunks.append("\n".join(lines[first:end]).strip("\n"))
        first = end
    return [chunk for chunk in chunks if chunk.strip()]


def split_text(text: str, room: float) -> list[str]:
    """Text output cut between lines into chunks each no taller than ``room``."""
    chunks, current, height = [], [], BLOCK_GAP + 2 * CELL_PADDING
    for line in text.rstrip("\n").split("\n"):
        line_height = _wrapped_lines(line, CODE_CHARS) * CODE_LINE
        if current and height + line_height > room + 1e-6:
            chunks.append("\n".join(current) + "\n")
            current, height = [], BLOCK_GAP + 2 * CELL_PADDING
        current.append(line)
        height += line_height
    chunks.append("\n".join(current) + "\n")
    return chunks


def _output_text(output) -> tuple[str, Callable[[str], dict]] | None:
    """The text of a text output (a stream, a result's plain text) and how to make the output of part of it."""
    if not isinstance(output, dict):
        return None
    if output.get("output_type") == "stream":
        return "".join(output.get("text", "")), lambda text: {**output, "text": text}
    data = output.get("data") or {}
    if output.get("output_type") in ("execute_result", "display_data") and set(data) == {"text/plain"}:
        return "".join(data["text/plain"]), lambda text: {**output, "data": {"text/plain": text}}
    return None


def output_piece(renderer: OutputRenderer, output, cell: int, starts_slide: bool = False) -> Piece | None:
    """One output as a piece (None when it shows nothing); a text output can be cut between its lines."""
    fragment = renderer.render_one(output)
    if not fragment:
        return None
    piece = Piece(Markup(fragment), output_height(fragment, output), cell, "output", starts_slide)
    text = _output_text(output)
    if text is not None:
        source, make = text
        piece.source = source
        piece.remake = lambda part: output_piece(renderer, make(part), cell)
    return piece


def pack(pieces: list[Piece], room: float = SLIDE_ROOM, first_room: float = SLIDE_ROOM - DECK_BOOK_LINE) -> list[list[Piece]]:
    """The pieces in slides: a new slide where the marks start one or where a piece does not fit.

    A slide does not end with what leads to the piece that did not fit: text that
    introduces it, or the code whose output it is, go along to the next slide
    when they fit there together."""
    slides: list[list[Piece]] = []
    queue = list(reversed(pieces))
    while queue:
        piece = queue.pop()
        limit = first_room if len(slides) == 1 else room
        current = slides[-1] if slides else []
        if current and not piece.starts_slide and slide_height([*current, piece]) > limit:
            left = limit - slide_height(current)
            # Code or text output that does not fit fills what is left of the slide and goes on
            # on the next; code that fits a slide of its own is cut only between statements.
            if left >= MIN_CUT_ROOM:
                first, *rest = piece.split(left, whole_statements=slide_height([piece]) <= room)
                if rest and slide_height([*current, first]) <= limit:
                    current.append(first)
                    queue.extend(reversed(rest))
                    continue
        if slide_height([piece]) > room:  # longer than a whole slide: cut wherever it must be
            piece, *rest = piece.split(room)
            queue.extend(reversed(rest))
        if not current or piece.starts_slide or slide_height([*current, piece]) > limit:
            carried: list[Piece] = []
            while not piece.starts_slide and len(current) > 1 and _leads_to(current[-1], carried[0] if carried else piece):
                if slide_height([current[-1], *carried, piece]) > room or carried and carried[0].starts_slide:
                    break
                carried.insert(0, current.pop())
            while carried and all(p.kind == "text" for p in current):  # a slide of nothing but its title stays whole
                current.append(carried.pop(0))
            slides.append(carried)
        slides[-1].append(piece)
    return [slide for slide in slides if slide]


def _leads_to(piece: Piece, following: Piece) -> bool:
    """Whether ``piece`` belongs with ``following`` on one slide: text before anything, code before its output."""
    return piece.kind == "text" or (piece.kind == "code" and following.kind == "output" and following.cell == piece.cell)


def deck_notebook(page: Page, cells: list[SlideCell], reader: ReaderNotebooks, kernel_name: str | None, tab: str, starts: set[int] | None = None) -> dict:
    """The deck as a notebook whose cells carry ``slideshow.slide_type``; its text as reader notebooks have it."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["celltoolbar"] = "Slideshow"
    if kernel_name:
        nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": f"Python ({tab_title(tab)})", "language": "python"}
    for index, cell in enumerate(cells):
        # the HTML deck's slides, where they start at a cell (``starts``)
        slide_type = "slide" if starts and index in starts else cell.slide_type
        meta = {"slideshow": {"slide_type": slide_type}}
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


def fragment(part: Markup, step: bool) -> Markup:
    """``part``, shown one step after what comes before it on its slide when ``step``."""
    return Markup(f'<div class="fragment">{part}</div>') if step else part


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

    def figure_src(self, page: Page, path: str) -> str:
        """A figure on a slide (d2l-neu): its image as the deck, copied into the site under ``slides/<tab>/``, links it."""
        if "://" in path or path.startswith(("/", "data:")):
            return path
        image = posixpath.normpath(posixpath.join(posixpath.dirname(page.url), path))
        return posixpath.relpath(image, posixpath.dirname(deck_url(self.tab, page)))

    def pieces(self, page: Page, cells: list[SlideCell]) -> list[Piece]:
        """The deck's pieces in order, each sized for the frame: code and long text output already cut."""
        resolver = SlideResolver(self, page, deck_url(self.tab, page))
        # the outputs' image files go under the decks' folder (build_slides writes them)
        root = posixpath.relpath(".", posixpath.dirname(f"{self.tab}/{page.url}")) + "/"
        renderer = OutputRenderer(sys.maxsize, self.config.max_output_mb, files=self.output_files, root=root)
        pieces: list[Piece] = []
        for index, cell in enumerate(cells):
            starts = cell.slide_type == "slide"
            if cell.kind == "markdown":
                text = self.markdown.render(cell.source, resolver)
            elif cell.kind == "blocks":  # d2l-neu: a slide's blocks as the book renders them
                text = self.blocks_html(cell.source, resolver)
            if cell.kind in ("markdown", "blocks"):
                pieces.append(Piece(Markup(f'<div class="slide-text">{text}</div>'), text_height(text), index, "text", starts))
                continue
            if cell.source.strip():
                pieces.append(code_piece(cell.source, index, starts))  # pack() cuts it where a slide ends
                starts = False
            for output in cell.outputs:
                piece = output_piece(renderer, output, index, starts)
                if piece is not None:
                    pieces.append(piece)
                    starts = False
        return pieces

    def slides_html(self, slides: list[list[Piece]], steps: frozenset[int] = frozenset()) -> list[list[Markup]]:
        """Each slide's HTML: a cell's code and outputs on one slide are one cell there; the
        cells in ``steps`` (indices) appear one step later (reveal.js fragments: d2l-neu's pauses)."""
        shown = []
        for slide in slides:
            parts: list[Markup] = []
            run: list[Piece] = []
            for piece in [*slide, None]:
                if run and (piece is None or piece.kind == "text" or piece.cell != run[0].cell):
                    code = Markup("").join(p.shown() for p in run if p.kind == "code")
                    outputs = Markup("").join(p.shown() for p in run if p.kind == "output")
                    parts.append(fragment(Markup(self.cells.code_cell(code or None, outputs or None)), run[0].cell in steps and bool(parts)))
                    run = []
                if piece is not None and piece.kind == "text":
                    parts.append(fragment(piece.shown(), piece.cell in steps and bool(parts)))
                elif piece is not None:
                    run.append(piece)
            shown.append(parts)
        return shown

    def deck_html(self, page: Page, slides: list[list[Piece]], steps: frozenset[int] = frozenset()) -> str:
        reveal = posixpath.relpath(f"{REVEAL_DIR}/", posixpath.dirname(f"{self.tab}/{page.url}")) + "/"
        return self.deck_template.render(
            book_title=self.book.title,
            title=self.title_html(page),
            number=page.number_text,
            tab_title=tab_title(self.tab),
            slides=self.slides_html(slides, steps),
            reveal=reveal,
            width=SLIDE_WIDTH,
            height=SLIDE_HEIGHT,
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
            slides = pack(site.pieces(page, cells))
            # the notebook's slides start where the HTML deck's do, at a cell's first piece
            firsts = {piece.cell: piece for piece in reversed([piece for slide in slides for piece in slide])}
            starts = {slide[0].cell for slide in slides if firsts[slide[0].cell] is slide[0]}
            base = slides_dir / tab / page.name
            write_notebook(deck_notebook(page, cells, reader, kernel, tab, starts), base.with_suffix(".ipynb"))
            steps = frozenset(index for index, cell in enumerate(cells) if cell.slide_type == "fragment")
            atomic_write(base.with_suffix(".html"), site.deck_html(page, slides, steps))
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
